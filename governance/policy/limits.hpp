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
// Persistence and sharing (a state file, `<state_dir>/limits.jsonl`): several glasstape
// processes may share one state dir (one `glasstape run` per MCP server for the same tenant is
// the usual setup); a limit then holds across all of them. Each process takes *leases* from
// the shared journal and spends them in memory:
//
//   {"k":"<policy>|<limit>|<scope>","w":<window start>,"n":<window
//   seconds>,"p":"<process>","u":<u>}
//
// `u` is that process's lease total for the key and window (absolute, so replay is idempotent;
// the last line per (p, k, w) wins; a torn line is skipped). The usage of a key is the sum over
// processes. A lease is taken under an exclusive flock on `limits.jsonl.lock`, after reading
// what the other processes appended, and only if the sum stays within `max`; it is write(2)n
// before any call it covers is allowed. So:
//  - the decision path does no I/O while the lease covers the call (a lease is ~1/32 of the
//    limit for limits of 64 or more, exact (one call) below that); a background thread
//    takes the next lease when half of the current one is spent;
//  - a crash (even kill -9) never under-counts: what the process was granted stays counted
//    until the window resets; it may over-count by at most one unused lease per key;
//  - a clean shutdown writes the exact usage (unused leases go back);
//  - fdatasync runs every `sync_interval` (default 50 ms): an OS crash or power loss may lose
//    the leases of the last interval;
//  - with several processes a call can be denied while another process still holds an
//    unused lease (at most one per process and key): conservative, never over the limit.
// The journal is compacted (expired windows dropped, one line per process and key) through a
// temp file + fsync + rename when it is opened; the other processes notice the new inode and
// re-read it.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
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
    bool empty() const { return items.empty(); }
  };

  // In memory only (tests, or when no state dir is configured).
  LimitStore();
  // Persistent: opens (creating if needed) the shared journal at `state_file`. Returns null
  // and sets `error` if it cannot be opened, read or compacted.
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

  // Amount committed by this process for `key` in the window containing `now` (tests).
  double used(const std::string& key, int64_t window_seconds,
              std::chrono::system_clock::time_point now) const;
  // Leases of the other processes sharing the state file, as last read (tests).
  double others(const std::string& key, int64_t window_seconds,
                std::chrono::system_clock::time_point now) const;
  // Lease lines written so far by this store (tests, benchmarks).
  size_t lease_writes() const;
  // fdatasync the journal now.
  void sync();
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Entry {
    int64_t window_start = 0;
    int64_t window_seconds = 0;
    double committed = 0;  // this process: counted (forwarded) calls
    double reserved = 0;   // this process: held by calls still being decided
    double leased = 0;     // this process: lease written to the journal (persistent only)
    double others = 0;     // the other processes' leases, as last read
    double chunk = 0;      // lease step (0: exact, one call at a time)
    double max = 0;
    bool prefetch = false;  // queued for the background lease
  };
  struct Peer {
    int64_t window_start = 0;
    int64_t window_seconds = 0;
    double leased = 0;
  };
  Entry& entry_locked(const std::string& key, int64_t ws, int64_t n);
  double others_locked(const std::string& key, int64_t ws) const;
  // Under the file lock: read what others appended (reopening after a compaction).
  bool reopen_locked(int extra_flags, struct stat& st, std::string& error);
  bool catch_up_locked(std::string& error);
  // Takes the file lock, catches up, and raises this process's lease of `key` to at least
  // `need` (and up to `want` while the sum stays within e.max, or beyond when `force`).
  bool lease_locked(const std::string& key, Entry& e, double need, double want, bool force,
                    std::string& error);
  bool append_locked(std::string_view lines, std::string& error);
  bool rewrite_locked(std::string& error);
  void flusher();

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  // Other processes' leases: key → process → lease.
  std::unordered_map<std::string, std::unordered_map<std::string, Peer>> peers_;
  std::filesystem::path path_;
  std::string me_;  // this process's id in the journal (random per open)
  int fd_ = -1;
  int lock_fd_ = -1;
  uint64_t ino_ = 0;
  uint64_t offset_ = 0;       // how far the journal has been read
  uint64_t compact_at_ = 0;   // journal size that triggers the next compaction
  bool tail_newline_ = true;  // the journal ends with a newline (else a crash tore a line)
  bool dirty_ = false;
  bool stop_ = false;
  size_t lease_writes_ = 0;
  std::vector<std::string> pending_;  // keys to lease ahead (background)
  std::chrono::milliseconds sync_interval_{50};
  std::condition_variable cv_;
  std::thread flusher_;
};

// RFC 3339 UTC text of a unix time, e.g. "2025-01-06T10:00:00Z".
std::string format_utc(int64_t unix_seconds);

// Applies an allowed Result's charges to `store`. An exhausted enforcing limit turns the
// Result into a GT-LIMIT denial; an exhausted monitor limit records would_deny. `store` null
// with charges → GT-LIMIT denial (fail closed). With `hold` the charges are only reserved
// into it (the caller commits them when the call is forwarded, or releases them); without,
// they are committed at once.
void apply_limits(Result& result, LimitStore* store, std::chrono::system_clock::time_point now,
                  bool trace = false, LimitStore::Reservation* hold = nullptr);

// evaluate() then limits (counted at decision time). `store` may be null (limits then
// deny: a policy with limits needs a store). This is what the proxy's interceptor calls.
Result decide(const Request& request, const PolicySet& set, LimitStore* store,
              const EvalOptions& options = {});

}  // namespace gt::gov::policy
