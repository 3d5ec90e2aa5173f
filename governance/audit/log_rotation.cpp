// The audit log writer: rotation by size. A full file is closed with a checkpoint, renamed
// after its first seq, and the next file starts with an `open` record. See log_writer.cpp.
#include "governance/audit/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "governance/audit/log_internal.hpp"

namespace gt::gov::audit {

using namespace detail;

bool AuditLog::rotation_due() const {
  return opts_.rotate_bytes > 0 && state_.file_size >= opts_.rotate_bytes;
}

void AuditLog::rotate() {
  // Close the file with a checkpoint, so every rotated file ends with a signed tree head.
  want_checkpoint_ = true;
  std::vector<Item> none;
  std::string err;
  if (!commit(none, true, &err)) {
    spdlog::warn("audit: rotation of `{}` postponed: {}", active_.string(), err);
    return;
  }
  if (int e = fault(IoOp::Rotate)) {
    spdlog::warn("audit: rotation of `{}` postponed: {}", active_.string(), fsutil::errno_text(e));
    return;
  }
  fs::path rotated = opts_.dir / rotated_log_name(file_first_seq_);
  ::fsync(fd_);
  if (::rename(active_.c_str(), rotated.c_str()) != 0) {
    spdlog::warn("audit: rotation of `{}` postponed: {}", active_.string(),
                 fsutil::errno_text(errno));
    return;
  }
  ::close(fd_);
  fd_ = -1;
  try {
    fsutil::fsync_dir(opts_.dir);
  } catch (const std::exception& e) {
    spdlog::warn("audit: {}", e.what());
  }
  last_rotated_ = rotated.filename().string();
  file_first_seq_ = state_.seq;
  state_.file_size = 0;
  {
    std::lock_guard lk(mu_);
    ++stats_.rotations;
  }
  // Start the new file now (its `open` record), so a reader sees it at once.
  if (!commit(none, false, &err)) {
    spdlog::error("audit: CANNOT WRITE the audit log of tenant `{}`: {}", opts_.tenant, err);
    failing_ = true;
    failure_error_ = err;
    failure_since_ = rfc3339_utc(Clock::now());
  }
}

}  // namespace gt::gov::audit
