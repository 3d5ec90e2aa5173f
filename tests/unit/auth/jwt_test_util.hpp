// Helpers for the JWT and JWKS tests: real keys generated once per test binary with OpenSSL,
// their public JWKs, and a signer that produces compact JWS the way an issuer would.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "governance/auth/base64url.hpp"
#include "governance/auth/jwk.hpp"

namespace gt::auth::test {

inline PkeyPtr generate_rsa(unsigned bits) {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
}
inline PkeyPtr generate_ec() {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}
inline PkeyPtr generate_ed25519() {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

// Generated once: RSA key generation is slow in a debug build.
struct TestKeys {
  PkeyPtr rsa = generate_rsa(2048);
  PkeyPtr rsa1024 = generate_rsa(1024);
  PkeyPtr ec = generate_ec();
  PkeyPtr ec2 = generate_ec();
  PkeyPtr ed = generate_ed25519();
};
inline const TestKeys& keys() {
  static const TestKeys k;
  return k;
}

inline std::string bn_bytes(const BIGNUM* bn, int pad = 0) {
  std::string out(static_cast<std::size_t>(pad ? pad : BN_num_bytes(bn)), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (pad)
    BN_bn2binpad(bn, p, pad);
  else
    BN_bn2bin(bn, p);
  return out;
}

inline std::string bn_param(const EVP_PKEY* k, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) throw std::runtime_error("no bn param");
  std::string out = bn_bytes(bn, pad);
  BN_free(bn);
  return out;
}

inline nlohmann::json rsa_jwk(const EVP_PKEY* k, const std::string& kid) {
  nlohmann::json j = {{"kty", "RSA"},
                      {"n", base64url_encode(bn_param(k, OSSL_PKEY_PARAM_RSA_N))},
                      {"e", base64url_encode(bn_param(k, OSSL_PKEY_PARAM_RSA_E))}};
  if (!kid.empty()) j["kid"] = kid;
  return j;
}

inline nlohmann::json ec_jwk(const EVP_PKEY* k, const std::string& kid) {
  nlohmann::json j = {{"kty", "EC"},
                      {"crv", "P-256"},
                      {"x", base64url_encode(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
                      {"y", base64url_encode(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  if (!kid.empty()) j["kid"] = kid;
  return j;
}

inline nlohmann::json ed_jwk(const EVP_PKEY* k, const std::string& kid) {
  std::string x(32, '\0');
  std::size_t len = x.size();
  EVP_PKEY_get_raw_public_key(k, reinterpret_cast<unsigned char*>(x.data()), &len);
  nlohmann::json j = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(x)}};
  if (!kid.empty()) j["kid"] = kid;
  return j;
}

inline nlohmann::json jwks(std::initializer_list<nlohmann::json> ks) {
  return {{"keys", nlohmann::json::array_t(ks)}};
}

inline KeySet parse_set(const nlohmann::json& doc) {
  std::string why;
  auto set = KeySet::parse(doc.dump(), why);
  if (!set) throw std::runtime_error("jwks refused: " + why);
  return std::move(*set);
}

// DER ECDSA → the JWS form, R || S with 32 bytes each.
inline std::string ecdsa_der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) throw std::runtime_error("bad DER signature");
  std::string out = bn_bytes(ECDSA_SIG_get0_r(sig), 32) + bn_bytes(ECDSA_SIG_get0_s(sig), 32);
  ECDSA_SIG_free(sig);
  return out;
}

// Signs `input` as `alg` does (RS256, PS256, ES256 raw, EdDSA). `raw_ecdsa` false keeps the
// DER form OpenSSL produces; `pss_salt` picks another PSS salt length.
inline std::string sign(EVP_PKEY* key, std::string_view alg, std::string_view input,
                        bool raw_ecdsa = true, int pss_salt = 32) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = alg == "EdDSA" ? nullptr : EVP_sha256();
  bool ok = EVP_DigestSignInit(ctx, &pctx, md, nullptr, key) == 1;
  if (ok && alg == "PS256") {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt) == 1;
  }
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t len = 0;
  ok = ok && EVP_DigestSign(ctx, nullptr, &len, in, input.size()) == 1;
  std::string sig(len, '\0');
  ok = ok && EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                            input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("signing failed");
  sig.resize(len);
  return alg == "ES256" && raw_ecdsa ? ecdsa_der_to_raw(sig) : sig;
}

inline std::string hmac_sha256(std::string_view secret, std::string_view input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// The public key as PEM (SubjectPublicKeyInfo): what an attacker would use as an HMAC secret.
inline std::string public_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

inline std::string signing_input(const nlohmann::json& header, std::string_view payload) {
  return base64url_encode(header.dump()) + "." + base64url_encode(payload);
}

inline std::string make_token(const nlohmann::json& header, std::string_view payload,
                              EVP_PKEY* key) {
  const std::string input = signing_input(header, payload);
  return input + "." + base64url_encode(sign(key, header["alg"].get<std::string>(), input));
}

inline long long unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace gt::auth::test
