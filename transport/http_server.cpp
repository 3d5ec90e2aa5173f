#include "transport/http_server.hpp"

#include <fcntl.h>

#include <optional>

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

namespace gt::transport::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::string_view reason(unsigned status) {
  return bhttp::obsolete_reason(static_cast<bhttp::status>(status));
}

// One TCP connection. A single read loop runs for the connection's whole life: it feeds
// Beast's request parser while no exchange is outstanding, and otherwise only buffers (a
// pipelined request) and notices when the peer goes away (end of an SSE stream).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket s, std::shared_ptr<Server> srv)
      : socket_(std::move(s)), srv_(std::move(srv)), timer_(socket_.get_executor()) {
    ++srv_->connections_;
  }
  ~Connection() { --srv_->connections_; }

  void run() {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);  // do_read's read_some never blocks the loop
    idle_deadline_ = std::chrono::steady_clock::now() + srv_->limits_.idle_timeout;
    arm_idle_timer(srv_->limits_.idle_timeout);
    do_read();
  }
  bool open() const { return !closed_; }

  void write(std::string bytes) {
    if (closed_) return;
    // The backlog already queued says whether the client reads, not the size of the new
    // message: one large answer (up to max_message_bytes) to a client that keeps up is fine.
    if (out_.size() + writing_.size() > srv_->limits_.max_queued_bytes) {
      spdlog::warn("http: dropping a client that does not read ({} bytes queued)",
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
      if (!write_in_flight_ && out_.empty()) linger();
      return;
    }
    // The idle timer is not re-armed per request (a cancel and a new wait each time): it
    // checks this deadline when it fires and waits again if the connection was used since.
    idle_deadline_ = std::chrono::steady_clock::now() + srv_->limits_.idle_timeout;
    parse_available();  // a pipelined request may be waiting
  }

 private:
  void arm_idle_timer(std::chrono::steady_clock::duration after) {
    timer_.expires_after(after);
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec || self->closed_ || self->lingering_) return;
      auto now = std::chrono::steady_clock::now();
      if (self->current_) {
        // A live exchange (a stream, or a request being answered) is not idle; the idle
        // time counts from its end.
        self->arm_idle_timer(self->srv_->limits_.idle_timeout);
      } else if (now < self->idle_deadline_) {
        self->arm_idle_timer(self->idle_deadline_ - now);
      } else {
        self->close();
      }
    });
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
    } else if (buffer_.size() > srv_->limits_.header_limit + srv_->limits_.body_limit) {
      close();  // pipelining far ahead of us
      return;
    }
    if (!closed_) do_read();
  }

  void parse_available() {
    while (!current_ && !closed_ && buffer_.size() > 0) {
      if (!parser_) {
        parser_.emplace();
        parser_->body_limit(srv_->limits_.body_limit);
        parser_->header_limit(static_cast<std::uint32_t>(srv_->limits_.header_limit));
        parser_->eager(true);
        read_deadline_ = std::chrono::steady_clock::now() + srv_->limits_.read_timeout;
      }
      boost::beast::error_code ec;
      auto used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) {
        if (std::chrono::steady_clock::now() > read_deadline_) close();
        return;
      }
      if (ec) {
        unsigned status = ec == bhttp::error::body_limit     ? 413
                          : ec == bhttp::error::header_limit ? 431
                                                             : 400;
        spdlog::warn("http: bad request ({}): {}", status, ec.message());
        auto ex = std::make_shared<Exchange>(weak_from_this(), 11, false);
        current_ = ex;
        parser_.reset();
        ex->respond(status, std::string(reason(status)) + ": " + ec.message() + "\n", "text/plain");
        return;
      }
      if (!parser_->is_done()) return;
      Request req = parser_->release();
      parser_.reset();
      auto ex = std::make_shared<Exchange>(weak_from_this(), req.version(), req.keep_alive());
      current_ = ex;
      srv_->handler_(std::move(req), ex);
    }
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
    if (auto ex = std::move(current_); ex && !ex->done_ && ex->on_close_) {
      auto f = std::move(ex->on_close_);
      f();
    }
  }

 private:
  tcp::socket socket_;
  std::shared_ptr<Server> srv_;
  asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::chrono::steady_clock::time_point read_deadline_;
  std::chrono::steady_clock::time_point idle_deadline_;
  std::shared_ptr<Exchange> current_;
  std::string out_, writing_;
  bool write_in_flight_ = false;
  bool close_after_write_ = false;
  bool lingering_ = false;
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
  out += body;
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
    : ioc_(ioc), acceptor_(ioc), limits_(limits), handler_(std::move(handler)) {
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
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void Server::do_accept() {
  acceptor_.async_accept(
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
          if (self->connections_ >= self->limits_.max_connections) {
            spdlog::warn("http: connection limit ({}) reached; refusing a client",
                         self->limits_.max_connections);
          } else {
            // Small responses go out at once (no Nagle delay behind the previous one), and
            // the socket is not inherited by the servers the front starts for sessions (a
            // child holding it open would keep the connection alive after we close it).
            socket.set_option(tcp::no_delay(true));
            ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
            std::make_shared<Connection>(std::move(socket), self)->run();
          }
        } else {
          spdlog::warn("http: accept failed: {}", ec.message());
        }
        self->do_accept();
      });
}

}  // namespace gt::transport::http
