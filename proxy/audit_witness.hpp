// Witnessing: the audit log's signed checkpoints, pushed somewhere the log's own directory
// cannot reach (`governance.audit.witness`). Whoever can write the log directory can cut its
// tail and replace its `checkpoint` file; a checkpoint kept on another disk, another host or
// in a ticket is what `glasstape verify --checkpoint` then checks the log against.
//
// The log hands every checkpoint it writes to offer() (cheap: it only keeps the latest). A
// thread of the witness pushes the latest one every `interval`, when it changed since the last
// successful push, to
//   - `dir`: written atomically and synced as <dir>/<tenant>/<log id>/checkpoint, and/or
//   - `command`: run (no shell) with the note on stdin and GlassTape's own `GT_` variables
//     and secrets removed from its environment; exit status 0 is success; it is killed after
//     `timeout`. Its first 4 KiB of output go to the operator's log when it fails.
// A failed push is retried at the next interval; the first failure of a streak and the
// recovery each get one log line. Destroying the witness pushes the last checkpoint offered
// (the log's final one, when the witness dies with the log) before it returns.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gt::proxy {

struct WitnessOptions {
  std::filesystem::path dir;
  std::vector<std::string> command;
  std::chrono::milliseconds interval{60000};
  std::chrono::milliseconds timeout{30000};
  bool enabled() const { return !dir.empty() || !command.empty(); }
};

// Where a witness directory keeps the latest checkpoint of one log.
std::filesystem::path witness_checkpoint_path(const std::filesystem::path& dir,
                                              const std::string& tenant, const std::string& log_id);

class Witness {
 public:
  Witness(WitnessOptions opts, std::string tenant);
  ~Witness();
  Witness(const Witness&) = delete;
  Witness& operator=(const Witness&) = delete;

  // A signed checkpoint note of log `log_id`; only the latest is kept.
  void offer(const std::string& log_id, std::string note);

  struct Stats {
    std::uint64_t pushed = 0, failed = 0;
  };
  Stats stats() const;

 private:
  void loop();
  // Pushes the latest note if it was not pushed yet; false when a push failed.
  bool push_latest();
  std::string push_to_dir(const std::string& log_id, const std::string& note) const;
  std::string run_command(const std::string& note) const;

  const WitnessOptions opts_;
  const std::string tenant_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string latest_, latest_log_id_;
  std::uint64_t offered_ = 0, pushed_seq_ = 0;  // offer() count, and the count last pushed
  bool failing_ = false;
  bool stop_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace gt::proxy
