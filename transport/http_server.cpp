#include "transport/http_server.hpp"

#include <fcntl.h>

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "transport/rate_limited_log.hpp"

namespace gt::transport::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::string_view reason(unsigned status) {
  return bhttp::obsolete_reason(static_cast<bhttp::status>(status));
}

namespace {

using Clock = std::chrono::steady_clock;

// Warnings about one client's requests or connection: one line per interval for all of them.
RateLimitedLog& client_warnings() {
  static RateLimitedLog log(spdlog::level::warn);
  return log;
}

std::string jsonrpc_error_body(int code, std::string_view message) {
  std::string body =
      R"({"jsonrpc":"2.0","id":null,"error":{"code":)" + std::to_string(code) + R"(,"message":")";
  body += message;  // plain ASCII, nothing to escape
  body += "\"}}";
  return body;
}

}  // namespace

// One TCP connection. A single read loop runs for the connection's whole life: it feeds
// Beast's request parser while no exchange is outstanding, and otherwise only buffers (a
// pipelined request, up to header_limit; then it stops reading until the exchange ends) and
// notices when the peer goes away (end of an SSE stream).
//
// One timer serves every deadline. It is never cancelled for a new request (a cancel and a
// new wait per request cost a system call each): it is armed no further ahead than the
// shortest timeout, so any deadline a request can set is still ahead of it, and when it
// fires it checks the deadline in force and waits again for what is left.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket s, std::shared_ptr<Server> srv, std::string peer)
      : socket_(std::move(s)),
        srv_(std::move(srv)),
        peer_(std::move(peer)),
        timer_(socket_.get_executor()) {
    ++srv_->connections_;
    ++srv_->per_ip_[peer_];
  }
  ~Connection() {
    release_body();
    --srv_->connections_;
    if (auto it = srv_->per_ip_.find(peer_); it != srv_->per_ip_.end() && --it->second == 0)
      srv_->per_ip_.erase(it);
  }

  void run() {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);  // do_read's read_some never blocks the loop
    // The first request's headers are due header_timeout after the accept: a connection
    // that sends nothing is not kept for the idle timeout.
    request_start_ = Clock::now();
    deadline_ = *request_start_ + limits().header_timeout;
    arm_timer(deadline_);
    do_read();
  }
  bool open() const { return !closed_; }

  void write(std::string bytes) {
    if (closed_) return;
    // The backlog already queued says whether the client reads, not the size of the new
    // message: one large answer (up to max_message_bytes) to a client that keeps up is fine.
    if (out_.size() + writing_.size() > limits().max_queued_bytes) {
      client_warnings()("http: dropping a client that does not read ({} bytes queued)",
                        out_.size() + writing_.size());
      close();
      return;
    }
    if (out_.empty())
      out_ = std::move(bytes);  // the usual case: no copy
    else
      out_.append(bytes);
    if (!write_in_flight_) do_write();
  }

  void finish_exchange(bool keep_alive) {
    current_.reset();
    if (!keep_alive) {
      close_after_write_ = true;
      resume_reading();  // a lingering close reads (and drops) what the client still sends
      if (!write_in_flight_ && out_.empty()) linger();
      return;
    }
    request_start_.reset();
    deadline_ = Clock::now() + limits().idle_timeout;
    if (buffer_.size() > 0) {
      // A pipelined request is waiting. It is parsed from the event loop, not from inside
      // the handler that just answered: the handler may not expect to be re-entered, and
      // answering thousands of pipelined requests that way would nest a stack frame each.
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->parse_available(); });
    }
    resume_reading();
  }

 private:
  const Limits& limits() const { return srv_->limits_; }

  // The longest the timer may wait: no deadline set later can be earlier than this.
  Clock::duration tick() const {
    return std::min({limits().header_timeout, limits().body_timeout, limits().idle_timeout});
  }

  void arm_timer(Clock::time_point at) {
    timer_.expires_at(std::min(at, Clock::now() + tick()));
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec || self->closed_ || self->lingering_) return;
      self->on_timer();
    });
  }

  void on_timer() {
    auto now = Clock::now();
    if (current_ || now < deadline_) {
      // A live exchange (a stream, or a request being answered) is not idle and has no
      // deadline here; the idle time counts from its end.
      arm_timer(current_ ? now + tick() : deadline_);
      return;
    }
    if (!parser_) {
      close();  // idle past the timeout, or a new connection that never sent a byte
      return;
    }
    const char* what = parser_->is_header_done() ? "body" : "headers";
    client_warnings()("http: closing a connection from {} that did not send its request {} in time",
                      peer_, what);
    fail_request(408,
                 std::string("Request Timeout: the request ") + what + " did not arrive in time\n");
  }

  // Waits until the socket is readable, then reads what is there. (async_read_some would
  // first try a speculative recv, which after a request almost always returns EAGAIN: one
  // wasted system call per request on a keep-alive connection.)
  void do_read() {
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         if (ec) {
                           self->on_read(ec, 0);
                           return;
                         }
                         boost::system::error_code rec;
                         auto n = self->socket_.read_some(self->buffer_.prepare(16 * 1024), rec);
                         if (rec == asio::error::would_block || rec == asio::error::try_again) {
                           if (!self->closed_) self->do_read();
                           return;
                         }
                         self->on_read(rec, n);
                       });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      close();  // peer closed or reset: ends any stream it had
      return;
    }
    buffer_.commit(n);
    if (close_after_write_) {
      // The last response is written or on its way: what the client still sends (the rest
      // of an oversize body) is read and dropped until it stops or the linger time is up.
      buffer_.consume(buffer_.size());
      if (!closed_) do_read();
      return;
    }
    if (!current_) {
      parse_available();
    } else if (buffer_.size() >= limits().header_limit) {
      // Pipelining far ahead of us: the rest waits in the kernel until the exchange ends.
      read_paused_ = true;
      return;
    }
    if (!closed_ && !read_paused_) do_read();
  }

  void resume_reading() {
    if (read_paused_ && !closed_ && !current_) {
      read_paused_ = false;
      do_read();
    }
  }

  void parse_available() {
    while (!current_ && !closed_ && !close_after_write_ && buffer_.size() > 0) {
      if (!parser_) {
        parser_.emplace();
        parser_->body_limit(limits().body_limit);
        parser_->header_limit(static_cast<std::uint32_t>(limits().header_limit));
        // Not eager until the headers are checked: put() stops where they end.
        parser_->eager(false);
        // The deadlines count from the request's first byte (for a connection's first
        // request, from the accept), never from the last byte received.
        if (!request_start_) request_start_ = Clock::now();
        deadline_ = *request_start_ + limits().header_timeout;
      }
      bool header_was_done = parser_->is_header_done();
      boost::beast::error_code ec;
      auto used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) break;
      if (ec) {
        unsigned status = ec == bhttp::error::body_limit     ? 413
                          : ec == bhttp::error::header_limit ? 431
                                                             : 400;
        client_warnings()("http: bad request ({}) from {}: {}", status, peer_, ec.message());
        fail_request(status, std::string(reason(status)) + ": " + ec.message() + "\n");
        return;
      }
      if (!header_was_done && parser_->is_header_done() && !on_header()) return;
      if (parser_->chunked() && !parser_->is_done() && !account_chunked()) return;
      if (!parser_->is_done()) continue;
      Request req = parser_->release();
      parser_.reset();
      release_body();
      request_start_.reset();
      auto ex = std::make_shared<Exchange>(weak_from_this(), req.version(), req.keep_alive(),
                                           req.method() == bhttp::verb::head);
      ex->peer_ = peer_;
      current_ = ex;
      srv_->handler_(std::move(req), ex);
    }
  }

  // The headers are complete and no body byte is read yet: refuse what could be read two
  // ways, and reserve the body's place in the budget.
  bool on_header() {
    if (auto why = framing_error(parser_->get()); !why.empty()) {
      client_warnings()("http: bad request (400) from {}: {}", peer_, why);
      fail_request(400, "Bad Request: " + why + "\n");
      return false;
    }
    if (auto len = parser_->content_length(); len && *len > 0) {
      if (!reserve_body(static_cast<std::size_t>(*len))) return false;
    }
    deadline_ = *request_start_ + std::max(limits().body_timeout, limits().header_timeout);
    parser_->eager(true);
    return true;
  }

  // A chunked body's size is not known in advance: its reservation follows the memory the
  // body holds so far.
  bool account_chunked() {
    auto held = parser_->get().body().capacity();
    return held <= reserved_ || reserve_body(held - reserved_);
  }

  bool reserve_body(std::size_t n) {
    if (srv_->reserve_body(n)) {
      reserved_ += n;
      return true;
    }
    client_warnings()(
        "http: request bodies in flight would exceed the budget ({} bytes); refusing a "
        "{}-byte body from {} with 503",
        limits().body_budget, n, peer_);
    fail_request(503,
                 jsonrpc_error_body(-32000,
                                    "Service Unavailable: too many request bodies in flight; "
                                    "retry later"),
                 "application/json",
                 {{"Retry-After", std::to_string(limits().retry_after.count())}});
    return false;
  }

  void release_body() {
    if (reserved_ > 0) srv_->release_body(std::exchange(reserved_, 0));
  }

  // Answers the request being read with an error and closes the connection after it (the
  // rest of the request is not read as another one).
  void fail_request(unsigned status, std::string body, std::string_view content_type = "text/plain",
                    const std::vector<Header>& headers = {}) {
    parser_.reset();
    release_body();
    request_start_.reset();
    auto ex = std::make_shared<Exchange>(weak_from_this(), 11, false);
    current_ = ex;
    ex->respond(status, std::move(body), content_type, headers);
  }

  void do_write() {
    if (out_.empty()) {
      if (close_after_write_) linger();
      return;
    }
    writing_.swap(out_);
    out_.clear();
    write_in_flight_ = true;
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](const boost::system::error_code& ec,
                                                  std::size_t) { self->on_write(ec); });
  }

  void on_write(const boost::system::error_code& ec) {
    write_in_flight_ = false;
    writing_.clear();
    if (ec) {
      close();
      return;
    }
    do_write();
  }

 public:
  // Ends a connection after its last response without losing that response: closing a
  // socket with unread input makes the kernel send a reset, which can destroy the response
  // before the client reads it (a 413 for a large body, sent while the client is still
  // writing, arrived as EPIPE in Node's fetch). So: send FIN, keep reading (and dropping)
  // until the client closes, for at most kLingerTime. The classic "lingering close".
  void linger() {
    if (closed_ || lingering_) return;
    lingering_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    timer_.expires_after(kLingerTime);
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (self && !ec) self->close();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    srv_->resume_accepting();
    parser_.reset();
    release_body();
    if (auto ex = std::move(current_); ex && !ex->done_ && ex->on_close_) {
      auto f = std::move(ex->on_close_);
      f();
    }
  }

 private:
  tcp::socket socket_;
  std::shared_ptr<Server> srv_;
  std::string peer_;  // the per-IP key it is counted under
  asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<Clock::time_point> request_start_;  // the current request's first byte
  Clock::time_point deadline_;                      // of the current stage: headers, body, or idle
  std::size_t reserved_ = 0;                        // of the body budget, by the request being read
  std::shared_ptr<Exchange> current_;
  std::string out_, writing_;
  bool write_in_flight_ = false;
  bool close_after_write_ = false;
  bool lingering_ = false;
  bool read_paused_ = false;
  bool closed_ = false;
  static constexpr std::chrono::seconds kLingerTime{2};
};

// ---------------------------------------------------------------- Exchange

namespace {

std::string status_line(unsigned status) {
  std::string s = "HTTP/1.1 " + std::to_string(status) + " ";
  s += reason(status);
  s += "\r\n";
  return s;
}

void append_headers(std::string& out, const std::vector<Header>& headers) {
  for (const auto& h : headers) {
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
}

std::string hex(std::size_t n) {
  char buf[20];
  int len = std::snprintf(buf, sizeof buf, "%zx", n);
  return std::string(buf, static_cast<std::size_t>(len));
}

}  // namespace

bool Exchange::closed() const {
  auto c = conn_.lock();
  return !c || !c->open();
}

void Exchange::write(std::string bytes) {
  if (auto c = conn_.lock()) c->write(std::move(bytes));
}

void Exchange::respond(unsigned status, std::string body, std::string_view content_type,
                       const std::vector<Header>& headers) {
  if (done_ || streaming_) return;
  done_ = true;
  std::string out;
  out.reserve(160 + body.size() + content_type.size() + headers.size() * 64);
  out += status_line(status);
  if (!content_type.empty()) {
    out += "Content-Type: ";
    out += content_type;
    out += "\r\n";
  }
  append_headers(out, headers);
  out += "Content-Length: ";
  out += std::to_string(body.size());
  out += "\r\n";
  if (!keep_alive_) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_) out += body;
  write(std::move(out));
  if (auto c = conn_.lock()) c->finish_exchange(keep_alive_);
}

void Exchange::start_stream(const std::vector<Header>& headers) {
  if (done_ || streaming_) return;
  streaming_ = true;
  std::string out = status_line(200);
  out += "Content-Type: text/event-stream\r\nCache-Control: no-cache, no-transform\r\n";
  out += "X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n";
  append_headers(out, headers);
  out += "\r\n";
  write(std::move(out));
}

void Exchange::event(std::string_view id, std::string_view data) {
  if (!streaming_ || done_) return;
  std::string ev;
  ev.reserve(data.size() + id.size() + 24);
  if (!id.empty()) {
    ev += "id: ";
    ev += id;
    ev += "\n";
  }
  ev += "event: message\ndata: ";
  ev += data;  // a JSON-RPC line has no newline in it
  ev += "\n\n";
  std::string chunk = hex(ev.size()) + "\r\n" + ev + "\r\n";
  write(std::move(chunk));
}

void Exchange::comment(std::string_view text) {
  if (!streaming_ || done_) return;
  std::string ev = ": " + std::string(text) + "\n\n";
  write(hex(ev.size()) + "\r\n" + ev + "\r\n");
}

void Exchange::end_stream() {
  if (!streaming_ || done_) return;
  done_ = true;
  write("0\r\n\r\n");
  if (auto c = conn_.lock()) c->finish_exchange(keep_alive_);
}

// ---------------------------------------------------------------- Server

Server::Server(asio::io_context& ioc, const tcp::endpoint& at, Limits limits, Handler handler)
    : acceptor_(ioc), accept_timer_(ioc), limits_(limits), handler_(std::move(handler)) {
  acceptor_.open(at.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
}

std::uint16_t Server::port() const {
  return acceptor_.local_endpoint().port();
}

void Server::start() {
  do_accept();
}

void Server::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  accept_timer_.cancel();
}

bool Server::reserve_body(std::size_t n) {
  if (n > limits_.body_budget - body_in_flight_) return false;
  body_in_flight_ += n;
  return true;
}

void Server::release_body(std::size_t n) {
  body_in_flight_ -= n;
}

std::string Server::peer_key(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_string();
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  for (std::size_t i = 8; i < bytes.size(); ++i)
    bytes[i] = 0;
  return asio::ip::address_v6(bytes).to_string() + "/64";
}

void Server::do_accept() {
  acceptor_.async_accept([self = shared_from_this()](const boost::system::error_code& ec,
                                                     tcp::socket socket) {
    if (ec == asio::error::operation_aborted || self->stopped_) return;
    if (!ec) {
      self->accept_backoff_ = std::chrono::milliseconds(0);
      self->serve(std::move(socket));
      self->do_accept();
      return;
    }
    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays in the backlog and the next
    // accept would fail at once again, so accepting again now spins at full CPU. Pause,
    // 100 ms doubling to 1 s, until an accept succeeds.
    ++self->accept_failures_;
    static RateLimitedLog accept_errors(spdlog::level::warn);
    self->accept_backoff_ = std::clamp(self->accept_backoff_ * 2, std::chrono::milliseconds(100),
                                       std::chrono::milliseconds(1000));
    accept_errors("http: accept failed: {}; pausing accepts for {} ms", ec.message(),
                  self->accept_backoff_.count());
    self->accept_paused_ = true;
    self->accept_timer_.expires_after(self->accept_backoff_);
    self->accept_timer_.async_wait([self](const boost::system::error_code&) {
      if (self->stopped_ || !self->accept_paused_) return;  // resumed already
      self->accept_paused_ = false;
      self->do_accept();
    });
  });
}

// A connection closed, so a descriptor is free: accepting resumes now rather than at the
// end of the pause.
void Server::resume_accepting() {
  if (!accept_paused_ || stopped_) return;
  accept_paused_ = false;
  accept_timer_.cancel();
  do_accept();
}

void Server::serve(tcp::socket socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  std::string key = ec ? std::string("unknown") : peer_key(remote.address());
  if (connections_ >= limits_.max_connections) {
    static RateLimitedLog refused(spdlog::level::warn);
    refused("http: connection limit ({}) reached; refusing a client", limits_.max_connections);
    refuse(socket, "too many connections");
    return;
  }
  if (auto it = per_ip_.find(key);
      it != per_ip_.end() && it->second >= limits_.max_connections_per_ip) {
    static RateLimitedLog refused(spdlog::level::warn);
    refused("http: {} has {} connections (http.max_connections_per_ip); refusing another", key,
            it->second);
    refuse(socket, "too many connections from this address");
    return;
  }
  // Small responses go out at once (no Nagle delay behind the previous one), and the socket
  // is not inherited by the servers the front starts for sessions (a child holding it open
  // would keep the connection alive after we close it).
  socket.set_option(tcp::no_delay(true), ec);
  ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
  std::make_shared<Connection>(std::move(socket), shared_from_this(), std::move(key))->run();
}

// A refused connection gets a best-effort 503 (one non-blocking send; its request is never
// read) and is closed at once: holding it to linger would spend the slot it was refused.
void Server::refuse(tcp::socket& socket, const char* why) {
  std::string body = jsonrpc_error_body(-32000, std::string("Service Unavailable: ") + why);
  std::string out = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n";
  out += "Retry-After: " + std::to_string(limits_.retry_after.count()) + "\r\n";
  out += "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.send(asio::buffer(out), 0, ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

// ---------------------------------------------------------------- framing and Host

namespace {

bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lo = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lo(x) == lo(y);
         });
}

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v >= 1 && v <= 65535;
}

}  // namespace

bool valid_host(std::string_view host) {
  std::string_view rest;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    auto inner = host.substr(1, close - 1);
    // Hex digits, colons and an embedded IPv4's dots only: no zone id, no IPvFuture.
    if (inner.empty() || inner.find_first_not_of("0123456789abcdefABCDEF:.") != inner.npos)
      return false;
    boost::system::error_code ec;
    asio::ip::make_address_v6(std::string(inner), ec);
    if (ec) return false;
    rest = host.substr(close + 1);
  } else {
    auto colon = host.find(':');
    auto name = host.substr(0, colon);
    if (name.empty() || name.size() > 253) return false;
    if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789-._~") != name.npos)
      return false;
    rest = colon == std::string_view::npos ? std::string_view() : host.substr(colon);
  }
  return rest.empty() || (rest.front() == ':' && valid_port(rest.substr(1)));
}

std::string framing_error(const bhttp::request_header<>& h) {
  std::size_t hosts = 0, encodings = 0;
  std::string_view host, encoding;
  for (const auto& f : h) {
    if (f.name() == bhttp::field::host) {
      ++hosts;
      host = f.value();
    } else if (f.name() == bhttp::field::transfer_encoding) {
      ++encodings;
      encoding = f.value();
    }
  }
  if (encodings > 0) {
    // Only `chunked` is supported, alone; anything else (`chunked, identity`, `gzip,
    // chunked`, two fields) must not be guessed at (RFC 9112 §6.1, §6.3).
    if (encodings > 1 || !ascii_iequals(encoding, "chunked"))
      return "Transfer-Encoding other than `chunked`";
    if (h.count(bhttp::field::content_length) > 0)
      return "both Transfer-Encoding and Content-Length";
  }
  if (hosts > 1) return "more than one Host header";
  if (hosts == 0) return h.version() >= 11 ? "no Host header" : "";
  if (!valid_host(host)) return "invalid Host header";
  return "";
}

}  // namespace gt::transport::http
