#include "proxy/stdio_upstream.hpp"

#include <signal.h>

#include <spdlog/spdlog.h>

#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace {
// A child that lived this long is considered healthy: its crash starts a fresh backoff.
constexpr auto kHealthyUptime = std::chrono::seconds(30);
constexpr auto kReapPoll = std::chrono::milliseconds(20);
// After stdout closes, how long to wait for the exit status before reporting the end anyway
// (pending requests must get their errors well within 100 ms).
constexpr auto kEofGrace = std::chrono::milliseconds(40);
}  // namespace

StdioUpstream::StdioUpstream(boost::asio::any_io_executor ex, ServerConfig cfg,
                             std::size_t max_line, std::chrono::milliseconds grace)
    : ex_(ex),
      cfg_(std::move(cfg)),
      max_line_(max_line),
      grace_(grace),
      sigchld_(ex, SIGCHLD),
      timer_(ex),
      eof_timer_(ex) {}

StdioUpstream::~StdioUpstream() = default;

void StdioUpstream::start(Events events) {
  ev_ = std::move(events);
  spawn();
  watch_sigchld();
}

void StdioUpstream::spawn() {
  transport::ChildSpec spec{cfg_.command, cfg_.env, cfg_.cwd, cfg_.env_passthrough};
  auto child = std::make_shared<transport::ChildProcess>(ex_, spec, max_line_);
  child_ = child;
  down_ = false;
  stdout_eof_ = false;
  started_at_ = std::chrono::steady_clock::now();
  spdlog::info("server `{}` started (pid {}): {}", cfg_.name, child->pid(), cfg_.command[0]);
  wire(child);
}

void StdioUpstream::wire(const std::shared_ptr<transport::ChildProcess>& child) {
  std::weak_ptr<StdioUpstream> weak = shared_from_this();
  std::weak_ptr<transport::ChildProcess> wchild = child;
  // The server's stderr goes to the log, each line cut at 1000 bytes and at most 100 lines per
  // 10 s per server, then one line with the count suppressed: a chatty or hostile server cannot
  // fill the operator's disk.
  child->start_stderr([name = cfg_.name,
                       log = std::make_shared<transport::RateLimitedLog>(
                           spdlog::level::info, transport::RateLimitedLog::kDefaultInterval, 100)](
                          std::string_view line) {
    constexpr std::size_t kMax = 1000;
    if (line.size() > kMax) {
      (*log)("[{}] {}… ({} bytes)", name, line.substr(0, kMax), line.size());
    } else {
      (*log)("[{}] {}", name, line);
    }
  });
  transport::LineChannel::Handlers h;
  h.on_line = [weak, wchild](std::string_view line) {
    auto self = weak.lock();
    if (self && self->child_ == wchild.lock() && self->ev_.on_line) self->ev_.on_line(line);
  };
  h.on_oversize = [weak](std::string_view prefix, std::size_t size) {
    if (auto self = weak.lock(); self && self->ev_.on_oversize) self->ev_.on_oversize(prefix, size);
  };
  h.on_drain = [weak]() {
    if (auto self = weak.lock(); self && self->ev_.on_drain) self->ev_.on_drain();
  };
  h.on_close = [weak, wchild](const boost::system::error_code& ec) {
    auto self = weak.lock();
    auto c = wchild.lock();
    if (!self || !c || self->child_ != c) return;
    if (ec != boost::asio::error::operation_aborted) self->stdout_eof_ = true;
    if (ec == boost::asio::error::operation_aborted || self->stopping_) return;
    // stdout closed: the server is gone or going. Its exit status usually follows within a
    // few ms (SIGCHLD); wait for it briefly so the log and the errors can say what happened.
    self->eof_poll(c, std::chrono::steady_clock::now() + kEofGrace);
  };
  child->channel()->start(std::move(h));
}

void StdioUpstream::eof_poll(const std::shared_ptr<transport::ChildProcess>& c,
                             std::chrono::steady_clock::time_point deadline) {
  if (child_ != c || down_ || stopping_) return;
  if (c->try_reap() || std::chrono::steady_clock::now() >= deadline) {
    child_gone(c->exited() ? c->describe_exit() : "closed its stdout");
    return;
  }
  eof_timer_.expires_after(std::chrono::milliseconds(5));
  eof_timer_.async_wait(
      [weak = weak_from_this(), c, deadline](const boost::system::error_code& ec) {
        if (auto self = weak.lock(); self && !ec) self->eof_poll(c, deadline);
      });
}

void StdioUpstream::watch_sigchld() {
  sigchld_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec, int) {
    auto self = weak.lock();
    if (!self || ec) return;
    if (self->child_ && !self->down_ && self->child_->try_reap()) {
      // The direct child died even if a grandchild still holds its stdout open.
      self->child_gone(self->child_->describe_exit());
    }
    if (!self->stopped_) self->watch_sigchld();
  });
}

void StdioUpstream::child_gone(const std::string& why) {
  if (down_) return;
  if (stopping_ && child_ && !stdout_eof_) {
    // A server that exits after its stdin closed usually wrote its last answers just before:
    // they may still be in the pipe when its exit is seen. Read to the end of its stdout
    // (briefly: a grandchild may hold it open) before closing it.
    const auto now = std::chrono::steady_clock::now();
    if (!drain_deadline_) drain_deadline_ = now + kEofGrace;
    if (now < *drain_deadline_) {
      eof_timer_.expires_after(std::chrono::milliseconds(5));
      eof_timer_.async_wait([self = shared_from_this(), why](const boost::system::error_code& ec) {
        if (!ec) self->child_gone(why);
      });
      return;
    }
  }
  down_ = true;
  auto child = child_;
  // Take the rest of its process group with it (e.g. node under npx).
  child->signal_group(SIGKILL);
  child->channel()->close();
  if (stopping_) {
    spdlog::info("server `{}` stopped: {}", cfg_.name, why);
    finish_stop();
    return;
  }
  if (std::chrono::steady_clock::now() - started_at_ > kHealthyUptime) restarts_ = 0;
  bool restarting = restarts_ < cfg_.restart_max;
  spdlog::error("server `{}` (pid {}) {}{}", cfg_.name, child->pid(), why,
                restarting ? "; restarting" : "; not restarting");
  if (ev_.on_down) ev_.on_down("server `" + cfg_.name + "` " + why, restarting);
  if (restarting) schedule_restart();
}

void StdioUpstream::schedule_restart() {
  auto delay = cfg_.restart_backoff * (1 << std::min(restarts_, 10));
  ++restarts_;
  timer_.expires_after(delay);
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopping_) return;
    self->child_.reset();  // reaps the old child (its group was already killed)
    try {
      self->spawn();
      if (self->ev_.on_restarted) self->ev_.on_restarted();
    } catch (const std::exception& e) {
      spdlog::error("server `{}` cannot be restarted: {}", self->cfg_.name, e.what());
      self->down_ = false;
      self->child_gone("failed to restart");
    }
  });
}

void StdioUpstream::send(std::string_view line) {
  if (up()) child_->channel()->send(line);
}

void StdioUpstream::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  timer_.cancel();
  if (!child_ || down_) {
    finish_stop();
    return;
  }
  // Step 0: close the server's stdin, as the MCP stdio transport asks, and give it time.
  child_->channel()->close_write();
  shutdown_step(0);
}

void StdioUpstream::shutdown_step(int step) {
  shutdown_poll(step, std::chrono::steady_clock::now() + grace_);
}

// Polls for the exit every few ms until the step's grace runs out, then escalates:
// step 0 (stdin closed) → SIGTERM → step 1 → SIGKILL.
void StdioUpstream::shutdown_poll(int step, std::chrono::steady_clock::time_point deadline) {
  if (stopped_) return;
  if (down_ || (child_ && child_->try_reap())) {
    if (!down_) child_gone(child_->describe_exit());
    return;
  }
  if (std::chrono::steady_clock::now() >= deadline) {
    if (step == 0) {
      spdlog::info("server `{}` did not exit after stdin closed; sending SIGTERM", cfg_.name);
      child_->signal_group(SIGTERM);
      shutdown_step(1);
    } else {
      spdlog::warn("server `{}` ignored SIGTERM; sending SIGKILL", cfg_.name);
      child_gone("killed after the shutdown grace period");
    }
    return;
  }
  timer_.expires_after(kReapPoll);
  // The pending wait holds the upstream: a shutdown finishes even if its owner is gone.
  timer_.async_wait(
      [self = shared_from_this(), step, deadline](const boost::system::error_code& ec) {
        if (!ec) self->shutdown_poll(step, deadline);
      });
}

void StdioUpstream::finish_stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  sigchld_.cancel(ec);
  timer_.cancel();
  eof_timer_.cancel();
  if (child_) {
    child_->signal_group(SIGKILL);  // nothing of the group may outlive the proxy
    child_.reset();
  }
  if (ev_.on_stopped) ev_.on_stopped();
}

}  // namespace gt::proxy
