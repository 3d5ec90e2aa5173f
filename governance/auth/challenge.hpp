// What an OAuth 2.1 resource server tells a client that has no valid token, as the MCP
// authorization specification (2025-11-25, 2026-07-28) requires of it:
//   - the protected resource metadata (RFC 9728): where to get a token, and for what scopes;
//   - the WWW-Authenticate challenge of a 401 or 403 (RFC 6750 §3), pointing at that
//     metadata, with error, error_description and the scope needed.
// Pure text; the HTTP front serves it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gt::auth {

struct ProtectedResource {
  std::string resource;                            // its URI, e.g. https://mcp.example.com/mcp
  std::vector<std::string> authorization_servers;  // issuer URIs
  std::vector<std::string> scopes;                 // scopes_supported
  std::string name;                                // resource_name (optional)
};

// The metadata document (JSON text); `authorization_servers` only when there are any.
std::string resource_metadata(const ProtectedResource& r);

// Where that document is served for `resource` (RFC 9728 §3.1): the well-known path inserted
// between the authority and the resource's path (https://h/mcp →
// https://h/.well-known/oauth-protected-resource/mcp). nullopt when `resource` is not an
// absolute http(s) URI without query or fragment.
std::optional<std::string> metadata_url(std::string_view resource);

struct Challenge {
  std::string metadata_url;         // resource_metadata="…"
  std::string error;                // "", "invalid_token", "insufficient_scope", "invalid_request"
  std::string description;          // error_description (made safe: RFC 6750's characters only)
  std::vector<std::string> scopes;  // scope="…" (space-separated)
};

// The value of the WWW-Authenticate header: `Bearer resource_metadata="…"[, error="…"]
// [, error_description="…"][, scope="…"]`. Characters RFC 6750 does not allow in a quoted
// value (`"`, `\`, controls, non-ASCII) become `?`; each value is at most 512 bytes.
std::string www_authenticate(const Challenge& c);

}  // namespace gt::auth
