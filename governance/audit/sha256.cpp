#include "governance/audit/sha256.hpp"

// See hash() below for why the low-level interface.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstring>
#include <stdexcept>

#include "governance/audit/encoding.hpp"

namespace gt::gov::audit {

namespace {

// OpenSSL's low-level SHA256_* functions: the same SHA-NI/AVX2 assembly as the EVP
// interface, but with no provider lookup and no context allocation. EVP also initialises
// OpenSSL's provider machinery, which costs the process about 1.8 MB of resident memory
// (the stdio proxy is held to 15 MB in all). OpenSSL 3 marks these functions deprecated, not
// removed; keys.cpp uses SHA512_* for the same reasons.
Digest hash(std::string_view a, std::string_view b = {}, std::string_view c = {}) {
  SHA256_CTX ctx;
  Digest d;
  if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, a.data(), a.size()) != 1 ||
      (!b.empty() && SHA256_Update(&ctx, b.data(), b.size()) != 1) ||
      (!c.empty() && SHA256_Update(&ctx, c.data(), c.size()) != 1) ||
      SHA256_Final(d.data(), &ctx) != 1) {
    throw std::runtime_error("sha-256 failed");
  }
  return d;
}

std::string_view view(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

}  // namespace

Digest sha256(std::string_view data) {
  return hash(data);
}

Digest sha256_prefixed(std::uint8_t prefix, std::string_view data) {
  return hash(view(&prefix, 1), data);
}

Digest sha256_prefixed(std::uint8_t prefix, const Digest& a, const Digest& b) {
  return hash(view(&prefix, 1), view(a.data(), a.size()), view(b.data(), b.size()));
}

std::string to_hex(const Digest& d) {
  return hex_encode(d.data(), d.size());
}
std::string to_base64(const Digest& d) {
  return base64_encode(d.data(), d.size());
}
std::string sha256_hex(std::string_view data) {
  return to_hex(sha256(data));
}

bool digest_from_hex(std::string_view hex, Digest& out) {
  auto b = hex_decode(hex);
  if (!b || b->size() != 32) return false;
  std::memcpy(out.data(), b->data(), 32);
  return true;
}

bool digest_from_base64(std::string_view b64, Digest& out) {
  auto b = base64_decode(b64);
  if (!b || b->size() != 32) return false;
  std::memcpy(out.data(), b->data(), 32);
  return true;
}

}  // namespace gt::gov::audit
