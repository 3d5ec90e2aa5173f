// The audit log writer: what a start finds (a torn tail moved aside, a log that lost records
// refused, a v1 log given its id), and what a failed write leaves (evidence moved aside, the
// denials kept for later). See log_writer.cpp for the other parts.
#include "governance/audit/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/log_internal.hpp"

namespace gt::gov::audit {

using namespace detail;

AuditLog::Tail AuditLog::scan_tail(const fs::path& file) {
  Tail t;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw AuditError(err_text(errno, "cannot read `" + file.string() + "`"));
  struct stat st {};
  ::fstat(fd, &st);
  t.size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t from = t.size > kTailWindow ? t.size - kTailWindow : 0;
  std::string buf(t.size - from, '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(from + got));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ::close(fd);
      throw AuditError("cannot read `" + file.string() + "`");
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  // Bytes after the last newline are an incomplete line.
  auto last_nl = buf.rfind('\n');
  std::uint64_t good = last_nl == std::string::npos ? from : from + last_nl + 1;
  if (last_nl == std::string::npos && from > 0) {
    throw AuditError("`" + file.string() +
                     "` ends with a line longer than 64 MiB; run `glasstape verify`");
  }
  // Complete lines at the end that do not parse as records (zeros after a crash) are part
  // of the torn tail, up to kMaxTornLines.
  for (int i = 0; i < kMaxTornLines && good > from; ++i) {
    std::size_t end = static_cast<std::size_t>(good - from) - 1;  // index of the '\n'
    std::size_t start = buf.rfind('\n', end == 0 ? std::string::npos : end - 1);
    if (end == 0) start = std::string::npos;
    std::size_t line_start = start == std::string::npos ? 0 : start + 1;
    if (start == std::string::npos && from > 0) break;  // the window cut this line
    if (parse_record(std::string_view(buf).substr(line_start, end - line_start))) break;
    good = from + line_start;
  }
  t.good_end = good;
  return t;
}

AuditLog::Item AuditLog::move_aside(const fs::path& file, const Tail& tail,
                                    const std::string& event) {
  std::uint64_t len = tail.size - tail.good_end;
  std::string bytes(len, '\0');
  int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw AuditError(err_text(errno, "cannot open `" + file.string() + "`"));
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, bytes.data() + got, len - got, static_cast<off_t>(tail.good_end + got));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ::close(fd);
      throw AuditError("cannot read the torn tail of `" + file.string() + "`");
    }
    got += static_cast<std::size_t>(n);
  }
  // Named by time and offset; a failure that recurs at the same offset within a second gets
  // a numeric suffix instead of colliding with earlier evidence.
  std::string evidence;
  fs::path ev;
  int efd = -1;
  for (int n = 0; n < 1000 && efd < 0; ++n) {
    evidence = file.filename().string() + ".torn-" + compact_stamp() + "-" +
               std::to_string(tail.good_end) + (n ? "-" + std::to_string(n) : "");
    ev = file.parent_path() / evidence;
    efd = ::open(ev.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (efd < 0 && errno != EEXIST) break;
  }
  if (efd < 0) {
    int err = errno;
    ::close(fd);
    throw AuditError(err_text(err, "cannot keep the torn tail as `" + ev.string() + "`"));
  }
  try {
    fsutil::write_all(efd, bytes, "cannot write `" + ev.string() + "`");
    if (::fsync(efd) != 0) throw AuditError(err_text(errno, "cannot sync `" + ev.string() + "`"));
  } catch (const std::system_error& e) {
    ::close(efd);
    ::close(fd);
    ::unlink(ev.c_str());
    throw AuditError(e.what());
  } catch (...) {
    ::close(efd);
    ::close(fd);
    ::unlink(ev.c_str());
    throw;
  }
  ::close(efd);
  // Only now, with the evidence safe, cut the bytes that were never part of the chain.
  if (::ftruncate(fd, static_cast<off_t>(tail.good_end)) != 0 || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    throw AuditError(err_text(err, "cannot truncate the torn tail of `" + file.string() + "`"));
  }
  ::close(fd);
  fsutil::fsync_dir(file.parent_path());
  Item rec = system_item("recovery");
  rec.payload.set_string("event", event);
  rec.payload.set_string("file", file.filename().string());
  rec.payload.set_int("offset", static_cast<std::int64_t>(tail.good_end));
  rec.payload.set_int("bytes", static_cast<std::int64_t>(len));
  rec.payload.set_string("sha256", sha256_hex(bytes));
  rec.payload.set_string("evidence", evidence);
  spdlog::warn("audit: `{}` had {} byte(s) of torn or failed writes at offset {}; kept as `{}`",
               file.string(), len, tail.good_end, evidence);
  return rec;
}

void AuditLog::replay(const fs::path& file, std::uint64_t end) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw AuditError(err_text(errno, "cannot read `" + file.string() + "`"));
  std::string carry;
  std::string chunk(1 << 20, '\0');
  std::uint64_t off = 0, lines = 0, first_seq = 0;
  std::string last_line;
  auto on_line = [&](std::string_view line) {
    if (lines == 0) {
      std::string err;
      auto r = parse_record(line, &err);
      if (!r || r->kind != "open") {
        throw AuditError("`" + file.string() +
                         "` does not start with an `open` record (damaged, or not a glasstape "
                         "audit log); run `glasstape verify`; refusing to append to it");
      }
      std::vector<Digest> frontier;
      for (const auto& h : r->payload.value("frontier", nlohmann::json::array())) {
        Digest d{};
        if (!h.is_string() || !digest_from_base64(h.get<std::string>(), d)) {
          throw AuditError("`" + file.string() + "`: the `open` record has a malformed frontier");
        }
        frontier.push_back(d);
      }
      auto size = r->payload.value("tree_size", std::uint64_t{0});
      if (size != r->seq || !state_.tree.restore(size, std::move(frontier))) {
        throw AuditError("`" + file.string() +
                         "`: the `open` record's tree does not match its seq");
      }
      first_seq = r->seq;
      std::string tenant = r->payload.value("tenant", "");
      if (tenant != opts_.tenant) {
        throw AuditError("`" + file.string() + "` is the audit log of tenant `" + tenant +
                         "`, not of `" + opts_.tenant + "`; each tenant needs its own directory");
      }
    }
    note_root_at_checkpoint();
    note_existing_line(line, first_seq + lines);
    state_.tree.append(merkle_leaf_hash(line));
    state_.prev_hex = to_hex(sha256(line));
    ++lines;
    last_line.assign(line);
  };
  while (off < end) {
    ssize_t n = ::pread(fd, chunk.data(), std::min<std::uint64_t>(chunk.size(), end - off),
                        static_cast<off_t>(off));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ::close(fd);
      throw AuditError("cannot read `" + file.string() + "`");
    }
    off += static_cast<std::uint64_t>(n);
    std::string_view data(chunk.data(), static_cast<std::size_t>(n));
    std::size_t pos = 0;
    for (;;) {
      auto nl = data.find('\n', pos);
      if (nl == std::string_view::npos) {
        carry.append(data.substr(pos));
        break;
      }
      if (carry.empty()) {
        on_line(data.substr(pos, nl - pos));
      } else {
        carry.append(data.substr(pos, nl - pos));
        on_line(carry);
        carry.clear();
      }
      pos = nl + 1;
    }
  }
  ::close(fd);
  if (lines == 0) return;
  note_root_at_checkpoint();
  auto last = parse_record(last_line);
  if (!last || last->seq != first_seq + lines - 1) {
    throw AuditError("`" + file.string() +
                     "` is damaged: its last record's seq does not follow from "
                     "its first; run `glasstape verify`; refusing to append to it");
  }
  state_.seq = last->seq + 1;
  log_id_ = last->log_id;
  replayed_v1_ = last->version == kRecordV1;
  settle_unsealed();
  state_.file_size = end;
  state_.since_checkpoint = last->kind == "checkpoint" ? 0 : 1;
  file_first_seq_ = first_seq;
}

void AuditLog::note_existing_line(std::string_view line, std::uint64_t seq) {
  // A v1 line is signed on its own; a seal covers everything before it. Which kind a v2 line
  // is can be told from its bytes: in JCS text `"kind":"seal"` only occurs as that member
  // (inside a string every quote is escaped).
  if (line.substr(0, 12) == R"({"payload":")" ||
      line.find(R"("kind":"seal")") != std::string_view::npos) {
    unsealed_lines_.clear();
    return;
  }
  if (unsealed_lines_.empty()) state_.unsealed_from = seq;
  unsealed_lines_.emplace_back(line);
}

void AuditLog::settle_unsealed() {
  // Lines after the last seal: a crash (this process's, or another's) between a batch's
  // records and its seal. The next seal is signed by their agents' keys.
  for (const auto& line : unsealed_lines_) {
    auto r = parse_record(line);
    if (!r) continue;
    std::string agent = r->payload.value("signed_by", r->payload.value("agent", ""));
    if (r->kind != "decision" && r->kind != "result") agent = log_agent_;
    auto& list = state_.unsealed_agents;
    if (!agent.empty() && std::find(list.begin(), list.end(), agent) == list.end())
      list.push_back(agent);
  }
  state_.unsealed_count += unsealed_lines_.size();
  unsealed_lines_.clear();
}

AuditLog::Item AuditLog::unsealed_record() {
  Item rec = system_item("recovery");
  rec.payload.set_string("event", "unsealed");
  rec.payload.set_int("from_seq", static_cast<std::int64_t>(state_.unsealed_from));
  rec.payload.set_int("records", static_cast<std::int64_t>(state_.unsealed_count));
  spdlog::warn(
      "audit: {} record(s) of tenant `{}` from seq {} had no seal (a crash between "
      "records and their seal); sealing them now",
      state_.unsealed_count, opts_.tenant, state_.unsealed_from);
  return rec;
}

void AuditLog::note_root_at_checkpoint() {
  if (dir_checkpoint_ && state_.tree.size() == dir_checkpoint_->size)
    root_at_checkpoint_ = state_.tree.root();
}

void AuditLog::load_dir_checkpoint() {
  const fs::path file = opts_.dir / kCheckpointFileName;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return;
  std::string err;
  std::optional<Checkpoint> cp;
  if (st.st_size > 0 && st.st_size <= kMaxCheckpointFile) {
    try {
      std::string text = fsutil::read_file(file);
      if (auto note = parse_note(text, &err)) cp = parse_checkpoint_text(note->text, &err);
    } catch (const std::exception& e) {
      err = e.what();
    }
  } else {
    err = "it is empty or larger than 64 KiB";
  }
  if (cp) {
    dir_checkpoint_ = std::move(*cp);
  } else {
    dir_checkpoint_error_ = err.empty() ? "it is not a signed checkpoint" : err;
  }
}

void AuditLog::open_existing_or_create(std::vector<Item>& startup) {
  load_dir_checkpoint();
  struct stat st {};
  bool active_exists = ::stat(active_.c_str(), &st) == 0;
  if (active_exists && st.st_size > 0) {
    Tail t = scan_tail(active_);
    if (t.good_end < t.size) startup.push_back(move_aside(active_, t, "torn-tail"));
    if (t.good_end > 0) {
      replay(active_, t.good_end);
      open_active(false);
      return;
    }
  }
  // No usable active file: continue from the newest rotated file, if any.
  std::vector<fs::path> rotated;
  for (const auto& f : log_files_in(opts_.dir)) {
    if (f.filename() != kActiveLogName) rotated.push_back(f);
  }
  if (!rotated.empty()) {
    const fs::path& last = rotated.back();
    Tail t = scan_tail(last);
    if (t.good_end != t.size) {
      throw AuditError("rotated file `" + last.string() +
                       "` ends with an incomplete record; run `glasstape verify`");
    }
    replay(last, t.size);
    last_rotated_ = last.filename().string();
  }
  created_ = rotated.empty();
  if (created_) log_id_ = new_log_id();
  state_.file_size = 0;
  file_first_seq_ = state_.seq;
  // commit() creates the file (not before check_continuity() accepted the directory) and
  // starts it with its `open` record.
}

void AuditLog::check_continuity(std::vector<Item>& startup) {
  const fs::path cp_file = opts_.dir / kCheckpointFileName;
  if (!created_ && (log_id_.empty() || replayed_v1_)) {
    // A v1 log (records signed one by one) continues as v2 (sealed batches), and a log written
    // before logs had ids gets one: the switch is a record of its own, the first v2 record and
    // the first to carry the id; seals from here on name the new origin.
    Item up = system_item("upgrade");
    up.payload.set_string("from", kReceiptFormatV1);
    up.payload.set_string("to", kReceiptFormat);
    if (log_id_.empty()) {
      log_id_ = new_log_id();
      up.payload.set_string("previous_origin", checkpoint_origin(opts_.tenant));
      up.payload.set_string("origin", checkpoint_origin(opts_.tenant, log_id_));
      upgraded_ = true;
    }
    startup.push_back(std::move(up));
  }
  if (state_.unsealed_count > 0) startup.push_back(unsealed_record());
  origin_ = checkpoint_origin(opts_.tenant, log_id_);

  std::string event, problem;
  if (!dir_checkpoint_error_.empty()) {
    // Not a sign of a cut log by itself (a crash can leave a damaged file): kept as evidence
    // and recorded, then replaced by the next checkpoint.
    event = "checkpoint-unreadable";
    problem = "`" + cp_file.string() + "` is not a signed checkpoint: " + dir_checkpoint_error_;
  } else if (dir_checkpoint_) {
    const Checkpoint& cp = *dir_checkpoint_;
    const bool ours =
        cp.origin == origin_ || (upgraded_ && cp.origin == checkpoint_origin(opts_.tenant));
    const std::string covers = "its checkpoint covers " + std::to_string(cp.size) +
                               " record(s) of log `" + cp.origin + "`";
    if (created_) {
      event = "vanished";
      problem = covers + ", but no log file is left";
    } else if (!ours) {
      event = "replaced";
      problem = covers + ", but the log files are those of `" +
                (upgraded_ ? checkpoint_origin(opts_.tenant) : origin_) + "`";
    } else if (cp.size > state_.seq) {
      event = "truncated";
      problem = covers + ", but the log holds only " + std::to_string(state_.seq) + " (seq " +
                std::to_string(state_.seq) + ".." + std::to_string(cp.size - 1) +
                " are gone: cut from the end, or deleted)";
    } else if (root_at_checkpoint_ && *root_at_checkpoint_ != cp.root) {
      event = "rewritten";
      problem = covers + ", but the log's first " + std::to_string(cp.size) +
                " records no longer hash to its root (rewritten)";
    }
  }
  if (problem.empty()) return;
  const std::string log =
      "the audit log of tenant `" + opts_.tenant + "` in `" + opts_.dir.string() + "`";
  if (event != "checkpoint-unreadable" && !opts_.accept_loss) {
    throw AuditError(
        log + " has lost records: " + problem +
        ". Refusing to append to it, which would hide the loss. Find out what happened "
        "(`glasstape verify`); to continue anyway and record the loss in the log, "
        "run `glasstape recover` with the proxy's --config (or `glasstape recover " +
        opts_.dir.string() + " --tenant " + opts_.tenant + "`)");
  }
  // Continue: the checkpoint is kept as evidence and the recovery record says what was lost.
  std::string evidence = std::string(kCheckpointFileName) + ".lost-" + compact_stamp();
  for (int n = 1; fs::exists(opts_.dir / evidence) && n < 1000; ++n)
    evidence =
        std::string(kCheckpointFileName) + ".lost-" + compact_stamp() + "-" + std::to_string(n);
  if (::rename(cp_file.c_str(), (opts_.dir / evidence).c_str()) != 0) {
    throw AuditError(err_text(errno, "cannot keep `" + cp_file.string() + "` as evidence"));
  }
  fsutil::fsync_dir(opts_.dir);
  Item rec = system_item("recovery");
  rec.payload.set_string("event", event);
  rec.payload.set_string("problem", problem);
  rec.payload.set_string("evidence", evidence);
  if (dir_checkpoint_) {
    rec.payload.set_string("checkpoint_origin", dir_checkpoint_->origin);
    rec.payload.set_int("checkpoint_size", static_cast<std::int64_t>(dir_checkpoint_->size));
    rec.payload.set_string("checkpoint_root", to_base64(dir_checkpoint_->root));
    if (dir_checkpoint_->size > state_.seq && !created_) {
      rec.payload.set_int("lost", static_cast<std::int64_t>(dir_checkpoint_->size - state_.seq));
    }
  }
  spdlog::warn("audit: {}: {}; continuing, the checkpoint is kept as `{}`", log, problem, evidence);
  startup.push_back(std::move(rec));
  loss_recorded_ = problem;
  want_checkpoint_ = true;  // a checkpoint of the continued log soon replaces the evidence
}

void AuditLog::undo_failed_write() {
  // Still under the lock: bytes of the failed batch (a partial write, or a written batch
  // whose sync failed) are moved aside before anyone chains onto them.
  struct stat st {};
  if (fd_ < 0 || ::fstat(fd_, &st) != 0) return;
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size <= state_.file_size) return;
  try {
    failure_evidence_ = move_aside(active_, Tail{size, state_.file_size}, "failed-write");
  } catch (const std::exception& e) {
    // Disk full may forbid the evidence file too: the next lock holder (this process or
    // another) sees the bytes and recovers them like a crashed writer's torn tail.
    spdlog::error("audit: cannot move the failed write of `{}` aside: {}", active_.string(),
                  e.what());
  }
}

void AuditLog::fail_items(std::vector<Item>& items, const std::string& error) {
  auto now = Clock::now();
  const std::uint64_t dropped_before = failure_dropped_;
  for (auto& item : items) {
    if (item.kind == Kind::System) continue;  // open/recovery/checkpoint are made again
    bool keep = backlog_.size() < opts_.backlog_max;
    if (item.late) {
      if (keep)
        backlog_.push_back(std::move(item));
      else
        ++failure_dropped_;
      continue;
    }
    thaw(item);
    AppendCallback done = std::move(item.done);
    if (item.kind == Kind::Decision) {
      ++failure_denied_;
      if (keep) {
        Item late;
        late.kind = Kind::Decision;
        late.agent = item.agent;
        late.payload = late_denial_payload(item.payload, error, now);
        late.late = true;
        backlog_.push_back(std::move(late));
      } else {
        ++failure_dropped_;
      }
    } else if (keep) {
      item.late = true;
      item.payload.set_bool("late", true);
      backlog_.push_back(std::move(item));
    } else {
      ++failure_dropped_;
    }
    if (done) done(AppendResult{false, error, 0, {}, {}});
  }
  if (dropped_before == 0 && failure_dropped_ > 0) {
    // Once per failure: from here on, denials are still answered but no longer remembered.
    spdlog::error(
        "audit: {} late record(s) of tenant `{}` are held in memory (backlog_max); further "
        "denials while the log cannot be written are NOT recorded, only counted (`dropped` in "
        "the recovery record)",
        backlog_.size(), opts_.tenant);
  }
}

}  // namespace gt::gov::audit
