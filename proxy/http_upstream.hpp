// A remote MCP server for `url:` servers: the client side of Streamable HTTP (MCP
// 2025-11-25 and 2026-07-28, request by request), with the legacy HTTP+SSE transport
// (2024-11-05) as a fallback.
//
//   Session ─send(line)─► POST url  (Accept: application/json, text/event-stream;
//                                    configured headers; then by the request's era:
//                                    2025: Mcp-Session-Id, MCP-Protocol-Version negotiated
//                                    2026: MCP-Protocol-Version, Mcp-Method, Mcp-Name,
//                                          Mcp-Param-* made from the body, no session)
//          ◄─on_line────  202 │ JSON body (one message or an array) │ SSE `message` events
//                         │ 4xx with a JSON-RPC error for the request: that error
//          ◄─on_line────  GET url, the server's own stream (after a 2025 initialize;
//                         reconnected with Last-Event-ID, honouring `retry:`)
//   404 on a session  ─► on_down(…, true) + on_restarted(): the Session replays initialize
//   unreachable / 5xx at initialize ─► on_down + restart with backoff (servers.X.restart)
//   initialize answered 400/404/405 without a JSON-RPC error (transport auto) ─► legacy:
//                         GET url (SSE), wait for the `endpoint` event, POST messages
//                         there, read answers on the stream
//
// A 2026-07-28 request is one whose params._meta claims a protocol version
// (transport/mcp_era.hpp). It needs no initialize, carries no session, opens no GET stream,
// and its response stream is not resumed (2026-07-28 has no resumability); closing that
// stream is how it is cancelled. Both eras may share one HttpUpstream.
//
// Only the configured headers go upstream: the Session never hands over anything of the
// client's request (no token passthrough). The 2026-07-28 headers that mirror the body are
// made from the exact body forwarded (proxy/http_upstream_headers.hpp), so a server that
// routes on them acts on what governance judged. Everything runs on the executor it was
// given.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/config.hpp"
#include "proxy/http_upstream_headers.hpp"
#include "proxy/upstream.hpp"
#include "transport/http_client.hpp"
#include "transport/url.hpp"

namespace gt::proxy {

class HttpUpstream : public UpstreamLink, public std::enable_shared_from_this<HttpUpstream> {
 public:
  // Throws ConfigError for a bad URL or CA file.
  HttpUpstream(boost::asio::any_io_executor ex, ServerConfig cfg, std::size_t max_message_bytes,
               std::chrono::milliseconds grace);
  ~HttpUpstream() override;

  void start(Events events) override;
  void send(std::string_view line) override;
  bool up() const override { return state_ == State::Up; }
  void shutdown() override;
  std::size_t queued_bytes() const override;

  // For tests and logs.
  const std::string& session_id() const { return session_id_; }
  bool legacy() const { return mode_ == Mode::Sse; }

 private:
  enum class Mode { Auto, Streamable, Sse };
  enum class State { Up, Restarting, Down, Stopped };
  struct Reader;  // one SSE stream being read (a POST's answer or a GET)

  std::shared_ptr<transport::http::Client> make_client() const;
  HeaderList configured_headers() const;
  HeaderList base_headers() const;
  void post_streamable(std::string line);
  bool cancel_modern(std::string_view line);
  void learn_tools(std::string_view line);
  void open_get(std::string last_event_id, std::shared_ptr<Reader> resume);
  void schedule_get(std::shared_ptr<Reader> resume);
  void stream_ended(const std::shared_ptr<Reader>& r, const std::string& why);
  void deliver(unsigned gen, std::string_view line);
  void answer_error(const nlohmann::json& id, const std::string& why);
  // Answers a request GlassTape did not send, after send() returned (the Session is not
  // re-entered from its own send()).
  void answer_later(const nlohmann::json& id, int code, const std::string& why);
  void session_expired();
  void unreachable(const std::string& why);
  void reset_connections();
  // Legacy HTTP+SSE.
  void start_legacy();
  void post_legacy(std::string line);
  void legacy_event(unsigned gen, const std::string& type, std::string_view data);
  void finish_stop();

  boost::asio::any_io_executor ex_;
  ServerConfig cfg_;
  std::size_t max_bytes_;
  std::chrono::milliseconds grace_;
  transport::Url url_;
  Events ev_;
  std::shared_ptr<transport::http::Client> client_;
  Mode mode_ = Mode::Auto;
  State state_ = State::Up;
  bool stopping_ = false;
  unsigned gen_ = 1;  // bumped when everything in flight is abandoned (down, expiry, stop)
  std::string session_id_;
  std::string protocol_version_;
  std::string init_key_;          // id key of the initialize in flight
  bool initialized_ = false;      // an initialize succeeded on this session
  bool streamable_seen_ = false;  // the server answered Streamable HTTP at least once
  // 2026-07-28: the x-mcp-header declarations of the server's tools (bounded), learned from
  // the answers to the tools/list requests in flight (ids below, at most kMaxListsInFlight).
  ToolHeaderDeclarations tool_headers_;
  std::unordered_set<std::string> list_keys_;
  // 2026-07-28 requests whose POST is in flight, by id key: a cancellation closes the stream.
  struct ModernCall {
    std::weak_ptr<transport::http::Call> call;
    std::weak_ptr<Reader> reader;
    nlohmann::json id;
  };
  std::unordered_map<std::string, ModernCall> modern_calls_;
  // The GET stream.
  std::shared_ptr<Reader> get_;
  std::shared_ptr<transport::http::Call> get_call_;
  boost::asio::steady_timer get_timer_;
  std::string get_last_id_;                // the GET stream's last event id
  std::chrono::milliseconds retry_{1000};  // the server's `retry:` (reconnection delay)
  int get_failures_ = 0;
  std::vector<std::shared_ptr<Reader>> resuming_;  // POST streams being resumed by GET
  // Restarts.
  boost::asio::steady_timer restart_timer_;
  int restarts_ = 0;
  // Legacy.
  std::string endpoint_;  // target to POST to, once the `endpoint` event came
  std::vector<std::string> legacy_queue_;
  bool legacy_open_ = false;
  bool legacy_restarting_ = false;
};

}  // namespace gt::proxy
