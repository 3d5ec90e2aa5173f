// A small HTTP/1.1 server on Boost.Beast for the Streamable HTTP front, in the style of
// Beast's examples: one Connection object per socket, explicit do_x/on_x steps, one
// executor (no hidden threads), limits set before every read, one fail() path.
//
//   accept → Connection::do_read → on_read → handler(request, exchange)
//             ▲                                   │ exchange->respond(...)  (one response)
//             └──── keep-alive ◄──────────────────┘ exchange->start_stream / event / end
//
// Responses are written through a per-connection queue. A client that does not read its
// stream (queue over `max_queued_bytes`) or stays idle past the timeout is dropped, so one
// slow client never holds anyone else up. Transport only: it knows nothing of MCP.
//
// Bounded under hostile load (every bound is in Limits):
//  - a request's headers must arrive within `header_timeout` and its body within
//    `body_timeout`, both counted from the request's first byte (a new connection's first
//    request from the accept), not restarted by each byte: 408 and close;
//  - request bodies being received hold at most `body_budget` bytes over all connections (a
//    Content-Length body reserves its length when its headers end, a chunked one as it
//    grows); a body that does not fit gets 503 with `Retry-After` and the connection closes;
//  - at most `max_connections` connections, `max_connections_per_ip` from one IPv4 address or
//    IPv6 /64 (more: a best-effort 503 and close);
//  - accept errors (EMFILE, ENFILE, ...) pause accepting, 100 ms doubling to 1 s;
//  - framing that could be read two ways is refused with 400 and close (RFC 9112 §6.1, §6.3):
//    any Transfer-Encoding other than exactly `chunked`, Transfer-Encoding with
//    Content-Length; so are a missing (HTTP/1.1), repeated or malformed Host (§3.2);
//  - repeated warnings are rate-limited (transport/rate_limited_log.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace gt::transport::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct Limits {
  std::size_t body_limit = 16u << 20;               // larger bodies get 413
  std::size_t header_limit = 64 * 1024;             // larger headers get 431
  std::chrono::milliseconds header_timeout{10000};  // first byte → end of headers, else 408
  std::chrono::milliseconds body_timeout{30000};    // first byte → end of body, else 408
  std::chrono::milliseconds idle_timeout{120000};   // keep-alive with no request
  std::size_t max_queued_bytes = 8u << 20;          // a stream reader this far behind is dropped
  std::size_t max_connections = 4096;
  std::size_t max_connections_per_ip = 1024;  // per IPv4 address or IPv6 /64
  std::size_t body_budget = 256u << 20;       // request bodies in flight, all connections
  std::chrono::seconds retry_after{1};        // sent with a 503 for the budget or a limit
};

// RFC 9112 §3.2 / RFC 3986 §3.2.2: a Host value is a host name (letters, digits, `-`, `.`,
// `_`, `~`), an IPv4 address or a bracketed IPv6 address, with an optional port 1-65535.
// Percent-encoded and other reg-name characters, userinfo and zone ids are refused.
bool valid_host(std::string_view host);

// Why a request's header cannot be served (framing that could be read two ways, or a bad
// Host), or empty when it can. Checked when the headers end, before any body is read.
std::string framing_error(const boost::beast::http::request_header<>& h);

struct Header {
  std::string name, value;
};

class Connection;

// One request's answer: a single response, or a stream of Server-Sent Events.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  explicit Exchange(std::weak_ptr<Connection> c, unsigned /*version*/, bool keep_alive,
                    bool head = false)
      : conn_(std::move(c)), keep_alive_(keep_alive), head_(head) {}
  // A complete response. Content-Length is added; the body is not sent to a HEAD request.
  void respond(unsigned status, std::string body, std::string_view content_type = "",
               const std::vector<Header>& headers = {});
  // Starts a text/event-stream response (chunked). Events follow with event().
  void start_stream(const std::vector<Header>& headers = {});
  // Sends one SSE event: "id: <id>\ndata: <data>\n\n" (id omitted when empty).
  void event(std::string_view id, std::string_view data);
  void comment(std::string_view text);  // ": text\n\n" (keep-alive)
  void end_stream();
  bool streaming() const { return streaming_; }
  bool done() const { return done_; }
  // The client went away before the exchange was done.
  bool closed() const;
  void on_close(std::function<void()> f) { on_close_ = std::move(f); }
  // The client's address as its connection is counted (Server::peer_key), for log lines.
  const std::string& peer() const { return peer_; }

 private:
  friend class Connection;
  std::string peer_;
  void write(std::string bytes);
  std::weak_ptr<Connection> conn_;
  bool keep_alive_;
  bool head_;  // a HEAD request: no response body goes out
  bool streaming_ = false;
  bool done_ = false;
  std::function<void()> on_close_;
};

using Handler = std::function<void(Request&& req, std::shared_ptr<Exchange> ex)>;

class Server : public std::enable_shared_from_this<Server> {
 public:
  Server(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& at, Limits limits,
         Handler handler);
  void start();
  void stop();
  std::uint16_t port() const;
  std::size_t connections() const { return connections_; }
  // Bytes reserved by request bodies being received (at most limits.body_budget).
  std::size_t body_bytes_in_flight() const { return body_in_flight_; }
  // Accepts that failed (each one pauses accepting; see do_accept).
  std::size_t accept_failures() const { return accept_failures_; }
  // Serves an already connected socket as if it had been accepted (the accept loop, and
  // tests and fuzzers that bring their own sockets). Applies the connection limits.
  void serve(boost::asio::ip::tcp::socket socket);
  // The key a peer address is counted under for max_connections_per_ip: the IPv4 address
  // (also for a v4-mapped IPv6 one) or the IPv6 /64 prefix.
  static std::string peer_key(const boost::asio::ip::address& a);

 private:
  friend class Connection;
  void do_accept();
  void refuse(boost::asio::ip::tcp::socket& socket, const char* why);
  void resume_accepting();
  bool reserve_body(std::size_t n);
  void release_body(std::size_t n);
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_timer_;
  std::chrono::milliseconds accept_backoff_{0};
  bool accept_paused_ = false;
  bool stopped_ = false;
  Limits limits_;
  Handler handler_;
  std::size_t connections_ = 0;
  std::size_t body_in_flight_ = 0;
  std::size_t accept_failures_ = 0;
  std::unordered_map<std::string, std::size_t> per_ip_;
};

// Reason phrase for a status code.
std::string_view reason(unsigned status);

}  // namespace gt::transport::http
