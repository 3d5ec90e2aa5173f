// Fuzzes the reading of an RFC 7662 introspection answer (governance/auth/introspection.hpp):
// the authorization server's reply is untrusted input too (a compromised or confused server,
// or anything on the path to it). Nothing may crash, and: a refusal says why in
// error_description characters and a bounded length; an admitted answer said `"active": true`
// and passed every rule below (issuer, audience, unexpired, scope); the request body built for
// any token is pure form-urlencoding (no raw `&`, `=`, `+` or control character of the token).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "governance/auth/introspection.hpp"
#include "governance/auth/quote.hpp"

namespace {

using namespace gt::auth;

constexpr std::size_t kMaxWhy = 320;
const auto kNow = std::chrono::system_clock::time_point{} + std::chrono::seconds(1796083200);

const TokenRules& rules() {
  static const TokenRules r = [] {
    TokenRules t;
    t.issuer = "https://issuer.example";
    t.audience = "https://mcp.example/mcp";
    t.required_scopes = {"mcp:tools"};
    return t;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  TokenResult r = read_introspection(input, rules(), kNow);
  if (r.ok) {
    auto j = nlohmann::json::parse(input);  // it parsed once: it parses again
    if (!(j.at("active") == true)) __builtin_trap();
    if (r.claims.at("iss") != rules().issuer) __builtin_trap();
    const auto& aud = r.claims.at("aud");
    bool aud_ok =
        aud == rules().audience ||
        (aud.is_array() && std::find(aud.begin(), aud.end(), rules().audience) != aud.end());
    if (!aud_ok) __builtin_trap();
    if (!(r.claims.at("exp").get<double>() + 60 >= 1796083200)) __builtin_trap();
    if (!r.missing_scopes.empty() || !r.why.empty()) __builtin_trap();
  } else {
    if (r.why.empty() || r.why.size() > kMaxWhy) __builtin_trap();
    for (char c : r.why)
      if (!rfc6750_char(c)) __builtin_trap();
  }
  std::string body = introspection_request_body(input.substr(0, 4096));
  std::string_view token_part(body);
  token_part.remove_prefix(6);  // "token="
  token_part.remove_suffix(std::string_view("&token_type_hint=access_token").size());
  for (char c : token_part) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
    if (!unreserved) __builtin_trap();
  }
  return 0;
}
