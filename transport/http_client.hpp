// An HTTP/1.1 client on Boost.Beast for remote MCP servers: one origin, a bounded pool of
// keep-alive connections, responses streamed to the caller as they arrive (an SSE response
// may last as long as a tool call, or forever for a GET stream). Explicit async steps on
// the given executor, no hidden threads. Transport only: it knows nothing of MCP.
//
//   request(req, handlers) ─► queue ─► idle connection │ new one (≤ max_connections)
//        resolve → connect → [TLS handshake: verify_peer, SNI, host name] → write
//        → read header ─► on_head(status, headers)
//        → read body  ─► on_data(chunk)…  ─► on_end(outcome)  → connection back to the pool
//
// A request that fails on a reused keep-alive connection before any byte of its response
// arrived (the server closed the idle connection meanwhile) is retried once on a new one.
// https verifies the server's certificate chain against the system's CA store (plus an
// optional CA file) and its name; turning that off takes an explicit, loud option.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>

#include "transport/url.hpp"

namespace boost::asio::ssl {
class context;
}

namespace gt::transport::http {

struct ClientOptions {
  std::size_t max_connections = 8;                   // requests beyond wait in a queue
  std::chrono::milliseconds connect_timeout{10000};  // resolve + connect + TLS handshake
  std::string ca_file;                // PEM CA certificates trusted besides the system's
  bool insecure_skip_verify = false;  // https without certificate checks (never by default)
  std::size_t header_limit = 64 * 1024;
  std::string user_agent = "glasstape";
};

struct ClientRequest {
  boost::beast::http::verb method = boost::beast::http::verb::post;
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{0};  // the whole exchange, body included; 0: none
};

struct ResponseHead {
  unsigned status = 0;
  boost::beast::http::fields fields;
  std::string header(std::string_view name) const;
  // The media type, lower-case, without parameters ("text/event-stream").
  std::string content_type() const;
};

struct Outcome {
  enum class Stage { Done, Resolve, Connect, Tls, Send, Receive, Timeout };
  Stage stage = Stage::Done;
  bool got_head = false;  // the response's status and headers arrived
  std::string error;      // readable, one line; empty when Done
  bool ok() const { return stage == Stage::Done; }
  // The server could not be reached at all (nothing was sent).
  bool unreachable() const {
    return stage == Stage::Resolve || stage == Stage::Connect || stage == Stage::Tls;
  }
};

struct ResponseHandlers {
  std::function<void(const ResponseHead&)> on_head;
  std::function<void(std::string_view chunk)> on_data;  // body bytes, transfer coding removed
  std::function<void(const Outcome&)> on_end;           // exactly once, unless cancelled
};

class ClientConnection;
class Client;

// One request in flight or queued. cancel() ends it without any further callback.
class Call : public std::enable_shared_from_this<Call> {
 public:
  void cancel();
  bool finished() const { return finished_; }

 private:
  friend class Client;
  friend class ClientConnection;
  std::weak_ptr<Client> client_;
  std::weak_ptr<ClientConnection> conn_;
  ClientRequest req_;
  ResponseHandlers h_;
  bool finished_ = false;
  bool retried_ = false;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  // Throws std::runtime_error when the TLS setup fails (e.g. an unreadable CA file).
  Client(boost::asio::any_io_executor ex, Url origin, ClientOptions opts);
  ~Client();

  std::shared_ptr<Call> request(ClientRequest req, ResponseHandlers handlers);
  // Cancels every call (no callbacks) and closes every connection.
  void close();

  const Url& origin() const { return origin_; }
  std::size_t queued_bytes() const { return queued_bytes_; }
  std::size_t connections() const { return total_; }
  void on_drain(std::function<void()> f) { on_drain_ = std::move(f); }

 private:
  friend class ClientConnection;
  friend class Call;
  void pump();
  void release(const std::shared_ptr<ClientConnection>& c, bool reusable);
  void retry(const std::shared_ptr<Call>& call);
  void dequeue(const std::shared_ptr<Call>& call);

  boost::asio::any_io_executor ex_;
  Url origin_;
  ClientOptions opts_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::deque<std::shared_ptr<Call>> queue_;
  std::vector<std::shared_ptr<ClientConnection>> idle_;
  std::vector<std::weak_ptr<ClientConnection>> all_;
  std::size_t total_ = 0;
  std::size_t queued_bytes_ = 0;
  std::function<void()> on_drain_;
  bool drain_pending_ = false;
  bool closed_ = false;
};

}  // namespace gt::transport::http
