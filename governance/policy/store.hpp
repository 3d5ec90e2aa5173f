// A policy directory kept loaded: the current PolicySet, swapped atomically on reload.
// A new version that fails to load never replaces the last good one; the failure is logged
// loudly (spdlog error) and kept for the health output (status()).
//
// Watching is mtime polling (no inotify, no sockets): every `interval` the directory's
// policy files, test files and manifest are stat'ed (path, size, mtime); any change reloads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "governance/policy/policy.hpp"

namespace gt::gov::policy {

class PolicyStore {
 public:
  struct Status {
    bool loaded = false;  // a good set is installed
    size_t policies = 0;
    size_t reloads = 0;   // successful loads
    size_t failures = 0;  // loads that failed (the previous set, if any, was kept)
    std::chrono::system_clock::time_point last_load_time{};
    std::string last_error;  // "" when the latest attempt succeeded
    std::chrono::system_clock::time_point last_error_time{};
    std::vector<std::string> rejected_files;  // unsigned/altered files in the current set
    std::vector<std::string> warnings;
  };

  PolicyStore(std::filesystem::path dir, SetOptions options);
  ~PolicyStore();
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Loads the directory now. True if a new set was installed; false keeps the previous one.
  bool reload();
  // The current set, or null if no load has ever succeeded.
  std::shared_ptr<const PolicySet> current() const;
  Status status() const;
  const std::filesystem::path& dir() const { return dir_; }

  // Called on the watcher thread after it installed a new set (what each principal may see can
  // have changed). Replacing it waits for a call in progress, so after set_listener(nullptr)
  // returns the old listener is never called again.
  void set_listener(std::function<void()> listener);
  // Starts a background thread that reloads when the directory changes.
  void start_watching(std::chrono::milliseconds interval = std::chrono::milliseconds(1000));
  void stop_watching();
  // True (and remembers the new state) if the directory changed since the last check.
  bool poll_changed();

 private:
  std::string fingerprint() const;

  std::filesystem::path dir_;
  SetOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<const PolicySet> current_;
  Status status_;
  std::string last_fingerprint_;
  std::mutex listener_mu_;
  std::function<void()> listener_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stop_ = false;
  std::thread watcher_;
};

}  // namespace gt::gov::policy
