// `glasstape serve`: the MCP Streamable HTTP front (MCP 2025-11-25 transport). Each client
// session gets its own Session and, for stdio servers, its own child process (`isolated`).
#pragma once

#include <stdexcept>
#include <string>

#include "proxy/config.hpp"

namespace gt::proxy {

struct HttpFrontOptions {
  std::string tenant;  // empty: the config's default tenant
  bool debug = false;
  std::string listen;  // overrides http.listen ("host:port")
};

// The address cannot be bound (in use, not permitted, not an address of this host). Thrown
// before anything else is built, so nothing is written to the audit log.
struct ListenError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Serves until SIGTERM/SIGINT. Returns the exit code; throws ConfigError for bad settings and
// ListenError when the address cannot be bound.
int run_http_front(const Config& config, const HttpFrontOptions& opts);

}  // namespace gt::proxy
