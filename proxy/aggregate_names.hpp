// One endpoint for many servers (issue 18): the names a client sees when the tools (prompts,
// resource templates) of several servers are merged. Each server has a prefix (default: its
// config name) and a mode:
//   always        every name is `<prefix><separator><name>`
//   on-collision  a name is prefixed only when another server exposes the same name
//   never         names are passed through
// with one separator for the endpoint (default `__`: MCP names may hold `_`, `-`, `.`, so a
// doubled underscore is the least likely to be read as part of a name). A name that two servers
// would still both expose is an error naming both servers and the name: never a silent
// shadowing. An exposed name longer than 128 bytes is an error too (MCP's limit).
// Pure: routing uses the resulting map (exposed name → server, original name).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gt::proxy {

enum class PrefixMode { Always, OnCollision, Never };
std::optional<PrefixMode> parse_prefix_mode(std::string_view s);  // always | on-collision | never

struct ServerNames {
  std::string server;  // config name
  std::string prefix;  // empty: the server's name
  PrefixMode mode = PrefixMode::OnCollision;
  std::vector<std::string> names;  // as the server lists them
};

struct Route {
  std::string server, name;  // where a call to the exposed name goes, and as what
};

struct MergedNames {
  std::map<std::string, Route> routes;  // exposed name → route
  std::vector<std::string> errors;      // one readable line each; empty when the merge is sound
  bool ok() const { return errors.empty(); }
};

inline constexpr std::size_t kMaxExposedName = 128;

MergedNames merge_names(const std::vector<ServerNames>& servers, std::string_view separator = "__");

}  // namespace gt::proxy
