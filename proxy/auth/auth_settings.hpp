// The `http.auth` section of the config: how the HTTP front authenticates its clients (README
// "Authenticated agents"). Parsed once at start; every problem is a ConfigError naming the key.
//
//   http:
//     auth:
//       resource: https://mcp.example.com/mcp   # required: this endpoint's URI (RFC 8707)
//       resource_name: GlassTape                # optional, in the metadata
//       scopes: [mcp:tools]                     # every token must grant these
//       token_cache: 10000                      # verified tokens kept until they expire
//       issuers:                                # OAuth 2.1 authorization servers
//         - issuer: https://login.example.com   # exact `iss`
//           jwks_uri: https://login.example.com/jwks   # or jwks_file (exactly one)
//           algorithms: [RS256, PS256, ES256, EdDSA]
//           audience: <resource>                # default: `resource`
//           skew_s: 60
//           jwks_max_age_s: 600
//           jwks_min_interval_s: 30
//           jwks_max_stale_s: 86400
//           ca_file: /etc/ssl/my-ca.pem         # extra CA for an https jwks_uri
//           claims: {...}                       # governance/auth/claims_map.hpp
//           introspection:                      # RFC 7662, for opaque tokens (optional)
//             endpoint: https://login.example.com/introspect
//             client_id: glasstape
//             client_secret_env: GT_INTROSPECTION_SECRET   # the secret's environment variable
//             cache_s: 60                       # an answer is trusted this long (or until exp)
//       api_keys: api-keys.yaml                 # governance/auth/api_keys.hpp
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "governance/auth/claims_map.hpp"
#include "governance/auth/jwks_cache.hpp"
#include "governance/auth/jwt.hpp"
#include "proxy/config.hpp"

namespace gt::proxy {

struct IssuerSettings {
  std::string issuer;
  std::string jwks_uri;             // fetched over HTTP(S); or
  std::filesystem::path jwks_file;  // read from disk (re-read when it changes)
  std::string ca_file;              // extra trusted CA for an https jwks_uri
  auth::TokenRules rules;           // issuer, audience, algorithms, skew, required scopes
  auth::JwksPolicy jwks;
  auth::ClaimsMap claims;
  // RFC 7662 introspection (empty endpoint: none). An issuer has keys, introspection or both.
  std::string introspection_endpoint;
  std::string client_id, client_secret;
  std::chrono::seconds introspection_cache{60};
};

struct AuthSettings {
  std::string resource;  // the resource URI: the default audience
  std::string resource_name;
  std::vector<std::string> scopes;  // required of every token; scopes_supported
  std::size_t token_cache = 10000;
  std::vector<IssuerSettings> issuers;
  std::filesystem::path api_keys;  // empty: no API keys
  std::string metadata_url;        // RFC 9728 §3.1 URL of the metadata document
  std::string metadata_path;       // its path, as the front serves it
};

// nullopt when `node` is undefined or null (no authentication). Throws ConfigError.
std::optional<AuthSettings> parse_auth_settings(const YAML::Node& node, const Config& config);

}  // namespace gt::proxy
