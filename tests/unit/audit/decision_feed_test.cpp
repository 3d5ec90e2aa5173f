// Decisions read back from a live log for the decisions page: the view of a record, its
// signature status against the keyring, following appends, and the bounds.
#include "governance/audit/decision_feed.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "governance/audit/dsse.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/records.hpp"

namespace audit = gt::gov::audit;
using nlohmann::json;

namespace {

json decision(std::uint64_t seq, const audit::SigningKey& key, const std::string& tool,
              const std::string& outcome) {
  return {{"kind", "decision"},
          {"seq", seq},
          {"prev", std::string(audit::kGenesisPrev)},
          {"key_id", key.key_id()},
          {"tenant", "acme"},
          {"agent", "bot"},
          {"server", "db"},
          {"tool", tool},
          {"decision", outcome},
          {"code", outcome == "deny" ? "GT-POLICY-DENY" : ""},
          {"reason", outcome == "deny" ? "no writes" : ""},
          {"rule_id", "r1"},
          {"policy", {{"id", "db.read_only"}}},
          {"id", "receipt-" + std::to_string(seq)},
          {"ts", "2026-12-07T10:00:0" + std::to_string(seq % 10) + "Z"}};
}

std::string line(const json& payload, const audit::SigningKey& key) {
  return audit::make_envelope(audit::kReceiptPayloadType, payload.dump(), key);
}

audit::Keyring ring(const audit::SigningKey& key, const std::string& agent = "*") {
  audit::Keyring r;
  audit::KeyringEntry e;
  e.key_id = key.key_id();
  e.public_key = key.public_key();
  e.agent = agent;
  r.entries.push_back(e);
  return r;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("gt-feed-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);  // a trusted keyring's
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("a decision record becomes the page's view, with its signature checked",
          "[audit][feed]") {
  auto key = audit::SigningKey::generate();
  auto other = audit::SigningKey::generate();
  auto l = line(decision(3, key, "drop", "deny"), key);
  auto r = ring(key);

  auto v = audit::decision_view(l, &r);
  CHECK(v["seq"] == 3);
  CHECK(v["tool"] == "drop");
  CHECK(v["decision"] == "deny");
  CHECK(v["code"] == "GT-POLICY-DENY");
  CHECK(v["policy_id"] == "db.read_only");
  CHECK(v["rule_id"] == "r1");
  CHECK(v["receipt_id"] == "receipt-3");
  CHECK(v["method"] == "tools/call");
  CHECK(v["signature"] == "verified");

  SECTION("no keyring, or none for this key: unknown key") {
    CHECK(audit::decision_view(l, nullptr)["signature"] == "unknown key");
    auto wrong = ring(other);
    CHECK(audit::decision_view(l, &wrong)["signature"] == "unknown key");
  }
  SECTION("a key listed for another agent does not vouch for this one") {
    auto for_alice = ring(key, "alice");
    CHECK(audit::decision_view(l, &for_alice)["signature"] == "unknown key");
  }
  SECTION("a payload changed after signing is invalid") {
    auto env = json::parse(l);
    auto p = decision(3, key, "drop", "allow");  // deny turned into allow
    env["payload"] = audit::base64_encode(p.dump());
    CHECK(audit::decision_view(env.dump(), &r)["signature"] == "invalid");
  }
  SECTION("a listed key id with another public key is invalid") {
    auto forged = ring(key);
    forged.entries[0].public_key = other.public_key();
    CHECK(audit::decision_view(l, &forged)["signature"] == "invalid");
  }
  SECTION("records that are not decisions, and lines that are not records, are skipped") {
    auto result = decision(4, key, "drop", "allow");
    result["kind"] = "result";
    CHECK(audit::decision_view(line(result, key), &r).is_null());
    CHECK(audit::decision_view("not json", &r).is_null());
    CHECK(audit::decision_view("{}", &r).is_null());
  }
}

TEST_CASE("a feed follows the active file and keeps the newest decisions", "[audit][feed]") {
  TempDir dir;
  auto key = audit::SigningKey::generate();
  // The keyring file is read from disk; write it where the feed looks.
  auto keyring = dir.path / "keyring.json";
  {
    std::ofstream(keyring) << ring(key).to_json();
    std::filesystem::permissions(
        keyring, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  auto active = dir.path / audit::kActiveLogName;
  {
    std::ofstream out(active);
    for (int i = 1; i <= 5; ++i)
      out << line(decision(i, key, "t" + std::to_string(i), "allow"), key) << "\n";
  }
  audit::DecisionFeed feed(dir.path, keyring, /*keep=*/3);
  REQUIRE(feed.recent().size() == 3);  // the backlog, bounded
  CHECK(feed.recent().front()["seq"] == 3);
  CHECK(feed.recent().back()["seq"] == 5);
  CHECK(feed.poll().empty());

  {
    std::ofstream out(active, std::ios::app);
    out << line(decision(6, key, "drop", "deny"), key) << "\n";
    out << line(decision(7, key, "t7", "allow"), key);  // not yet a whole line
  }
  auto fresh = feed.poll();
  REQUIRE(fresh.size() == 1);
  CHECK(fresh[0]["tool"] == "drop");
  CHECK(fresh[0]["signature"] == "verified");
  {
    std::ofstream out(active, std::ios::app);
    out << "\n";
    for (int i = 8; i <= 20; ++i)
      out << line(decision(i, key, "t", "allow"), key) << "\n";
  }
  // A burst longer than `keep`: only the newest are decoded, the rest counted as passed over.
  fresh = feed.poll();
  CHECK(fresh.size() == 3);
  CHECK(fresh.back()["seq"] == 20);
  CHECK(feed.skipped() == 11);
  CHECK(feed.recent().size() == 3);
}

TEST_CASE("a feed reads only the last bytes of a large log at start", "[audit][feed]") {
  TempDir dir;
  auto key = audit::SigningKey::generate();
  auto active = dir.path / audit::kActiveLogName;
  std::size_t one = 0;
  {
    std::ofstream out(active);
    for (int i = 1; i <= 200; ++i) {
      auto l = line(decision(i, key, "t", "allow"), key);
      one = l.size() + 1;
      out << l << "\n";
    }
  }
  // Room for about 10 records: the first, cut one is dropped, never misread.
  audit::DecisionFeed feed(dir.path, dir.path / "no-keyring.json", 500, one * 10 + one / 2);
  REQUIRE(feed.recent().size() == 10);
  CHECK(feed.recent().back()["seq"] == 200);
  CHECK(feed.recent().front()["seq"] == 191);
  CHECK(feed.recent().back()["signature"] == "unknown key");
}
