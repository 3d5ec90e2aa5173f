// The operator's HTTP endpoints, served by `glasstape serve` on its own listener and, when
// `admin.listen` is set, on a listener of their own (also for `glasstape run`):
//
//   /healthz  200 "ok" while the process serves requests (liveness)
//   /readyz   200 "ready" or 503 "not ready", then one line per check (policies loaded,
//             audit log writable, servers up)
//   /metrics  Prometheus text format (proxy/admin/metrics.hpp)
//
// Transport-free: a front passes the method and path and sends back what it gets.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/admin/health.hpp"

namespace gt::proxy::admin {

struct Response {
  unsigned status = 200;
  std::string body;
  std::string content_type;
  std::string allow;  // for 405: the methods allowed
};

class Endpoints {
 public:
  // `report` fills in the checks and samples of the parts it knows (called per request, on
  // the front's executor).
  explicit Endpoints(std::function<void(Report&)> report) : report_(std::move(report)) {}
  // The answer for an admin path, or nullopt when `path` is not one.
  std::optional<Response> handle(std::string_view method, std::string_view path) const;
  static bool is_admin_path(std::string_view path);

 private:
  std::function<void(Report&)> report_;
};

}  // namespace gt::proxy::admin
