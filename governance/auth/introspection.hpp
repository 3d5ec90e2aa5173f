// OAuth 2.0 token introspection (RFC 7662) for opaque access tokens, the pure part: the
// request's body, and what the authorization server's answer means. The HTTP exchange lives
// in proxy/auth/introspector.hpp.
//
// An answer admits the token only when it is a JSON object (at most kMaxResponseBytes) with
// `"active": true` and then passes the same claim checks as a JWT (jwt.hpp check_claims):
// `iss` equal to the issuer, `aud` naming the resource (RFC 8707: a token for another
// resource is never accepted here), a numeric `exp` in the future, `nbf`/`iat` with the skew,
// and every required scope in `scope`. RFC 7662 makes all but `active` optional; GlassTape
// requires them, so an answer that cannot show the token is for this resource, and until
// when, is refused (fail closed).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "governance/auth/jwt.hpp"

namespace gt::auth {

inline constexpr std::size_t kMaxIntrospectionResponseBytes = 64 * 1024;

// `token=<token>&token_type_hint=access_token`, form-urlencoded (RFC 7662 §2.1).
std::string introspection_request_body(std::string_view token);

// The answer's meaning; `why` never contains the token.
TokenResult read_introspection(std::string_view response, const TokenRules& rules,
                               std::chrono::system_clock::time_point now);

}  // namespace gt::auth
