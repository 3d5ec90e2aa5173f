#include "governance/auth/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "governance/auth/base64url.hpp"
#include "governance/auth/quote.hpp"

namespace gt::auth {

namespace {

// What each implemented alg needs of its key and its signature (RFC 7518 §3, RFC 8037).
struct AlgSpec {
  std::string_view name;
  std::string_view kty;
  std::string_view crv;           // empty for RSA
  const EVP_MD* (*digest)();      // nullptr for EdDSA, which hashes internally
  bool pss = false;               // RSA-PSS instead of PKCS#1 v1.5
  std::size_t raw_signature = 0;  // fixed signature size; 0: the RSA modulus size
};

constexpr std::array<AlgSpec, 4> kAlgs = {{
    {"RS256", "RSA", "", EVP_sha256, false, 0},
    {"PS256", "RSA", "", EVP_sha256, true, 0},
    {"ES256", "EC", "P-256", EVP_sha256, false, 64},
    {"EdDSA", "OKP", "Ed25519", nullptr, false, 64},
}};

struct ClearErrors {  // see jwk.cpp
  ~ClearErrors() { ERR_clear_error(); }
};

struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Whole seconds, clamped so a huge claim value cannot overflow the conversion.
long long whole_seconds(double s) {
  return static_cast<long long>(std::clamp(s, -1e15, 1e15));
}

// The three segments and what they decode to. The payload is decoded but not parsed: its
// JSON is read only once the signature holds.
struct Parts {
  std::string_view signing_input;  // `header.payload` exactly as sent
  nlohmann::json header;
  std::string payload;
  std::string signature;
};

bool parse_parts(std::string_view token, Parts& p, std::string& why) {
  if (token.empty()) {
    why = "token is empty";
    return false;
  }
  if (token.size() > kMaxTokenBytes) {
    why = "token is " + std::to_string(token.size()) + " bytes; the limit is " +
          std::to_string(kMaxTokenBytes);
    return false;
  }
  const auto dots = std::count(token.begin(), token.end(), '.');
  if (dots != 2) {
    why = "token has " + std::to_string(dots + 1) + (dots == 0 ? " segment" : " segments") +
          "; a compact JWS has 3";
    return false;
  }
  const std::size_t d1 = token.find('.');
  const std::size_t d2 = token.find('.', d1 + 1);
  p.signing_input = token.substr(0, d2);
  auto header = base64url_decode(token.substr(0, d1));
  if (!header) {
    why = "token header is not unpadded base64url";
    return false;
  }
  auto payload = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  if (!payload) {
    why = "token payload is not unpadded base64url";
    return false;
  }
  auto signature = base64url_decode(token.substr(d2 + 1));
  if (!signature) {
    why = "token signature is not unpadded base64url";
    return false;
  }
  // nlohmann keeps the last of repeated members, as RFC 7515 §4 allows.
  p.header = nlohmann::json::parse(*header, nullptr, false);
  if (p.header.is_discarded() || !p.header.is_object()) {
    why = "token header is not a JSON object";
    return false;
  }
  p.payload = std::move(*payload);
  p.signature = std::move(*signature);
  return true;
}

const nlohmann::json* member(const nlohmann::json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

bool check_header(const nlohmann::json& h, std::string& why) {
  const nlohmann::json* alg = member(h, "alg");
  if (!alg || !alg->is_string()) {
    why = "token header has no string `alg`";
    return false;
  }
  if (member(h, "crit")) {
    why = "token header has `crit`; no JWS extension is supported";
    return false;
  }
  if (const nlohmann::json* typ = member(h, "typ")) {
    std::string t = typ->is_string() ? lower(typ->get_ref<const std::string&>()) : "";
    if (t.rfind("application/", 0) == 0) t.erase(0, 12);
    if (t != "jwt" && t != "at+jwt") {
      why = "token `typ` is not JWT or at+jwt";
      return false;
    }
  }
  if (const nlohmann::json* kid = member(h, "kid"); kid && !kid->is_string()) {
    why = "token header `kid` is not a string";
    return false;
  }
  return true;
}

const AlgSpec* check_alg(const std::string& alg, const TokenRules& rules, std::string& why) {
  const std::string l = lower(alg);
  if (l == "none") {
    why = "alg `none` (an unsigned token) is refused";
    return nullptr;
  }
  if (l.rfind("hs", 0) == 0) {
    why = "alg " + quote(alg) + " (HMAC) is refused: verification keys are public";
    return nullptr;
  }
  auto spec =
      std::find_if(kAlgs.begin(), kAlgs.end(), [&](const AlgSpec& s) { return s.name == alg; });
  if (spec == kAlgs.end()) {
    why = "alg " + quote(alg) + " is not supported";
    return nullptr;
  }
  if (std::find(rules.algorithms.begin(), rules.algorithms.end(), alg) == rules.algorithms.end()) {
    why = "alg " + quote(alg) + " is not allowed";
    return nullptr;
  }
  return &*spec;
}

bool fits(const Jwk& k, const AlgSpec& spec) {
  return k.kty == spec.kty && (spec.crv.empty() || k.crv == spec.crv);
}

// The key for this token, or nullptr with the error and reason.
const Jwk* choose_key(const nlohmann::json& header, const AlgSpec& spec, const KeySet& keys,
                      TokenError& error, std::string& why) {
  const std::string alg(spec.name);
  if (const nlohmann::json* kid_json = member(header, "kid")) {
    const auto& kid = kid_json->get_ref<const std::string&>();
    const Jwk* k = keys.find(kid);
    if (!k) {
      error = TokenError::UnknownKey;
      why = "no key with kid " + quote(kid);
      return nullptr;
    }
    if (!k->for_signatures) {
      error = TokenError::UnknownKey;
      why = "key " + quote(kid) + " is not for verifying signatures";
      return nullptr;
    }
    if (!fits(*k, spec)) {
      error = TokenError::Algorithm;
      why = "alg " + quote(alg) + " does not fit key " + quote(kid) + " of type " + quote(k->kty);
      return nullptr;
    }
    if (!k->alg.empty() && k->alg != alg) {
      error = TokenError::Algorithm;
      why = "key " + quote(kid) + " is for alg " + quote(k->alg) + ", not " + quote(alg);
      return nullptr;
    }
    return k;
  }
  // No kid: unambiguous only when a single key could have signed it.
  const Jwk* found = nullptr;
  std::size_t n = 0;
  for (const auto& k : keys.keys()) {
    if (k.for_signatures && fits(k, spec) && (k.alg.empty() || k.alg == alg)) {
      found = &k;
      ++n;
    }
  }
  if (n != 1) {
    error = TokenError::UnknownKey;
    why = "token has no kid and " + std::to_string(n) + " keys fit alg " + quote(alg) +
          "; exactly one must";
    return nullptr;
  }
  return found;
}

// JWS carries ES256 as R || S, 32 bytes each (RFC 7518 §3.4); OpenSSL wants DER.
std::optional<std::string> ecdsa_raw_to_der(std::string_view raw) {
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  if (!sig) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(p, 32, nullptr);
  BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool verify_signature(const AlgSpec& spec, const Jwk& key, const Parts& p, std::string& why) {
  std::string der;
  std::string_view sig = p.signature;
  const std::size_t want = spec.raw_signature
                               ? spec.raw_signature
                               : static_cast<std::size_t>(EVP_PKEY_get_size(key.key.get()));
  if (sig.size() != want) {
    why = "signature is " + std::to_string(sig.size()) + " bytes; " + std::string(spec.name) +
          " with this key needs " + std::to_string(want);
    return false;
  }
  if (spec.kty == "EC") {
    auto d = ecdsa_raw_to_der(sig);
    if (!d) {
      why = "signature does not verify";
      return false;
    }
    der = std::move(*d);
    sig = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), &pctx, spec.digest ? spec.digest() : nullptr,
                                        nullptr, key.key.get()) == 1;
  if (ok && spec.pss) {
    // RFC 7518 §3.5: MGF1 with the same hash, and a salt as long as the hash. OpenSSL then
    // refuses any other salt length.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1;
  }
  ok = ok &&
       EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                        reinterpret_cast<const unsigned char*>(p.signing_input.data()),
                        p.signing_input.size()) == 1;
  if (!ok) why = "signature does not verify";
  return ok;
}

std::vector<std::string> split_scopes(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t j = std::min(s.find(' ', i), s.size());
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// `scope` is the standard claim (RFC 9068 §2.2.3, RFC 8693 §4.2); `scp` is what Azure AD and
// Okta send. A claim of another type grants nothing.
std::vector<std::string> read_scopes(const nlohmann::json& claims) {
  if (const nlohmann::json* scope = member(claims, "scope"); scope && scope->is_string())
    return split_scopes(scope->get_ref<const std::string&>());
  const nlohmann::json* scp = member(claims, "scp");
  if (!scp) return {};
  if (scp->is_string()) return split_scopes(scp->get_ref<const std::string&>());
  std::vector<std::string> out;
  if (scp->is_array()) {
    for (const auto& v : *scp) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

// A number, and a finite one: read as infinity, `exp: 1e999` would never expire. nlohmann
// refuses such a number today; this check does not depend on it.
bool numeric_date(const nlohmann::json* v) {
  return v && v->is_number() && std::isfinite(v->get<double>());
}

TokenResult fail(TokenResult r, TokenError e, std::string why) {
  r.ok = false;
  r.error = e;
  r.why = std::move(why);
  return r;
}

}  // namespace

std::string_view to_string(TokenError e) {
  switch (e) {
    case TokenError::Malformed:
      return "malformed";
    case TokenError::Algorithm:
      return "algorithm";
    case TokenError::UnknownKey:
      return "unknown_key";
    case TokenError::Signature:
      return "signature";
    case TokenError::Issuer:
      return "issuer";
    case TokenError::Audience:
      return "audience";
    case TokenError::Expired:
      return "expired";
    case TokenError::NotYetValid:
      return "not_yet_valid";
    case TokenError::InsufficientScope:
      return "insufficient_scope";
    case TokenError::Inactive:
      return "inactive";
  }
  return "malformed";
}

std::string_view oauth_error_code(TokenError e) {
  return e == TokenError::InsufficientScope ? "insufficient_scope" : "invalid_token";
}

std::optional<std::string> peek_kid(std::string_view token) {
  Parts p;
  std::string why;
  if (!parse_parts(token, p, why)) return std::nullopt;
  const nlohmann::json* kid = member(p.header, "kid");
  if (!kid || !kid->is_string()) return std::nullopt;
  return kid->get<std::string>();
}

TokenResult verify_token(std::string_view token, const KeySet& keys, const TokenRules& rules,
                         std::chrono::system_clock::time_point now) {
  ClearErrors clear;
  TokenResult r;
  std::string why;

  // 1. Structure.
  Parts p;
  if (!parse_parts(token, p, why) || !check_header(p.header, why))
    return fail(std::move(r), TokenError::Malformed, std::move(why));

  // 2. Algorithm.
  const AlgSpec* spec = check_alg(p.header["alg"].get<std::string>(), rules, why);
  if (!spec) return fail(std::move(r), TokenError::Algorithm, std::move(why));
  r.alg = spec->name;

  // 3. Key.
  TokenError error{};
  const Jwk* key = choose_key(p.header, *spec, keys, error, why);
  if (!key) return fail(std::move(r), error, std::move(why));
  r.kid = key->kid;

  // 4. Signature. From here on the claims are the issuer's.
  if (!verify_signature(*spec, *key, p, why))
    return fail(std::move(r), TokenError::Signature, std::move(why));
  nlohmann::json claims = nlohmann::json::parse(p.payload, nullptr, false);
  if (claims.is_discarded() || !claims.is_object())
    return fail(std::move(r), TokenError::Malformed, "token payload is not a JSON object");
  TokenResult checked = check_claims(std::move(claims), rules, now);
  checked.alg = std::move(r.alg);
  checked.kid = std::move(r.kid);
  return checked;
}

TokenResult check_claims(nlohmann::json claims, const TokenRules& rules,
                         std::chrono::system_clock::time_point now) {
  TokenResult r;
  if (!claims.is_object())
    return fail(std::move(r), TokenError::Malformed, "the claims are not a JSON object");
  r.claims = std::move(claims);
  const nlohmann::json& c = r.claims;
  if (const nlohmann::json* jti = member(c, "jti"); jti && jti->is_string())
    r.jti = jti->get<std::string>();
  r.scopes = read_scopes(c);

  // 5. Issuer.
  if (rules.issuer.empty())
    return fail(std::move(r), TokenError::Issuer, "no issuer is configured");
  const nlohmann::json* iss = member(c, "iss");
  if (!iss || !iss->is_string())
    return fail(std::move(r), TokenError::Issuer, "token has no string `iss`");
  if (iss->get_ref<const std::string&>() != rules.issuer) {
    return fail(
        std::move(r), TokenError::Issuer,
        "issuer " + quote(iss->get_ref<const std::string&>()) + " is not " + quote(rules.issuer));
  }

  // 6. Audience.
  if (rules.audience.empty())
    return fail(std::move(r), TokenError::Audience, "no audience is configured");
  const nlohmann::json* aud = member(c, "aud");
  bool aud_ok = false;
  if (aud && aud->is_string()) {
    aud_ok = aud->get_ref<const std::string&>() == rules.audience;
  } else if (aud && aud->is_array()) {
    aud_ok = std::find(aud->begin(), aud->end(), nlohmann::json(rules.audience)) != aud->end();
  }
  if (!aud_ok) {
    return fail(std::move(r), TokenError::Audience,
                "token audience does not include " + quote(rules.audience));
  }

  // 7. Time. Seconds as doubles: NumericDate may be fractional (RFC 7519 §2), and a double
  // cannot overflow on a hostile value the way an integer sum would.
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double skew = static_cast<double>(std::max<long long>(rules.skew.count(), 0));
  const nlohmann::json* exp = member(c, "exp");
  if (!numeric_date(exp))
    return fail(std::move(r), TokenError::Malformed, "token has no numeric `exp`");
  const double exp_s = exp->get<double>();
  if (t > exp_s + skew) {
    return fail(std::move(r), TokenError::Expired,
                "token expired " + std::to_string(whole_seconds(t - exp_s)) + " s ago");
  }
  if (const nlohmann::json* nbf = member(c, "nbf")) {
    if (!numeric_date(nbf))
      return fail(std::move(r), TokenError::Malformed, "token `nbf` is not a number");
    const double nbf_s = nbf->get<double>();
    if (t < nbf_s - skew) {
      return fail(
          std::move(r), TokenError::NotYetValid,
          "token is not valid for another " + std::to_string(whole_seconds(nbf_s - t)) + " s");
    }
  }
  if (const nlohmann::json* iat = member(c, "iat")) {
    if (!numeric_date(iat))
      return fail(std::move(r), TokenError::Malformed, "token `iat` is not a number");
    const double iat_s = iat->get<double>();
    if (iat_s > t + skew) {
      return fail(
          std::move(r), TokenError::NotYetValid,
          "token was issued " + std::to_string(whole_seconds(iat_s - t)) + " s in the future");
    }
  }

  // 8. Scopes.
  for (const auto& s : rules.required_scopes) {
    if (std::find(r.scopes.begin(), r.scopes.end(), s) == r.scopes.end())
      r.missing_scopes.push_back(s);
  }
  if (!r.missing_scopes.empty()) {
    std::string list;
    for (const auto& s : r.missing_scopes)
      list += (list.empty() ? "" : ", ") + quote(s);
    return fail(std::move(r), TokenError::InsufficientScope, "token lacks scope " + list);
  }

  r.ok = true;
  return r;
}

}  // namespace gt::auth
