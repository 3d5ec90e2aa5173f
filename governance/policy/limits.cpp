#include "governance/policy/limits.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

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
  // One process at a time: a lock file held for the store's life (the journal itself is
  // replaced on compaction, so the lock cannot live on it).
  fs::path lock_path = file;
  lock_path += ".lock";
  int lfd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0) {
    error = "cannot open limit state lock `" + lock_path.string() + "`: " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(lfd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lfd);
    error = "limit state `" + file.string() +
            "` is in use by another glasstape process (use a separate state_dir)";
    return nullptr;
  }
  auto store = std::unique_ptr<LimitStore>(new LimitStore());
  store->path_ = file;
  store->sync_interval_ = sync_interval;
  int64_t now = unix_seconds(std::chrono::system_clock::now());
  {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;  // torn or foreign line: skip
      auto k = j.find("k"), w = j.find("w"), n = j.find("n"), u = j.find("u");
      if (k == j.end() || w == j.end() || n == j.end() || u == j.end() || !k->is_string() ||
          !w->is_number_integer() || !n->is_number_integer() || !u->is_number()) {
        continue;
      }
      Entry e;
      e.window_start = w->get<int64_t>();
      e.window_seconds = n->get<int64_t>();
      e.committed = u->get<double>();
      if (e.window_seconds <= 0) continue;
      store->entries_[k->get<std::string>()] = e;  // last line wins
    }
  }
  for (auto it = store->entries_.begin(); it != store->entries_.end();) {
    if (it->second.window_start + it->second.window_seconds <= now) {
      it = store->entries_.erase(it);
    } else {
      ++it;
    }
  }
  std::string cerr;
  if (!store->rewrite_locked(cerr)) {
    ::close(lfd);
    error = cerr;
    return nullptr;
  }
  store->lock_fd_ = lfd;
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
    ::fdatasync(fd_);
    ::close(fd_);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void LimitStore::flusher() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_) {
    cv_.wait_for(lk, sync_interval_);
    if (dirty_ && fd_ >= 0) {
      dirty_ = false;
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

// Compaction: the live entries → temp file, fsync, rename over the journal, fsync(dir),
// then reopen for append.
bool LimitStore::rewrite_locked(std::string& error) {
  fs::path tmp = path_;
  tmp += ".tmp";
  int tfd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (tfd < 0) {
    error = "cannot write limit state `" + tmp.string() + "`: " + std::strerror(errno);
    return false;
  }
  std::string all;
  for (const auto& [k, e] : entries_) {
    all +=
        json{{"k", k}, {"w", e.window_start}, {"n", e.window_seconds}, {"u", e.committed}}.dump() +
        "\n";
  }
  bool ok = write_all(tfd, all) && ::fsync(tfd) == 0;
  ::close(tfd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    error = "cannot write limit state `" + path_.string() + "`: " + std::strerror(errno);
    return false;
  }
  fsync_dir(path_.has_parent_path() ? path_.parent_path() : fs::path("."));
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot open limit state `" + path_.string() + "`: " + std::strerror(errno);
    return false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  appended_ = 0;
  return true;
}

void LimitStore::append_locked(const std::string& key, const Entry& e) {
  if (fd_ < 0) return;
  std::string line =
      json{{"k", key}, {"w", e.window_start}, {"n", e.window_seconds}, {"u", e.committed}}.dump();
  line += '\n';
  write_all(fd_, line);
  dirty_ = true;
  if (++appended_ >= kCompactEvery) {
    std::string err;
    rewrite_locked(err);  // on failure the journal simply keeps growing; appends stay valid
  }
}

LimitStore::Outcome LimitStore::try_reserve(const std::vector<Charge>& charges,
                                            std::chrono::system_clock::time_point tp,
                                            Reservation& out) {
  Outcome o;
  out.items.clear();
  if (charges.empty()) return o;
  int64_t now = unix_seconds(tp);
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& c : charges) {
    int64_t ws = window_start_of(now, c.window_seconds);
    Entry& e = entries_[c.key];
    if (e.window_start != ws || e.window_seconds != c.window_seconds) {
      e = Entry{ws, c.window_seconds, 0, 0};  // a new window: earlier holds no longer apply
    }
    double used = e.committed + e.reserved;
    double eps = 1e-9 * (c.max > 1 ? c.max : 1);
    if (used + c.amount > c.max + eps) {
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
        // Give back what this batch already held: all or nothing.
        for (const auto& it : out.items) {
          auto f = entries_.find(it.key);
          if (f != entries_.end() && f->second.window_start == it.window_start)
            f->second.reserved -= it.amount;
        }
        out.items.clear();
        o.ok = false;
        o.denial = std::move(d);
        return o;
      }
      o.monitor_denials.push_back(std::move(d));
    }
    e.reserved += c.amount;
    out.items.push_back({c.key, ws, c.window_seconds, c.amount});
  }
  return o;
}

void LimitStore::commit(Reservation& r) {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& it : r.items) {
    auto f = entries_.find(it.key);
    if (f == entries_.end() || f->second.window_start != it.window_start) continue;  // window over
    f->second.reserved -= it.amount;
    f->second.committed += it.amount;
    append_locked(it.key, f->second);
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

void apply_limits(Result& r, LimitStore* store, std::chrono::system_clock::time_point now,
                  bool trace) {
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
  LimitStore::Outcome o = store->acquire(r.charges, now);
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
  if (trace) r.trace.push_back("limit: counted " + std::to_string(r.charges.size()) + " charge(s)");
}

Result decide(const Request& request, const PolicySet& set, LimitStore* store,
              const EvalOptions& options) {
  Result r = evaluate(request, set, options);
  apply_limits(r, store, request.now, options.trace);
  return r;
}

}  // namespace gt::gov::policy
