// Signed policy directories: sign, verify, and reject unsigned or altered files.
#include <catch2/catch.hpp>

#include <sodium.h>

#include "governance/policy/manifest.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;
using gt_test::json;
using gt_test::TempDir;

namespace {

SecretKey make_key(std::string* seed_b64 = nullptr) {
  REQUIRE(sodium_init() >= 0);
  unsigned char seed[32];
  randombytes_buf(seed, sizeof seed);
  std::string b64 = base64_encode(std::string_view(reinterpret_cast<char*>(seed), 32));
  if (seed_b64) *seed_b64 = b64;
  SecretKey sk;
  std::string err;
  REQUIRE(parse_secret_key(b64, sk, err));
  return sk;
}

std::string raw(const PublicKey& pk) {
  return std::string(reinterpret_cast<const char*>(pk.data()), pk.size());
}

Result call(const PolicySet& set, const std::string& tool) {
  gt::gov::Principal p;
  gt::gov::ToolRef t{"srv", tool, json::object()};
  json args = json::object();
  return evaluate(Request{p, t, args, gt_test::at(0)}, set);
}

}  // namespace

TEST_CASE("keys: seed, 64-byte secret key, JSON wrapper; errors never echo the key", "[signing]") {
  std::string seed;
  SecretKey sk = make_key(&seed);
  SecretKey sk2;
  std::string err;
  REQUIRE(parse_secret_key(
      base64_encode(std::string_view(reinterpret_cast<const char*>(sk.data()), 64)), sk2, err));
  CHECK(sk == sk2);
  REQUIRE(parse_secret_key("{\"private_key\": \"" + seed + "\"}", sk2, err));
  CHECK(sk == sk2);
  CHECK_FALSE(parse_secret_key("c2hvcnQ=", sk2, err));
  CHECK(err ==
        "the private key must be the base64 of a 32-byte Ed25519 seed or a 64-byte secret key");
  PublicKey pk;
  REQUIRE(parse_public_key(base64_encode(raw(public_key_of(sk))), pk, err));
  CHECK(pk == public_key_of(sk));
}

TEST_CASE("sign and verify a policy directory", "[signing]") {
  TempDir d;
  d.write("a.yaml", "policy_id: a\ntools: [ta]\nrules: {allow: [{id: ok, condition: ''}]}\n");
  d.write("sub/b.yaml", "policy_id: b\ntools: [tb]\nrules: {allow: [{id: ok, condition: ''}]}\n");
  d.write("a_test.yaml", "tests: []\n");
  SecretKey sk = make_key();
  auto s = sign_policy_dir(d.path, sk);
  REQUIRE(s.ok);
  CHECK(s.files == 3);
  auto v = verify_manifest(d.path, public_key_of(sk));
  REQUIRE(v.ok);
  CHECK(v.files.count("sub/b.yaml") == 1);
  CHECK(v.files.count("a_test.yaml") == 1);

  SetOptions o;
  o.require_signed = true;
  o.public_key = raw(public_key_of(sk));
  auto rep = load_policy_dir(d.path, o);
  REQUIRE(rep.set);
  CHECK(call(*rep.set, "ta").effect == Effect::Allow);
  CHECK(call(*rep.set, "tb").effect == Effect::Allow);

  SECTION("an altered file is not loaded; its tools are denied with that reason") {
    d.write("sub/b.yaml",
            "policy_id: b\ntools: [tb]\nrules: {allow: [{id: ok, condition: ''}, {id: more, "
            "condition: ''}]}\n");
    auto rep2 = load_policy_dir(d.path, o);
    REQUIRE(rep2.set);
    CHECK(call(*rep2.set, "ta").effect == Effect::Allow);
    auto r = call(*rep2.set, "tb");
    CHECK(r.effect == Effect::Deny);
    CHECK(r.code == codes::kUnsigned);
    CHECK(r.reason == "policy file `sub/b.yaml` was altered after signing (sha256 mismatch)");
  }
  SECTION("a new unsigned file is not loaded") {
    d.write("c.yaml", "policy_id: c\ntools: [tc]\nrules: {allow: [{id: ok, condition: ''}]}\n");
    auto rep2 = load_policy_dir(d.path, o);
    REQUIRE(rep2.set);
    CHECK(call(*rep2.set, "tc").reason == "policy file `c.yaml` is not in the signed manifest");
  }
  SECTION("a manifest signed by another key is not trusted") {
    SecretKey other = make_key();
    o.public_key = raw(public_key_of(other));
    auto rep2 = load_policy_dir(d.path, o);
    REQUIRE(rep2.set);
    auto r = call(*rep2.set, "ta");
    CHECK(r.code == codes::kUnsigned);
    CHECK(r.reason ==
          "policy file `a.yaml` is not trusted: the manifest signature does not verify with the "
          "configured public key");
  }
  SECTION("monitor mode never waives signatures") {
    d.write("a.yaml", "policy_id: a\ntools: [ta]\nrules: {allow: [{id: ok, condition: 'true'}]}\n");
    o.mode = Mode::Monitor;
    auto rep2 = load_policy_dir(d.path, o);
    REQUIRE(rep2.set);
    CHECK(call(*rep2.set, "ta").effect == Effect::Deny);
  }
  SECTION("an edited manifest breaks the signature") {
    d.write(kManifestFile, "{\"files\": {}}\n");
    auto rep2 = load_policy_dir(d.path, o);
    REQUIRE(rep2.set);
    CHECK(call(*rep2.set, "ta").code == codes::kUnsigned);
  }
}
