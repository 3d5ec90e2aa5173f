// Stateful limits: call-rate limits and spend budgets, counted per fixed window.
//
// evaluate() (pure) lists the Charges an allowed call would consume. The LimitStore then
// decides them atomically under one mutex, so counts are exact under concurrency:
//
//   auto r = store.try_reserve(result.charges, now, reservation);   // check + hold
//   if (!r.ok) deny(r.denial.reason);                                // GT-LIMIT
//   ... the call is finally allowed ...  store.commit(reservation);  // count it
//   ... or finally denied ...            store.release(reservation); // give it back
//
// Held reservations count against the limit, so two racing calls can never both take the
// last slot. Windows are fixed and aligned to the unix epoch (a `1d` window resets at 00:00
// UTC); a denial names the limit and the reset time.
//
// Persistence: with a state file, every commit appends one JSON line
//   {"k":"<policy>|<limit>|<scope>","w":<window start>,"n":<window seconds>,"u":<used>}
// (the absolute total, so replay is idempotent and a torn last line is simply skipped).
// write(2) happens at commit, so a crash or restart of the process loses nothing; fdatasync
// runs on a background thread every `sync_interval` (default 50 ms), bounding what an OS
// crash could lose. On open the journal is compacted (expired windows dropped) through a
// temp file + fsync + rename. The file is locked (flock) by one process at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "governance/policy/evaluate.hpp"

namespace gt::gov::policy {

class LimitStore {
 public:
  struct Denial {
    std::string policy_id, policy_version, policy_sha256, limit_id;
    std::string reason;     // names the limit and when it resets
    int64_t resets_at = 0;  // unix seconds
    double used = 0, max = 0, requested = 0;
  };
  struct Outcome {
    bool ok = true;  // false: an enforcing limit is exhausted (nothing reserved)
    Denial denial;   // when !ok
    std::vector<Denial>
        monitor_denials;  // exhausted limits of monitor-mode policies (still counted)
  };
  struct Reservation {
    struct Item {
      std::string key;
      int64_t window_start = 0;
      int64_t window_seconds = 0;
      double amount = 0;
    };
    std::vector<Item> items;
  };

  // In memory only (tests, or when no state dir is configured).
  LimitStore();
  // Persistent: opens (creating if needed) the journal at `state_file`. Returns null and
  // sets `error` if the file cannot be opened or locked.
  static std::unique_ptr<LimitStore> open(
      const std::filesystem::path& state_file, std::string& error,
      std::chrono::milliseconds sync_interval = std::chrono::milliseconds(50));
  ~LimitStore();
  LimitStore(const LimitStore&) = delete;
  LimitStore& operator=(const LimitStore&) = delete;

  Outcome try_reserve(const std::vector<Charge>& charges, std::chrono::system_clock::time_point now,
                      Reservation& out);
  void commit(Reservation& r);
  void release(Reservation& r);

  // Convenience for callers that count at decision time: reserve and commit at once.
  Outcome acquire(const std::vector<Charge>& charges, std::chrono::system_clock::time_point now);

  // Committed amount for `key` in the window containing `now` (tests, health).
  double used(const std::string& key, int64_t window_seconds,
              std::chrono::system_clock::time_point now) const;
  // fdatasync the journal now.
  void sync();
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Entry {
    int64_t window_start = 0;
    int64_t window_seconds = 0;
    double committed = 0;
    double reserved = 0;
  };
  void append_locked(const std::string& key, const Entry& e);
  bool rewrite_locked(std::string& error);
  static constexpr size_t kCompactEvery = 100000;  // appended lines between compactions
  void flusher();

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::filesystem::path path_;
  int fd_ = -1;
  int lock_fd_ = -1;
  bool dirty_ = false;
  bool stop_ = false;
  size_t appended_ = 0;
  std::chrono::milliseconds sync_interval_{50};
  std::condition_variable cv_;
  std::thread flusher_;
};

// RFC 3339 UTC text of a unix time, e.g. "2025-01-06T10:00:00Z".
std::string format_utc(int64_t unix_seconds);

// Applies an allowed Result's charges to `store` (counted at once: reserve + commit). An
// exhausted enforcing limit turns the Result into a GT-LIMIT denial; an exhausted monitor
// limit records would_deny. `store` null with charges → GT-LIMIT denial (fail closed).
void apply_limits(Result& result, LimitStore* store, std::chrono::system_clock::time_point now,
                  bool trace = false);

// evaluate() then limits (counted at decision time). `store` may be null (limits then
// deny: a policy with limits needs a store). This is what the proxy's interceptor calls.
Result decide(const Request& request, const PolicySet& set, LimitStore* store,
              const EvalOptions& options = {});

}  // namespace gt::gov::policy
