// The lock of an audit log directory, and the lease of a log that appends alone (dir_lock.hpp).
#include "governance/audit/dir_lock.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include <spdlog/spdlog.h>

namespace gt::gov::audit {

namespace {

using SteadyClock = std::chrono::steady_clock;

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

// An OFD lock (fcntl) on the whole file, without waiting: 0, or the errno (EAGAIN/EACCES when
// another open file description holds a conflicting one).
int ofd_lock(int fd, short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  while (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

bool is_conflict(int err) {
  return err == EAGAIN || err == EACCES;
}

// File systems that other hosts may write to: inotify does not see their processes touch
// `.lock`, so a log there is never sole (it takes the flock per batch, as they do).
bool shared_with_other_hosts(const std::filesystem::path& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return true;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0x6969:      // NFS
    case 0x517B:      // SMB
    case 0xFF534D42:  // CIFS
    case 0xFE534D42:  // SMB2
    case 0x65735546:  // FUSE (sshfs, virtiofs, ...)
    case 0x00C36400:  // Ceph
    case 0x5346414F:  // AFS
    case 0x01021997:  // 9P
    case 0x47504653:  // GPFS
    case 0x0BD00BD0:  // Lustre
      return true;
    default:
      return false;
  }
}

}  // namespace

DirLock::DirLock(const std::filesystem::path& dir, std::chrono::milliseconds retry)
    : file_(dir / ".lock"), retry_(retry) {
  const auto writers = dir / ".writers";
  writers_fd_ = ::open(writers.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (writers_fd_ < 0) fail(errno, "cannot open `" + writers.string() + "`");
  // The watch exists before this log can be sole: whoever finds it sole has touched `.lock`
  // after that, so the event is never missed.
  if (!shared_with_other_hosts(dir)) inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (inotify_fd_ >= 0 && ::inotify_add_watch(inotify_fd_, file_.path().c_str(), IN_ATTRIB) < 0) {
    ::close(inotify_fd_);
    inotify_fd_ = -1;
  }
  if (inotify_fd_ >= 0) stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (inotify_fd_ >= 0 && stop_fd_ < 0) {
    ::close(inotify_fd_);
    inotify_fd_ = -1;
  }
  if (inotify_fd_ < 0) {
    spdlog::debug(
        "audit: no inotify for `{}` (or a network file system): the directory lock is "
        "taken for every batch",
        file_.path().string());
  } else {
    watching_ = true;
    watcher_ = std::thread([this] { watch(); });
  }
  if (watching_ && ofd_lock(writers_fd_, F_WRLCK) == 0) {
    sole_ = true;
    return;
  }
  // Another log is here. If it is sole, it gives the lease up when `.lock` is touched; touch
  // again now and then, in case it became sole again in between (it retries once a second).
  const auto start = SteadyClock::now();
  bool warned = false;
  for (int i = 0;; ++i) {
    int err = ofd_lock(writers_fd_, F_RDLCK);
    if (err == 0) break;
    if (!is_conflict(err)) {
      shut();
      fail(err, "cannot lock `" + writers.string() + "`");
    }
    if (i % 50 == 0) file_.touch();
    if (!warned && SteadyClock::now() - start > std::chrono::seconds(5)) {
      warned = true;
      spdlog::warn("audit: waiting for the process appending to `{}` to share it", dir.string());
    }
    ::usleep(1000);
  }
}

DirLock::~DirLock() {
  shut();
}

void DirLock::shut() {
  if (watcher_.joinable()) {
    std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    watcher_.join();
  }
  for (int* fd : {&stop_fd_, &inotify_fd_, &writers_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

bool DirLock::lock(bool wait) {
  {
    std::lock_guard g(m_);
    if (held_) {
      in_use_ = true;
      continued_ = true;
      return true;
    }
  }
  if (!file_.lock(false)) {
    if (!wait) return false;
    file_.touch();  // held elsewhere: if by a sole log, this asks it to let go
    file_.lock(true);
  }
  std::lock_guard g(m_);
  held_ = true;
  in_use_ = true;
  continued_ = false;
  const auto now = SteadyClock::now();
  if (!sole_ && watching_ && now >= next_try_) {
    next_try_ = now + retry_;
    if (ofd_lock(writers_fd_, F_WRLCK) == 0) sole_ = true;  // the others have gone
  }
  return true;
}

void DirLock::unlock() {
  std::lock_guard g(m_);
  in_use_ = false;
  if (sole_ || !held_) return;
  file_.unlock();
  held_ = false;
}

bool DirLock::sole() const {
  std::lock_guard g(m_);
  return sole_;
}

std::uint64_t DirLock::leases_given_up() const {
  std::lock_guard g(m_);
  return given_up_;
}

void DirLock::give_up() {
  std::lock_guard g(m_);
  if (!sole_) return;
  sole_ = false;
  ++given_up_;
  next_try_ = SteadyClock::now() + retry_;
  // The flock first: the log asking gets `.writers` next, and then finds the flock free (or
  // held for the batch being written, released by unlock()).
  if (held_ && !in_use_) {
    file_.unlock();
    held_ = false;
  }
  ofd_lock(writers_fd_, F_RDLCK);  // converts our own lock: cannot conflict
}

void DirLock::watch() {
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (fds[1].revents != 0) return;  // stopping
    if (n < 0 || (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL))) {
      // Nothing can ask this log for the lease any more: never sole from now on.
      {
        std::lock_guard g(m_);
        watching_ = false;
      }
      give_up();
      return;
    }
    if (fds[0].revents & POLLIN) {
      alignas(inotify_event) char buf[4096];
      while (::read(inotify_fd_, buf, sizeof buf) > 0) {
      }
      give_up();
    }
  }
}

}  // namespace gt::gov::audit
