// API keys (governance/auth/api_keys.hpp): the keys file is read strictly, a presented key is
// looked up by its SHA-256 and refused as unknown, revoked or expired without ever being
// repeated, and ApiKeyFile picks up a rotation without a restart while a bad edit keeps the
// keys in force.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>

#include "governance/auth/api_keys.hpp"
#include "tests/unit/audit/audit_test_util.hpp"

using gt::auth::ApiKeyFile;
using gt::auth::ApiKeyFileError;
using gt::auth::ApiKeyResult;
using gt::auth::ApiKeyStore;
using gt::auth::Clock;
using gt::gov::audit::test::spit;
using gt::gov::audit::test::TempDir;
using nlohmann::json;
using Refusal = ApiKeyResult::Refusal;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string kKeyA = "gtk_key-a-0123456789abcdef";
const std::string kKeyB = "gtk_key-b-0123456789abcdef";
const std::string kKeyC = "gtk_key-c-0123456789abcdef";

// 2026-12-01T00:00:00Z
const Clock::time_point kNow = Clock::time_point{} + std::chrono::seconds(1796083200);

// One `keys:` entry for `key`, with extra lines for the entry appended.
std::string entry(const std::string& id, const std::string& key, const std::string& tenant,
                  const std::string& extra = "") {
  return "  - id: " + id + "\n    sha256: " + gt::auth::api_key_hash(key) +
         "\n    principal:\n      id: " + id + "-agent\n      tenant: " + tenant + "\n" + extra;
}

std::string load_error(const std::string& yaml) {
  std::string why;
  auto s = ApiKeyStore::parse(yaml, "api keys file `k.yaml`", why);
  if (s) return "accepted";
  return why;
}

ApiKeyStore parse(const std::string& yaml) {
  std::string why;
  auto s = ApiKeyStore::parse(yaml, "api keys file `k.yaml`", why);
  INFO(why);
  REQUIRE(s);
  return std::move(*s);
}

// A file written next to `path` and renamed over it, as an operator's tools do.
void replace_file(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  spit(tmp, text);
  ::chmod(tmp.c_str(), 0644);
  fs::rename(tmp, path);
}

// Captures what spdlog logs for the scope of the object.
struct LogCapture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  std::shared_ptr<spdlog::logger> old = spdlog::default_logger();
  LogCapture() { spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink)); }
  ~LogCapture() { spdlog::set_default_logger(old); }
  std::size_t count(const std::string& text) const {
    auto lines = sink->last_formatted();
    return static_cast<std::size_t>(std::count_if(
        lines.begin(), lines.end(), [&](auto& l) { return l.find(text) != std::string::npos; }));
  }
};

}  // namespace

TEST_CASE("api keys: hashes and new keys", "[api_keys]") {
  // The SHA-256 test vector of FIPS 180-2.
  CHECK(gt::auth::api_key_hash("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto k1 = gt::auth::new_api_key(), k2 = gt::auth::new_api_key();
  CHECK(k1 != k2);
  CHECK(k1.size() == 47);
  CHECK(k1.rfind("gtk_", 0) == 0);
  CHECK(k1.substr(4).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_") == std::string::npos);
  // A new key pasted into the file with its hash is accepted.
  auto s = parse("keys:\n" + entry("fresh", k1, "acme"));
  CHECK(s.lookup(k1, kNow).ok);
  CHECK_FALSE(s.lookup(k2, kNow).ok);
}

TEST_CASE("api keys: a good file", "[api_keys]") {
  auto s = parse("keys:\n" +
                 entry("ci-bot-2026-12", kKeyA, "acme",
                       "      roles: [deployer, reader]\n"
                       "      attributes: {team: infra, level: 3, on_call: true, "
                       "zip: \"02134\", tags: [a, b], nested: {x: ~}}\n"
                       "    expires: 2027-06-30T00:00:00Z\n") +
                 entry("old-bot", kKeyB, "globex", "    revoked: true\n") +
                 entry("expired-bot", kKeyC, "acme",
                       "    expires: 2026-11-30T23:59:59.5Z\n    revoked: false\n"));
  CHECK(s.size() == 3);

  SECTION("a known key is its principal") {
    auto r = s.lookup(kKeyA, kNow);
    CHECK(r.ok);
    CHECK(r.refusal == Refusal::None);
    CHECK(r.why.empty());
    CHECK(r.key_id == "ci-bot-2026-12");
    CHECK(r.principal.id == "ci-bot-2026-12-agent");
    CHECK(r.principal.tenant == "acme");
    CHECK(r.principal.roles == std::vector<std::string>{"deployer", "reader"});
    CHECK(r.principal.attributes == json{{"team", "infra"},
                                         {"level", 3},
                                         {"on_call", true},
                                         {"zip", "02134"},
                                         {"tags", {"a", "b"}},
                                         {"nested", {{"x", nullptr}}}});
  }
  SECTION("unknown keys, and lengths no key has") {
    for (const std::string& k :
         {std::string("gtk_not-a-key-0123456789"), kKeyA + "x", kKeyA.substr(0, kKeyA.size() - 1),
          std::string("short"), std::string(15, 'k'), std::string(513, 'k'), std::string()}) {
      auto r = s.lookup(k, kNow);
      CHECK_FALSE(r.ok);
      CHECK(r.refusal == Refusal::Unknown);
      CHECK(r.why == "unknown api key");
      CHECK(r.key_id.empty());
    }
  }
  SECTION("a revoked key is refused with its own reason") {
    auto r = s.lookup(kKeyB, kNow);
    CHECK_FALSE(r.ok);
    CHECK(r.refusal == Refusal::Revoked);
    CHECK(r.why == "api key `old-bot` is revoked");
    CHECK(r.key_id == "old-bot");
    CHECK(r.principal.id.empty());
  }
  SECTION("a key expires at its time") {
    auto r = s.lookup(kKeyC, kNow);
    CHECK_FALSE(r.ok);
    CHECK(r.refusal == Refusal::Expired);
    CHECK(r.why == "api key `expired-bot` expired at 2026-11-30T23:59:59.500000Z");
    CHECK(r.key_id == "expired-bot");
    CHECK(s.lookup(kKeyC, kNow - 501ms).ok);
    CHECK_FALSE(s.lookup(kKeyC, kNow - 500ms).ok);  // at the instant: expired
    // A key both revoked and expired is reported as revoked.
    auto both = parse("keys:\n" + entry("b", kKeyA, "acme",
                                        "    revoked: true\n    expires: 2020-01-01T00:00:00Z\n"));
    CHECK(both.lookup(kKeyA, kNow).refusal == Refusal::Revoked);
  }
  SECTION("the reason never holds the key") {
    for (const auto& k : {kKeyA, kKeyB, kKeyC, std::string("gtk_unknown-0123456789")}) {
      auto r = s.lookup(k, kNow + std::chrono::hours(24 * 365 * 2));
      CHECK(r.why.find(k) == std::string::npos);
      CHECK(r.why.find(k.substr(4, 8)) == std::string::npos);
    }
  }
  SECTION("an empty list is valid: no key is accepted") {
    auto none = parse("keys: []\n");
    CHECK(none.size() == 0);
    CHECK(none.lookup(kKeyA, kNow).refusal == Refusal::Unknown);
  }
}

TEST_CASE("api keys: a bad file is refused whole, saying where", "[api_keys][load]") {
  const std::string a = entry("a", kKeyA, "acme");
  const std::string hash_a = gt::auth::api_key_hash(kKeyA);

  SECTION("the top level") {
    CHECK(load_error("") ==
          "api keys file `k.yaml`: keys: the file must be a mapping with `keys:`");
    CHECK_THAT(load_error("keys: {}"), Catch::Contains("keys: must be a list (`keys: []` for "
                                                       "none)"));
    CHECK_THAT(load_error("keys:\n"), Catch::Contains("keys: must be a list"));
    CHECK(load_error("keys: []\nextra: 1\n") ==
          "api keys file `k.yaml`, line 2, column 1: keys: unknown top-level key `extra`");
    CHECK_THAT(load_error("keys: [\n"), Catch::StartsWith("api keys file `k.yaml`, line "));
  }
  SECTION("unknown and repeated keys in an entry") {
    CHECK(load_error("keys:\n" + a + "    scope: all\n") ==
          "api keys file `k.yaml`, line 7, column 5: keys[0]: unknown key `scope` (known keys: "
          "expires, id, principal, revoked, sha256)");
    CHECK_THAT(load_error("keys:\n" + a + "    revoked: false\n    revoked: true\n"),
               Catch::Contains("line 8, column 5: keys[0]: `revoked` is given twice"));
    CHECK_THAT(load_error("keys:\n" + a + "      role: admin\n"),
               Catch::Contains("line 7, column 7: keys[0].principal: unknown key `role` (known "
                               "keys: attributes, id, roles, tenant)"));
    CHECK_THAT(load_error("keys:\n  - just-a-string\n"),
               Catch::Contains("keys[0]: must be a mapping"));
  }
  SECTION("duplicate ids and duplicate hashes") {
    CHECK(load_error("keys:\n" + a + entry("a", kKeyB, "acme")) ==
          "api keys file `k.yaml`, line 7, column 9: keys[1].id: duplicate key id `a` (also "
          "keys[0])");
    CHECK(load_error("keys:\n" + a + entry("b", kKeyA, "globex")) ==
          "api keys file `k.yaml`, line 8, column 13: keys[1].sha256: the same key as keys[0] "
          "(`a`)");
  }
  SECTION("bad hex, which is never echoed") {
    std::string upper = hash_a;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    for (const std::string& bad :
         {upper, hash_a.substr(1), hash_a + "0", "z" + hash_a.substr(1), kKeyA, std::string("")}) {
      std::string text =
          "keys:\n  - id: a\n    sha256: \"" + bad + "\"\n    principal: {id: a, tenant: acme}\n";
      auto why = load_error(text);
      CHECK_THAT(why, Catch::Contains("line 3, column 13: keys[0].sha256: must be 64 lowercase "
                                      "hex digits"));
      if (!bad.empty()) CHECK(why.find(bad) == std::string::npos);
    }
    CHECK_THAT(load_error("keys:\n  - id: a\n    principal: {id: a, tenant: acme}\n"),
               Catch::Contains("line 2, column 5: keys[0].sha256: required"));
  }
  SECTION("the principal: id and tenant are required, the tenant a safe name") {
    auto with_principal = [&](const std::string& p) {
      return load_error("keys:\n  - id: a\n    sha256: " + hash_a + "\n    principal: " + p + "\n");
    };
    CHECK_THAT(load_error("keys:\n  - id: a\n    sha256: " + hash_a + "\n"),
               Catch::Contains("keys[0].principal: required"));
    CHECK_THAT(with_principal("{tenant: acme}"), Catch::Contains("keys[0].principal.id: required"));
    CHECK_THAT(with_principal("{id: a}"),
               Catch::Contains("keys[0].principal.tenant: required: no tenant, no access"));
    CHECK_THAT(with_principal("{id: a, tenant: ~}"),
               Catch::Contains("keys[0].principal.tenant: must be a tenant id"));
    for (const char* bad : {"../x", ".hidden", "a/b", "\"\""}) {
      CHECK_THAT(with_principal(std::string("{id: a, tenant: ") + bad + "}"),
                 Catch::Contains("line 4, column 32: keys[0].principal.tenant: must be a tenant "
                                 "id"));
    }
    CHECK_THAT(with_principal("{id: \"a\\nb\", tenant: acme}"),
               Catch::Contains("keys[0].principal.id: must be a non-empty string"));
    CHECK_THAT(with_principal("{id: a, tenant: acme, roles: admin}"),
               Catch::Contains("keys[0].principal.roles: must be a list of strings"));
    CHECK_THAT(with_principal("{id: a, tenant: acme, roles: [ok, [nested]]}"),
               Catch::Contains("keys[0].principal.roles[1]: must be a string"));
    CHECK_THAT(with_principal("{id: a, tenant: acme, attributes: [x]}"),
               Catch::Contains("keys[0].principal.attributes: must be a mapping"));
    std::string roles = "[";
    for (int i = 0; i < 65; ++i)
      roles += "r" + std::to_string(i) + ",";
    roles.back() = ']';
    CHECK_THAT(with_principal("{id: a, tenant: acme, roles: " + roles + "}"),
               Catch::Contains("has more than 64 roles"));
    CHECK_THAT(
        with_principal("{id: a, tenant: acme, attributes: {big: " + std::string(5000, 'x') + "}}"),
        Catch::Contains("keys[0].principal.attributes.big: is larger than 4096 bytes"));
  }
  SECTION("key ids, expiry and revocation") {
    auto with = [&](const std::string& id, const std::string& extra) {
      return load_error("keys:\n  - id: " + id + "\n    sha256: " + hash_a +
                        "\n    principal: {id: a, tenant: acme}\n" + extra);
    };
    CHECK_THAT(with("../k", ""), Catch::Contains("keys[0].id: must be 1 to 64 letters"));
    CHECK_THAT(with("[k]", ""), Catch::Contains("keys[0].id: must be 1 to 64 letters"));
    CHECK_THAT(with(std::string(65, 'k'), ""), Catch::Contains("keys[0].id: must be 1 to 64"));
    for (const char* bad : {"2027-06-30", "2027-06-30T00:00:00+02:00", "2027-02-30T00:00:00Z",
                            "2027-13-01T00:00:00Z", "tomorrow", "[2027]"}) {
      CHECK_THAT(with("k", std::string("    expires: ") + bad + "\n"),
                 Catch::Contains("line 5, column 14: keys[0].expires: must be an RFC 3339 "
                                 "date-time in UTC"));
    }
    CHECK(with("k", "    expires: 2028-02-29T12:00:00z\n") == "accepted");
    for (const char* bad : {"yes", "1", "on", "[true]"}) {
      CHECK_THAT(with("k", std::string("    revoked: ") + bad + "\n"),
                 Catch::Contains("keys[0].revoked: must be `true` or `false`"));
    }
  }
  SECTION("bounds: 10,000 keys, 1 MiB, and no alias bombs") {
    std::string many = "keys:\n";
    for (int i = 0; i <= 10000; ++i)
      many += "- {}\n";
    CHECK_THAT(load_error(many), Catch::Contains("keys: has more than 10000 keys"));
    CHECK_THAT(load_error("keys: []\n#" + std::string(1 << 20, 'x')),
               Catch::Contains("is larger than 1048576 bytes"));
    // One attribute of 40 levels of aliases, each twice the one before: 2^40 values once
    // expanded. The conversion stops at the size bound instead.
    std::string bomb = "[&a0 [" + std::string(100, 'x') + "]";
    for (int i = 1; i < 40; ++i) {
      bomb += ", &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + ", *a" +
              std::to_string(i - 1) + "]";
    }
    bomb += "]";
    auto text = "keys:\n  - id: a\n    sha256: " + hash_a +
                "\n    principal: {id: a, tenant: acme, attributes: {bomb: " + bomb + "}}\n";
    CHECK_THAT(load_error(text), Catch::Contains("is larger than 4096 bytes"));
  }
}

TEST_CASE("api keys: the file is read under the trust rules", "[api_keys][load]") {
  TempDir tmp;
  fs::path file = tmp.path / "api-keys.yaml";
  spit(file, "keys:\n" + entry("a", kKeyA, "acme"));
  ::chmod(file.c_str(), 0644);
  std::string why;
  auto s = ApiKeyStore::load(file.string(), why);
  REQUIRE(s);
  CHECK(s->lookup(kKeyA, kNow).ok);

  ::chmod(file.c_str(), 0666);
  CHECK_FALSE(ApiKeyStore::load(file.string(), why));
  CHECK_THAT(why, Catch::Contains("is writable by group or others"));

  CHECK_FALSE(ApiKeyStore::load((tmp.path / "missing.yaml").string(), why));
  CHECK_THAT(why, Catch::Contains("cannot read api keys file"));

  spit(file, "keys:\n  - id: a\n    sha256: nope\n");
  ::chmod(file.c_str(), 0644);
  CHECK_FALSE(ApiKeyStore::load(file.string(), why));
  CHECK_THAT(why, Catch::StartsWith("api keys file `" + file.string() +
                                    "`, line 3, column 13: "
                                    "keys[0].sha256: "));
}

TEST_CASE("api keys: rotation without a restart", "[api_keys][reload]") {
  TempDir tmp;
  LogCapture log;
  fs::path file = tmp.path / "api-keys.yaml";

  SECTION("a file missing at start is an error") {
    CHECK_THROWS_WITH(ApiKeyFile(file.string()), Catch::Contains("cannot read api keys file"));
    spit(file, "keys: [oops]\n");
    CHECK_THROWS_AS(ApiKeyFile(file.string()), ApiKeyFileError);
  }

  replace_file(file, "keys:\n" + entry("key-a", kKeyA, "acme"));
  ApiKeyFile keys(file.string());
  const auto t0 = kNow;
  CHECK(keys.lookup(kKeyA, t0).ok);
  CHECK(keys.lookup(kKeyB, t0).refusal == Refusal::Unknown);

  SECTION("a rewrite is picked up once a second has passed") {
    auto before = keys.current(t0);
    replace_file(file, "keys:\n" + entry("key-a", kKeyA, "acme", "    revoked: true\n") +
                           entry("key-b", kKeyB, "acme"));
    // Within the second the file is not looked at again.
    CHECK(keys.lookup(kKeyA, t0 + 500ms).ok);
    CHECK(keys.lookup(kKeyB, t0 + 999ms).refusal == Refusal::Unknown);
    // After it: the old key is refused, the new one accepted.
    auto r = keys.lookup(kKeyA, t0 + 1001ms);
    CHECK(r.refusal == Refusal::Revoked);
    CHECK(r.key_id == "key-a");
    r = keys.lookup(kKeyB, t0 + 1001ms);
    CHECK(r.ok);
    CHECK(r.principal.id == "key-b-agent");
    // A store handed out before the reload is still whole.
    CHECK(before->lookup(kKeyA, t0).ok);
    CHECK(before != keys.current(t0 + 1001ms));
  }
  SECTION("a rewrite in place is picked up too") {
    spit(file, "keys:\n" + entry("key-b", kKeyB, "acme"));
    CHECK(keys.lookup(kKeyB, t0 + 2s).ok);
    CHECK_FALSE(keys.lookup(kKeyA, t0 + 2s).ok);
  }
  SECTION("an unchanged file is not reloaded") {
    auto s = keys.current(t0);
    CHECK(keys.current(t0 + 5s) == s);
    CHECK(keys.current(t0 + 10s) == s);
  }
  SECTION("a clock that went back looks again") {
    keys.current(t0);
    replace_file(file, "keys:\n" + entry("key-b", kKeyB, "acme"));
    CHECK(keys.lookup(kKeyB, t0 - 10ms).ok);
  }
  SECTION("an invalid rewrite keeps the last good keys, and says why once") {
    auto good = keys.current(t0);
    replace_file(file, "keys:\n" + entry("key-b", kKeyB, "../etc"));
    CHECK(keys.lookup(kKeyA, t0 + 2s).ok);
    CHECK(keys.lookup(kKeyB, t0 + 2s).refusal == Refusal::Unknown);
    CHECK(keys.current(t0 + 4s) == good);
    CHECK(keys.current(t0 + 6s) == good);
    CHECK(log.count("keys[0].principal.tenant: must be a tenant id") == 1);
    CHECK(log.count("keeping the 1 keys loaded before") == 1);

    // Another bad version is reported again; then a good one replaces the keys.
    replace_file(file, "keys: [");
    CHECK(keys.lookup(kKeyA, t0 + 8s).ok);
    CHECK(log.count("keeping the 1 keys loaded before") == 2);
    replace_file(file, "keys:\n" + entry("key-b", kKeyB, "acme"));
    CHECK(keys.lookup(kKeyB, t0 + 10s).ok);
    CHECK_FALSE(keys.lookup(kKeyA, t0 + 10s).ok);
    CHECK(log.count("reloaded: 1 keys") == 1);
  }
  SECTION("a removed file refuses every key; an untrusted one keeps the last good keys") {
    fs::remove(file);
    CHECK(keys.lookup(kKeyA, t0 + 2s).refusal == Refusal::Unknown);
    CHECK(keys.lookup(kKeyA, t0 + 4s).refusal == Refusal::Unknown);
    CHECK(log.count("was removed: every API key is refused") == 1);
    replace_file(file, "keys:\n" + entry("key-a", kKeyA, "acme"));
    CHECK(keys.lookup(kKeyA, t0 + 5s).ok);  // back
    replace_file(file, "keys:\n" + entry("key-b", kKeyB, "acme"));
    ::chmod(file.c_str(), 0666);
    CHECK(keys.lookup(kKeyA, t0 + 6s).ok);
    CHECK(keys.lookup(kKeyB, t0 + 6s).refusal == Refusal::Unknown);
    CHECK(log.count("is writable by group or others") == 1);
    ::chmod(file.c_str(), 0644);  // a chmod changes the ctime: looked at again
    CHECK(keys.lookup(kKeyB, t0 + 8s).ok);
  }
}
