#include "governance/auth/jwks_cache.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/auth/jwt_test_util.hpp"

using namespace gt::auth;
using namespace std::chrono_literals;

namespace {

std::string doc(std::initializer_list<std::string> kids) {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& kid : kids)
    keys.push_back(test::ed_jwk(test::keys().ed.get(), kid));
  return nlohmann::json{{"keys", keys}}.dump();
}

}  // namespace

TEST_CASE("jwks cache: fetched when missing, old, or a token names a new kid", "[jwks_cache]") {
  JwksCache c(JwksPolicy{600s, 30s, 3600s});
  const auto t0 = JwksCache::Clock::time_point{} + 1000h;
  std::string why;
  CHECK(c.keys(t0) == nullptr);  // never fetched: no token can verify
  REQUIRE(c.want_fetch(t0));
  CHECK_FALSE(c.want_fetch(t0 + 40s));  // one fetch at a time
  REQUIRE(c.fetched(t0 + 1s, doc({"k1"}), why));
  REQUIRE(c.keys(t0 + 1s) != nullptr);
  CHECK(c.keys(t0 + 1s)->find("k1") != nullptr);

  CHECK_FALSE(c.want_fetch(t0 + 10s));             // fresh
  CHECK_FALSE(c.want_fetch(t0 + 10s, "k1"));       // a known kid
  CHECK_FALSE(c.want_fetch(t0 + 10s, "rotated"));  // unknown, but within min_interval
  REQUIRE(c.want_fetch(t0 + 31s, "rotated"));      // unknown kid: fetch at once
  REQUIRE(c.fetched(t0 + 32s, doc({"k1", "rotated"}), why));
  CHECK(c.keys(t0 + 32s)->find("rotated") != nullptr);
  // Made-up kids: at most one fetch per min_interval however many tokens name them.
  int fetches = 0;
  for (int s = 62; s < 62 + 300; ++s) {
    if (c.want_fetch(t0 + std::chrono::seconds(s), "made-up-" + std::to_string(s))) {
      ++fetches;
      c.fetched(t0 + std::chrono::seconds(s), doc({"k1", "rotated"}), why);
    }
  }
  CHECK(fetches == 10);
  // Old: fetched again after max_age.
  CHECK(c.want_fetch(t0 + 361s + 600s));
}

TEST_CASE("jwks cache: a failed or invalid fetch keeps the last set until it is stale",
          "[jwks_cache]") {
  JwksCache c(JwksPolicy{600s, 30s, 3600s});
  const auto t0 = JwksCache::Clock::time_point{} + 1000h;
  std::string why;
  REQUIRE(c.want_fetch(t0));
  REQUIRE(c.fetched(t0, doc({"k1"}), why));
  REQUIRE(c.want_fetch(t0 + 600s));
  CHECK_FALSE(c.fetched(t0 + 600s, std::nullopt, why));  // unreachable
  CHECK(c.keys(t0 + 600s) != nullptr);
  REQUIRE(c.want_fetch(t0 + 630s));  // retried after min_interval
  CHECK_FALSE(c.fetched(t0 + 630s, std::string("{\"keys\":7}"), why));
  CHECK_FALSE(why.empty());
  CHECK(c.keys(t0 + 630s)->find("k1") != nullptr);
  // Past max_stale without a good fetch: no keys, every token refused.
  CHECK(c.keys(t0 + 3600s) != nullptr);
  CHECK(c.keys(t0 + 3601s) == nullptr);
  // A good fetch brings it back.
  REQUIRE(c.want_fetch(t0 + 3700s));
  REQUIRE(c.fetched(t0 + 3700s, doc({"k2"}), why));
  CHECK(c.keys(t0 + 3700s)->find("k2") != nullptr);
  CHECK(c.keys(t0 + 3700s)->find("k1") == nullptr);  // rotated out at the issuer: gone here
}
