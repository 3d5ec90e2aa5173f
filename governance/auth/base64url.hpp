// base64url without padding (RFC 4648 §5, as JOSE uses it: RFC 7515 §2). Decoding is strict,
// so one token has one spelling: only the 64 URL-safe characters, no `=`, no whitespace, and
// the unused low bits of the last character must be zero.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gt::auth {

std::string base64url_encode(std::string_view bytes);
// nullopt on any character outside the alphabet, padding, a length of 4k+1, or non-zero
// trailing bits.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace gt::auth
