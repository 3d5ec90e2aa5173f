// The identity a call is judged as. It comes from the operator's config (and, for HTTP
// fronts, from an authenticated client) and never from anything the client or model sends.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::gov {

struct Principal {
  std::string id;                  // the agent id, e.g. "claude-desktop"
  std::string tenant = "default";  // tenant id: selects keys, policies and audit log
  std::vector<std::string> roles;  // e.g. ["analyst"]
  nlohmann::json attributes = nlohmann::json::object();  // free-form, e.g. {"user_role":"analyst"}
};

// The tool as the proxy knows it from the server's tools/list.
struct ToolRef {
  std::string server;                                     // upstream name from the config
  std::string name;                                       // tool name
  nlohmann::json annotations = nlohmann::json::object();  // the tool's annotations, if any
};

}  // namespace gt::gov
