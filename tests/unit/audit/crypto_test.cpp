// Encodings, SHA-256, Ed25519 (RFC 8032 vectors), DSSE PAE and envelopes.
#include <sodium.h>

#include <array>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "governance/audit/dsse.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/keys.hpp"
#include "governance/audit/nonce_pool.hpp"
#include "governance/audit/sha256.hpp"

using namespace gt::gov::audit;

namespace {
std::string unhex(const char* h) {
  return *hex_decode(h);
}
}  // namespace

TEST_CASE("encoding: base64 and hex", "[crypto]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_decode("Zm9vYg==") == std::optional<std::string>("foob"));
  CHECK_FALSE(base64_decode("Zm9vYg"));     // padding required
  CHECK_FALSE(base64_decode("Zm9v Yg=="));  // no whitespace
  CHECK_FALSE(base64_decode("Zm9vYg-_"));   // not the URL alphabet
  CHECK(hex_encode(std::string("\x00\xff", 2)) == "00ff");
  CHECK(hex_decode("00ff") == std::optional<std::string>(std::string("\x00\xff", 2)));
  CHECK_FALSE(hex_decode("00FF"));
  CHECK_FALSE(hex_decode("abc"));
}

TEST_CASE("sha256: known answers", "[crypto]") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string prefixed = std::string(1, '\x00') + "abc";
  CHECK(to_hex(sha256_prefixed(0x00, "abc")) == sha256_hex(prefixed));
}

TEST_CASE("ed25519: RFC 8032 test vectors 1 and 2", "[crypto]") {
  struct V {
    const char* seed;
    const char* pk;
    const char* msg;
    const char* sig;
  } vs[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf"
       "9b46b"
       "d25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f"
       "11d8c"
       "387b2eaeb4302aeeb00d291612bb0c00"},
  };
  for (const auto& v : vs) {
    std::string seed = unhex(v.seed);
    SigningKey k = SigningKey::from_seed(reinterpret_cast<const std::uint8_t*>(seed.data()));
    CHECK(hex_encode(std::string(reinterpret_cast<const char*>(k.public_key().bytes.data()), 32)) ==
          v.pk);
    std::string msg = unhex(v.msg);
    CHECK(hex_encode(k.sign(msg)) == v.sig);
    CHECK(ed25519_verify(k.public_key(), msg, unhex(v.sig)));
    CHECK_FALSE(ed25519_verify(k.public_key(), msg + "x", unhex(v.sig)));
    // The key id: first 8 bytes of SHA-256 of the raw public key.
    CHECK(key_id_of(k.public_key()) == sha256_hex(unhex(v.pk)).substr(0, 16));
    // Parsing: base64 of the seed, or of the 64-byte secret key (seed || public key).
    CHECK(SigningKey::parse(base64_encode(seed), "t").key_id() == k.key_id());
    CHECK(SigningKey::parse(base64_encode(seed + unhex(v.pk)), "t").key_id() == k.key_id());
  }
}

TEST_CASE("ed25519: signatures equal libsodium's crypto_sign_detached", "[crypto]") {
  // SigningKey::sign() composes libsodium's primitives with a precomputed expanded key;
  // Ed25519 is deterministic, so it must match the reference byte for byte.
  REQUIRE(sodium_init() >= 0);
  int mismatches = 0, bad = 0;
  for (int key = 0; key < 8; ++key) {
    std::uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    SigningKey k = SigningKey::from_seed(seed);
    std::uint8_t pk[32], sk[64];
    crypto_sign_seed_keypair(pk, sk, seed);
    for (std::size_t len : {0, 1, 31, 32, 63, 64, 111, 112, 127, 128, 129, 255, 960, 1500, 9000}) {
      std::string msg(len, '\0');
      randombytes_buf(msg.data(), msg.size());
      std::uint8_t ref[64];
      crypto_sign_detached(ref, nullptr, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size(), sk);
      std::string sig = k.sign(msg);
      if (sig != std::string(reinterpret_cast<const char*>(ref), 64)) ++mismatches;
      if (!ed25519_verify(k.public_key(), msg, sig)) ++bad;
    }
  }
  CHECK(mismatches == 0);
  CHECK(bad == 0);
}

TEST_CASE("ed25519: signatures with precomputed nonces verify with libsodium", "[crypto]") {
  // sign_with() gives up RFC 8032's deterministic nonce, not the scheme: libsodium's own
  // verifier must accept every signature, reject a changed message, and R must differ per use.
  REQUIRE(sodium_init() >= 0);
  SigningKey k = SigningKey::generate();
  std::set<std::string> rs;
  int bad = 0, forged = 0;
  for (std::size_t len : {0, 1, 63, 64, 127, 128, 129, 960, 1500, 9000}) {
    std::string msg(len, '\0');
    randombytes_buf(msg.data(), msg.size());
    for (int i = 0; i < 20; ++i) {
      Nonce n = make_nonce();
      std::uint8_t sig[64];
      k.sign_with(n, msg, sig);
      // The nonce is wiped once used.
      CHECK(n.r == std::array<std::uint8_t, 32>{});
      if (crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(msg.data()),
                                      msg.size(), k.public_key().bytes.data()) != 0) {
        ++bad;
      }
      std::string other = msg + "x";
      if (crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(other.data()),
                                      other.size(), k.public_key().bytes.data()) == 0) {
        ++forged;
      }
      rs.insert(std::string(reinterpret_cast<const char*>(sig), 32));
    }
  }
  CHECK(bad == 0);
  CHECK(forged == 0);
  CHECK(rs.size() == 200);  // no R (hence no r) ever repeats
}

TEST_CASE("nonce pool: fills, hands each nonce out once, and reports an empty pool", "[crypto]") {
  SECTION("capacity 0 has no nonces and no thread") {
    NoncePool none(0);
    Nonce n;
    CHECK_FALSE(none.take(n));
    CHECK(none.stats().empty == 1);
  }
  SECTION("a pool refills as it is drained") {
    NoncePool pool(8);
    std::set<std::string> seen;
    int taken = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (taken < 64 && std::chrono::steady_clock::now() < deadline) {
      Nonce n;
      if (!pool.take(n)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      ++taken;
      seen.insert(std::string(reinterpret_cast<const char*>(n.R_point.data()), 32));
      // R really is rB.
      std::uint8_t check[32];
      REQUIRE(crypto_scalarmult_ed25519_base_noclamp(check, n.r.data()) == 0);
      CHECK(std::memcmp(check, n.R_point.data(), 32) == 0);
    }
    CHECK(taken == 64);
    CHECK(seen.size() == 64);
    auto st = pool.stats();
    CHECK(st.taken == 64);
    CHECK(st.made >= 64);
  }
}

TEST_CASE("dsse: envelopes signed with a nonce pool verify", "[crypto]") {
  SigningKey k = SigningKey::generate();
  NoncePool pool(4);
  int pooled = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (pool.stats().made == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int i = 0; i < 200; ++i) {
    std::string out, scratch, body = "{\"i\":" + std::to_string(i) + "}";
    append_envelope(out, scratch, kReceiptPayloadType, body, k, &pool);
    auto env = parse_envelope(out);
    REQUIRE(env);
    REQUIRE(env->signatures.size() == 1);
    CHECK(ed25519_verify(k.public_key(), pae(kReceiptPayloadType, body), env->signatures[0].sig));
    pooled = static_cast<int>(pool.stats().taken);
  }
  // Some came from the pool, the rest were signed the RFC 8032 way: both verify.
  CHECK(pooled > 0);
}

TEST_CASE("dsse: PAE matches the spec's example", "[crypto]") {
  CHECK(pae("http://example.com/HelloWorld", "hello world") ==
        "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  CHECK(pae("", "") == "DSSEv1 0  0 ");
}

TEST_CASE("dsse: envelope round trip and tamper detection", "[crypto]") {
  SigningKey k = SigningKey::generate();
  std::string body = R"({"a":1})";
  std::string line = make_envelope(kReceiptPayloadType, body, k);
  CHECK(line.rfind("{\"payload\":\"eyJhIjoxfQ==\",\"payloadType\":\"application/"
                   "vnd.glasstape.receipt+json\","
                   "\"signatures\":[{\"keyid\":\"" +
                       k.key_id() + "\",\"sig\":\"",
                   0) == 0);
  auto env = parse_envelope(line);
  REQUIRE(env);
  CHECK(env->payload == body);
  CHECK(env->payload_type == kReceiptPayloadType);
  REQUIRE(env->signatures.size() == 1);
  CHECK(env->signatures[0].keyid == k.key_id());
  CHECK(verify_envelope_signature(*env, env->signatures[0], k.public_key()));
  // The payload type is authenticated too.
  Envelope other = *env;
  other.payload_type = "application/json";
  CHECK_FALSE(verify_envelope_signature(other, other.signatures[0], k.public_key()));
  other = *env;
  other.payload = R"({"a":2})";
  CHECK_FALSE(verify_envelope_signature(other, other.signatures[0], k.public_key()));
  std::string err;
  CHECK_FALSE(parse_envelope("{\"payload\":1}", &err));
  CHECK_FALSE(err.empty());
  CHECK_FALSE(parse_envelope("not json"));
}
