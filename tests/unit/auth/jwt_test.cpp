// Access-token verification: every rule of governance/auth/jwt.hpp against tokens signed here
// with real keys, in the order the checks run. Each refusal also checks that the reason is
// safe to send back: not the token, nor any of its segments, and only error_description
// characters.
#include <catch2/catch.hpp>

#include "governance/auth/jwt.hpp"
#include "jwt_test_util.hpp"

using namespace gt::auth;
using namespace gt::auth::test;
using Clock = std::chrono::system_clock;

namespace {

constexpr const char* kIssuer = "https://issuer.example";
constexpr const char* kAudience = "https://mcp.example/mcp";

EVP_PKEY* key_for(std::string_view alg) {
  if (alg == "ES256") return keys().ec.get();
  if (alg == "EdDSA") return keys().ed.get();
  return keys().rsa.get();
}

nlohmann::json header(const std::string& alg, const std::string& kid) {
  nlohmann::json h = {{"alg", alg}, {"typ", "at+jwt"}};
  if (!kid.empty()) h["kid"] = kid;
  return h;
}

std::string raw_token(std::string_view header_text, std::string_view payload_text,
                      std::string_view signature = "") {
  return base64url_encode(header_text) + "." + base64url_encode(payload_text) + "." +
         base64url_encode(signature);
}

// The reason fits an RFC 6750 error_description: %x20-21 / %x23-5B / %x5D-7E.
bool description_safe(const std::string& why) {
  for (char c : why) {
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') return false;
  }
  return true;
}

void check_refused(const TokenResult& r, TokenError e, const std::string& token,
                   const std::string& why_part = "") {
  INFO("why: " << r.why);
  CHECK_FALSE(r.ok);
  CHECK(to_string(r.error) == to_string(e));
  CHECK_FALSE(r.why.empty());
  CHECK(description_safe(r.why));
  if (!token.empty()) CHECK(r.why.find(token) == std::string::npos);
  std::size_t start = 0;
  while (start <= token.size()) {
    const std::size_t end = std::min(token.find('.', start), token.size());
    if (end - start >= 8) CHECK(r.why.find(token.substr(start, end - start)) == std::string::npos);
    start = end + 1;
  }
  if (!why_part.empty()) CHECK_THAT(r.why, Catch::Contains(why_part));
}

// A key set with one key of each type, rules for one issuer and audience, and a fixed clock.
struct Fixture {
  KeySet set = parse_set(jwks({rsa_jwk(keys().rsa.get(), "rsa1"), ec_jwk(keys().ec.get(), "ec1"),
                               ed_jwk(keys().ed.get(), "ed1")}));
  TokenRules rules;
  Clock::time_point now = Clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z

  Fixture() {
    rules.issuer = kIssuer;
    rules.audience = kAudience;
  }
  long long t() const { return unix_seconds(now); }
  nlohmann::json claims() const {
    return {{"iss", kIssuer},       {"aud", kAudience},
            {"sub", "user-42"},     {"exp", t() + 300},
            {"iat", t() - 10},      {"jti", "token-1"},
            {"client_id", "agent"}, {"scope", "tools:read tools:call"}};
  }
  std::string token(const std::string& alg, const std::string& kid,
                    const nlohmann::json& payload) const {
    return make_token(header(alg, kid), payload.dump(), key_for(alg));
  }
  std::string token(const std::string& alg = "RS256", const std::string& kid = "rsa1") const {
    return token(alg, kid, claims());
  }
  TokenResult verify(const std::string& tok) const { return verify_token(tok, set, rules, now); }
  TokenResult verify(const std::string& tok, const KeySet& ks) const {
    return verify_token(tok, ks, rules, now);
  }
};

}  // namespace

TEST_CASE("jwt: each algorithm verifies", "[jwt]") {
  Fixture f;
  const std::pair<const char*, const char*> cases[] = {
      {"RS256", "rsa1"}, {"PS256", "rsa1"}, {"ES256", "ec1"}, {"EdDSA", "ed1"}};
  for (const auto& [alg, kid] : cases) {
    INFO(alg);
    TokenResult r = f.verify(f.token(alg, kid));
    CHECK(r.ok);
    CHECK(r.why.empty());
    CHECK(r.alg == alg);
    CHECK(r.kid == kid);
    CHECK(r.jti == "token-1");
    CHECK(r.claims["sub"] == "user-42");
    CHECK(r.scopes == std::vector<std::string>{"tools:read", "tools:call"});
    CHECK(r.missing_scopes.empty());
  }
}

TEST_CASE("jwt: typ may be absent, JWT or at+jwt in any case", "[jwt]") {
  Fixture f;
  for (const char* typ :
       {"", "JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "Application/JWT"}) {
    INFO(typ);
    nlohmann::json h = {{"alg", "ES256"}, {"kid", "ec1"}};
    if (*typ) h["typ"] = typ;
    CHECK(f.verify(make_token(h, f.claims().dump(), keys().ec.get())).ok);
  }
  for (const char* typ : {"JOSE", "application/jose", "jwt+at", "dpop+jwt", ""}) {
    INFO(typ);
    nlohmann::json h = {{"alg", "ES256"}, {"kid", "ec1"}, {"typ", typ}};
    if (!*typ) h["typ"] = 1;  // not a string
    const std::string tok = make_token(h, f.claims().dump(), keys().ec.get());
    check_refused(f.verify(tok), TokenError::Malformed, tok, "`typ`");
  }
}

TEST_CASE("jwt: malformed tokens", "[jwt]") {
  Fixture f;
  const std::string good = f.token("ES256", "ec1");
  const std::size_t d1 = good.find('.');
  const std::size_t d2 = good.rfind('.');
  const std::string h = good.substr(0, d1);
  const std::string p = good.substr(d1 + 1, d2 - d1 - 1);
  const std::string s = good.substr(d2 + 1);

  auto malformed = [&](const std::string& tok, const std::string& why_part) {
    check_refused(f.verify(tok), TokenError::Malformed, tok, why_part);
  };
  SECTION("segment count") {
    malformed("", "empty");
    malformed(h + "." + p, "2 segments");
    malformed(h + "." + p + "." + s + "." + s, "4 segments");
    malformed(h + p + s, "1 segment;");
    malformed("..", "header is not a JSON object");
  }
  SECTION("base64url") {
    malformed(h + "=." + p + "." + s, "header is not unpadded base64url");
    malformed(h + "." + p + "=." + s, "payload is not unpadded base64url");
    malformed(h + "." + p + "." + s + "==", "signature is not unpadded base64url");
    malformed(h + "." + p + "." + s.substr(0, 10) + "+" + s.substr(11), "signature");
    malformed(h + "." + p + "*." + s, "payload");
    malformed(" " + good, "header");
    malformed(good + "\n", "signature");
  }
  SECTION("header") {
    malformed(raw_token("not json", f.claims().dump()), "header is not a JSON object");
    malformed(raw_token(R"(["alg","ES256"])", f.claims().dump()), "header is not a JSON object");
    malformed(raw_token(R"({"kid":"ec1"})", f.claims().dump()), "no string `alg`");
    malformed(raw_token(R"({"alg":256})", f.claims().dump()), "no string `alg`");
    malformed(make_token({{"alg", "ES256"}, {"kid", 7}}, f.claims().dump(), keys().ec.get()),
              "`kid` is not a string");
  }
  SECTION("crit: no extension is implemented") {
    nlohmann::json hd = header("ES256", "ec1");
    hd["crit"] = {"exp"};
    hd["exp"] = 1;
    malformed(make_token(hd, f.claims().dump(), keys().ec.get()), "`crit`");
    hd["crit"] = nlohmann::json::array();
    malformed(make_token(hd, f.claims().dump(), keys().ec.get()), "`crit`");
  }
  SECTION("a payload that is not an object, though signed") {
    malformed(make_token(header("ES256", "ec1"), "[1,2,3]", keys().ec.get()),
              "payload is not a JSON object");
    malformed(make_token(header("ES256", "ec1"), "not json", keys().ec.get()),
              "payload is not a JSON object");
    malformed(make_token(header("ES256", "ec1"), "", keys().ec.get()),
              "payload is not a JSON object");
  }
  SECTION("a payload that is not JSON is not even looked at unsigned") {
    const std::string tok =
        raw_token(header("ES256", "ec1").dump(), "[1,2,3]", std::string(64, 'x'));
    check_refused(f.verify(tok), TokenError::Signature, tok);
  }
}

TEST_CASE("jwt: oversize tokens are refused before anything else", "[jwt]") {
  Fixture f;
  nlohmann::json c = f.claims();
  c["pad"] = std::string(kMaxTokenBytes, 'a');
  const std::string tok = f.token("ES256", "ec1", c);
  REQUIRE(tok.size() > kMaxTokenBytes);
  check_refused(f.verify(tok), TokenError::Malformed, tok, "the limit is 16384");
  CHECK_FALSE(peek_kid(tok));

  // Up to the limit is still read.
  nlohmann::json fit = f.claims();
  fit["pad"] = "";
  const std::size_t base = f.token("EdDSA", "ed1", fit).size();
  std::size_t pad = (kMaxTokenBytes - base) / 4 * 3 + 3;
  std::string at;
  do {
    fit["pad"] = std::string(pad--, 'a');
    at = f.token("EdDSA", "ed1", fit);
  } while (at.size() > kMaxTokenBytes);
  REQUIRE(at.size() >= kMaxTokenBytes - 2);
  CHECK(f.verify(at).ok);
}

TEST_CASE("jwt: alg none is refused", "[jwt]") {
  Fixture f;
  f.rules.algorithms.push_back("none");  // even when configured
  for (const char* alg : {"none", "None", "NONE"}) {
    const std::string tok =
        raw_token(nlohmann::json({{"alg", alg}, {"kid", "rsa1"}}).dump(), f.claims().dump());
    check_refused(f.verify(tok), TokenError::Algorithm, tok, "unsigned");
  }
}

TEST_CASE("jwt: HMAC with the public key as the secret is refused", "[jwt]") {
  Fixture f;
  const std::string pem = public_pem(keys().rsa.get());
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    INFO(alg);
    nlohmann::json h = header(alg, "rsa1");
    const std::string input = signing_input(h, f.claims().dump());
    const std::string tok = input + "." + base64url_encode(hmac_sha256(pem, input));
    check_refused(f.verify(tok), TokenError::Algorithm, tok, "HMAC");
    f.rules.algorithms.push_back(alg);  // configuring it changes nothing
    check_refused(f.verify(tok), TokenError::Algorithm, tok, "HMAC");
  }
}

TEST_CASE("jwt: only the allowed algorithms", "[jwt]") {
  Fixture f;
  f.rules.algorithms = {"RS256"};
  CHECK(f.verify(f.token("RS256", "rsa1")).ok);
  const std::string ps = f.token("PS256", "rsa1");
  check_refused(f.verify(ps), TokenError::Algorithm, ps, "alg `PS256` is not allowed");
  const std::string es = f.token("ES256", "ec1");
  check_refused(f.verify(es), TokenError::Algorithm, es, "not allowed");

  // An alg this file does not implement, even if the rules list it.
  f.rules.algorithms = {"RS512"};
  const std::string rs512 =
      raw_token(header("RS512", "rsa1").dump(), f.claims().dump(), std::string(256, 'x'));
  check_refused(f.verify(rs512), TokenError::Algorithm, rs512, "alg `RS512` is not supported");
}

TEST_CASE("jwt: the alg must fit the key", "[jwt]") {
  Fixture f;
  SECTION("RSA alg with an EC key") {
    const std::string tok = f.token("RS256", "ec1");  // signed with the RSA key
    check_refused(f.verify(tok), TokenError::Algorithm, tok, "does not fit key `ec1`");
  }
  SECTION("ES256 with an RSA key") {
    const std::string tok = f.token("ES256", "rsa1");
    check_refused(f.verify(tok), TokenError::Algorithm, tok, "of type `RSA`");
  }
  SECTION("EdDSA with a P-256 key") {
    const std::string tok = f.token("EdDSA", "ec1");
    check_refused(f.verify(tok), TokenError::Algorithm, tok, "does not fit");
  }
  SECTION("the key names another alg") {
    nlohmann::json rsa = rsa_jwk(keys().rsa.get(), "rsa1");
    rsa["alg"] = "RS256";
    KeySet ks = parse_set(jwks({rsa}));
    CHECK(f.verify(f.token("RS256", "rsa1"), ks).ok);
    const std::string tok = f.token("PS256", "rsa1");
    check_refused(f.verify(tok, ks), TokenError::Algorithm, tok,
                  "key `rsa1` is for alg `RS256`, not `PS256`");
  }
}

TEST_CASE("jwt: keys not for signatures are never used", "[jwt]") {
  Fixture f;
  nlohmann::json enc = ec_jwk(keys().ec.get(), "ec1");
  enc["use"] = "enc";
  KeySet ks = parse_set(jwks({enc}));
  const std::string tok = f.token("ES256", "ec1");
  check_refused(f.verify(tok, ks), TokenError::UnknownKey, tok, "not for verifying signatures");
  const std::string no_kid = f.token("ES256", "");
  check_refused(f.verify(no_kid, ks), TokenError::UnknownKey, no_kid, "0 keys fit");

  nlohmann::json ops = ec_jwk(keys().ec.get(), "ec1");
  ops["key_ops"] = {"encrypt"};
  check_refused(f.verify(tok, parse_set(jwks({ops}))), TokenError::UnknownKey, tok);
}

TEST_CASE("jwt: the key is the header's kid", "[jwt]") {
  Fixture f;
  const std::string tok = f.token("RS256", "rotated-away");
  check_refused(f.verify(tok), TokenError::UnknownKey, tok, "no key with kid `rotated-away`");
  CHECK(peek_kid(tok) == std::optional<std::string>("rotated-away"));
  CHECK(peek_kid(f.token("ES256", "")) == std::nullopt);
  CHECK(peek_kid("a.b") == std::nullopt);
  CHECK(peek_kid(raw_token("[]", "{}")) == std::nullopt);
  CHECK(peek_kid(raw_token(R"({"alg":"RS256","kid":3})", "{}")) == std::nullopt);
  // peek_kid verifies nothing: an unsigned token still shows its kid.
  CHECK(peek_kid(raw_token(R"({"alg":"none","kid":"k"})", "{}")) ==
        std::optional<std::string>("k"));
}

TEST_CASE("jwt: with no kid, exactly one key must fit the alg", "[jwt]") {
  Fixture f;
  SECTION("one key of the type among others") {
    TokenResult r = f.verify(f.token("ES256", ""));
    CHECK(r.ok);
    CHECK(r.kid == "ec1");
    CHECK(f.verify(f.token("EdDSA", "")).ok);
  }
  SECTION("a lone kid-less key") {
    KeySet ks = parse_set(jwks({ec_jwk(keys().ec.get(), "")}));
    TokenResult r = f.verify(f.token("ES256", ""), ks);
    CHECK(r.ok);
    CHECK(r.kid.empty());
  }
  SECTION("two keys of the type") {
    KeySet ks = parse_set(jwks({ec_jwk(keys().ec.get(), "a"), ec_jwk(keys().ec2.get(), "b")}));
    const std::string tok = f.token("ES256", "");
    check_refused(f.verify(tok, ks), TokenError::UnknownKey, tok, "2 keys fit");
  }
  SECTION("no key of the type") {
    KeySet ks = parse_set(jwks({ec_jwk(keys().ec.get(), "a")}));
    const std::string tok = f.token("RS256", "");
    check_refused(f.verify(tok, ks), TokenError::UnknownKey, tok, "0 keys fit");
  }
}

TEST_CASE("jwt: bad signatures", "[jwt]") {
  Fixture f;
  auto flip_signature = [](const std::string& tok, std::size_t i) {
    const std::size_t d2 = tok.rfind('.');
    std::string sig = *base64url_decode(tok.substr(d2 + 1));
    sig[i % sig.size()] = static_cast<char>(sig[i % sig.size()] ^ 0x01);
    return tok.substr(0, d2 + 1) + base64url_encode(sig);
  };
  SECTION("a flipped byte, for each alg") {
    const std::pair<const char*, const char*> cases[] = {
        {"RS256", "rsa1"}, {"PS256", "rsa1"}, {"ES256", "ec1"}, {"EdDSA", "ed1"}};
    for (const auto& [alg, kid] : cases) {
      INFO(alg);
      const std::string good = f.token(alg, kid);
      for (std::size_t i : {0u, 17u, 63u}) {
        const std::string bad = flip_signature(good, i);
        check_refused(f.verify(bad), TokenError::Signature, bad, "does not verify");
      }
    }
  }
  SECTION("a changed payload") {
    const std::string good = f.token("ES256", "ec1");
    nlohmann::json c = f.claims();
    c["sub"] = "admin";
    const std::string forged =
        signing_input(header("ES256", "ec1"), c.dump()) + good.substr(good.rfind('.'));
    check_refused(f.verify(forged), TokenError::Signature, forged);
  }
  SECTION("signed by another key under this kid") {
    const std::string tok = make_token(header("ES256", "ec1"), f.claims().dump(), keys().ec2.get());
    check_refused(f.verify(tok), TokenError::Signature, tok);
  }
  SECTION("ES256 as DER instead of R || S") {
    const nlohmann::json h = header("ES256", "ec1");
    const std::string input = signing_input(h, f.claims().dump());
    const std::string tok =
        input + "." + base64url_encode(sign(keys().ec.get(), "ES256", input, false));
    check_refused(f.verify(tok), TokenError::Signature, tok, "needs 64");
  }
  SECTION("PS256 with another salt length") {
    const nlohmann::json h = header("PS256", "rsa1");
    const std::string input = signing_input(h, f.claims().dump());
    const std::string tok =
        input + "." + base64url_encode(sign(keys().rsa.get(), "PS256", input, true, 20));
    check_refused(f.verify(tok), TokenError::Signature, tok);
  }
  SECTION("RS256 signature presented as PS256 and the reverse") {
    const std::string rs = f.token("RS256", "rsa1");
    const std::string as_ps =
        signing_input(header("PS256", "rsa1"), f.claims().dump()) + rs.substr(rs.rfind('.'));
    check_refused(f.verify(as_ps), TokenError::Signature, as_ps);
  }
  SECTION("truncated and empty signatures") {
    const std::string good = f.token("RS256", "rsa1");
    const std::size_t d2 = good.rfind('.');
    const std::string sig = *base64url_decode(good.substr(d2 + 1));
    const std::string cut = good.substr(0, d2 + 1) + base64url_encode(sig.substr(0, 255));
    check_refused(f.verify(cut), TokenError::Signature, cut, "is 255 bytes");
    const std::string none = good.substr(0, good.rfind('.') + 1);
    check_refused(f.verify(none), TokenError::Signature, none,
                  "is 0 bytes; RS256 with this key needs 256");
  }
}

TEST_CASE("jwt: checks run in order", "[jwt]") {
  Fixture f;
  nlohmann::json c = f.claims();
  c["iss"] = "https://evil.example";
  c["aud"] = "https://elsewhere.example";
  c["exp"] = f.t() - 3600;
  // Every claim is wrong, but an unsigned token only hears about its signature.
  const std::string unsigned_tok = signing_input(header("ES256", "ec1"), c.dump()) + "." +
                                   base64url_encode(std::string(64, 'x'));
  check_refused(f.verify(unsigned_tok), TokenError::Signature, unsigned_tok);
  // Signed: the issuer first, then the audience, then the time.
  check_refused(f.verify(f.token("ES256", "ec1", c)), TokenError::Issuer, "");
  c["iss"] = kIssuer;
  check_refused(f.verify(f.token("ES256", "ec1", c)), TokenError::Audience, "");
  c["aud"] = kAudience;
  check_refused(f.verify(f.token("ES256", "ec1", c)), TokenError::Expired, "");
  // The alg before the key: `none` with an unknown kid is about the alg.
  const std::string none = raw_token(R"({"alg":"none","kid":"who"})", c.dump());
  check_refused(f.verify(none), TokenError::Algorithm, none);
  // The structure before the alg.
  nlohmann::json hd = {{"alg", "none"}, {"crit", {"b64"}}};
  const std::string crit = raw_token(hd.dump(), c.dump());
  check_refused(f.verify(crit), TokenError::Malformed, crit);
  // Claims are filled once the signature holds, even when a later check fails.
  TokenResult r = f.verify(f.token("ES256", "ec1", c));
  CHECK(r.claims["sub"] == "user-42");
  CHECK(r.jti == "token-1");
  TokenResult u = f.verify(unsigned_tok);
  CHECK(u.claims.is_null());
  CHECK(u.jti.empty());
}

TEST_CASE("jwt: issuer", "[jwt]") {
  Fixture f;
  nlohmann::json c = f.claims();
  c["iss"] = "https://issuer.example/";  // exact match: a trailing slash is another issuer
  std::string tok = f.token("EdDSA", "ed1", c);
  check_refused(f.verify(tok), TokenError::Issuer, tok,
                "issuer `https://issuer.example/` is not `https://issuer.example`");
  c.erase("iss");
  tok = f.token("EdDSA", "ed1", c);
  check_refused(f.verify(tok), TokenError::Issuer, tok, "no string `iss`");
  c["iss"] = nlohmann::json::array({kIssuer});
  tok = f.token("EdDSA", "ed1", c);
  check_refused(f.verify(tok), TokenError::Issuer, tok);
  // No issuer configured: nothing passes, not even a token without `iss`.
  f.rules.issuer.clear();
  c.erase("iss");
  tok = f.token("EdDSA", "ed1", c);
  check_refused(f.verify(tok), TokenError::Issuer, tok, "no issuer is configured");
}

TEST_CASE("jwt: audience", "[jwt]") {
  Fixture f;
  nlohmann::json c = f.claims();
  SECTION("a string") {
    c["aud"] = "https://other.example/mcp";
    const std::string tok = f.token("EdDSA", "ed1", c);
    check_refused(f.verify(tok), TokenError::Audience, tok, "`https://mcp.example/mcp`");
  }
  SECTION("an array containing it") {
    c["aud"] = {"https://other.example", kAudience};
    CHECK(f.verify(f.token("EdDSA", "ed1", c)).ok);
  }
  SECTION("an array without it") {
    c["aud"] = {"https://other.example", 5, nlohmann::json::array({kAudience})};
    const std::string tok = f.token("EdDSA", "ed1", c);
    check_refused(f.verify(tok), TokenError::Audience, tok);
  }
  SECTION("absent") {
    c.erase("aud");
    const std::string tok = f.token("EdDSA", "ed1", c);
    check_refused(f.verify(tok), TokenError::Audience, tok);
  }
  SECTION("none configured") {
    f.rules.audience.clear();
    c["aud"] = "";
    const std::string tok = f.token("EdDSA", "ed1", c);
    check_refused(f.verify(tok), TokenError::Audience, tok, "no audience is configured");
  }
}

TEST_CASE("jwt: time claims, with the leeway", "[jwt]") {
  Fixture f;  // skew 60 s
  auto with = [&](const char* name, const nlohmann::json& v) {
    nlohmann::json c = f.claims();
    if (v.is_null())
      c.erase(name);
    else
      c[name] = v;
    return f.token("ES256", "ec1", c);
  };
  SECTION("exp") {
    CHECK(f.verify(with("exp", f.t() - 59)).ok);
    CHECK(f.verify(with("exp", f.t() - 60)).ok);
    const std::string late = with("exp", f.t() - 61);
    check_refused(f.verify(late), TokenError::Expired, late, "expired 61 s ago");
    CHECK(f.verify(with("exp", static_cast<double>(f.t()) - 59.5)).ok);  // fractional
    f.rules.skew = std::chrono::seconds(0);
    const std::string just = with("exp", f.t() - 1);
    check_refused(f.verify(just), TokenError::Expired, just);
    CHECK(f.verify(with("exp", f.t())).ok);
  }
  SECTION("exp is required and numeric") {
    for (const nlohmann::json& v : {nlohmann::json(), nlohmann::json("2030-01-01"),
                                    nlohmann::json(true), nlohmann::json::array({f.t() + 60})}) {
      const std::string tok = with("exp", v);
      check_refused(f.verify(tok), TokenError::Malformed, tok, "`exp`");
    }
    // 1e999 is out of range: refused, whether the parser rejects it or reads infinity.
    nlohmann::json c = f.claims();
    std::string payload = c.dump();
    payload.replace(payload.find("\"exp\":") + 6, std::to_string(f.t() + 300).size(), "1e999");
    const std::string tok = make_token(header("ES256", "ec1"), payload, keys().ec.get());
    check_refused(f.verify(tok), TokenError::Malformed, tok);
  }
  SECTION("nbf") {
    CHECK(f.verify(with("nbf", f.t() + 30)).ok);
    CHECK(f.verify(with("nbf", f.t() + 60)).ok);
    const std::string early = with("nbf", f.t() + 120);
    check_refused(f.verify(early), TokenError::NotYetValid, early, "another 120 s");
    const std::string bad = with("nbf", "soon");
    check_refused(f.verify(bad), TokenError::Malformed, bad, "`nbf`");
  }
  SECTION("iat in the future") {
    CHECK(f.verify(with("iat", f.t() + 30)).ok);
    const std::string ahead = with("iat", f.t() + 120);
    check_refused(f.verify(ahead), TokenError::NotYetValid, ahead, "issued 120 s in the future");
    CHECK(f.verify(with("iat", nlohmann::json())).ok);  // optional
    const std::string bad = with("iat", "now");
    check_refused(f.verify(bad), TokenError::Malformed, bad, "`iat`");
  }
  SECTION("huge values do not overflow") {
    const std::string far = with("nbf", 1e300);
    check_refused(f.verify(far), TokenError::NotYetValid, far);
    const std::string old = with("exp", -1e300);
    check_refused(f.verify(old), TokenError::Expired, old);
  }
}

TEST_CASE("jwt: scopes", "[jwt]") {
  Fixture f;
  auto token_with = [&](const char* name, const nlohmann::json& v) {
    nlohmann::json c = f.claims();
    c.erase("scope");
    if (!v.is_null()) c[name] = v;
    return f.token("EdDSA", "ed1", c);
  };
  SECTION("all required scopes present") {
    f.rules.required_scopes = {"tools:call", "tools:read"};
    CHECK(f.verify(f.token("EdDSA", "ed1")).ok);
  }
  SECTION("missing scopes are listed") {
    f.rules.required_scopes = {"tools:call", "admin", "tools:write"};
    const std::string tok = f.token("EdDSA", "ed1");
    TokenResult r = f.verify(tok);
    check_refused(r, TokenError::InsufficientScope, tok, "lacks scope `admin`, `tools:write`");
    CHECK(r.missing_scopes == std::vector<std::string>{"admin", "tools:write"});
    CHECK(r.scopes == std::vector<std::string>{"tools:read", "tools:call"});
    CHECK(oauth_error_code(r.error) == "insufficient_scope");
  }
  SECTION("scp as an array or a string") {
    f.rules.required_scopes = {"b"};
    TokenResult arr = f.verify(token_with("scp", {"a", "b"}));
    CHECK(arr.ok);
    CHECK(arr.scopes == std::vector<std::string>{"a", "b"});
    TokenResult str = f.verify(token_with("scp", "a  b"));
    CHECK(str.ok);
    CHECK(str.scopes == std::vector<std::string>{"a", "b"});
  }
  SECTION("scope wins over scp") {
    nlohmann::json c = f.claims();
    c["scope"] = "a";
    c["scp"] = {"b"};
    f.rules.required_scopes = {"b"};
    const std::string tok = f.token("EdDSA", "ed1", c);
    check_refused(f.verify(tok), TokenError::InsufficientScope, tok);
  }
  SECTION("a scope claim of another type grants nothing") {
    f.rules.required_scopes = {"a"};
    for (const auto& v : {nlohmann::json(5), nlohmann::json({{"a", true}})}) {
      const std::string tok = token_with("scope", v);
      TokenResult r = f.verify(tok);
      check_refused(r, TokenError::InsufficientScope, tok);
      CHECK(r.scopes.empty());
    }
    const std::string none = token_with("scope", nlohmann::json());
    check_refused(f.verify(none), TokenError::InsufficientScope, none);
  }
  SECTION("no scopes required, none granted") {
    CHECK(f.verify(token_with("scope", nlohmann::json())).ok);
  }
}

TEST_CASE("jwt: reasons never carry the token, and quote untrusted values safely", "[jwt]") {
  Fixture f;
  // A kid made to look like the token itself, with quotes, a backslash and a newline.
  const std::string kid = std::string(200, 'A') + "\"\\\n`";
  const std::string tok = f.token("ES256", kid);
  TokenResult r = f.verify(tok);
  check_refused(r, TokenError::UnknownKey, tok, "...");
  CHECK(r.why.size() < 120);
  CHECK(r.why.find(kid) == std::string::npos);
  // Short enough to be quoted whole: each unsafe character becomes `?`.
  const std::string odd = f.token("ES256", "a\"b\\c\nd`e\x01");
  check_refused(f.verify(odd), TokenError::UnknownKey, odd, "no key with kid `a?b?c?d?e?`");
  // Every kind of refusal above goes through check_refused; here a few more kinds at once.
  const std::string refusals[] = {
      tok.substr(0, tok.size() / 2),
      tok + "." + tok,
      raw_token(R"({"alg":"HS256"})", "{}", "secret"),
      raw_token(R"({"alg":"ES256","typ":"\"\\"})", "{}"),
  };
  for (const auto& t : refusals) {
    TokenResult x = f.verify(t);
    CHECK_FALSE(x.ok);
    CHECK(description_safe(x.why));
    CHECK(x.why.find(t) == std::string::npos);
  }
}

TEST_CASE("jwt: error names", "[jwt]") {
  CHECK(to_string(TokenError::Malformed) == "malformed");
  CHECK(to_string(TokenError::UnknownKey) == "unknown_key");
  CHECK(to_string(TokenError::NotYetValid) == "not_yet_valid");
  CHECK(to_string(TokenError::InsufficientScope) == "insufficient_scope");
  CHECK(oauth_error_code(TokenError::Signature) == "invalid_token");
  CHECK(oauth_error_code(TokenError::Expired) == "invalid_token");
  CHECK(oauth_error_code(TokenError::InsufficientScope) == "insufficient_scope");
}
