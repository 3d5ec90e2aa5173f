// JWKS parsing: real RSA, P-256 and Ed25519 keys round-trip; a key that does not qualify is
// skipped with a reason while the rest of the set stays; a document out of bounds is refused.
#include <catch2/catch.hpp>

#include "governance/auth/jwk.hpp"
#include "jwt_test_util.hpp"

using namespace gt::auth;
using namespace gt::auth::test;

namespace {

// Parses, expecting the set to be accepted, and returns it with its skip reasons.
KeySet accepted(const nlohmann::json& doc) {
  std::string why;
  auto set = KeySet::parse(doc.dump(), why);
  REQUIRE(set);
  CHECK(why.empty());
  return std::move(*set);
}

std::string refused(std::string_view text) {
  std::string why;
  auto set = KeySet::parse(text, why);
  CHECK_FALSE(set);
  CHECK_FALSE(why.empty());
  return why;
}

// The set keeps `good` and skips the other entry, with a reason containing `reason`.
void skips(const nlohmann::json& bad, const std::string& reason) {
  INFO(bad.dump());
  KeySet set = accepted(jwks({ed_jwk(keys().ed.get(), "good"), bad}));
  CHECK(set.size() == 1);
  CHECK(set.find("good"));
  REQUIRE(set.skipped().size() == 1);
  CHECK_THAT(set.skipped()[0], Catch::Contains(reason));
  CHECK_THAT(set.skipped()[0], Catch::StartsWith("key 1"));
}

}  // namespace

TEST_CASE("jwks: RSA, P-256 and Ed25519 keys are read", "[jwks]") {
  nlohmann::json rsa = rsa_jwk(keys().rsa.get(), "r");
  rsa["alg"] = "RS256";
  rsa["use"] = "sig";
  KeySet set = accepted(jwks({rsa, ec_jwk(keys().ec.get(), "e"), ed_jwk(keys().ed.get(), "d")}));
  CHECK(set.size() == 3);
  CHECK(set.skipped().empty());
  const Jwk* r = set.find("r");
  REQUIRE(r);
  CHECK(r->kty == "RSA");
  CHECK(r->alg == "RS256");
  CHECK(r->use == "sig");
  CHECK(r->bits == 2048);
  CHECK(r->for_signatures);
  CHECK(r->key);
  REQUIRE(set.find("e"));
  CHECK(set.find("e")->crv == "P-256");
  REQUIRE(set.find("d"));
  CHECK(set.find("d")->crv == "Ed25519");
  CHECK(set.find("nope") == nullptr);
  CHECK(set.find("") == nullptr);
}

TEST_CASE("jwks: an empty set and kid-less keys are fine", "[jwks]") {
  CHECK(accepted(nlohmann::json::parse(R"({"keys":[]})")).size() == 0);
  KeySet set = accepted(jwks({ec_jwk(keys().ec.get(), "")}));
  CHECK(set.size() == 1);
  CHECK(set.keys()[0].kid.empty());
}

TEST_CASE("jwks: a modulus with a leading zero byte is read by value", "[jwks]") {
  nlohmann::json rsa = rsa_jwk(keys().rsa.get(), "r");
  rsa["n"] =
      base64url_encode(std::string(1, '\0') + *base64url_decode(rsa["n"].get<std::string>()));
  KeySet set = accepted(jwks({rsa}));
  REQUIRE(set.find("r"));
  CHECK(set.find("r")->bits == 2048);
}

TEST_CASE("jwks: use and key_ops decide whether a key verifies", "[jwks]") {
  nlohmann::json enc = ec_jwk(keys().ec.get(), "enc");
  enc["use"] = "enc";
  nlohmann::json ops_sign = ec_jwk(keys().ec2.get(), "ops-sign");
  ops_sign["key_ops"] = {"sign"};
  nlohmann::json ops_verify = ed_jwk(keys().ed.get(), "ops-verify");
  ops_verify["key_ops"] = {"sign", "verify"};
  KeySet set = accepted(jwks({enc, ops_sign, ops_verify}));
  REQUIRE(set.size() == 3);
  CHECK_FALSE(set.find("enc")->for_signatures);
  CHECK_FALSE(set.find("ops-sign")->for_signatures);
  CHECK(set.find("ops-verify")->for_signatures);
}

TEST_CASE("jwks: keys that do not qualify are skipped with a reason", "[jwks]") {
  SECTION("RSA shorter than 2048 bits") {
    skips(rsa_jwk(keys().rsa1024.get(), "short"), "1024 bits; at least 2048");
    KeySet set = accepted(jwks({rsa_jwk(keys().rsa1024.get(), "short")}));
    CHECK(set.size() == 0);
    REQUIRE(set.skipped().size() == 1);
    CHECK_THAT(set.skipped()[0], Catch::Contains("kid `short`"));
  }
  SECTION("RSA with an even exponent") {
    nlohmann::json k = rsa_jwk(keys().rsa.get(), "e-even");
    k["e"] = base64url_encode(std::string("\x01\x00\x00", 3));
    skips(k, "exponent");
  }
  SECTION("RSA with a missing modulus") {
    nlohmann::json k = rsa_jwk(keys().rsa.get(), "no-n");
    k.erase("n");
    skips(k, "`n` is missing");
  }
  SECTION("RSA modulus in padded base64") {
    nlohmann::json k = rsa_jwk(keys().rsa.get(), "pad");
    k["n"] = k["n"].get<std::string>() + "=";
    skips(k, "`n` is not unpadded base64url");
  }
  SECTION("a P-256 point off the curve") {
    nlohmann::json k = ec_jwk(keys().ec.get(), "off");
    std::string y = *base64url_decode(k["y"].get<std::string>());
    y[31] = static_cast<char>(y[31] ^ 1);
    k["y"] = base64url_encode(y);
    skips(k, "not a valid P-256 public key");
  }
  SECTION("a P-256 coordinate of the wrong length") {
    nlohmann::json k = ec_jwk(keys().ec.get(), "short-x");
    k["x"] = base64url_encode(std::string(31, 'x'));
    skips(k, "32 bytes");
  }
  SECTION("another curve") {
    nlohmann::json k = ec_jwk(keys().ec.get(), "p384");
    k["crv"] = "P-384";
    skips(k, "curve `P-384` is not supported");
    nlohmann::json x = ed_jwk(keys().ed.get(), "x25519");
    x["crv"] = "X25519";
    skips(x, "curve `X25519` is not supported");
  }
  SECTION("an Ed25519 key of the wrong length") {
    nlohmann::json k = ed_jwk(keys().ed.get(), "ed-short");
    k["x"] = base64url_encode(std::string(31, 'x'));
    skips(k, "32 bytes");
  }
  SECTION("a symmetric key") {
    skips({{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}}, "symmetric");
  }
  SECTION("private key members") {
    nlohmann::json k = ec_jwk(keys().ec.get(), "leaked");
    k["d"] = "AAAA";
    skips(k, "private key member `d`");
  }
  SECTION("an unknown or missing key type") {
    skips({{"kty", "XYZ"}, {"kid", "x"}}, "key type `XYZ` is not supported");
    skips({{"kid", "x"}}, "key type");
  }
  SECTION("members of the wrong type") {
    nlohmann::json k = ec_jwk(keys().ec.get(), "");
    k["kid"] = 5;
    skips(k, "`kid` is not a string");
    nlohmann::json ops = ec_jwk(keys().ec.get(), "ops");
    ops["key_ops"] = "verify";
    skips(ops, "`key_ops` is not an array");
  }
  SECTION("an entry that is not an object") {
    skips(5, "not a JSON object");
  }
  SECTION("a repeated kid") {
    skips(ec_jwk(keys().ec.get(), "good"), "repeats the kid");
  }
}

TEST_CASE("jwks: documents out of bounds are refused whole", "[jwks]") {
  SECTION("not JSON, not an object, no keys array") {
    CHECK_THAT(refused("{\"keys\": ["), Catch::Contains("not valid JSON"));
    CHECK_THAT(refused("[]"), Catch::Contains("not a JSON object"));
    CHECK_THAT(refused("\"keys\""), Catch::Contains("not a JSON object"));
    CHECK_THAT(refused("{}"), Catch::Contains("no `keys` array"));
    CHECK_THAT(refused(R"({"keys":{}})"), Catch::Contains("no `keys` array"));
    CHECK_THAT(refused(""), Catch::Contains("not valid JSON"));
  }
  SECTION("more than 100 keys") {
    nlohmann::json doc = {{"keys", nlohmann::json::array()}};
    for (int i = 0; i < 100; ++i)
      doc["keys"].push_back(ed_jwk(keys().ed.get(), "k" + std::to_string(i)));
    CHECK(accepted(doc).size() == 100);
    doc["keys"].push_back(ed_jwk(keys().ed.get(), "k100"));
    CHECK_THAT(refused(doc.dump()), Catch::Contains("lists 101 keys; the limit is 100"));
  }
  SECTION("larger than 1 MiB") {
    nlohmann::json doc = jwks({ed_jwk(keys().ed.get(), "k")});
    doc["padding"] = std::string(KeySet::kMaxBytes, 'x');
    CHECK_THAT(refused(doc.dump()), Catch::Contains("the limit is 1048576"));
  }
}
