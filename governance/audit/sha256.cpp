#include "governance/audit/sha256.hpp"

#include <openssl/evp.h>

#include <cstring>
#include <memory>
#include <stdexcept>

#include "governance/audit/encoding.hpp"

namespace gt::gov::audit {

namespace {

// The algorithm fetched once and one reusable context per thread: OpenSSL 3's one-shot
// SHA256() and EVP_sha256() look the implementation up in the provider store (a lock and a
// hash table) on every call, which costs a quarter of hashing a 1.4 KB record.
struct Ctx {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Ctx() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

// SHA-256 of the concatenation of up to three pieces.
Digest hash(std::string_view a, std::string_view b = {}, std::string_view c = {}) {
  thread_local Ctx t;
  if (!t.ctx || !t.md) throw std::bad_alloc();
  Digest d;
  unsigned int n = 0;
  if (EVP_DigestInit_ex2(t.ctx, t.md, nullptr) != 1 ||
      EVP_DigestUpdate(t.ctx, a.data(), a.size()) != 1 ||
      (!b.empty() && EVP_DigestUpdate(t.ctx, b.data(), b.size()) != 1) ||
      (!c.empty() && EVP_DigestUpdate(t.ctx, c.data(), c.size()) != 1) ||
      EVP_DigestFinal_ex(t.ctx, d.data(), &n) != 1) {
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
