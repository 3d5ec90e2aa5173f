// Fuzzes access-token verification (governance/auth/jwt.hpp) and JWKS parsing (jwk.hpp).
// The input is a token, a newline, and a JWKS document; with no JSON after the newline the
// token meets a fixed empty set. The seeds in corpus/auth_jwt_fuzz/ hold real tokens with
// the keys that signed them, so mutations reach the signature and claim checks. Nothing may
// crash, and: a refusal always says why, in error_description characters and in a bounded
// length (so never the token); a KeySet stays in its bounds; an accepted token passed every
// rule below.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "governance/auth/jwk.hpp"
#include "governance/auth/jwt.hpp"

namespace {

using namespace gt::auth;

constexpr std::size_t kMaxWhy = 320;

bool description_safe(const std::string& why) {
  for (char c : why) {
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') return false;
  }
  return true;
}

const TokenRules& rules() {
  static const TokenRules r = [] {
    TokenRules t;
    t.issuer = "https://issuer.example";
    t.audience = "https://mcp.example/mcp";
    t.required_scopes = {"tools:call"};
    return t;
  }();
  return r;
}

const KeySet& empty_set() {
  static const KeySet s = [] {
    std::string why;
    return std::move(*KeySet::parse(R"({"keys":[]})", why));
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > KeySet::kMaxBytes + kMaxTokenBytes + 1024) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = input.find('\n');
  const std::string_view token = input.substr(0, nl);
  const std::string_view jwks = nl == std::string_view::npos ? "" : input.substr(nl + 1);

  std::string why;
  std::optional<KeySet> parsed = KeySet::parse(jwks, why);
  if (!parsed && why.empty()) __builtin_trap();  // a refused set says why
  if (parsed) {
    if (parsed->size() > KeySet::kMaxKeys) __builtin_trap();
    for (const auto& k : parsed->keys()) {
      if (!k.key) __builtin_trap();
      if (!k.kid.empty() && parsed->find(k.kid) != &k) __builtin_trap();  // kids are unique
      if (k.kty == "RSA" && k.bits < 2048) __builtin_trap();
    }
  }
  const KeySet& keys = parsed ? *parsed : empty_set();

  // 2026-01-01T00:00:00Z; the seeds are valid from an hour before to an hour after.
  const auto now = std::chrono::system_clock::from_time_t(1767225600);
  const TokenResult r = verify_token(token, keys, rules(), now);
  const std::optional<std::string> kid = peek_kid(token);
  if (r.ok) {
    if (!r.why.empty() || !r.claims.is_object() || !r.missing_scopes.empty()) __builtin_trap();
    if (r.claims.value("iss", "") != rules().issuer) __builtin_trap();
    if (!r.claims.contains("exp")) __builtin_trap();
    if (kid && *kid != r.kid) __builtin_trap();  // the header's kid chose the key
    if (token.size() > kMaxTokenBytes) __builtin_trap();
  } else {
    if (r.why.empty() || !description_safe(r.why)) __builtin_trap();
    // A reason is its fixed text plus at most three quoted values of at most 64 bytes, so it
    // cannot carry a token of any size. (A short token may well appear in it: the fuzzer
    // found `ent; a compact JWS`, a token made of the reason's own words.)
    if (r.why.size() > kMaxWhy) __builtin_trap();
    if ((r.error == TokenError::InsufficientScope) != !r.missing_scopes.empty()) __builtin_trap();
    // Claims are read only once the signature holds.
    const bool before_signature = r.error == TokenError::Algorithm ||
                                  r.error == TokenError::UnknownKey ||
                                  r.error == TokenError::Signature;
    if (before_signature && !r.claims.is_null()) __builtin_trap();
    if (!r.claims.is_null() && !r.claims.is_object()) __builtin_trap();
  }
  return 0;
}
