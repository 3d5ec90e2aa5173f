#include "proxy/auth/introspector.hpp"

#include <boost/beast/http/verb.hpp>

#include "governance/audit/encoding.hpp"
#include "governance/auth/introspection.hpp"

namespace gt::proxy {

namespace {

// RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are joined.
std::string form_encoded(std::string_view v) {
  std::string body = auth::introspection_request_body(v);  // "token=<encoded>&…"
  auto start = body.find('=') + 1;
  return body.substr(start, body.find('&') - start);
}

}  // namespace

Introspector::Introspector(boost::asio::any_io_executor ex, const IssuerSettings& issuer)
    : issuer_(issuer) {
  const std::string where = "http.auth issuer `" + issuer.issuer + "` introspection";
  std::string err;
  auto u = transport::Url::parse(issuer.introspection_endpoint, &err);
  if (!u) throw ConfigError(where + ".endpoint: " + err);
  url_ = *u;
  transport::http::ClientOptions o;
  o.max_connections = 8;
  o.ca_file = issuer.ca_file;
  try {
    client_ = std::make_shared<transport::http::Client>(std::move(ex), url_, o);
  } catch (const std::exception& e) {
    throw ConfigError(where + ": " + e.what());
  }
  std::string creds = form_encoded(issuer.client_id) + ":" + form_encoded(issuer.client_secret);
  authorization_ = "Basic " + gov::audit::base64_encode(creds);
}

void Introspector::stop() {
  stopped_ = true;
  client_->close();
}

void Introspector::introspect(const std::string& token, Done done) {
  if (in_flight_ >= kMaxInFlight) {
    done(std::nullopt, "too many introspection requests are in flight");
    return;
  }
  ++in_flight_;
  transport::http::ClientRequest req;
  req.method = boost::beast::http::verb::post;
  req.target = url_.target;
  req.headers = {{"Authorization", authorization_},
                 {"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = auth::introspection_request_body(token);
  req.timeout = kTimeout;
  struct State {
    unsigned status = 0;
    std::string body;
    bool too_big = false;
  };
  auto st = std::make_shared<State>();
  transport::http::ResponseHandlers h;
  h.on_head = [st](const transport::http::ResponseHead& head) { st->status = head.status; };
  h.on_data = [st](std::string_view chunk) {
    if (st->too_big) return;
    if (st->body.size() + chunk.size() > auth::kMaxIntrospectionResponseBytes) {
      st->too_big = true;
      st->body.clear();
      return;
    }
    st->body.append(chunk);
  };
  h.on_end = [w = weak_from_this(), st, done = std::move(done)](const transport::http::Outcome& o) {
    auto self = w.lock();
    if (!self || self->stopped_) return;
    --self->in_flight_;
    if (!o.ok()) {
      done(std::nullopt, "introspection endpoint: " + o.error);
    } else if (st->status != 200) {
      done(std::nullopt, "introspection endpoint answered HTTP " + std::to_string(st->status));
    } else if (st->too_big) {
      done(std::nullopt, "the introspection answer is larger than 64 KiB");
    } else {
      done(std::move(st->body), {});
    }
  };
  client_->request(std::move(req), std::move(h));
}

}  // namespace gt::proxy
