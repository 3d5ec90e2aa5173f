#include "governance/audit/trust.hpp"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>
#include <system_error>
#include <vector>

namespace gt::gov::audit {

namespace fs = std::filesystem;

namespace {

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

std::string quoted(const fs::path& p) {
  return "`" + p.string() + "`";
}

bool owner_ok(uid_t uid) {
  return uid == ::geteuid() || uid == 0;
}

// The directories above `p`, from its parent up to `/`.
void add_ancestors(const fs::path& p, std::vector<fs::path>& out, std::set<fs::path>& seen) {
  fs::path cur = p.parent_path();
  for (;;) {
    if (cur.empty()) break;
    if (seen.insert(cur).second) out.push_back(cur);
    if (cur == cur.root_path()) break;
    fs::path up = cur.parent_path();
    if (up == cur) break;
    cur = up;
  }
}

std::string dir_problem(const fs::path& dir, const struct stat& st, const fs::path& file,
                        const std::string& what) {
  std::string uid = std::to_string(::geteuid());
  std::string head = "directory " + quoted(dir) + " above " + what + " " + quoted(file);
  if (!S_ISDIR(st.st_mode))
    return quoted(dir) + " above " + what + " " + quoted(file) + " is not a directory; refusing it";
  if (!owner_ok(st.st_uid)) {
    return head + " is owned by uid " + std::to_string(st.st_uid) +
           ", not by the current user (uid " + uid + ") or root; refusing it (run `chown " + uid +
           " " + dir.string() + "`, or keep the file in a directory of your own)";
  }
  bool sticky_root = (st.st_mode & S_ISVTX) && st.st_uid == 0;
  if ((st.st_mode & 022) && !sticky_root) {
    return head + " is writable by group or others (mode " + mode_text(st.st_mode) +
           "); refusing it (run `chmod go-w " + dir.string() + "`)";
  }
  return {};
}

}  // namespace

std::string untrusted_dirs(const fs::path& file, const std::string& what) {
  std::vector<fs::path> dirs;
  std::set<fs::path> seen;
  std::error_code ec;
  fs::path abs = fs::absolute(file, ec);
  if (ec) return "cannot resolve " + what + " " + quoted(file) + ": " + ec.message();
  add_ancestors(abs.lexically_normal(), dirs, seen);
  // Where symbolic links lead: the directories that really hold the file.
  fs::path real = fs::weakly_canonical(abs, ec);
  if (!ec) add_ancestors(real, dirs, seen);
  for (const auto& d : dirs) {
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // not created yet: it will be made 0700
      return "cannot check directory " + quoted(d) + " above " + what + " " + quoted(file) + ": " +
             std::generic_category().message(errno) + "; refusing it";
    }
    auto problem = dir_problem(d, st, file, what);
    if (!problem.empty()) return problem;
  }
  return {};
}

std::string untrusted_file(const fs::path& file, const struct stat& st, Trust trust,
                           const std::string& what) {
  std::string uid = std::to_string(::geteuid());
  if (!S_ISREG(st.st_mode)) return what + " " + quoted(file) + " is not a regular file";
  if (!owner_ok(st.st_uid)) {
    return what + " " + quoted(file) + " is owned by uid " + std::to_string(st.st_uid) +
           ", not by the current user (uid " + uid + ") or root; refusing it (run `chown " + uid +
           " " + file.string() + "` if you trust its content)";
  }
  if (trust == Trust::Secret && (st.st_mode & 077)) {
    return what + " " + quoted(file) + " has mode " + mode_text(st.st_mode) +
           " and is accessible by group or others; refusing it (run `chmod 600 " + file.string() +
           "`)";
  }
  if (st.st_mode & 022) {
    return what + " " + quoted(file) + " is writable by group or others (mode " +
           mode_text(st.st_mode) + "); refusing it (run `chmod go-w " + file.string() + "`)";
  }
  return {};
}

void check_trusted(int fd, const fs::path& file, Trust trust, const std::string& what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw UntrustedFile("cannot check " + what + " " + quoted(file) + ": " +
                        std::generic_category().message(errno));
  }
  auto problem = untrusted_file(file, st, trust, what);
  if (problem.empty()) problem = untrusted_dirs(file, what);
  if (!problem.empty()) throw UntrustedFile(problem);
}

void check_trusted_dirs(const fs::path& file, const std::string& what) {
  auto problem = untrusted_dirs(file, what);
  if (!problem.empty()) throw UntrustedFile(problem);
}

std::string read_trusted(const fs::path& file, Trust trust, const std::string& what,
                         std::size_t max_bytes) {
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (trust == Trust::Secret ? O_NOFOLLOW : 0);
  int fd = ::open(file.c_str(), flags);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP && trust == Trust::Secret) {
      throw UntrustedFile(what + " " + quoted(file) + " is a symbolic link; refusing it");
    }
    throw std::system_error(err, std::generic_category(),
                            "cannot read " + what + " " + quoted(file));
  }
  std::string out;
  out.reserve(std::min<std::size_t>(max_bytes, 1 << 16));  // a key is never copied on growth
  char buf[4096];
  try {
    check_trusted(fd, file, trust, what);
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(),
                                "cannot read " + what + " " + quoted(file));
      }
      if (n == 0) break;
      if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
        throw std::system_error(
            EFBIG, std::generic_category(),
            what + " " + quoted(file) + " is larger than " + std::to_string(max_bytes) + " bytes");
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  } catch (...) {
    ::close(fd);
    ::explicit_bzero(buf, sizeof buf);
    ::explicit_bzero(out.data(), out.size());
    throw;
  }
  ::close(fd);
  ::explicit_bzero(buf, sizeof buf);
  return out;
}

}  // namespace gt::gov::audit
