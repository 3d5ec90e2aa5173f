#include "governance/audit/sha256.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>
#include <memory>
#include <stdexcept>

#include "governance/audit/encoding.hpp"

namespace gt::gov::audit {

namespace {

// One reusable digest context per thread: EVP_MD_CTX allocation would cost more than the
// hash of a short record.
struct Ctx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(ctx); }
};

EVP_MD_CTX* thread_ctx() {
  thread_local Ctx c;
  if (!c.ctx) throw std::bad_alloc();
  return c.ctx;
}

}  // namespace

Digest sha256(std::string_view data) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  return d;
}

Digest sha256_prefixed(std::uint8_t prefix, std::string_view data) {
  Digest d;
  EVP_MD_CTX* c = thread_ctx();
  unsigned int n = 0;
  if (EVP_DigestInit_ex(c, EVP_sha256(), nullptr) != 1 || EVP_DigestUpdate(c, &prefix, 1) != 1 ||
      EVP_DigestUpdate(c, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(c, d.data(), &n) != 1) {
    throw std::runtime_error("sha-256 failed");
  }
  return d;
}

Digest sha256_prefixed(std::uint8_t prefix, const Digest& a, const Digest& b) {
  unsigned char buf[65];
  buf[0] = prefix;
  std::memcpy(buf + 1, a.data(), 32);
  std::memcpy(buf + 33, b.data(), 32);
  Digest d;
  SHA256(buf, sizeof buf, d.data());
  return d;
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
