#include "transport/http_client.hpp"

#include <openssl/ssl.h>

#include <optional>

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace gt::transport::http {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::string ResponseHead::header(std::string_view name) const {
  auto it = fields.find(name);
  return it == fields.end() ? std::string() : std::string(it->value());
}

std::string ResponseHead::content_type() const {
  std::string ct = header("Content-Type");
  if (auto semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
  while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t'))
    ct.pop_back();
  for (auto& c : ct)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ct;
}

// One socket to the origin, serving one call at a time (HTTP/1.1 without pipelining).
class ClientConnection : public std::enable_shared_from_this<ClientConnection> {
 public:
  ClientConnection(asio::any_io_executor ex, const std::shared_ptr<Client>& client)
      : ex_(ex),
        client_(client),
        origin_(client->origin_),
        opts_(client->opts_),
        tls_ctx_(client->tls_),
        resolver_(ex),
        timer_(ex) {}

  void run(std::shared_ptr<Call> call) {
    call_ = std::move(call);
    call_->conn_ = weak_from_this();
    aborted_ = false;
    got_head_ = false;
    reused_ = connected_;
    if (call_->req_.timeout.count() > 0) {
      timer_.expires_after(call_->req_.timeout);
      timer_.async_wait(
          [weak = weak_from_this(), t = call_->req_.timeout](const boost::system::error_code& ec) {
            auto self = weak.lock();
            if (!self || ec || !self->call_) return;
            self->fail(Outcome::Stage::Timeout,
                       "no complete answer within " + std::to_string(t.count()) + " ms");
          });
    }
    if (connected_) {
      do_write();
    } else {
      do_resolve();
    }
  }

  // The call was cancelled: drop the socket; the pending operation ends with an error.
  void abort() {
    aborted_ = true;
    close_socket();
  }

 private:
  tcp::socket::lowest_layer_type& socket() {
    return tls_ ? beast::get_lowest_layer(*tls_).socket() : plain_->socket();
  }
  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  template <class F>
  void with_stream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  // True when the call ended meanwhile (cancelled): cleans up and tells the caller to stop.
  bool gone() {
    if (!aborted_ && call_) return false;
    if (active()) finish_abort();
    return true;
  }
  bool active() const { return call_ != nullptr; }

  void finish_abort() {
    timer_.cancel();
    call_.reset();
    connected_ = false;
    close_socket();
    if (auto c = client_.lock()) c->release(shared_from_this(), false);
  }

  void do_resolve() {
    resolver_.async_resolve(origin_.host, origin_.port,
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        tcp::resolver::results_type results) {
                              if (self->gone()) return;
                              if (ec) {
                                self->fail(
                                    Outcome::Stage::Resolve,
                                    "cannot resolve `" + self->origin_.host + "`: " + ec.message());
                                return;
                              }
                              self->do_connect(results);
                            });
  }

  void do_connect(const tcp::resolver::results_type& results) {
    plain_.reset();
    tls_.reset();
    if (origin_.tls()) {
      tls_.emplace(ex_, *tls_ctx_);
    } else {
      plain_.emplace(ex_);
    }
    lowest().expires_after(opts_.connect_timeout);
    lowest().async_connect(results, [self = shared_from_this()](const boost::system::error_code& ec,
                                                                const tcp::endpoint&) {
      if (self->gone()) return;
      if (ec) {
        self->fail(Outcome::Stage::Connect, "cannot connect to `" + self->origin_.host + ":" +
                                                self->origin_.port + "`: " + ec.message());
        return;
      }
      boost::system::error_code ignored;
      self->socket().set_option(tcp::no_delay(true), ignored);
      if (self->tls_) {
        self->do_handshake();
      } else {
        self->connected_ = true;
        self->do_write();
      }
    });
  }

  void do_handshake() {
    auto* ssl = tls_->native_handle();
    boost::system::error_code ec;
    asio::ip::make_address(origin_.host, ec);
    if (ec) {
      // SNI carries names only, never IP literals (RFC 6066 section 3).
      SSL_set_tlsext_host_name(ssl, origin_.host.c_str());
    }
    if (!opts_.insecure_skip_verify) {
      tls_->set_verify_mode(ssl::verify_peer);
      tls_->set_verify_callback(ssl::host_name_verification(origin_.host));
    }
    tls_->async_handshake(
        ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& ec) {
          if (self->gone()) return;
          if (ec) {
            self->fail(Outcome::Stage::Tls,
                       "TLS handshake with `" + self->origin_.host + "` failed: " + ec.message());
            return;
          }
          self->connected_ = true;
          self->do_write();
        });
  }

  void do_write() {
    const auto& r = call_->req_;
    req_.emplace(r.method, r.target, 11);
    req_->set(bhttp::field::host, origin_.host_header());
    req_->set(bhttp::field::user_agent, opts_.user_agent);
    for (const auto& [name, value] : r.headers)
      req_->set(name, value);
    req_->body() = r.body;
    req_->keep_alive(true);
    req_->prepare_payload();
    lowest().expires_never();
    with_stream([&](auto& s) {
      bhttp::async_write(
          s, *req_, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            self->on_write(ec);
          });
    });
  }

  void on_write(const boost::system::error_code& ec) {
    if (gone()) return;
    if (ec) {
      if (retry_stale()) return;
      fail(Outcome::Stage::Send, "sending the request failed: " + ec.message());
      return;
    }
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts_.header_limit));
    parser_->body_limit(boost::none);  // streams are unbounded; the caller limits messages
    with_stream([&](auto& s) {
      bhttp::async_read_header(s, buffer_, *parser_,
                               [self = shared_from_this()](const boost::system::error_code& ec,
                                                           std::size_t) { self->on_header(ec); });
    });
  }

  void on_header(const boost::system::error_code& ec) {
    if (gone()) return;
    if (ec) {
      if (retry_stale()) return;
      fail(Outcome::Stage::Receive, "reading the response failed: " + ec.message());
      return;
    }
    got_head_ = true;
    ResponseHead head;
    head.status = parser_->get().result_int();
    head.fields = static_cast<const bhttp::fields&>(parser_->get().base());
    if (call_->h_.on_head) call_->h_.on_head(head);
    if (gone()) return;
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) {
      finish();
      return;
    }
    auto& body = parser_->get().body();
    body.data = chunk_;
    body.size = sizeof chunk_;
    body.more = true;
    with_stream([&](auto& s) {
      bhttp::async_read_some(s, buffer_, *parser_,
                             [self = shared_from_this()](boost::system::error_code ec,
                                                         std::size_t) { self->on_body(ec); });
    });
  }

  void on_body(boost::system::error_code ec) {
    if (gone()) return;
    if (ec == bhttp::error::need_buffer) ec = {};
    std::size_t produced = sizeof chunk_ - parser_->get().body().size;
    if (produced > 0 && call_->h_.on_data) {
      call_->h_.on_data(std::string_view(chunk_, produced));
      if (gone()) return;
    }
    if (ec) {
      fail(Outcome::Stage::Receive, "the response ended early: " + ec.message());
      return;
    }
    read_body();
  }

  // A reused keep-alive connection the server had closed: try once more on a new one.
  bool retry_stale() {
    if (!reused_ || got_head_ || call_->retried_) return false;
    auto call = std::move(call_);
    call->retried_ = true;
    timer_.cancel();
    connected_ = false;
    close_socket();
    auto client = client_.lock();
    if (!client) return true;
    client->release(shared_from_this(), false);
    client->retry(call);
    return true;
  }

  void finish() {
    bool keep = parser_->keep_alive();
    auto call = std::move(call_);
    timer_.cancel();
    call->finished_ = true;
    if (!keep) {
      connected_ = false;
      close_socket();
    }
    if (auto c = client_.lock()) c->release(shared_from_this(), keep);
    if (call->h_.on_end) call->h_.on_end(Outcome{});
  }

  void fail(Outcome::Stage stage, std::string why) {
    auto call = std::move(call_);
    timer_.cancel();
    connected_ = false;
    close_socket();
    if (auto c = client_.lock()) c->release(shared_from_this(), false);
    if (!call || call->finished_) return;
    call->finished_ = true;
    Outcome o;
    o.stage = stage;
    o.got_head = got_head_;
    o.error = std::move(why);
    if (call->h_.on_end) call->h_.on_end(o);
  }

  void close_socket() {
    boost::system::error_code ignored;
    resolver_.cancel();
    if (plain_ || tls_) {
      socket().shutdown(tcp::socket::shutdown_both, ignored);
      socket().close(ignored);
    }
  }

  asio::any_io_executor ex_;
  std::weak_ptr<Client> client_;
  Url origin_;
  ClientOptions opts_;
  std::shared_ptr<ssl::context> tls_ctx_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request<bhttp::string_body>> req_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;
  std::shared_ptr<Call> call_;
  char chunk_[16 * 1024];
  bool connected_ = false;
  bool reused_ = false;
  bool got_head_ = false;
  bool aborted_ = false;
};

// ---------------------------------------------------------------- Call

void Call::cancel() {
  if (finished_) return;
  finished_ = true;
  if (auto c = conn_.lock()) {
    c->abort();
  } else if (auto cl = client_.lock()) {
    cl->dequeue(shared_from_this());
  }
}

// ---------------------------------------------------------------- Client

Client::Client(asio::any_io_executor ex, Url origin, ClientOptions opts)
    : ex_(std::move(ex)), origin_(std::move(origin)), opts_(std::move(opts)) {
  if (opts_.max_connections == 0) opts_.max_connections = 1;
  if (origin_.tls()) {
    tls_ = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    tls_->set_default_verify_paths(ec);
    if (ec) spdlog::warn("https: no system CA store ({})", ec.message());
    if (!opts_.ca_file.empty()) {
      tls_->load_verify_file(opts_.ca_file, ec);
      if (ec) {
        throw std::runtime_error("cannot load the CA file `" + opts_.ca_file +
                                 "`: " + ec.message());
      }
    }
    tls_->set_verify_mode(opts_.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer);
  }
}

Client::~Client() {
  close();
}

std::shared_ptr<Call> Client::request(ClientRequest req, ResponseHandlers handlers) {
  auto call = std::make_shared<Call>();
  call->client_ = weak_from_this();
  call->req_ = std::move(req);
  call->h_ = std::move(handlers);
  if (closed_) {
    call->finished_ = true;
    return call;
  }
  queued_bytes_ += call->req_.body.size();
  queue_.push_back(call);
  pump();
  if (!queue_.empty()) drain_pending_ = true;  // the caller may hold back until it drains
  return call;
}

void Client::pump() {
  while (!closed_ && !queue_.empty()) {
    std::shared_ptr<ClientConnection> conn;
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else if (total_ < opts_.max_connections) {
      conn = std::make_shared<ClientConnection>(ex_, shared_from_this());
      ++total_;
      std::erase_if(all_, [](const auto& w) { return w.expired(); });
      all_.push_back(conn);
    } else {
      break;
    }
    auto call = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= call->req_.body.size();
    conn->run(std::move(call));
  }
  if (queue_.empty() && drain_pending_) {
    drain_pending_ = false;
    if (on_drain_) on_drain_();
  }
}

void Client::release(const std::shared_ptr<ClientConnection>& c, bool reusable) {
  if (closed_) return;
  if (reusable) {
    idle_.push_back(c);
  } else {
    --total_;
  }
  // Another call may take this slot, but not from inside the caller's completion.
  asio::post(ex_, [weak = weak_from_this()]() {
    if (auto self = weak.lock()) self->pump();
  });
}

void Client::retry(const std::shared_ptr<Call>& call) {
  if (closed_) return;
  call->conn_.reset();
  queued_bytes_ += call->req_.body.size();
  queue_.push_front(call);
  pump();
}

void Client::dequeue(const std::shared_ptr<Call>& call) {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (*it == call) {
      queued_bytes_ -= call->req_.body.size();
      queue_.erase(it);
      return;
    }
  }
}

void Client::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& c : queue_)
    c->finished_ = true;
  queue_.clear();
  queued_bytes_ = 0;
  idle_.clear();
  for (auto& w : all_) {
    if (auto c = w.lock()) c->abort();
  }
  all_.clear();
}

}  // namespace gt::transport::http
