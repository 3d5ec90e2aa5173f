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
  // The verified token's claims (an authenticated HTTP client with a JWT); {} otherwise.
  nlohmann::json claims = nlohmann::json::object();
  // How the client proved who it is; empty `method` for the config identity (stdio, or an
  // HTTP front without `http.auth`). Receipts carry it, never the credential itself.
  struct Credential {
    std::string method;  // "jwt" or "api_key"
    std::string issuer;  // jwt: the token's `iss`
    std::string id;      // jwt: its `jti` (may be empty); api_key: the key's id
  } credential;
};

// The tool as the proxy knows it from the server's tools/list.
struct ToolRef {
  std::string server;                                     // upstream name from the config
  std::string name;                                       // tool name
  nlohmann::json annotations = nlohmann::json::object();  // the tool's annotations, if any
};

}  // namespace gt::gov
