// OAuth access tokens as JWTs (RFC 9068), verified against the issuer's key set (jwk.hpp).
// Pure: no network, no clock of its own; the caller passes the keys and the time.
//
// Only compact JWS (RFC 7515 §7.1) is accepted, with one of RS256, PS256, ES256 or EdDSA.
// The checks run in this order, and the first failure decides:
//   1. structure  at most 16 KiB; three strict base64url segments; the header a JSON object
//                 with a string `alg`, no `crit` (no extension is implemented), `typ` absent
//                 or JWT / at+jwt (any case, optional `application/`), `kid` a string if set
//   2. algorithm  not `none`, not HMAC (a public key used as an HMAC secret is the classic
//                 confusion attack), one this file implements, and one the rules allow
//   3. key        the header's kid in the set; with no kid, the one key that fits the alg.
//                 The key must be for signatures, of the alg's type, and have the same
//                 `alg` if it names one
//   4. signature  over the first two segments as sent; ES256 and EdDSA signatures are the
//                 raw 64 bytes, PS256 is RSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
//                 Only then is the payload parsed; it must be a JSON object (else Malformed)
//   5. issuer, 6. audience, 7. time, 8. scopes: the claims, read only once the signature holds,
//                 so an unsigned token learns nothing about what would have been accepted.
//                 A missing or non-numeric `exp` (or a non-numeric `nbf`/`iat`) is Malformed.
// A reason (`why`) never contains the token, and quotes untrusted values through quote.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/auth/jwk.hpp"

namespace gt::auth {

inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;

struct TokenRules {
  std::string issuer;    // required exact match of `iss`; empty refuses every token
  std::string audience;  // `aud` equals it or is an array containing it (RFC 8707 resource)
  std::vector<std::string> algorithms = {"RS256", "PS256", "ES256", "EdDSA"};  // allowed
  std::chrono::seconds skew{60};             // leeway for exp, nbf and an iat in the future
  std::vector<std::string> required_scopes;  // every one must be granted
};

enum class TokenError {
  Malformed,          // structure, or a time claim of the wrong type
  Algorithm,          // none, HMAC, not allowed, or not the key's
  UnknownKey,         // no key for the kid (the caller may refresh its JWKS once)
  Signature,          // the signature does not verify
  Issuer,             // `iss`
  Audience,           // `aud`
  Expired,            // `exp` + skew is past
  NotYetValid,        // `nbf` - skew or `iat` - skew is still ahead
  InsufficientScope,  // a required scope is missing
  Inactive,           // introspection (RFC 7662) says the token is not active
};

// A stable lowercase id ("malformed", "unknown_key", ...) for logs and metrics.
std::string_view to_string(TokenError e);
// The RFC 6750 error code for WWW-Authenticate: "insufficient_scope" or "invalid_token".
std::string_view oauth_error_code(TokenError e);

struct TokenResult {
  bool ok = false;
  TokenError error{};
  std::string why;  // empty when ok; never contains the token
  // Set as each becomes trustworthy: alg once allowed, kid once a key is chosen (the key's
  // kid), and the rest once the signature verified.
  std::string alg, kid;
  nlohmann::json claims;  // the payload object
  std::string jti;
  std::vector<std::string> scopes;  // `scope` (space-separated), or else `scp` (array/string)
  std::vector<std::string> missing_scopes;
};

// The header's kid, verifying nothing, so a caller can refresh its JWKS on an unknown kid.
// nullopt when the token is not well-formed enough to have one, or has none.
std::optional<std::string> peek_kid(std::string_view token);

TokenResult verify_token(std::string_view token, const KeySet& keys, const TokenRules& rules,
                         std::chrono::system_clock::time_point now);

// Steps 5 to 8 (issuer, audience, time, scopes) over claims already known to come from the
// issuer: a verified JWT's payload, or an RFC 7662 introspection response (introspection.hpp).
// `claims` must be an object (else Malformed); sets claims, jti and scopes.
TokenResult check_claims(nlohmann::json claims, const TokenRules& rules,
                         std::chrono::system_clock::time_point now);

}  // namespace gt::auth
