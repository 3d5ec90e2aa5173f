// A stdio MCP server the proxy keeps running: spawn, notice its end, restart with backoff,
// and shut down gracefully (close stdin → grace → SIGTERM → grace → SIGKILL, whole group).
// The session decides what a restart means for the protocol (replaying initialize).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/config.hpp"
#include "proxy/upstream.hpp"
#include "transport/child_process.hpp"

namespace gt::proxy {

class StdioUpstream : public UpstreamLink, public std::enable_shared_from_this<StdioUpstream> {
 public:
  StdioUpstream(boost::asio::any_io_executor ex, ServerConfig cfg, std::size_t max_line,
                std::chrono::milliseconds grace);
  ~StdioUpstream() override;

  // Spawns the first child. Throws std::system_error when it cannot be started.
  void start(Events events) override;
  void send(std::string_view line) override;
  bool up() const override { return child_ != nullptr && !down_; }
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  std::size_t queued_bytes() const override { return up() ? child_->channel()->queued_bytes() : 0; }
  void pause_reading() override {
    if (up()) child_->channel()->pause_reading();
  }
  void resume_reading() override {
    if (up()) child_->channel()->resume_reading();
  }
  const ServerConfig& config() const { return cfg_; }
  // Graceful stop; on_stopped fires when the process group is gone.
  void shutdown() override;

 private:
  void spawn();
  void wire(const std::shared_ptr<transport::ChildProcess>& child);
  void watch_sigchld();
  void eof_poll(const std::shared_ptr<transport::ChildProcess>& c,
                std::chrono::steady_clock::time_point deadline);
  void child_gone(const std::string& why);
  void schedule_restart();
  void shutdown_step(int step);
  void shutdown_poll(int step, std::chrono::steady_clock::time_point deadline);
  void finish_stop();

  boost::asio::any_io_executor ex_;
  ServerConfig cfg_;
  std::size_t max_line_;
  std::chrono::milliseconds grace_;
  Events ev_;
  std::shared_ptr<transport::ChildProcess> child_;
  boost::asio::signal_set sigchld_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer eof_timer_;
  bool down_ = false;
  bool stdout_eof_ = false;  // the current child's stdout reached its end
  std::optional<std::chrono::steady_clock::time_point> drain_deadline_;  // shutdown: for EOF
  bool stopping_ = false;
  bool stopped_ = false;
  int restarts_ = 0;  // consecutive restarts; reset once a child has lived long enough
  std::chrono::steady_clock::time_point started_at_;
};

}  // namespace gt::proxy
