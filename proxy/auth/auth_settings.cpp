#include "proxy/auth/auth_settings.hpp"

#include <cstdlib>
#include <set>

#include "governance/auth/challenge.hpp"
#include "proxy/config_section.hpp"
#include "transport/url.hpp"

namespace gt::proxy {

namespace {

using section::fail;
using section::integer;

void known_keys(const YAML::Node& n, const std::string& where, const std::set<std::string>& keys) {
  if (!n.IsMap()) fail(where, "must be a mapping");
  for (const auto& kv : n) {
    auto k = kv.first.as<std::string>();
    if (!keys.count(k)) {
      std::string list;
      for (const auto& x : keys)
        list += (list.empty() ? "" : ", ") + x;
      fail(where, "unknown key `" + k + "` (known: " + list + ")");
    }
  }
}

std::string text(const YAML::Node& n, const std::string& where) {
  if (!n.IsScalar() || n.as<std::string>().empty()) fail(where, "must be a non-empty string");
  return n.as<std::string>();
}

std::vector<std::string> texts(const YAML::Node& n, const std::string& where) {
  if (!n.IsSequence()) fail(where, "must be a list of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n.size(); ++i)
    out.push_back(text(n[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

// An absolute http(s) URI; `what` names it in the message.
std::string http_uri(const YAML::Node& n, const std::string& where) {
  std::string v = text(n, where);
  std::string err;
  if (!transport::Url::parse(v, &err)) fail(where, "must be an absolute http(s) URL: " + err);
  return v;
}

IssuerSettings parse_issuer(const YAML::Node& n, const std::string& where, const Config& config,
                            const AuthSettings& auth) {
  known_keys(
      n, where,
      {"issuer", "jwks_uri", "jwks_file", "algorithms", "audience", "skew_s", "jwks_max_age_s",
       "jwks_min_interval_s", "jwks_max_stale_s", "ca_file", "claims", "introspection"});
  IssuerSettings s;
  if (!n["issuer"]) fail(where, "`issuer` is required (the exact `iss` of its tokens)");
  s.issuer = text(n["issuer"], where + ".issuer");
  bool uri = bool(n["jwks_uri"]), file = bool(n["jwks_file"]);
  if (uri && file) fail(where, "give one of `jwks_uri` and `jwks_file`, not both");
  if (!uri && !file && !n["introspection"])
    fail(where,
         "one of `jwks_uri`, `jwks_file` (JWT access tokens) or `introspection` (opaque "
         "tokens) is required");
  if (auto in = n["introspection"]) {
    const std::string w = where + ".introspection";
    known_keys(in, w, {"endpoint", "client_id", "client_secret_env", "cache_s"});
    if (!in["endpoint"] || !in["client_id"] || !in["client_secret_env"])
      fail(w, "`endpoint`, `client_id` and `client_secret_env` are required");
    s.introspection_endpoint = http_uri(in["endpoint"], w + ".endpoint");
    s.client_id = text(in["client_id"], w + ".client_id");
    std::string var = text(in["client_secret_env"], w + ".client_secret_env");
    const char* secret = std::getenv(var.c_str());
    if (!secret || !*secret)
      fail(w + ".client_secret_env", "the environment variable `" + var + "` is not set");
    s.client_secret = secret;
    if (auto c = in["cache_s"])
      s.introspection_cache = std::chrono::seconds(integer(c, w + ".cache_s", 0, 3600));
  }
  if (uri) s.jwks_uri = http_uri(n["jwks_uri"], where + ".jwks_uri");
  if (file) s.jwks_file = config.resolve(text(n["jwks_file"], where + ".jwks_file"));
  if (auto c = n["ca_file"]) s.ca_file = config.resolve(text(c, where + ".ca_file")).string();
  s.rules.issuer = s.issuer;
  s.rules.audience = n["audience"] ? text(n["audience"], where + ".audience") : auth.resource;
  if (auto a = n["algorithms"]) {
    static const std::set<std::string> supported = {"RS256", "PS256", "ES256", "EdDSA"};
    s.rules.algorithms = texts(a, where + ".algorithms");
    if (s.rules.algorithms.empty()) fail(where + ".algorithms", "must name at least one");
    for (const auto& alg : s.rules.algorithms) {
      if (!supported.count(alg))
        fail(where + ".algorithms",
             "`" + alg + "` is not supported (RS256, PS256, ES256, EdDSA; never none or HS*)");
    }
  }
  if (auto k = n["skew_s"])
    s.rules.skew = std::chrono::seconds(integer(k, where + ".skew_s", 0, 600));
  s.rules.required_scopes = auth.scopes;
  if (auto k = n["jwks_max_age_s"])
    s.jwks.max_age = std::chrono::seconds(integer(k, where + ".jwks_max_age_s", 1, 7 * 86400));
  if (auto k = n["jwks_min_interval_s"])
    s.jwks.min_interval =
        std::chrono::seconds(integer(k, where + ".jwks_min_interval_s", 0, 86400));
  if (auto k = n["jwks_max_stale_s"])
    s.jwks.max_stale = std::chrono::seconds(integer(k, where + ".jwks_max_stale_s", 1, 30 * 86400));
  if (s.jwks.max_stale < s.jwks.max_age)
    fail(where, "`jwks_max_stale_s` must be at least `jwks_max_age_s`");
  std::string why;
  auto claims = auth::ClaimsMap::from_yaml(n["claims"], why);
  if (!claims) fail(where + ".claims", why);
  s.claims = std::move(*claims);
  return s;
}

}  // namespace

std::optional<AuthSettings> parse_auth_settings(const YAML::Node& node, const Config& config) {
  const std::string where = "http.auth";
  if (!node || node.IsNull()) return std::nullopt;
  known_keys(node, where,
             {"resource", "resource_name", "scopes", "token_cache", "issuers", "api_keys"});
  AuthSettings s;
  if (!node["resource"])
    fail(where,
         "`resource` is required: this endpoint's URI, e.g. http://127.0.0.1:8080/mcp "
         "(tokens must name it as their audience)");
  s.resource = http_uri(node["resource"], where + ".resource");
  auto url = auth::metadata_url(s.resource);
  if (!url) fail(where + ".resource", "must be an absolute http(s) URI without query or fragment");
  s.metadata_url = *url;
  auto parsed = transport::Url::parse(s.metadata_url);
  s.metadata_path = parsed ? parsed->target : "/.well-known/oauth-protected-resource";
  if (auto n = node["resource_name"]) s.resource_name = text(n, where + ".resource_name");
  if (auto n = node["scopes"]) {
    s.scopes = texts(n, where + ".scopes");
    for (const auto& sc : s.scopes) {
      for (unsigned char c : sc) {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if (c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e)
          fail(where + ".scopes", "`" + sc + "` is not a valid scope token (RFC 6749 §3.3)");
      }
    }
  }
  if (auto n = node["token_cache"])
    s.token_cache = static_cast<std::size_t>(integer(n, where + ".token_cache", 0, 1000000));
  if (auto n = node["issuers"]) {
    if (!n.IsSequence()) fail(where + ".issuers", "must be a list");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < n.size(); ++i) {
      auto is = parse_issuer(n[i], where + ".issuers[" + std::to_string(i) + "]", config, s);
      if (!seen.insert(is.issuer).second)
        fail(where + ".issuers", "issuer `" + is.issuer + "` is listed twice");
      s.issuers.push_back(std::move(is));
    }
  }
  if (auto n = node["api_keys"]) s.api_keys = config.resolve(text(n, where + ".api_keys"));
  if (s.issuers.empty() && s.api_keys.empty())
    fail(where, "name at least one way in: `issuers` (OAuth) or `api_keys`");
  return s;
}

}  // namespace gt::proxy
