#include "governance/policy/limits.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <random>

namespace gt::gov::policy {

namespace fs = std::filesystem;

namespace {

int64_t unix_seconds(std::chrono::system_clock::time_point tp) {
  return std::chrono::duration_cast<std::chrono::seconds>(tp.time_since_epoch()).count();
}
int64_t window_start_of(int64_t now, int64_t n) {
  int64_t q = now / n;
  if (now % n != 0 && now < 0) --q;
  return q * n;
}
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}
std::string in_words(int64_t secs) {
  if (secs < 0) secs = 0;
  int64_t d = secs / 86400, h = (secs % 86400) / 3600, m = (secs % 3600) / 60, s = secs % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d";
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (s || out.empty()) out += std::to_string(s) + "s";
  return out;
}
bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}
bool fsync_dir(const fs::path& dir) {
  int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return false;
  bool ok = ::fsync(d) == 0;
  ::close(d);
  return ok;
}

}  // namespace

std::string format_utc(int64_t t) {
  int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
  int64_t rem = t - days * 86400;
  int y, m, d;
  civil_from_days(days, y, m, d);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
                static_cast<int>(rem / 3600), static_cast<int>((rem % 3600) / 60),
                static_cast<int>(rem % 60));
  return buf;
}

LimitStore::LimitStore() = default;

namespace {

// Random per-open process id: pids are reused, and two stores in one process (tests) must
// not be mistaken for one.
std::string random_id() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

class FlockGuard {
 public:
  explicit FlockGuard(int fd) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~FlockGuard() { ::flock(fd_, LOCK_UN); }
  FlockGuard(const FlockGuard&) = delete;
  FlockGuard& operator=(const FlockGuard&) = delete;

 private:
  int fd_;
};

std::string lease_line(const std::string& key, int64_t ws, int64_t n, const std::string& proc,
                       double u) {
  return json{{"k", key}, {"w", ws}, {"n", n}, {"p", proc}, {"u", u}}.dump() + "\n";
}

constexpr uint64_t kCompactMin = 1 << 20;  // compact once the journal passes 1 MiB (and 2x)

}  // namespace

std::unique_ptr<LimitStore> LimitStore::open(const fs::path& file, std::string& error,
                                             std::chrono::milliseconds sync_interval) {
  std::error_code ec;
  if (file.has_parent_path()) {
    fs::create_directories(file.parent_path(), ec);
    if (ec) {
      error = "cannot create limit state directory `" + file.parent_path().string() +
              "`: " + ec.message();
      return nullptr;
    }
  }
  // The journal is replaced on compaction, so the lock lives on a separate file.
  fs::path lock_path = file;
  lock_path += ".lock";
  int lfd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0) {
    error = "cannot open limit state lock `" + lock_path.string() + "`: " + std::strerror(errno);
    return nullptr;
  }
  auto store = std::unique_ptr<LimitStore>(new LimitStore());
  store->path_ = file;
  store->lock_fd_ = lfd;
  store->me_ = random_id();
  store->sync_interval_ = sync_interval;
  {
    std::lock_guard<std::mutex> g(store->mu_);
    FlockGuard held(lfd);
    if (!store->catch_up_locked(error) || !store->rewrite_locked(error)) return nullptr;
  }
  store->flusher_ = std::thread([s = store.get()] { s->flusher(); });
  return store;
}

LimitStore::~LimitStore() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (fd_ >= 0) {
    // Clean shutdown: give back unused leases (the exact usage, held calls included).
    std::lock_guard<std::mutex> g(mu_);
    FlockGuard held(lock_fd_);
    std::string err;
    if (catch_up_locked(err)) {
      std::string lines;
      for (const auto& [k, e] : entries_) {
        double exact = e.committed + e.reserved;
        if (e.leased > 0 && exact != e.leased)
          lines += lease_line(k, e.window_start, e.window_seconds, me_, exact);
      }
      if (!lines.empty()) append_locked(lines, err);
    }
    ::fdatasync(fd_);
    ::close(fd_);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void LimitStore::flusher() {
  std::unique_lock<std::mutex> lk(mu_);
  auto last_sync = std::chrono::steady_clock::now();
  while (!stop_) {
    cv_.wait_for(lk, sync_interval_, [this] { return stop_ || !pending_.empty(); });
    if (stop_) break;
    // Lease ahead for keys whose lease is half spent, so the decision path needs no I/O.
    std::vector<std::string> keys;
    keys.swap(pending_);
    for (const auto& k : keys) {
      auto f = entries_.find(k);
      if (f == entries_.end() || !f->second.prefetch) continue;
      Entry& e = f->second;
      e.prefetch = false;
      double mine = e.committed + e.reserved;
      std::string err;
      if (e.leased - mine < e.chunk / 2 && !lease_locked(k, e, mine, mine + e.chunk, false, err) &&
          !err.empty()) {
        // The decision path will retry synchronously and deny if it still cannot write.
        (void)err;
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (dirty_ && fd_ >= 0 && now - last_sync >= sync_interval_) {
      dirty_ = false;
      last_sync = now;
      int fd = ::dup(fd_);
      lk.unlock();
      if (fd >= 0) {
        ::fdatasync(fd);
        ::close(fd);
      }
      lk.lock();
    }
  }
}

void LimitStore::sync() {
  int fd = -1;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (fd_ >= 0) fd = ::dup(fd_);
    dirty_ = false;
  }
  if (fd >= 0) {
    ::fdatasync(fd);
    ::close(fd);
  }
}

double LimitStore::others_locked(const std::string& key, int64_t ws) const {
  auto f = peers_.find(key);
  if (f == peers_.end()) return 0;
  double sum = 0;
  for (const auto& [proc, p] : f->second)
    if (p.window_start == ws) sum += p.leased;
  return sum;
}

LimitStore::Entry& LimitStore::entry_locked(const std::string& key, int64_t ws, int64_t n) {
  Entry& e = entries_[key];
  if (e.window_start != ws || e.window_seconds != n) {
    // A new window: earlier holds and leases no longer apply.
    Entry fresh;
    fresh.window_start = ws;
    fresh.window_seconds = n;
    fresh.others = others_locked(key, ws);
    e = fresh;
  }
  return e;
}

// Opens the state file (again) for appending and makes it the store's file.
bool LimitStore::reopen_locked(int extra_flags, struct stat& st, std::string& error) {
  int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | extra_flags, 0600);
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    error = "cannot open limit state `" + path_.string() + "`: " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  ino_ = st.st_ino;
  return true;
}

bool LimitStore::catch_up_locked(std::string& error) {
  struct stat st {};
  bool reopen = fd_ < 0 || ::stat(path_.c_str(), &st) != 0 || st.st_ino != ino_;
  if (reopen) {
    if (!reopen_locked(O_CREAT, st, error)) return false;
    offset_ = 0;
    peers_.clear();  // re-read from the start (compacted by another process)
    for (auto& kv : entries_)
      kv.second.others = 0;
    tail_newline_ = true;
  } else if (::fstat(fd_, &st) != 0) {
    error = "cannot read limit state `" + path_.string() + "`: " + std::strerror(errno);
    return false;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size <= offset_) return true;
  std::string buf(size - offset_, '\0');
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd_, buf.data() + got, buf.size() - got, static_cast<off_t>(offset_ + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  size_t pos = 0;
  while (pos < buf.size()) {
    size_t nl = buf.find('\n', pos);
    if (nl == std::string::npos) break;  // a torn last line (a writer crashed): skipped
    auto j = json::parse(buf.begin() + static_cast<std::ptrdiff_t>(pos),
                         buf.begin() + static_cast<std::ptrdiff_t>(nl), nullptr, false);
    pos = nl + 1;
    if (j.is_discarded() || !j.is_object()) continue;
    auto k = j.find("k"), w = j.find("w"), n = j.find("n"), u = j.find("u"), p = j.find("p");
    if (k == j.end() || w == j.end() || n == j.end() || u == j.end() || !k->is_string() ||
        !w->is_number_integer() || !n->is_number_integer() || !u->is_number() ||
        n->get<int64_t>() <= 0) {
      continue;
    }
    std::string proc = p != j.end() && p->is_string() ? p->get<std::string>() : std::string();
    if (proc == me_) continue;  // this process's own state is in entries_
    const std::string& key = k->get_ref<const std::string&>();
    peers_[key][proc] = Peer{w->get<int64_t>(), n->get<int64_t>(), u->get<double>()};
    auto f = entries_.find(key);
    if (f != entries_.end()) f->second.others = others_locked(key, f->second.window_start);
  }
  offset_ += got;
  tail_newline_ = buf.empty() ? tail_newline_ : buf.back() == '\n';
  if (offset_ >= compact_at_ && compact_at_ > 0) return rewrite_locked(error);
  return true;
}

// Compaction (under the file lock, after catching up): one line per live (process, key) →
// temp file, fsync, rename over the journal, fsync(dir), reopen. Expired windows are dropped.
bool LimitStore::rewrite_locked(std::string& error) {
  int64_t now = unix_seconds(std::chrono::system_clock::now());
  std::string all;
  for (auto it = peers_.begin(); it != peers_.end();) {
    for (auto p = it->second.begin(); p != it->second.end();) {
      if (p->second.window_start + p->second.window_seconds <= now) {
        p = it->second.erase(p);
      } else {
        all += lease_line(it->first, p->second.window_start, p->second.window_seconds, p->first,
                          p->second.leased);
        ++p;
      }
    }
    it = it->second.empty() ? peers_.erase(it) : std::next(it);
  }
  for (const auto& [k, e] : entries_) {
    if (e.leased > 0 && e.window_start + e.window_seconds > now)
      all += lease_line(k, e.window_start, e.window_seconds, me_, e.leased);
  }
  fs::path tmp = path_;
  tmp += ".tmp";
  int tfd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (tfd < 0) {
    error = "cannot write limit state `" + tmp.string() + "`: " + std::strerror(errno);
    return false;
  }
  bool ok = write_all(tfd, all) && ::fsync(tfd) == 0;
  ::close(tfd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    error = "cannot write limit state `" + path_.string() + "`: " + std::strerror(errno);
    return false;
  }
  fsync_dir(path_.has_parent_path() ? path_.parent_path() : fs::path("."));
  struct stat st {};
  if (!reopen_locked(0, st, error)) return false;
  offset_ = all.size();
  tail_newline_ = true;
  compact_at_ = std::max<uint64_t>(kCompactMin, 2 * offset_);
  return true;
}

bool LimitStore::append_locked(std::string_view lines, std::string& error) {
  std::string out;
  if (!tail_newline_) out += '\n';  // end a line torn by a crashed writer first
  out += lines;
  if (!write_all(fd_, out)) {
    error = "cannot write limit state `" + path_.string() + "`: " + std::strerror(errno);
    return false;
  }
  offset_ += out.size();  // our own lines: nothing to read back
  tail_newline_ = true;
  dirty_ = true;
  return true;
}

bool LimitStore::lease_locked(const std::string& key, Entry& e, double need, double want,
                              bool force, std::string& error) {
  FlockGuard held(lock_fd_);
  if (!catch_up_locked(error)) return false;
  double avail = e.max - e.others;
  double eps = 1e-9 * (e.max > 1 ? e.max : 1);
  if (need > avail + eps && !force) return false;  // exhausted (error stays empty)
  double target = need > avail ? need : std::min(want, avail);
  if (target < need) target = need;
  if (target <= e.leased) return true;
  if (!append_locked(lease_line(key, e.window_start, e.window_seconds, me_, target), error))
    return false;
  e.leased = target;
  ++lease_writes_;
  return true;
}

LimitStore::Outcome LimitStore::try_reserve(const std::vector<Charge>& charges,
                                            std::chrono::system_clock::time_point tp,
                                            Reservation& out) {
  Outcome o;
  out.items.clear();
  if (charges.empty()) return o;
  int64_t now = unix_seconds(tp);
  std::lock_guard<std::mutex> g(mu_);
  const bool persistent = fd_ >= 0;
  bool wake = false;
  auto undo = [&] {  // all or nothing: give back what this batch already held
    for (const auto& it : out.items) {
      auto f = entries_.find(it.key);
      if (f != entries_.end() && f->second.window_start == it.window_start)
        f->second.reserved -= it.amount;
    }
    out.items.clear();
  };
  for (const auto& c : charges) {
    int64_t ws = window_start_of(now, c.window_seconds);
    Entry& e = entry_locked(c.key, ws, c.window_seconds);
    e.max = c.max;
    // Leases of ~1/32 of the limit: the decision path writes once per lease. Below 64 the
    // lease is one call at a time, so an unused lease never blocks another process.
    e.chunk = c.max >= 64 ? c.max / 32 : 0;
    double mine = e.committed + e.reserved;
    double eps = 1e-9 * (c.max > 1 ? c.max : 1);
    bool exceeded;
    if (persistent && mine + c.amount > e.leased + eps) {
      std::string err;
      bool leased =
          lease_locked(c.key, e, mine + c.amount, mine + c.amount + e.chunk, c.monitor, err);
      if (!err.empty()) {
        // Fail closed: a limit that cannot be persisted is not counted, so the call is denied.
        Denial d;
        d.policy_id = c.policy_id;
        d.policy_version = c.policy_version;
        d.policy_sha256 = c.policy_sha256;
        d.limit_id = c.limit_id;
        d.reason =
            "limit `" + c.limit_id + "` of policy `" + c.policy_id + "` cannot be counted: " + err;
        undo();
        o.ok = false;
        o.denial = std::move(d);
        return o;
      }
      exceeded = !leased || mine + e.others + c.amount > c.max + eps;
    } else {
      exceeded = mine + e.others + c.amount > c.max + eps;
    }
    if (exceeded) {
      double used = mine + e.others;
      Denial d;
      d.policy_id = c.policy_id;
      d.policy_version = c.policy_version;
      d.policy_sha256 = c.policy_sha256;
      d.limit_id = c.limit_id;
      d.resets_at = ws + c.window_seconds;
      d.used = used;
      d.max = c.max;
      d.requested = c.amount;
      std::string resets =
          "; resets at " + format_utc(d.resets_at) + " (in " + in_words(d.resets_at - now) + ")";
      if (c.kind == Limit::Kind::Rate) {
        d.reason = "rate limit `" + c.limit_id + "` of policy `" + c.policy_id +
                   "` exceeded: " + num(c.max) + " calls per " + c.window_text + " per " + c.per +
                   resets;
      } else {
        d.reason = "spend budget `" + c.limit_id + "` of policy `" + c.policy_id +
                   "` exceeded: " + num(used) + " used + " + num(c.amount) + " requested > " +
                   num(c.max) + " per " + c.window_text + " per " + c.per + resets;
      }
      if (!c.monitor) {
        undo();
        o.ok = false;
        o.denial = std::move(d);
        return o;
      }
      o.monitor_denials.push_back(std::move(d));
    }
    e.reserved += c.amount;
    out.items.push_back({c.key, ws, c.window_seconds, c.amount});
    if (persistent && e.chunk > 0 && !e.prefetch && e.leased + e.others < e.max &&
        e.leased - (e.committed + e.reserved) < e.chunk / 2) {
      e.prefetch = true;
      pending_.push_back(c.key);
      wake = true;
    }
  }
  if (wake) cv_.notify_one();
  return o;
}

void LimitStore::commit(Reservation& r) {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& it : r.items) {
    auto f = entries_.find(it.key);
    if (f == entries_.end() || f->second.window_start != it.window_start) continue;  // window over
    f->second.reserved -= it.amount;
    f->second.committed += it.amount;  // the lease written at reservation already covers it
  }
  r.items.clear();
}

void LimitStore::release(Reservation& r) {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& it : r.items) {
    auto f = entries_.find(it.key);
    if (f != entries_.end() && f->second.window_start == it.window_start)
      f->second.reserved -= it.amount;
  }
  r.items.clear();
}

LimitStore::Outcome LimitStore::acquire(const std::vector<Charge>& charges,
                                        std::chrono::system_clock::time_point now) {
  Reservation r;
  Outcome o = try_reserve(charges, now, r);
  if (o.ok) commit(r);
  return o;
}

double LimitStore::used(const std::string& key, int64_t window_seconds,
                        std::chrono::system_clock::time_point tp) const {
  std::lock_guard<std::mutex> g(mu_);
  auto f = entries_.find(key);
  if (f == entries_.end()) return 0;
  if (f->second.window_start != window_start_of(unix_seconds(tp), window_seconds)) return 0;
  return f->second.committed;
}

double LimitStore::others(const std::string& key, int64_t window_seconds,
                          std::chrono::system_clock::time_point tp) const {
  std::lock_guard<std::mutex> g(mu_);
  return others_locked(key, window_start_of(unix_seconds(tp), window_seconds));
}

size_t LimitStore::lease_writes() const {
  std::lock_guard<std::mutex> g(mu_);
  return lease_writes_;
}

void apply_limits(Result& r, LimitStore* store, std::chrono::system_clock::time_point now,
                  bool trace, LimitStore::Reservation* hold) {
  if (r.effect == Effect::Deny || r.charges.empty()) return;
  if (!store) {
    r.effect = Effect::Deny;
    r.code = codes::kLimit;
    r.reason = "limit `" + r.charges.front().limit_id + "` of policy `" +
               r.charges.front().policy_id + "` cannot be counted: no limit state is available";
    r.policy_id = r.charges.front().policy_id;
    r.policy_version = r.charges.front().policy_version;
    r.policy_sha256 = r.charges.front().policy_sha256;
    r.rule_id = r.charges.front().limit_id;
    r.charges.clear();
    return;
  }
  LimitStore::Outcome o =
      hold ? store->try_reserve(r.charges, now, *hold) : store->acquire(r.charges, now);
  if (!o.ok) {
    r.effect = Effect::Deny;
    r.code = codes::kLimit;
    r.reason = o.denial.reason;
    r.policy_id = o.denial.policy_id;
    r.policy_version = o.denial.policy_version;
    r.policy_sha256 = o.denial.policy_sha256;
    r.rule_id = o.denial.limit_id;
    r.charges.clear();
    if (trace) r.trace.push_back("limit: deny: " + r.reason);
    return;
  }
  if (!o.monitor_denials.empty() && !r.would_deny) {
    const auto& d = o.monitor_denials.front();
    r.monitor = true;
    r.would_deny = true;
    r.would_deny_code = codes::kLimit;
    r.would_deny_reason = d.reason;
    r.would_deny_policy = d.policy_id;
    r.would_deny_rule = d.limit_id;
    r.reason = "monitor mode: would deny: " + d.reason;
  }
  if (trace) {
    r.trace.push_back(std::string(hold ? "limit: reserved " : "limit: counted ") +
                      std::to_string(r.charges.size()) + " charge(s)");
  }
}

Result decide(const Request& request, const PolicySet& set, LimitStore* store,
              const EvalOptions& options) {
  Result r = evaluate(request, set, options);
  apply_limits(r, store, request.now, options.trace);
  return r;
}

}  // namespace gt::gov::policy
