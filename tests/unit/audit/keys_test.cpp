// Keys: GT_ED25519_PRIVATE_KEY, key files (created once, 0600 in 0700 directories, refused
// when readable by others), the keyring and rotation.
#include <sys/stat.h>

#include <array>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "audit_test_util.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/keys.hpp"
#include "governance/audit/time.hpp"

using namespace gt::gov::audit;
using gt::gov::audit::test::ScopedEnv;
using gt::gov::audit::test::TempDir;

namespace {
unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}
}  // namespace

TEST_CASE("keys: GT_ED25519_PRIVATE_KEY", "[keys]") {
  TempDir d;
  SigningKey ref = SigningKey::generate();
  SECTION("a 32-byte seed") {
    ScopedEnv env(kKeyEnvVar, ref.seed_base64().c_str());
    AgentKey k = load_agent_key(d.path, "t1", "a1", true);
    CHECK(k.source == KeySource::Env);
    CHECK(k.key.key_id() == ref.key_id());
    // No key file is written; the public key is published in the tenant keyring.
    CHECK_FALSE(std::filesystem::exists(agent_key_path(d.path, "t1", "a1")));
    Keyring ring = Keyring::load(keyring_path(d.path, "t1"));
    REQUIRE(ring.entries.size() == 1);
    CHECK(ring.entries[0].key_id == ref.key_id());
    CHECK(ring.entries[0].agent == "*");
  }
  SECTION("malformed values are clear errors that do not echo the value") {
    for (const char* bad : {"", "not base64!", "AAAA", "c2VjcmV0c2VjcmV0c2VjcmV0"}) {
      ScopedEnv env(kKeyEnvVar, bad);
      try {
        load_agent_key(d.path, "t1", "a1", true);
        FAIL("accepted `" << bad << "`");
      } catch (const KeyError& e) {
        std::string msg = e.what();
        CHECK(msg.find(kKeyEnvVar) != std::string::npos);
        if (*bad) CHECK(msg.find(bad) == std::string::npos);
      }
    }
  }
  SECTION("a 64-byte secret key whose public half does not match") {
    SigningKey other = SigningKey::generate();
    std::string sk = *base64_decode(ref.seed_base64());
    sk.append(reinterpret_cast<const char*>(other.public_key().bytes.data()), 32);
    ScopedEnv env(kKeyEnvVar, base64_encode(sk).c_str());
    CHECK_THROWS_WITH(load_agent_key(d.path, "t1", "a1", true),
                      Catch::Contains("does not match its seed"));
  }
}

TEST_CASE("keys: key files are created once with safe modes", "[keys]") {
  TempDir d;
  ScopedEnv env(kKeyEnvVar, nullptr);
  AgentKey first = load_agent_key(d.path / "keys", "acme", "claude", true);
  CHECK(first.source == KeySource::Generated);
  auto file = agent_key_path(d.path / "keys", "acme", "claude");
  CHECK(first.file == file);
  CHECK(mode_of(file) == 0600);
  CHECK(mode_of(file.parent_path()) == 0700);
  CHECK(mode_of(file.parent_path().parent_path()) == 0700);
  // The file holds the seed only; the private key never appears in the keyring.
  std::string ring_text = gt::gov::audit::test::slurp(keyring_path(d.path / "keys", "acme"));
  CHECK(ring_text.find(first.key.seed_base64()) == std::string::npos);
  CHECK(ring_text.find(first.key.public_key().base64()) != std::string::npos);
  AgentKey again = load_agent_key(d.path / "keys", "acme", "claude", true);
  CHECK(again.source == KeySource::File);
  CHECK(again.key.key_id() == first.key.key_id());
  // Each agent has its own key.
  AgentKey other = load_agent_key(d.path / "keys", "acme", "cursor", true);
  CHECK(other.key.key_id() != first.key.key_id());
  CHECK_THROWS_WITH(load_agent_key(d.path / "keys", "acme", "nobody", false),
                    Catch::Contains("no key for agent `nobody`"));
  CHECK_THROWS_AS(load_agent_key(d.path / "keys", "../x", "a", true), KeyError);
  // An agent id that is not a safe path component (an OAuth `sub` such as `auth0|42`, or a
  // hostile `../../x`) gets a directory named by its hash, inside its tenant's.
  const std::vector<std::string> hostile = {"a/b", "..", "../../x", "auth0|42",
                                            std::string(200, 'a')};
  for (const auto& agent : hostile) {
    INFO(agent);
    AgentKey k = load_agent_key(d.path / "keys", "acme", agent, true);
    CHECK(k.source == KeySource::Generated);
    CHECK(k.file.parent_path().parent_path() == d.path / "keys" / "acme");
    CHECK(k.file.parent_path().filename().string().rfind("agent-", 0) == 0);
    CHECK(k.file.parent_path().filename().string().size() == 6 + 32);
    CHECK(k.key.key_id() != first.key.key_id());
  }
  CHECK(agent_key_dir("claude-2.x_y") == "claude-2.x_y");
  CHECK(agent_key_dir("a/b") != agent_key_dir("a\\b"));
  CHECK_THROWS_AS(load_agent_key(d.path / "keys", "acme", "a\nb", true), KeyError);
  CHECK_THROWS_AS(load_agent_key(d.path / "keys", "acme", "", true), KeyError);
  CHECK_THROWS_AS(load_agent_key(d.path / "keys", "acme", std::string(257, 'a'), true), KeyError);
}

TEST_CASE("keys: GT_KEYS_DIR moves the root", "[keys]") {
  TempDir d;
  ScopedEnv env(kKeysDirEnvVar, d.path.c_str());
  CHECK(default_keys_root() == d.path);
  ScopedEnv none(kKeysDirEnvVar, nullptr);
  ScopedEnv home("HOME", "/home/someone");
  CHECK(default_keys_root() == std::filesystem::path("/home/someone/.glasstape/keys"));
}

TEST_CASE("keys: a key file readable by group or others is refused", "[keys]") {
  TempDir d;
  ScopedEnv env(kKeyEnvVar, nullptr);
  AgentKey k = load_agent_key(d.path, "t", "a", true);
  auto file = agent_key_path(d.path, "t", "a");
  for (unsigned mode : {0640u, 0604u, 0660u, 0644u}) {
    ::chmod(file.c_str(), mode);
    CHECK_THROWS_WITH(
        load_agent_key(d.path, "t", "a", true),
        Catch::Contains("accessible by group or others") && Catch::Contains("chmod 600"));
  }
  ::chmod(file.c_str(), 0400);
  CHECK(load_agent_key(d.path, "t", "a", true).key.key_id() == k.key.key_id());
  // A symbolic link is refused too (it could point anywhere).
  ::chmod(file.c_str(), 0600);
  std::filesystem::create_directories(d.path / "t" / "b");
  std::filesystem::create_symlink(file, agent_key_path(d.path, "t", "b"));
  CHECK_THROWS_WITH(load_agent_key(d.path, "t", "b", true), Catch::Contains("symbolic link"));
  // Garbage in the file is an error, not a new key.
  gt::gov::audit::test::spit(file, "garbage\n");
  CHECK_THROWS_WITH(load_agent_key(d.path, "t", "a", true), Catch::Contains("not valid base64"));
}

TEST_CASE("keys: rotation keeps the old public key with a closed window", "[keys]") {
  TempDir d;
  ScopedEnv env(kKeyEnvVar, nullptr);
  AgentKey k = generate_agent_key(d.path, "t", "a");
  CHECK_THROWS_WITH(generate_agent_key(d.path, "t", "a"), Catch::Contains("exists already"));
  Rotation r = rotate_agent_key(d.path, "t", "a");
  CHECK(r.old_key_id == k.key.key_id());
  CHECK(r.new_key.key.key_id() != k.key.key_id());
  CHECK(load_agent_key(d.path, "t", "a", false).key.key_id() == r.new_key.key.key_id());
  CHECK(mode_of(agent_key_path(d.path, "t", "a")) == 0600);
  Keyring ring = Keyring::load(keyring_path(d.path, "t"));
  auto olds = ring.find(k.key.key_id());
  auto news = ring.find(r.new_key.key.key_id());
  REQUIRE(olds.size() == 1);
  REQUIRE(news.size() == 1);
  CHECK_FALSE(olds[0]->not_after.empty());
  CHECK(news[0]->not_after.empty());
  CHECK(*parse_rfc3339(news[0]->not_before) <= *parse_rfc3339(olds[0]->not_after));
  auto na = *parse_rfc3339(olds[0]->not_after);
  CHECK(key_window_error(*olds[0], na - 1000000).empty());
  CHECK_THAT(key_window_error(*olds[0], na + 1), Catch::Contains("retired"));
  auto nb = *parse_rfc3339(news[0]->not_before);
  CHECK(key_window_error(*news[0], nb - 1000000).empty());  // within the grace
  CHECK_THAT(key_window_error(*news[0], nb - (kNotBeforeGraceSeconds + 1) * 1000000),
             Catch::Contains("not valid before"));
  ScopedEnv envkey(kKeyEnvVar, SigningKey::generate().seed_base64().c_str());
  CHECK_THROWS_WITH(rotate_agent_key(d.path, "t", "a"), Catch::Contains(kKeyEnvVar));
}

TEST_CASE("keys: keyring parsing", "[keys]") {
  SigningKey k = SigningKey::generate();
  std::string good =
      R"({"keys":[{"public_key":")" + k.public_key().base64() +
      R"(","tenant":"t","agent":"a","not_before":"2025-01-01T00:00:00Z","not_after":null}]})";
  Keyring r = Keyring::parse(good, "ring");
  REQUIRE(r.entries.size() == 1);
  CHECK(r.entries[0].key_id == k.key_id());
  CHECK(key_covers(r.entries[0], "t", "a"));
  CHECK_FALSE(key_covers(r.entries[0], "t", "b"));
  CHECK(Keyring::parse(r.to_json(), "again").entries[0].key_id == k.key_id());
  CHECK_THROWS_WITH(Keyring::parse(R"({"keys":[{"public_key":"AAAA"}]})", "ring"),
                    Catch::Contains("base64 of 32 bytes"));
  CHECK_THROWS_WITH(Keyring::parse(R"({"keys":[{"public_key":")" + k.public_key().base64() +
                                       R"(","key_id":"0000000000000000"}]})",
                                   "ring"),
                    Catch::Contains("does not match"));
  CHECK_THROWS_WITH(Keyring::parse(R"({"keys":[{"public_key":")" + k.public_key().base64() +
                                       R"(","not_after":"yesterday"}]})",
                                   "ring"),
                    Catch::Contains("rfc 3339"));
}

TEST_CASE("time: rfc 3339", "[keys]") {
  using namespace std::chrono;
  auto t = Clock::time_point(microseconds(1717245296789012));
  CHECK(rfc3339_utc(t) == "2024-06-01T12:34:56.789012Z");
  CHECK(parse_rfc3339("2024-06-01T12:34:56.789012Z") == 1717245296789012);
  CHECK(parse_rfc3339("2024-06-01T14:34:56.789012+02:00") == 1717245296789012);
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(rfc3339_utc(Clock::time_point(microseconds(0))) == "1970-01-01T00:00:00.000000Z");
  CHECK_FALSE(parse_rfc3339("2024-06-01"));
  CHECK_FALSE(parse_rfc3339("2024-13-01T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2024-06-01T00:00:00"));
  // Against the C library's calendar, and back through the parser, from 1970 to 2261 (the
  // clock counts nanoseconds in 64 bits).
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::int64_t us = static_cast<std::int64_t>(rng() % 9200000000000000ull);
    if (i < 4) us = std::array<std::int64_t, 4>{0, 951782400000000, 9199999999999999, 1}[i];
    std::string s = rfc3339_utc(Clock::time_point(microseconds(us)));
    std::time_t secs = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char want[40];
    std::strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(us % 1000000));
    INFO(us);
    REQUIRE(s == std::string(want) + frac);
    REQUIRE(parse_rfc3339(s) == us);
  }
}
