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

// What a request acts on, as the proxy knows it: a tool (tools/call, known from the server's
// tools/list), a resource (resources/read) or a prompt (prompts/get). Policies govern each kind
// by its own list (`tools:`, `resources:`, `prompts:`).
struct ToolRef {
  enum class Kind { Tool, Resource, Prompt };
  std::string server;  // upstream name from the config
  std::string name;    // the tool's name, the resource's URI, or the prompt's name
  nlohmann::json annotations = nlohmann::json::object();  // the tool's annotations, if any
  Kind kind = Kind::Tool;  // last: `ToolRef{server, name, annotations}` names a tool
};

// "tool", "resource", "prompt".
inline const char* kind_name(ToolRef::Kind k) {
  switch (k) {
    case ToolRef::Kind::Resource:
      return "resource";
    case ToolRef::Kind::Prompt:
      return "prompt";
    case ToolRef::Kind::Tool:
      break;
  }
  return "tool";
}

}  // namespace gt::gov
