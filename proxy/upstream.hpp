// The server side of a session: what a Session sends to, and the link that carries it.
//
//   Session ──send()──► UpstreamLink ──► stdio child (StdioUpstream)
//                                    └─► remote Streamable HTTP / SSE server (HttpUpstream)
//   Session ◄──UpstreamEvents────────┘   (lines, down/restarted, drain, stopped)
//
// Fronts create links with make_upstream() and never care which kind they got.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

namespace gt::proxy {

struct ServerConfig;

// What a session needs from its upstream.
class Upstream {
 public:
  virtual ~Upstream() = default;
  virtual void send(std::string_view line) = 0;
  virtual bool up() const = 0;
};

struct UpstreamEvents {
  std::function<void(std::string_view line)> on_line;  // one JSON-RPC message from the server
  std::function<void(std::string_view prefix, std::size_t size)> on_oversize;
  // The server ended or became unreachable. `restarting` tells whether a new one (or a
  // reconnection) is on its way.
  std::function<void(const std::string& why, bool restarting)> on_down;
  std::function<void()> on_restarted;  // a new server is up (not yet initialized)
  std::function<void()> on_stopped;    // shutdown() finished: nothing is left running
  std::function<void()> on_drain;      // everything sent to the server has been written
};

// A started upstream. All calls and events happen on the executor it was made with.
class UpstreamLink : public Upstream {
 public:
  using Events = UpstreamEvents;
  // Starts the server or connection. Throws std::system_error / std::runtime_error when a
  // local server cannot be started at all.
  virtual void start(Events events) = 0;
  // Graceful stop; Events::on_stopped fires when it is complete.
  virtual void shutdown() = 0;
  // Flow control: bytes accepted by send() but not yet written, and reading back-pressure.
  virtual std::size_t queued_bytes() const { return 0; }
  virtual void pause_reading() {}
  virtual void resume_reading() {}
};

// A stdio child for `command:` servers, a remote client for `url:` servers.
std::shared_ptr<UpstreamLink> make_upstream(boost::asio::any_io_executor ex,
                                            const ServerConfig& cfg, std::size_t max_message_bytes,
                                            std::chrono::milliseconds shutdown_grace);

}  // namespace gt::proxy
