// The lock of an audit log directory that several processes may append to, and a lease on it
// for a log that is the only one appending.
//
// Every batch is written under an exclusive flock on `.lock`, after reading what the others
// appended since (log_writer.hpp). Taking and dropping the flock and checking the file cost
// three system calls per batch: with fsync off, about a quarter of what governance adds to a
// call. A log that is the only one appending to its directory ("sole") keeps the flock from
// one batch to the next instead, and its writer skips the catch-up, until another log wants
// in:
//   - `.writers`: every log of the directory holds an OFD lock (fcntl) on it for its lifetime:
//     shared, or exclusive while sole. Exclusive is granted only when no other log holds it.
//   - A log that cannot get what it needs (shared on `.writers`, or the flock) touches `.lock`
//     (futimens: an inotify IN_ATTRIB event), and the sole log's watcher thread then gives the
//     lease up: `.writers` shared again, the flock released after the batch being written.
//   - A log that is not sole tries to become sole again at most once per `retry` (after the
//     others have gone).
// Correctness rests on the flock alone, as before: a sole log holds it, so nobody else can
// write; the rest only decides when to let go. Without inotify (e.g. the per-user instance
// limit is reached) a log is never sole and takes the flock per batch.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "governance/audit/fsutil.hpp"

namespace gt::gov::audit {

class DirLock {
 public:
  // Opens (creating) `dir`/.lock and `dir`/.writers and joins the directory's logs: waits
  // while a sole log gives up its lease. Throws std::system_error.
  explicit DirLock(const std::filesystem::path& dir,
                   std::chrono::milliseconds retry = std::chrono::seconds(1));
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  // Takes the flock exclusively (waiting, or not: false when another log holds it). Returns
  // at once, without a system call, while the lease holds it. One thread at a time. With
  // unlock(), a std::lock_guard can hold it for a scope.
  bool lock(bool wait = true);
  // Releases the flock, unless this log is sole (then it keeps it until asked for it).
  void unlock();
  // After lock(): the flock was held without a break since the previous unlock(), so no other
  // process has written to the directory meanwhile.
  bool continued() const { return continued_; }
  bool sole() const;
  std::uint64_t leases_given_up() const;  // times another log asked for the lease

 private:
  void watch();
  void give_up();
  void shut();  // ends the watcher and closes the files it owns (`file_` closes itself)

  fsutil::FileLock file_;  // `.lock`
  std::chrono::milliseconds retry_;
  int writers_fd_ = -1;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: ends the watcher
  mutable std::mutex m_;
  bool sole_ = false;    // exclusive on `.writers`
  bool held_ = false;    // the flock is held
  bool in_use_ = false;  // between lock() and unlock()
  bool continued_ = false;
  bool watching_ = false;  // the watcher runs: this log may be sole
  std::uint64_t given_up_ = 0;
  std::chrono::steady_clock::time_point next_try_;
  std::thread watcher_;
};

}  // namespace gt::gov::audit
