#include "governance/audit/fsutil.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

namespace gt::gov::audit::fsutil {

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

namespace {
[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}
}  // namespace

void write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, what);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void fsync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(errno, "cannot open directory `" + dir.string() + "`");
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) fail(err, "cannot sync directory `" + dir.string() + "`");
}

void make_dirs(const std::filesystem::path& dir, unsigned mode) {
  std::filesystem::path cur;
  for (const auto& part : dir) {
    cur /= part;
    if (cur.empty() || cur == cur.root_path()) continue;
    if (::mkdir(cur.c_str(), static_cast<mode_t>(mode)) == 0) {
      ::chmod(cur.c_str(), static_cast<mode_t>(mode));
    } else if (errno != EEXIST) {
      fail(errno, "cannot create directory `" + cur.string() + "`");
    }
  }
}

void atomic_write(const std::filesystem::path& file, std::string_view data, unsigned mode,
                  bool sync) {
  std::random_device rd;
  auto tmp = file;
  tmp += ".tmp-" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  static_cast<mode_t>(mode));
  if (fd < 0) fail(errno, "cannot create `" + tmp.string() + "`");
  try {
    ::fchmod(fd, static_cast<mode_t>(mode));
    write_all(fd, data, "cannot write `" + tmp.string() + "`");
    if (sync && ::fsync(fd) != 0) fail(errno, "cannot sync `" + tmp.string() + "`");
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(err, "cannot replace `" + file.string() + "`");
  }
  if (sync) fsync_dir(file.parent_path().empty() ? "." : file.parent_path());
}

std::string read_file(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "cannot read `" + file.string() + "`");
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      fail(err, "cannot read `" + file.string() + "`");
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

FileLock::FileLock(const std::filesystem::path& file) : file_(file) {
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) fail(errno, "cannot open lock file `" + file.string() + "`");
}

bool FileLock::lock(bool wait) {
  while (::flock(fd_, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    fail(errno, "cannot lock `" + file_.string() + "`");
  }
  return true;
}

void FileLock::unlock() {
  ::flock(fd_, LOCK_UN);
}

void FileLock::touch() {
  ::futimens(fd_, nullptr);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace gt::gov::audit::fsutil
