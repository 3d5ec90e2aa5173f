// The proxy's own log goes to stderr (never stdout: in `run` mode stdout is the MCP stream).
//
// Two formats, with the same fields:
//   text  2026-12-07T10:00:00.123 info glasstape: <message>
//   json  {"time":"2026-12-07T10:00:00.123Z","level":"info","logger":"glasstape","msg":"<message>"}
// JSON lines are one object per line; the message is escaped (control characters as \uXXXX,
// bytes that are not UTF-8 as U+FFFD), so a log shipper never sees a broken line.
#pragma once

#include <string>
#include <string_view>

namespace gt::proxy {

// Sets up the default spdlog logger on stderr with the given level ("info", "debug", ...)
// and format ("text" or "json"). Throws std::invalid_argument for an unknown level or format.
void setup_logging(const std::string& level, const std::string& format = "text");

// A fatal error, as the last line before the process exits: "glasstape: <message>", or a JSON
// line (level "critical") once setup_logging chose json.
void print_fatal(std::string_view message);

// The JSON line for one message (without the newline), for the formatter and its tests.
std::string json_log_line(std::string_view time, std::string_view level, std::string_view logger,
                          std::string_view msg);

}  // namespace gt::proxy
