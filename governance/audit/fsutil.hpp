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

// An exclusive flock on `file` (created 0600 when missing), released by the destructor.
class FileLock {
 public:
  FileLock(const std::filesystem::path& file, bool wait);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool locked() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace gt::gov::audit::fsutil
