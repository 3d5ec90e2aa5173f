#include "governance/auth/introspection.hpp"

#include <nlohmann/json.hpp>

namespace gt::auth {

namespace {

// application/x-www-form-urlencoded: everything but the unreserved characters is escaped.
void form_encode_into(std::string_view v, std::string& out) {
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

TokenResult refuse(TokenError e, std::string why) {
  TokenResult r;
  r.ok = false;
  r.error = e;
  r.why = std::move(why);
  return r;
}

}  // namespace

std::string introspection_request_body(std::string_view token) {
  std::string out = "token=";
  form_encode_into(token, out);
  out += "&token_type_hint=access_token";
  return out;
}

TokenResult read_introspection(std::string_view response, const TokenRules& rules,
                               std::chrono::system_clock::time_point now) {
  if (response.size() > kMaxIntrospectionResponseBytes)
    return refuse(TokenError::Malformed, "the introspection answer is too large");
  auto j = nlohmann::json::parse(response, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return refuse(TokenError::Malformed, "the introspection answer is not a JSON object");
  auto active = j.find("active");
  if (active == j.end() || !active->is_boolean() || !active->get<bool>())
    return refuse(TokenError::Inactive, "the token is not active (introspection)");
  j.erase("active");
  TokenResult r = check_claims(std::move(j), rules, now);
  if (!r.ok) r.why += " (introspection)";
  return r;
}

}  // namespace gt::auth
