// A listener of its own for the admin endpoints (`admin.listen`): for `glasstape run`, whose
// client speaks over stdio, and for `glasstape serve` when the operator wants the endpoints
// apart from /mcp (a Prometheus scrape from another host, a serve with http.auth).
// Any path but /healthz, /readyz and /metrics gets 404. Bound to a loopback address, it
// answers only requests whose Host is a loopback name (a web page cannot read it through DNS
// rebinding).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "proxy/admin/endpoints.hpp"

namespace gt::transport::http {
class Server;
class Exchange;
}  // namespace gt::transport::http

namespace gt::proxy::admin {

struct ListenAddress {
  std::string host;
  unsigned short port = 0;
};

// Sends an admin endpoint's answer (with its Allow header, for a 405).
void send(transport::http::Exchange& ex, Response&& r);

// "host:port" or "[v6]:port". Throws std::invalid_argument with the reason.
ListenAddress parse_listen(const std::string& listen);

class AdminServer {
 public:
  // Binds now; throws std::runtime_error ("cannot listen on ...") when it cannot.
  AdminServer(boost::asio::io_context& ioc, const std::string& listen,
              std::function<void(Report&)> report);
  ~AdminServer();
  void start();
  void stop();
  unsigned short port() const;

 private:
  Endpoints endpoints_;
  std::string host_;
  bool loopback_ = true;
  std::shared_ptr<transport::http::Server> server_;
};

}  // namespace gt::proxy::admin
