// Decisions read back from a live log for the decisions page: the view of a record, its
// signature status against the keyring, following appends, and the bounds.
#include "governance/audit/decision_feed.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>

#include "governance/audit/dsse.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/jcs.hpp"
#include "governance/audit/records.hpp"
#include "log_fixture.hpp"

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

namespace {

// A sealed (v2) log as the writer makes it, and the feed's view of it (or of a tampered copy).
struct SealedLog : audit::test::LogFixture {
  std::vector<std::string> lines;
  std::filesystem::path keyring;
  SealedLog() {
    auto log = open();
    for (int round = 0; round < 3; ++round)
      write(*log, 10, round * 10);
    log.reset();
    lines = audit::test::lines_of(audit::test::slurp(active()));
    std::filesystem::permissions(dir.path, std::filesystem::perms::owner_all);
    keyring = dir.path / "keyring.json";
    std::ofstream(keyring) << audit::test::ring_for(key).to_json();
    std::filesystem::permissions(
        keyring, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  std::string kind(std::size_t i) const { return audit::parse_record(lines[i])->kind; }
  // Status by receipt id, of every decision the feed shows for `ls` as the active file.
  std::map<std::string, std::string> statuses(const std::vector<std::string>& ls) {
    audit::test::spit(active(), audit::test::join_lines(ls));
    audit::DecisionFeed feed(opts.dir, keyring);
    std::map<std::string, std::string> out;
    for (const auto& v : feed.recent())
      out[v["receipt_id"].get<std::string>()] = v["signature"].get<std::string>();
    return out;
  }
  std::string id(std::size_t i) const {
    return audit::parse_record(lines[i])->payload["id"].get<std::string>();
  }
};

std::string changed(const std::string& line, const std::function<void(json&)>& change) {
  json p = json::parse(line);
  change(p);
  return audit::canonicalize(p);
}

}  // namespace

TEST_CASE("a sealed decision is verified only when hashes tie it to its seal's signature",
          "[audit][feed]") {
  SealedLog log;
  // A decision followed by another one of its batch (not by its seal).
  std::size_t d = 0;
  for (std::size_t i = 0; i + 1 < log.lines.size() && !d; ++i)
    if (log.kind(i) == "decision" && log.kind(i + 1) == "decision") d = i;
  REQUIRE(d > 0);

  auto intact = log.statuses(log.lines);
  REQUIRE(intact.size() == 30);
  for (const auto& [id, status] : intact) {
    INFO(id);
    CHECK(status == "verified");
  }

  SECTION("a decision forged into a batch, chained to the line before it: invalid") {
    // Whoever can write the log can hash; only the seal's signed chain head cannot be moved.
    auto ls = log.lines;
    auto forged = changed(ls[d], [&](json& p) {
      p["id"] = "forged";
      p["prev"] = audit::sha256_hex(ls[d]);
    });
    ls.insert(ls.begin() + static_cast<std::ptrdiff_t>(d) + 1, forged);
    auto st = log.statuses(ls);
    CHECK(st["forged"] == "invalid");
    CHECK(st[log.id(d)] == "verified");  // the line after the forgery still names it
  }
  SECTION("a decision forged just before a seal: invalid") {
    std::size_t seal = 0;
    for (std::size_t i = d; i < log.lines.size() && !seal; ++i)
      if (log.kind(i) == "seal") seal = i;
    REQUIRE(log.kind(seal - 1) == "decision");
    auto ls = log.lines;
    auto forged = changed(ls[seal - 1], [&](json& p) {
      p["id"] = "forged";
      p["prev"] = audit::sha256_hex(ls[seal - 1]);
    });
    ls.insert(ls.begin() + static_cast<std::ptrdiff_t>(seal), forged);
    auto st = log.statuses(ls);
    CHECK(st["forged"] == "invalid");
    CHECK(st[log.id(seal - 1)] == "verified");
  }
  SECTION("a decision turned from deny to allow: invalid") {
    auto ls = log.lines;
    ls[d] = changed(ls[d],
                    [](json& p) { p["decision"] = p["decision"] == "allow" ? "deny" : "allow"; });
    CHECK(log.statuses(ls)[log.id(d)] == "invalid");
  }
  SECTION("the seal's prev moved to the forged line: its signed chain head still says no") {
    std::size_t seal = 0;
    for (std::size_t i = d; i < log.lines.size() && !seal; ++i)
      if (log.kind(i) == "seal") seal = i;
    auto ls = log.lines;
    auto forged = changed(ls[seal - 1], [&](json& p) {
      p["id"] = "forged";
      p["prev"] = audit::sha256_hex(ls[seal - 1]);
    });
    ls.insert(ls.begin() + static_cast<std::ptrdiff_t>(seal), forged);
    ls[seal + 1] = changed(ls[seal + 1], [&](json& p) { p["prev"] = audit::sha256_hex(forged); });
    auto st = log.statuses(ls);
    CHECK(st["forged"] == "invalid");
    CHECK(st[log.id(seal - 1)] == "invalid");
  }
  SECTION("a seal from before chain heads: only its signature is known") {
    auto ls = log.lines;
    const std::size_t last = ls.size() - 1;
    REQUIRE(log.kind(last) == "seal");
    json p = json::parse(ls[last]);
    auto cp = audit::parse_checkpoint_text(audit::parse_note(p["note"].get<std::string>())->text);
    REQUIRE(cp);
    cp->chain_head.clear();
    p["note"] = audit::sign_checkpoint(*cp, log.key);
    ls[last] = audit::canonicalize(p);
    auto st = log.statuses(ls);
    CHECK(st[log.id(last - 1)] == "seal signed");
    CHECK(st[log.id(d)] == "verified");  // under an earlier seal
  }
  SECTION("lines passed over between a decision and its seal: not linked") {
    std::size_t seal = 0;
    for (std::size_t i = d; i < log.lines.size() && !seal; ++i)
      if (log.kind(i) == "seal") seal = i;
    std::vector<std::string> head(log.lines.begin(),
                                  log.lines.begin() + static_cast<std::ptrdiff_t>(d) + 1);
    audit::test::spit(log.active(), audit::test::join_lines(head));
    audit::DecisionFeed feed(log.opts.dir, log.keyring, /*keep=*/1);
    std::ofstream out(log.active(), std::ios::app);
    for (std::size_t i = d + 1; i <= seal; ++i)
      out << log.lines[i] << "\n";  // a burst longer than keep: only the seal is read
    out.close();
    auto fresh = feed.poll();
    REQUIRE(fresh.size() == 1);
    CHECK(fresh[0]["receipt_id"] == log.id(d));
    CHECK(fresh[0]["signature"] == "not linked");
  }
}
