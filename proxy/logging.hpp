// The proxy's own log goes to stderr (never stdout: in `run` mode stdout is the MCP stream).
#pragma once

#include <string>

namespace gt::proxy {

// Sets up the default spdlog logger on stderr with the given level ("info", "debug", ...).
// Throws std::invalid_argument for an unknown level.
void setup_logging(const std::string& level);

}  // namespace gt::proxy
