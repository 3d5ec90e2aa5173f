#include "governance/auth/jwk.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "governance/auth/base64url.hpp"
#include "governance/auth/quote.hpp"

namespace gt::auth {

void PkeyDeleter::operator()(EVP_PKEY* p) const noexcept {
  EVP_PKEY_free(p);
}

namespace {

constexpr int kMinRsaBits = 2048;
// No issuer uses more; a larger modulus only makes each verification slower.
constexpr int kMaxRsaBits = 8192;

struct BnFree {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using BldPtr = std::unique_ptr<OSSL_PARAM_BLD, BldFree>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamFree>;
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;

// A failed OpenSSL call leaves entries in the thread's error queue; they say nothing our
// reason does not, and would otherwise surface in an unrelated caller's ERR_get_error.
struct ClearErrors {
  ~ClearErrors() { ERR_clear_error(); }
};

const nlohmann::json* member(const nlohmann::json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

// A base64url member, decoded; `why` says what is wrong when it is absent or not base64url.
std::optional<std::string> bytes_member(const nlohmann::json& obj, const char* name,
                                        std::string& why) {
  const nlohmann::json* v = member(obj, name);
  if (!v || !v->is_string()) {
    why = std::string("`") + name + "` is missing or not a string";
    return std::nullopt;
  }
  auto bytes = base64url_decode(v->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) {
    why = std::string("`") + name + "` is not unpadded base64url";
    return std::nullopt;
  }
  return bytes;
}

PkeyPtr from_params(const char* type, const OSSL_PARAM* params) {
  CtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) !=
          1) {
    return nullptr;
  }
  return PkeyPtr(pkey);
}

std::string_view strip_leading_zeros(std::string_view s) {
  while (!s.empty() && s.front() == '\0')
    s.remove_prefix(1);
  return s;
}

bool rsa_key(const nlohmann::json& e, Jwk& k, std::string& why) {
  auto n = bytes_member(e, "n", why);
  if (!n) return false;
  auto ex = bytes_member(e, "e", why);
  if (!ex) return false;
  // RFC 7518 asks for minimal octets, but some issuers pad `n` with a zero byte; the value
  // is what counts.
  const std::string_view nv = strip_leading_zeros(*n);
  const std::string_view ev = strip_leading_zeros(*ex);
  const int bits = nv.empty() ? 0
                              : static_cast<int>(nv.size() * 8) -
                                    __builtin_clz(static_cast<unsigned char>(nv.front())) + 24;
  if (bits < kMinRsaBits) {
    why = "rsa key has " + std::to_string(bits) + " bits; at least " + std::to_string(kMinRsaBits) +
          " are required";
    return false;
  }
  if (bits > kMaxRsaBits) {
    why = "rsa key has " + std::to_string(bits) + " bits; at most " + std::to_string(kMaxRsaBits) +
          " are accepted";
    return false;
  }
  if ((static_cast<unsigned char>(nv.back()) & 1) == 0) {
    why = "rsa modulus `n` is even";
    return false;
  }
  // A large public exponent makes every verification as slow as a private-key operation.
  if (ev.empty() || ev.size() > 8 || (static_cast<unsigned char>(ev.back()) & 1) == 0 ||
      (ev.size() == 1 && ev[0] == 1)) {
    why = "rsa exponent `e` must be odd, above 1 and at most 64 bits";
    return false;
  }
  auto bn = [](std::string_view s) {
    return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(s.data()),
                           static_cast<int>(s.size()), nullptr));
  };
  BnPtr bn_n = bn(nv), bn_e = bn(ev);
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    why = "rsa key could not be built";
    return false;
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  k.key = params ? from_params("RSA", params.get()) : nullptr;
  if (!k.key) {
    why = "rsa key could not be built";
    return false;
  }
  k.bits = EVP_PKEY_get_bits(k.key.get());
  return true;
}

bool ec_key(const nlohmann::json& e, Jwk& k, std::string& why) {
  if (k.crv != "P-256") {
    why = "ec curve " + quote(k.crv) + " is not supported (only P-256)";
    return false;
  }
  auto x = bytes_member(e, "x", why);
  if (!x) return false;
  auto y = bytes_member(e, "y", why);
  if (!y) return false;
  if (x->size() != 32 || y->size() != 32) {
    why = "P-256 `x` and `y` must be 32 bytes each";
    return false;
  }
  // The uncompressed SEC 1 point: 0x04 || x || y.
  std::string point = "\x04" + *x + *y;
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    why = "ec key could not be built";
    return false;
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  k.key = params ? from_params("EC", params.get()) : nullptr;
  // fromdata already refuses a point off the curve; the explicit check also covers the
  // point at infinity and the subgroup, whatever the OpenSSL version does on import.
  CtxPtr check(k.key ? EVP_PKEY_CTX_new_from_pkey(nullptr, k.key.get(), nullptr) : nullptr);
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    k.key.reset();
    why = "ec `x`, `y` is not a valid P-256 public key";
    return false;
  }
  k.bits = 256;
  return true;
}

bool okp_key(const nlohmann::json& e, Jwk& k, std::string& why) {
  if (k.crv != "Ed25519") {
    why = "okp curve " + quote(k.crv) + " is not supported (only Ed25519)";
    return false;
  }
  auto x = bytes_member(e, "x", why);
  if (!x) return false;
  if (x->size() != 32) {
    why = "Ed25519 `x` must be 32 bytes";
    return false;
  }
  k.key.reset(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size()));
  if (!k.key) {
    why = "Ed25519 key could not be built";
    return false;
  }
  k.bits = 256;
  return true;
}

// An optional string member; false (with `why`) when present but not a string.
bool string_member(const nlohmann::json& e, const char* name, std::string& out, std::string& why) {
  const nlohmann::json* v = member(e, name);
  if (!v) return true;
  if (!v->is_string()) {
    why = std::string("`") + name + "` is not a string";
    return false;
  }
  out = v->get<std::string>();
  return true;
}

bool parse_key(const nlohmann::json& e, Jwk& k, std::string& why) {
  if (!e.is_object()) {
    why = "not a JSON object";
    return false;
  }
  if (!string_member(e, "kid", k.kid, why) || !string_member(e, "kty", k.kty, why) ||
      !string_member(e, "alg", k.alg, why) || !string_member(e, "use", k.use, why) ||
      !string_member(e, "crv", k.crv, why)) {
    return false;
  }
  if (k.kty == "oct") {
    why = "symmetric (`oct`) keys are not accepted";
    return false;
  }
  // A published set with private members is a leaked key, not a verification key.
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (member(e, priv)) {
      why = std::string("carries private key member `") + priv + "`";
      return false;
    }
  }
  if (!k.use.empty() && k.use != "sig") k.for_signatures = false;
  if (const nlohmann::json* ops = member(e, "key_ops")) {
    if (!ops->is_array()) {
      why = "`key_ops` is not an array";
      return false;
    }
    if (std::find(ops->begin(), ops->end(), nlohmann::json("verify")) == ops->end())
      k.for_signatures = false;
  }
  if (k.kty == "RSA") return rsa_key(e, k, why);
  if (k.kty == "EC") return ec_key(e, k, why);
  if (k.kty == "OKP") return okp_key(e, k, why);
  why = "key type " + quote(k.kty) + " is not supported";
  return false;
}

}  // namespace

std::optional<KeySet> KeySet::parse(std::string_view jwks_json, std::string& why) {
  ClearErrors clear;
  if (jwks_json.size() > kMaxBytes) {
    why = "jwks is " + std::to_string(jwks_json.size()) + " bytes; the limit is " +
          std::to_string(kMaxBytes);
    return std::nullopt;
  }
  const nlohmann::json doc = nlohmann::json::parse(jwks_json, nullptr, false);
  if (doc.is_discarded()) {
    why = "jwks is not valid JSON";
    return std::nullopt;
  }
  if (!doc.is_object()) {
    why = "jwks is not a JSON object";
    return std::nullopt;
  }
  const nlohmann::json* keys = member(doc, "keys");
  if (!keys || !keys->is_array()) {
    why = "jwks has no `keys` array";
    return std::nullopt;
  }
  if (keys->size() > kMaxKeys) {
    why = "jwks lists " + std::to_string(keys->size()) + " keys; the limit is " +
          std::to_string(kMaxKeys);
    return std::nullopt;
  }
  KeySet set;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    Jwk k;
    std::string reason;
    bool ok = parse_key((*keys)[i], k, reason);
    if (ok && !k.kid.empty() && set.find(k.kid)) {
      // Which of two keys a kid means would be a guess.
      reason = "repeats the kid of an earlier key";
      ok = false;
    }
    if (!ok) {
      std::string where = "key " + std::to_string(i);
      if (!k.kid.empty()) where += " (kid " + quote(k.kid) + ")";
      set.skipped_.push_back(where + ": " + reason);
      continue;
    }
    set.keys_.push_back(std::move(k));
  }
  return set;
}

const Jwk* KeySet::find(std::string_view kid) const {
  if (kid.empty()) return nullptr;
  for (const auto& k : keys_) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

}  // namespace gt::auth
