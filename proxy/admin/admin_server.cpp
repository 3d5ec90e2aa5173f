#include "proxy/admin/admin_server.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>
#include <boost/system/system_error.hpp>

#include "transport/http_server.hpp"

namespace gt::proxy::admin {

namespace web = transport::http;

void send(web::Exchange& ex, Response&& r) {
  std::vector<web::Header> headers;
  if (!r.allow.empty()) headers.push_back({"Allow", r.allow});
  ex.respond(r.status, std::move(r.body), r.content_type, headers);
}

ListenAddress parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw std::invalid_argument("expected `host:port`, got `" + listen + "`");
  ListenAddress a;
  a.host = listen.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']')
    a.host = a.host.substr(1, a.host.size() - 2);
  const std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    throw std::invalid_argument("bad port in `" + listen + "`");
  a.port = static_cast<unsigned short>(std::stoul(port));
  boost::system::error_code ec;
  boost::asio::ip::make_address(a.host, ec);
  if (ec) throw std::invalid_argument("`" + a.host + "` is not an IP address");
  return a;
}

namespace {

bool loopback_host(std::string_view host) {
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']') == std::string_view::npos)
    host = host.substr(0, colon);  // name:port
  else if (!host.empty() && host.front() == '[')
    host = host.substr(0, host.find(']') + 1);
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

}  // namespace

AdminServer::AdminServer(boost::asio::io_context& ioc, const std::string& listen,
                         std::function<void(Report&)> report)
    : endpoints_(std::move(report)) {
  ListenAddress a;
  try {
    a = parse_listen(listen);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("admin.listen: ") + e.what());
  }
  host_ = a.host;
  auto addr = boost::asio::ip::make_address(a.host);
  loopback_ = addr.is_loopback();
  web::Limits limits;
  limits.body_limit = 64 * 1024;  // the endpoints take no body
  limits.max_connections = 64;
  limits.max_connections_per_ip = 16;
  limits.body_budget = 1u << 20;
  try {
    server_ = std::make_shared<web::Server>(
        ioc, boost::asio::ip::tcp::endpoint(addr, a.port), limits,
        [this](web::Request&& req, std::shared_ptr<web::Exchange> ex) {
          std::string target(req.target());
          if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
          if (loopback_ && !loopback_host(req[boost::beast::http::field::host])) {
            metrics().refused.inc({"host"});
            ex->respond(403, "Forbidden: host not allowed\n", "text/plain");
            return;
          }
          auto r = endpoints_.handle(std::string(req.method_string()), target);
          if (!r) {
            ex->respond(404, "not found (admin endpoints: /healthz, /readyz, /metrics)\n",
                        "text/plain");
            return;
          }
          send(*ex, std::move(*r));
        });
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("admin.listen: cannot listen on " + listen + ": " +
                             e.code().message());
  }
}

AdminServer::~AdminServer() = default;

void AdminServer::start() {
  server_->start();
  std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  spdlog::info("admin endpoints at http://{}:{}/healthz, /readyz and /metrics", host, port());
}

void AdminServer::stop() {
  if (server_) server_->stop();
}

unsigned short AdminServer::port() const {
  return server_ ? server_->port() : 0;
}

}  // namespace gt::proxy::admin
