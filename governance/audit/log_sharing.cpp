// The audit log writer: several processes appending to one directory. Each batch is written
// under the directory's flock after reading what the others appended since (sync()); their
// records join this process's view of the chain and tree. See log_writer.cpp for the others.
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

void AuditLog::open_active(bool create) {
  if (int e = fault(IoOp::Open))
    throw AuditError(err_text(e, "cannot open `" + active_.string() + "`"));
  // Read-write: sync() reads what other processes appended through the same descriptor.
  int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
  fd_ = ::open(active_.c_str(), flags, 0600);
  if (fd_ < 0) throw AuditError(err_text(errno, "cannot open `" + active_.string() + "`"));
  struct stat st {};
  ::fstat(fd_, &st);
  state_.file_size = static_cast<std::uint64_t>(st.st_size);
  ino_ = st.st_ino;
}

std::uint64_t AuditLog::absorb(int fd, const fs::path& path, std::uint64_t from, std::uint64_t to,
                               std::vector<Item>& recovered) {
  std::string buf(to - from, '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw AuditError(err_text(errno, "cannot read `" + path.string() + "`"));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  auto last_nl = buf.rfind('\n');
  std::size_t complete = last_nl == std::string::npos ? 0 : last_nl + 1;
  std::string_view last;
  std::uint64_t lines = 0;
  for (std::size_t pos = 0; pos < complete;) {
    auto nl = buf.find('\n', pos);
    std::string_view line(buf.data() + pos, nl - pos);
    if (lines == 0) {
      auto first = parse_record(line);
      if (!first || first->seq != state_.seq) {
        throw AuditError("`" + path.string() +
                         "`: records written by another process do not continue the " +
                         "chain at seq " + std::to_string(state_.seq) + "; run `glasstape verify`");
      }
    }
    note_existing_line(line, state_.seq + lines);
    state_.tree.append(merkle_leaf_hash(line));
    state_.prev_hex = to_hex(sha256(line));
    last = line;
    ++lines;
    pos = nl + 1;
  }
  if (lines > 0) {
    auto r = parse_record(last);
    if (!r) {
      throw AuditError("`" + path.string() +
                       "`: a record written by another process does not parse; run "
                       "`glasstape verify`");
    }
    state_.seq = r->seq + 1;
    state_.since_checkpoint += lines;
  }
  // Records another process wrote without a seal yet (fsync off, or a batch nobody waited
  // for; or it died): whichever process seals first signs for their agents too.
  settle_unsealed();
  state_.file_size = from + complete;
  if (complete < buf.size() && !path.empty() && path.filename() == kActiveLogName) {
    // Bytes without a newline while we hold the lock: a writer died in the middle of a batch.
    recovered.push_back(move_aside(path, Tail{from + buf.size(), state_.file_size}, "torn-tail"));
  }
  return lines;
}

void AuditLog::absorb_rotated(std::vector<Item>& recovered) {
  // Files other processes filled and rotated since: each is named after its first seq, so
  // the next one is always audit-<our next seq>.jsonl.
  for (;;) {
    fs::path next = opts_.dir / rotated_log_name(state_.seq);
    int fd = ::open(next.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    ::fstat(fd, &st);
    std::uint64_t lines = 0;
    try {
      lines = absorb(fd, next, 0, static_cast<std::uint64_t>(st.st_size), recovered);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    last_rotated_ = next.filename().string();
    if (lines == 0) return;
  }
}

void AuditLog::catch_up(std::vector<Item>& recovered) {
  const auto now = SteadyClock::now();
  if (lock_->continued() && now < next_catch_up_) return;
  sync(recovered);
  next_catch_up_ = now + kSoleCheck;
}

void AuditLog::sync(std::vector<Item>& recovered) {
  struct stat st {};
  if (::stat(active_.c_str(), &st) != 0) {
    if (errno != ENOENT)
      throw AuditError(err_text(errno, "cannot stat `" + active_.string() + "`"));
    // Another process rotated the file away and has not created the next one yet (it
    // died): take what it appended to the old file, then commit() starts a new one.
    if (fd_ >= 0) {
      struct stat old {};
      ::fstat(fd_, &old);
      absorb(fd_, {}, state_.file_size, static_cast<std::uint64_t>(old.st_size), recovered);
      if (unsynced_) sync_deferred();
      ::close(fd_);
      fd_ = -1;
      absorb_rotated(recovered);
    }
    state_.file_size = 0;
    file_first_seq_ = state_.seq;
    return;
  }
  if (fd_ >= 0 && st.st_ino == ino_) {
    auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < state_.file_size) {
      throw AuditError("`" + active_.string() + "` shrank from " +
                       std::to_string(state_.file_size) + " to " + std::to_string(size) +
                       " bytes (truncated by someone else)");
    }
    if (size > state_.file_size) absorb(fd_, active_, state_.file_size, size, recovered);
    return;
  }
  // A new active file: another process rotated. Finish the old one, then read the new one.
  if (fd_ >= 0) {
    struct stat old {};
    ::fstat(fd_, &old);
    absorb(fd_, {}, state_.file_size, static_cast<std::uint64_t>(old.st_size), recovered);
    if (unsynced_) sync_deferred();
    ::close(fd_);
    fd_ = -1;
  }
  absorb_rotated(recovered);
  open_active(false);
  std::uint64_t size = state_.file_size;
  std::uint64_t seq_before = state_.seq;
  state_.file_size = 0;
  absorb(fd_, active_, 0, size, recovered);
  file_first_seq_ = seq_before;
}

}  // namespace gt::gov::audit
