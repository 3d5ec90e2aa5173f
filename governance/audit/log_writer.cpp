#include "governance/audit/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <spdlog/spdlog.h>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/dsse.hpp"

namespace gt::gov::audit {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

std::optional<FsyncMode> parse_fsync_mode(std::string_view s) {
  if (s == "always") return FsyncMode::Always;
  if (s == "group") return FsyncMode::Group;
  if (s == "off") return FsyncMode::Off;
  return std::nullopt;
}

std::string_view to_string(FsyncMode m) {
  switch (m) {
    case FsyncMode::Always:
      return "always";
    case FsyncMode::Group:
      return "group";
    case FsyncMode::Off:
      return "off";
  }
  return "group";
}

namespace {

// The largest tail we examine for torn or unparseable lines at startup.
constexpr std::uint64_t kTailWindow = 64ull << 20;
// How many unparseable complete lines at the very end count as torn (a crash can leave a
// few lines of zeros on some file systems); more than that is damage, not a crash.
constexpr int kMaxTornLines = 16;
// A signed checkpoint is a few hundred bytes; a larger `checkpoint` file is not read.
constexpr off_t kMaxCheckpointFile = 64 << 10;

std::string compact_stamp() {
  std::string t = rfc3339_utc(Clock::now());  // 2025-06-01T12:34:56.789012Z
  std::string out;
  for (char c : t.substr(0, 19)) {
    if (c != '-' && c != ':') out += c;
  }
  return out + "Z";
}

std::string err_text(int err, const std::string& what) {
  return what + ": " + fsutil::errno_text(err);
}

// Set while this thread holds some log's writer role: a record callback that appends again
// (to any log) then queues instead of writing inline, so no role mutex is taken twice.
thread_local int tl_roles_held = 0;

struct RoleHeld {
  RoleHeld() { ++tl_roles_held; }
  ~RoleHeld() { --tl_roles_held; }
  RoleHeld(const RoleHeld&) = delete;
  RoleHeld& operator=(const RoleHeld&) = delete;
};

}  // namespace

// --- construction and recovery -------------------------------------------------------------

AuditLog::AuditLog(LogOptions opts, std::shared_ptr<KeyProvider> keys, std::string log_agent)
    : opts_(std::move(opts)), keys_(std::move(keys)), log_agent_(std::move(log_agent)) {
  if (opts_.group_records == 0) opts_.group_records = 1;
  check_key_name("tenant", opts_.tenant);
  try {
    fsutil::make_dirs(opts_.dir, 0700);
  } catch (const std::system_error& e) {
    throw AuditError(std::string("cannot create the audit directory: ") + e.what());
  }
  try {
    lock_ = std::make_unique<fsutil::FileLock>(opts_.dir / ".lock");
  } catch (const std::system_error& e) {
    throw AuditError(std::string("cannot lock the audit directory: ") + e.what());
  }
  active_ = opts_.dir / kActiveLogName;
  keys_->key_for(log_agent_);  // fail now, not at the first call, if the key is unusable

  // Several processes may share the directory (e.g. one proxy per MCP server for the same
  // tenant): every batch is appended under an exclusive flock, after catching up with what
  // the others wrote (sync()).
  fsutil::LockGuard held(*lock_);
  std::vector<Item> startup;
  open_existing_or_create(startup);
  check_continuity(startup);
  Item start = system_item("start");
  start.payload.set_string("version", opts_.version);
  start.payload.set_int("pid", static_cast<std::int64_t>(::getpid()));
  start.payload.set_string("fsync", to_string(opts_.fsync));
  startup.push_back(std::move(start));
  std::string err;
  if (!commit(startup, false, &err)) {
    throw AuditError("cannot write the audit log `" + active_.string() + "`: " + err);
  }
  {
    std::lock_guard lk(mu_);
    stats_.next_seq = state_.seq;
  }
  last_checkpoint_ = SteadyClock::now();
  publish();
  if (opts_.nonce_pool > 0) nonces_ = std::make_unique<NoncePool>(opts_.nonce_pool);
  writer_ = std::thread([this] { writer_loop(); });
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
  if (!backlog_.empty() || failure_dropped_ > 0) {
    // Late records live in memory only (see backlog_max): they die with the process.
    spdlog::error(
        "audit: {} late record(s) of tenant `{}` could not be written before shutdown and are "
        "lost ({} more were dropped earlier)",
        backlog_.size(), opts_.tenant, failure_dropped_);
  }
}

fs::path AuditLog::active_file() const {
  return active_;
}

void AuditLog::thaw(Item& item) {
  if (!item.is_frozen) return;
  item.payload = item.frozen.thaw();
  item.frozen = FrozenPayload{};
  item.is_frozen = false;
}

AuditLog::Item AuditLog::system_item(const std::string& kind) {
  Item it;
  it.kind = Kind::System;
  it.agent = log_agent_;
  it.payload.set_string("format", kReceiptFormat);
  it.payload.set_string("kind", kind);
  it.payload.set_string("id", new_receipt_id());
  it.payload.set_string("ts", rfc3339_utc(Clock::now()));
  it.payload.set_string("tenant", opts_.tenant);
  it.payload.set_string("agent", log_agent_);
  return it;
}

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
  state_.file_size = end;
  state_.since_checkpoint = last->kind == "checkpoint" ? 0 : 1;
  file_first_seq_ = first_seq;
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
  if (!created_ && log_id_.empty()) {
    // A log written before logs had ids continues with one: the switch is a record of its own,
    // the first to carry the id; checkpoints from here on name the new origin.
    log_id_ = new_log_id();
    Item up = system_item("upgrade");
    up.payload.set_string("change", "log-id");
    up.payload.set_string("previous_origin", checkpoint_origin(opts_.tenant));
    up.payload.set_string("origin", checkpoint_origin(opts_.tenant, log_id_));
    startup.push_back(std::move(up));
    upgraded_ = true;
  }
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
    state_.since_checkpoint = r->kind == "checkpoint" ? 0 : state_.since_checkpoint + lines;
  }
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

// --- the write path ------------------------------------------------------------------------

void AuditLog::append_record(Item& item, const SigningKey& key) {
  payload_.clear();
  if (item.is_frozen) {
    item.frozen.finish_into(payload_,
                            ChainMembers{key.key_id(), log_id_, state_.prev_hex, state_.seq});
  } else {
    item.payload.finish_into(payload_,
                             ChainMembers{key.key_id(), log_id_, state_.prev_hex, state_.seq});
  }
  std::size_t start = buf_.size();
  append_envelope(buf_, scratch_, kReceiptPayloadType, payload_, key, nonces_.get());
  std::string_view line(buf_.data() + start, buf_.size() - start);
  state_.prev_hex = to_hex(sha256(line));
  item.leaf = merkle_leaf_hash(line);
  state_.tree.append(item.leaf);
  buf_ += '\n';
  item.seq = state_.seq++;
}

std::string AuditLog::append_checkpoint(const SigningKey& log_key) {
  Checkpoint cp{origin_, state_.seq, state_.tree.root()};
  std::string note = sign_checkpoint(cp, log_key);
  Item c = system_item("checkpoint");
  c.payload.set_string("origin", origin_);
  c.payload.set_int("tree_size", static_cast<std::int64_t>(cp.size));
  c.payload.set_string("root", to_base64(cp.root));
  c.payload.set_string("note", note);
  append_record(c, log_key);
  state_.since_checkpoint = 0;
  return note;
}

bool AuditLog::checkpoint_due(SteadyClock::time_point now) const {
  if (state_.since_checkpoint == 0) return false;
  if (want_checkpoint_) return true;
  if (opts_.checkpoint_every > 0 && state_.since_checkpoint >= opts_.checkpoint_every) return true;
  return opts_.checkpoint_interval.count() > 0 &&
         now - last_checkpoint_ >= opts_.checkpoint_interval;
}

bool AuditLog::commit(std::vector<Item>& items, bool allow_checkpoint, std::string* error,
                      bool durable) {
  if (fd_ < 0) {
    try {
      open_active(true);
    } catch (const AuditError& e) {
      *error = e.what();
      return false;
    }
  }
  ChainState snapshot = state_;
  buf_.clear();
  const SigningKey* log_key = nullptr;
  try {
    log_key = &keys_->key_for(log_agent_);
  } catch (const std::exception& e) {
    *error = std::string("cannot load the log key: ") + e.what();
    return false;
  }
  std::string note;  // the last checkpoint note of this batch
  if (state_.file_size == 0) {
    // A new file starts with the tree frontier so it can be resumed and verified alone.
    Item open = system_item("open");
    nlohmann::json frontier = nlohmann::json::array();
    for (const auto& d : state_.tree.frontier())
      frontier.push_back(to_base64(d));
    open.payload.set_int("tree_size", static_cast<std::int64_t>(state_.seq));
    open.payload.set("frontier", frontier);
    open.payload.set_string("prev_file", last_rotated_);
    append_record(open, *log_key);
    ++state_.since_checkpoint;
  }
  // The key of the previous record's agent: a batch is usually one agent's, and key_for()
  // takes a lock and a map lookup. References stay valid until the next refresh().
  const std::string* cached_agent = nullptr;
  const SigningKey* cached_key = nullptr;
  for (auto& item : items) {
    const SigningKey* key = log_key;
    if (item.kind != Kind::System && cached_agent && *cached_agent == item.agent) {
      key = cached_key;
    } else if (item.kind != Kind::System) {
      try {
        key = &keys_->key_for(item.agent);
        cached_agent = &item.agent;
        cached_key = key;
      } catch (const std::exception& e) {
        // Without the agent's key the decision cannot be signed as that agent: record the
        // denial the client gets, signed with the log key.
        item.error =
            std::string("cannot load the signing key of agent `") + item.agent + "`: " + e.what();
        thaw(item);
        if (item.kind == Kind::Decision && !item.late) {
          item.payload = late_denial_payload(item.payload, item.error, Clock::now());
          item.payload.set_string("code", "GT-AUDIT-KEY");
          item.payload.erase("late");
          item.payload.erase("decided_at");
        }
        item.payload.set_string("signed_by", log_agent_);
        key = log_key;
      }
    }
    append_record(item, *key);
    ++state_.since_checkpoint;
    // Every checkpoint_every records, even in the middle of a batch.
    if (allow_checkpoint && opts_.checkpoint_every > 0 &&
        state_.since_checkpoint >= opts_.checkpoint_every) {
      note = append_checkpoint(*log_key);
    }
  }
  if (allow_checkpoint && checkpoint_due(SteadyClock::now())) note = append_checkpoint(*log_key);
  if (buf_.empty()) return true;
  int err = fault(IoOp::Write);
  if (err == 0) {
    try {
      fsutil::write_all(fd_, buf_, "write");
    } catch (const std::system_error& e) {
      err = e.code().value();
    }
  }
  if (err == 0 && opts_.fsync != FsyncMode::Off && durable) {
    err = fault(IoOp::Sync);
    const auto sync_start = SteadyClock::now();
    if (err == 0 && ::fdatasync(fd_) != 0) err = errno;
    if (err == 0) {
      last_sync_ = SteadyClock::now() - sync_start;
      unsynced_ = false;
      std::lock_guard lk(mu_);
      ++stats_.syncs;
    }
  } else if (err == 0 && opts_.fsync != FsyncMode::Off && !unsynced_) {
    unsynced_ = true;  // synced by the next batch someone waits for, or by sync_deferred()
    unsynced_since_ = SteadyClock::now();
  }
  if (err != 0) {
    state_ = std::move(snapshot);
    *error = err_text(err, "cannot write `" + active_.string() + "`");
    undo_failed_write();
    return false;
  }
  state_.file_size += buf_.size();
  if (!note.empty()) {
    last_checkpoint_ = SteadyClock::now();
    want_checkpoint_ = false;
    try {
      // A convenience copy for operators to ship elsewhere; the signed record in the log
      // is authoritative, so this file is replaced atomically but not synced.
      fsutil::atomic_write(opts_.dir / kCheckpointFileName, note, 0644, false);
    } catch (const std::exception& e) {
      spdlog::warn("audit: cannot update `{}`: {}", (opts_.dir / kCheckpointFileName).string(),
                   e.what());
    }
    std::lock_guard lk(mu_);
    ++stats_.checkpoints;
  }
  return true;
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

void AuditLog::process(std::vector<Item>& batch) {
  fsutil::LockGuard held(*lock_);
  if (process_locked(batch) && rotation_due()) {
    rotate();
    publish();
  }
}

bool AuditLog::rotation_due() const {
  return opts_.rotate_bytes > 0 && state_.file_size >= opts_.rotate_bytes;
}

void AuditLog::publish() {
  std::lock_guard lk(mu_);
  pub_.since_checkpoint = state_.since_checkpoint;
  pub_.last_checkpoint = last_checkpoint_;
  pub_.retry_backlog = failing_ && !backlog_.empty();
}

bool AuditLog::try_inline(Item& it) {
  if (!opts_.caller_writes || opts_.fsync != FsyncMode::Off || tl_roles_held > 0) return false;
  std::unique_lock role(role_mu_, std::try_to_lock);
  // The writer thread is busy, or the log is failing (its backlog goes first, in order), or
  // another process holds the directory lock: queue, never wait on the caller's thread.
  if (!role.owns_lock() || failing_) return false;
  {
    // Only when the writer is waiting for work and nothing is queued: under concurrent load
    // records are batched by the writer (one write(2) for many, and no caller holds the role
    // while it may be preempted by the others).
    std::lock_guard lk(mu_);
    if (stop_ || !queue_.empty() || !writer_waiting_) return false;
  }
  if (!lock_->lock(false)) return false;
  struct Unlock {
    fsutil::FileLock& lock;
    ~Unlock() { lock.unlock(); }
  } unlock{*lock_};
  {
    std::lock_guard lk(mu_);
    if (stop_) return false;
    ++enqueued_;
  }
  // Counted as completed however process_locked() ends, so flush() never waits for it.
  struct Completed {
    AuditLog& log;
    ~Completed() {
      {
        std::lock_guard lk(log.mu_);
        ++log.completed_;
        ++log.stats_.inline_records;
      }
      log.idle_cv_.notify_all();
      if (log.want_rotate_) log.cv_.notify_one();
    }
  } completed{*this};
  std::vector<Item> batch;
  batch.push_back(std::move(it));
  RoleHeld held;
  // Rotation syncs and renames files: the writer thread does it, not a caller.
  if (process_locked(batch) && rotation_due()) want_rotate_ = true;
  return true;
}

bool AuditLog::process_locked(std::vector<Item>& batch) {
  keys_->refresh();
  std::string err;
  std::vector<Item> items;
  try {
    sync(items);
  } catch (const std::exception& e) {
    err = e.what();
    if (!failing_) {
      spdlog::error(
          "audit: CANNOT WRITE the audit log of tenant `{}`: {}; calls are denied until it can be "
          "written",
          opts_.tenant, err);
      failing_ = true;
      failure_error_ = err;
      failure_since_ = rfc3339_utc(Clock::now());
    }
    fail_items(batch, err);
    publish();
    return false;
  }
  bool recovering = false;
  if (failing_) {
    recovering = true;
    if (failure_evidence_) items.push_back(std::move(*failure_evidence_));
    failure_evidence_.reset();
    Item rec = system_item("recovery");
    rec.payload.set_string("event", "write-failure");
    rec.payload.set_string("error", failure_error_);
    rec.payload.set_string("since", failure_since_);
    rec.payload.set_int("denied", static_cast<std::int64_t>(failure_denied_));
    rec.payload.set_int("late_records", static_cast<std::int64_t>(backlog_.size()));
    rec.payload.set_int("dropped", static_cast<std::int64_t>(failure_dropped_));
    items.push_back(std::move(rec));
    while (!backlog_.empty()) {
      items.push_back(std::move(backlog_.front()));
      backlog_.pop_front();
    }
  }
  std::size_t late_count = 0;
  for (const auto& it : items)
    late_count += it.late ? 1 : 0;
  // In group mode a batch nobody waits for (result records, timed checkpoints) is written now
  // and synced with the next batch that has a waiter, or within kDeferredSync: a decision
  // never waits behind the sync of a record that no call depends on.
  bool durable = opts_.fsync != FsyncMode::Group || recovering ||
                 std::any_of(batch.begin(), batch.end(),
                             [](const Item& it) { return static_cast<bool>(it.done); });
  for (auto& b : batch)
    items.push_back(std::move(b));
  batch.clear();
  last_sync_ = std::chrono::nanoseconds{0};
  if (commit(items, true, &err, durable)) {
    if (opts_.on_batch) opts_.on_batch(items.size(), last_sync_);
    if (recovering) {
      spdlog::warn(
          "audit: the log of tenant `{}` is writable again; {} denied call(s) recorded late, "
          "{} dropped",
          opts_.tenant, failure_denied_, failure_dropped_);
      failing_ = false;
      failure_denied_ = failure_dropped_ = 0;
    }
    std::uint64_t written = 0;
    for (auto& item : items) {
      ++written;
      if (item.done)
        item.done(AppendResult{item.error.empty(), item.error, item.seq, item.leaf, log_id_});
    }
    {
      std::lock_guard lk(mu_);
      stats_.records += written;
      stats_.late_written += late_count;
      ++stats_.batches;
      stats_.next_seq = state_.seq;
      stats_.failing = false;
    }
    publish();
    return true;
  }
  if (!failing_) {
    // The one loud line an operator sees; the calls themselves are denied quietly after it.
    spdlog::error(
        "audit: CANNOT WRITE the audit log of tenant `{}`: {}; calls are denied until it "
        "can be written (denials are kept in memory and recorded when it recovers)",
        opts_.tenant, err);
    failing_ = true;
    failure_error_ = err;
    failure_since_ = rfc3339_utc(Clock::now());
  }
  fail_items(items, err);
  {
    std::lock_guard lk(mu_);
    ++stats_.failed_batches;
    stats_.dropped = failure_dropped_;
    stats_.failing = true;
  }
  publish();
  return false;
}

void AuditLog::sync_deferred() {
  if (fd_ < 0) {
    unsynced_ = false;
    return;
  }
  int err = fault(IoOp::Sync);
  if (err == 0 && ::fdatasync(fd_) != 0) err = errno;
  if (err != 0) {
    // The records stay in the chain; the next batch a call waits for syncs again, and if that
    // fails too, those calls are denied (fail closed) like any failed write.
    spdlog::error("audit: cannot sync `{}`: {}; retrying with the next decision", active_.string(),
                  fsutil::errno_text(err));
    unsynced_since_ = SteadyClock::now();
    return;
  }
  unsynced_ = false;
  std::lock_guard lk(mu_);
  ++stats_.syncs;
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

void AuditLog::writer_loop() {
  const std::size_t max_batch = opts_.fsync == FsyncMode::Always ? 1 : opts_.group_records;
  for (;;) {
    std::vector<Item> batch;
    bool stopping = false;
    {
      std::unique_lock lk(mu_);
      writer_waiting_ = true;
      for (;;) {
        if (!queue_.empty() || stop_ || want_rotate_ ||
            (want_checkpoint_ && pub_.since_checkpoint > 0))
          break;
        std::optional<SteadyClock::time_point> due;
        if (pub_.since_checkpoint > 0 && opts_.checkpoint_interval.count() > 0) {
          due = pub_.last_checkpoint + opts_.checkpoint_interval;
        }
        if (unsynced_) {  // only this thread changes it (group mode has no inline writes)
          auto sync_due = unsynced_since_ + kDeferredSync;
          if (!due || sync_due < *due) due = sync_due;
        }
        if (due) {
          if (cv_.wait_until(lk, *due) == std::cv_status::timeout && queue_.empty() && !stop_) {
            break;  // write the timed checkpoint, or sync what nobody waited for
          }
        } else if (pub_.retry_backlog) {
          // Retry the backlog now and then even when no new call arrives.
          if (cv_.wait_for(lk, std::chrono::seconds(1)) == std::cv_status::timeout) break;
        } else {
          cv_.wait(lk);
        }
      }
      writer_waiting_ = false;
      stopping = stop_;
      auto take = [&](std::size_t n) {
        while (n-- > 0 && !queue_.empty()) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      };
      take(max_batch);
      if (opts_.fsync == FsyncMode::Group && opts_.group_window.count() > 0 && !stopping &&
          !batch.empty() && batch.size() < max_batch) {
        auto deadline = batch.front().enqueued + opts_.group_window;
        while (batch.size() < max_batch) {
          auto now = SteadyClock::now();
          if (now >= deadline) break;
          auto until = std::min(deadline, now + kGroupIdleGap);
          if (!cv_.wait_until(lk, until, [&] { return !queue_.empty() || stop_; })) break;
          take(max_batch - batch.size());
          if (stop_) break;
        }
      }
    }
    for (auto& item : batch) {
      if (item.build) {  // payloads deferred to this thread (append(PayloadFn))
        item.payload = item.build();
        item.build = nullptr;
      }
    }
    std::size_t n = batch.size();
    if (stopping) {
      std::lock_guard lk(mu_);
      if (queue_.empty()) want_checkpoint_ = true;  // a final checkpoint covers everything
    }
    {
      std::lock_guard role(role_mu_);
      RoleHeld held;
      want_rotate_ = false;  // process() rotates when the file is over the size
      process(batch);
      if (unsynced_ && (stopping || SteadyClock::now() >= unsynced_since_ + kDeferredSync)) {
        sync_deferred();
      }
    }
    {
      std::lock_guard lk(mu_);
      completed_ += n;
    }
    idle_cv_.notify_all();
    if (stopping) {
      std::lock_guard lk(mu_);
      if (queue_.empty()) return;
    }
  }
}

void AuditLog::append(std::string agent, PayloadBuilder payload, Kind kind, AppendCallback done) {
  // Frozen on the caller's thread: the writer only splices the chain members in.
  append(std::move(agent), payload.freeze(), kind, std::move(done));
}

void AuditLog::append(std::string agent, FrozenPayload payload, Kind kind, AppendCallback done) {
  Item it;
  it.kind = kind;
  it.agent = std::move(agent);
  it.frozen = std::move(payload);
  it.is_frozen = true;
  it.done = std::move(done);
  if (try_inline(it)) return;
  enqueue(std::move(it));
}

void AuditLog::append(std::string agent, PayloadFn build, Kind kind, AppendCallback done) {
  Item it;
  it.kind = kind;
  it.agent = std::move(agent);
  it.build = std::move(build);
  it.done = std::move(done);
  enqueue(std::move(it));
}

void AuditLog::enqueue(Item it) {
  it.enqueued = SteadyClock::now();
  {
    std::unique_lock lk(mu_);
    if (stop_ || queue_.size() >= opts_.queue_max) {
      lk.unlock();
      std::string why = stop_ ? "the audit log is shutting down" : "the audit writer is overloaded";
      spdlog::error("audit: record for tenant `{}` refused: {}", opts_.tenant, why);
      if (it.done) it.done(AppendResult{false, why, 0, {}, {}});
      return;
    }
    queue_.push_back(std::move(it));
    ++enqueued_;
  }
  cv_.notify_one();
}

void AuditLog::flush() {
  std::unique_lock lk(mu_);
  std::uint64_t target = enqueued_;
  idle_cv_.wait(lk, [&] { return completed_ >= target; });
}

void AuditLog::request_checkpoint() {
  {
    std::lock_guard lk(mu_);
    want_checkpoint_ = true;
  }
  cv_.notify_one();
}

LogStats AuditLog::stats() const {
  LogStats s;
  {
    std::lock_guard lk(mu_);
    s = stats_;
  }
  if (nonces_) {
    auto ns = nonces_->stats();
    s.presigned = ns.taken;
    s.nonces_made = ns.made;
  }
  return s;
}

}  // namespace gt::gov::audit
