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
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace gt::transport::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct Limits {
  std::size_t body_limit = 16u << 20;       // larger bodies get 413
  std::size_t header_limit = 64 * 1024;     // larger headers get 431
  std::chrono::seconds read_timeout{30};    // per request, headers and body
  std::chrono::seconds idle_timeout{120};   // keep-alive with no request
  std::size_t max_queued_bytes = 8u << 20;  // a stream reader this far behind is dropped
  std::size_t max_connections = 4096;
};

struct Header {
  std::string name, value;
};

class Connection;

// One request's answer: a single response, or a stream of Server-Sent Events.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  explicit Exchange(std::weak_ptr<Connection> c, unsigned version, bool keep_alive)
      : conn_(std::move(c)), version_(version), keep_alive_(keep_alive) {}
  // A complete response. Content-Length is added.
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

 private:
  friend class Connection;
  void write(std::string bytes);
  std::weak_ptr<Connection> conn_;
  unsigned version_;
  bool keep_alive_;
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

 private:
  friend class Connection;
  void do_accept();
  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Limits limits_;
  Handler handler_;
  std::size_t connections_ = 0;
};

// Reason phrase for a status code.
std::string_view reason(unsigned status);

}  // namespace gt::transport::http
