// `glasstape run`: the client speaks MCP on our stdin/stdout; behind us one server, or every
// configured server behind one Aggregator (`run --config F` with several servers).
#pragma once

#include <string>

#include "proxy/config.hpp"

namespace gt::proxy {

struct StdioFrontOptions {
  std::string tenant;  // empty: the config's default tenant
  std::string server;  // upstream name; empty: every server in the config
  bool debug = false;
};

// Runs until the client closes stdin (or SIGTERM/SIGINT) and the server is gone.
// Returns the process exit code. Throws ConfigError for configuration problems.
int run_stdio_front(const Config& config, const StdioFrontOptions& opts);

}  // namespace gt::proxy
