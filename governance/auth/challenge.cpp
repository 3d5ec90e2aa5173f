#include "governance/auth/challenge.hpp"

#include <nlohmann/json.hpp>

#include "governance/auth/quote.hpp"

namespace gt::auth {

namespace {

// A value inside RFC 6750's grammar (quote.hpp), at most kMax bytes.
std::string safe(std::string_view s) {
  constexpr std::size_t kMax = 512;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const char c = s[i];
    out += rfc6750_char(c) ? c : '?';
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

std::string resource_metadata(const ProtectedResource& r) {
  nlohmann::json j = {{"resource", r.resource}, {"bearer_methods_supported", {"header"}}};
  // RFC 9728 §2: optional; a server taking only API keys has none to name.
  if (!r.authorization_servers.empty()) j["authorization_servers"] = r.authorization_servers;
  if (!r.scopes.empty()) j["scopes_supported"] = r.scopes;
  if (!r.name.empty()) j["resource_name"] = r.name;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> metadata_url(std::string_view resource) {
  std::string_view scheme;
  if (resource.substr(0, 8) == "https://") {
    scheme = "https://";
  } else if (resource.substr(0, 7) == "http://") {
    scheme = "http://";
  } else {
    return std::nullopt;
  }
  if (resource.find_first_of("?#") != std::string_view::npos) return std::nullopt;
  auto rest = resource.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (authority.empty()) return std::nullopt;
  std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  if (path == "/") path.clear();
  return std::string(scheme) + std::string(authority) + "/.well-known/oauth-protected-resource" +
         path;
}

std::string www_authenticate(const Challenge& c) {
  std::string out = "Bearer resource_metadata=\"" + safe(c.metadata_url) + "\"";
  if (!c.error.empty()) out += ", error=\"" + safe(c.error) + "\"";
  if (!c.description.empty()) out += ", error_description=\"" + safe(c.description) + "\"";
  if (!c.scopes.empty()) out += ", scope=\"" + safe(joined(c.scopes)) + "\"";
  return out;
}

}  // namespace gt::auth
