// Byte encodings used by receipts, keys and checkpoints: standard base64 (RFC 4648 §4, with
// padding) and lowercase hex. Public data goes through OpenSSL's fast table coder (after a
// strict alphabet check); private keys through libsodium's constant-time one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gt::gov::audit {

// Calls sodium_init() once; every function in gt_audit that uses libsodium calls it first.
void ensure_sodium();

std::string base64_encode(std::string_view bytes);
std::string base64_encode(const std::uint8_t* data, std::size_t size);
// Strict: standard alphabet, padding required, no whitespace. nullopt on any defect.
std::optional<std::string> base64_decode(std::string_view text);

// Constant-time variants (libsodium) for private key material.
std::string base64_encode_secret(const std::uint8_t* data, std::size_t size);
std::optional<std::string> base64_decode_secret(std::string_view text);

std::string hex_encode(std::string_view bytes);
std::string hex_encode(const std::uint8_t* data, std::size_t size);
std::optional<std::string> hex_decode(std::string_view text);

}  // namespace gt::gov::audit
