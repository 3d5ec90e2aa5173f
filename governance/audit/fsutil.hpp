// Small POSIX file helpers shared by keys, the log writer and the verifier.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace gt::gov::audit::fsutil {

// Throws std::system_error with `what` in the message.
void write_all(int fd, std::string_view data, const std::string& what);
void fsync_dir(const std::filesystem::path& dir);
// Creates each missing component with `mode` (umask notwithstanding).
void make_dirs(const std::filesystem::path& dir, unsigned mode);
// Writes `data` to `file` atomically: temp file, fsync, rename, fsync of the directory.
void atomic_write(const std::filesystem::path& file, std::string_view data, unsigned mode,
                  bool sync = true);
std::string read_file(const std::filesystem::path& file);  // throws std::system_error
std::string errno_text(int err);

// An flock(2) on `file` (created 0600 when missing). lock() takes it exclusively (waiting,
// or not); the destructor releases it. Locks of two FileLock objects conflict even within one
// process, since each has its own open file description.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& file);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool lock(bool wait);  // false only when !wait and another holder has it
  void unlock();
  // Sets the file's times to now (an inotify IN_ATTRIB event): how a DirLock asks the log
  // holding the lock to let go (dir_lock.hpp).
  void touch();
  const std::filesystem::path& path() const { return file_; }

 private:
  int fd_ = -1;
  std::filesystem::path file_;
};

// Holds a FileLock for a scope.
class LockGuard {
 public:
  explicit LockGuard(FileLock& l) : l_(l) { l_.lock(true); }
  ~LockGuard() { l_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  FileLock& l_;
};

}  // namespace gt::gov::audit::fsutil
