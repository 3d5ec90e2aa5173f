// Untrusted text (a kid, an alg, an issuer) inside a readable reason. A reason goes to the
// operator log and into a WWW-Authenticate error_description, whose grammar (RFC 6750 §3)
// allows printable ASCII except `"` and `\`; so anything else becomes `?`, and the value is
// cut at 64 bytes, so a reason stays one short line whatever the sender put in the token.
#pragma once

#include <string>
#include <string_view>

namespace gt::auth {

// A character RFC 6750 §3 allows in a quoted WWW-Authenticate value (error_description,
// scope): %x20-21 / %x23-5B / %x5D-7E, so printable ASCII but `"` and `\`.
inline bool rfc6750_char(char c) {
  return c >= 0x20 && c <= 0x7E && c != '"' && c != '\\';
}

inline std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out = "`";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const char c = s[i];
    out += (rfc6750_char(c) && c != '`') ? c : '?';
  }
  if (s.size() > kMax) out += "...";
  out += '`';
  return out;
}

}  // namespace gt::auth
