// SHA-256 through OpenSSL (SHA-NI/AVX2 code paths: about 3x libsodium's portable C on the
// ~1 KB records we hash twice per append).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gt::gov::audit {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(std::string_view data);
// SHA-256(prefix byte || data), the RFC 6962 leaf/node hash form, without copying `data`.
Digest sha256_prefixed(std::uint8_t prefix, std::string_view data);
Digest sha256_prefixed(std::uint8_t prefix, const Digest& a, const Digest& b);
std::string sha256_hex(std::string_view data);
std::string to_hex(const Digest& d);
std::string to_base64(const Digest& d);
bool digest_from_hex(std::string_view hex, Digest& out);
bool digest_from_base64(std::string_view b64, Digest& out);

}  // namespace gt::gov::audit
