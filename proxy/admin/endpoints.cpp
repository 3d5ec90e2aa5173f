#include "proxy/admin/endpoints.hpp"

namespace gt::proxy::admin {

namespace {
constexpr const char* kVersion = "0.1.0";
}

bool Endpoints::is_admin_path(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

std::optional<Response> Endpoints::handle(std::string_view method, std::string_view path) const {
  if (!is_admin_path(path)) return std::nullopt;
  std::string endpoint(path.substr(1));
  metrics().http_requests.inc({endpoint});
  if (method != "GET" && method != "HEAD")
    return Response{405, "method not allowed\n", "text/plain", "GET, HEAD"};
  if (path == "/healthz") return Response{200, "ok\n", "text/plain; charset=utf-8", ""};
  Report report;
  if (report_) report_(report);
  if (path == "/readyz") {
    bool ready = false;
    std::string text = readiness_text(report.checks, ready);
    return Response{ready ? 200u : 503u, std::move(text), "text/plain; charset=utf-8", ""};
  }
  report.samples.push_back({"glasstape_build_info", {kVersion}, 1});
  return Response{200, metrics().render(report.samples), "text/plain; version=0.0.4; charset=utf-8",
                  ""};
}

}  // namespace gt::proxy::admin
