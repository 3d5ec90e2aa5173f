// The verifier against sealed (v2) logs, as the writer makes them, tampered with by someone
// who can write the log but does not hold the keys: no record is signed alone, so every attack
// must get past the chain, the seals' trees, and the rule that a seal carries the signature of
// the key of every record it covers.
#include <catch2/catch.hpp>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/jcs.hpp"
#include "governance/audit/records.hpp"
#include "log_fixture.hpp"

using namespace gt::gov::audit;
using namespace gt::gov::audit::test;
using nlohmann::json;

namespace {

struct Sealed : LogFixture {
  std::vector<std::string> lines;
  Sealed() {
    auto log = open();
    for (int round = 0; round < 4; ++round)
      write(*log, 10, round * 10);  // several batches, several seals
    log.reset();
    lines = lines_of(slurp(active()));
  }
  std::size_t index_of(const std::string& kind, int n = 0) const {
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (parse_record(lines[i])->kind == kind && n-- == 0) return i;
    FAIL("no " << kind);
    return 0;
  }
  VerifyReport save_and_verify(const std::vector<std::string>& ls) {
    spit(active(), join_lines(ls));
    return verify();
  }
};

std::string edited(const std::string& line, const std::function<void(json&)>& change) {
  json p = json::parse(line);
  change(p);
  return canonicalize(p);
}

}  // namespace

TEST_CASE("verify sealed: an intact log, every record under a seal of its key",
          "[verify][sealed]") {
  Sealed s;
  auto rep = s.verify(slurp(s.opts.dir / kCheckpointFileName));
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == 40);
  CHECK(rep.seals >= 4);
  CHECK(rep.checkpoints == 0);
}

TEST_CASE("verify sealed: edits, forgeries and cuts are named", "[verify][sealed]") {
  Sealed s;
  const std::size_t d = s.index_of("decision", 3);
  const auto seq = parse_record(s.lines[d])->seq;
  SECTION("a decision turned from deny to allow: the chain catches it") {
    auto ls = s.lines;
    ls[d] = edited(ls[d], [](json& p) { p["decision"] = "allow"; });
    auto rep = s.save_and_verify(ls);
    CHECK(rep.first.damage == Damage::Edited);
    CHECK(rep.first.seq == seq);
  }
  SECTION("the last record before a seal edited: the seal's tree catches it") {
    const std::size_t seal = s.index_of("seal", 1);
    auto ls = s.lines;
    ls[seal - 1] = edited(ls[seal - 1], [](json& p) { p["tool"] = "other"; });
    auto rep = s.save_and_verify(ls);
    CHECK(rep.first.damage == Damage::Edited);
  }
  SECTION("a forged record re-chained after the last seal: unsealed") {
    auto ls = s.lines;
    auto last = parse_record(ls.back());
    json p = parse_record(ls[d])->payload;
    p["id"] = "forged";
    p["decision"] = "allow";
    p["seq"] = last->seq + 1;
    p["prev"] = sha256_hex(ls.back());
    ls.push_back(canonicalize(p));
    auto rep = s.save_and_verify(ls);
    CHECK(rep.first.damage == Damage::Unsealed);
    CHECK(rep.first.seq == last->seq + 1);
  }
  SECTION("a forged record with a copied seal after it: the copy's tree does not match") {
    auto ls = s.lines;
    auto last = parse_record(ls.back());
    json p = parse_record(ls[d])->payload;
    p["id"] = "forged";
    p["seq"] = last->seq + 1;
    p["prev"] = sha256_hex(ls.back());
    ls.push_back(canonicalize(p));
    json seal = json::parse(ls[s.index_of("seal", 1)]);
    seal["seq"] = last->seq + 2;
    seal["prev"] = sha256_hex(ls.back());
    ls.push_back(canonicalize(seal));
    auto rep = s.save_and_verify(ls);
    CHECK_FALSE(rep.ok);
    CHECK(rep.first.damage == Damage::Edited);
  }
  SECTION("the final seal cut off: the records before it are unsealed") {
    auto ls = s.lines;
    ls.pop_back();
    auto rep = s.save_and_verify(ls);
    CHECK(rep.first.damage == Damage::Unsealed);
  }
  SECTION("every seal's signed chain head is the hash of the line before it") {
    for (std::size_t i = 1; i < s.lines.size(); ++i) {
      auto r = parse_record(s.lines[i]);
      if (r->kind != "seal") continue;
      auto cp = parse_checkpoint_text(parse_note(r->payload["note"].get<std::string>())->text);
      REQUIRE(cp);
      CHECK(cp->chain_head == sha256_hex(s.lines[i - 1]));
    }
  }
  SECTION("a seal whose signed chain head names another line: named, though its tree is right") {
    // Only the key's holder can make such a note; a verifier that follows the chain head
    // rather than the tree (the decisions page) must not be the only one to notice.
    auto ls = s.lines;
    const std::size_t seal = ls.size() - 1;  // the last line: nothing after it to re-chain
    REQUIRE(parse_record(ls[seal])->kind == "seal");
    json p = json::parse(ls[seal]);
    auto cp = parse_checkpoint_text(parse_note(p["note"].get<std::string>())->text);
    REQUIRE(cp);
    cp->chain_head = sha256_hex(ls[seal - 2]);
    p["note"] = sign_checkpoint(*cp, s.key);
    ls[seal] = canonicalize(p);
    auto rep = s.save_and_verify(ls);
    CHECK(rep.first.damage == Damage::Edited);
    CHECK_THAT(rep.first.message, Catch::Contains("chain head is not the hash of the line before"));
  }
  SECTION("whole batches cut from the end: only a checkpoint kept elsewhere tells") {
    const std::string kept = slurp(s.opts.dir / kCheckpointFileName);
    auto ls = s.lines;
    ls.resize(s.index_of("seal", 1) + 1);
    auto rep = s.save_and_verify(ls);
    CHECK(rep.ok);  // self-consistent
    auto with = s.verify(kept);
    CHECK(with.first.damage == Damage::Truncated);
  }
}

TEST_CASE("verify sealed: a seal must carry the key of every record it covers",
          "[verify][sealed]") {
  // Two agents with their own keys write into one log; the log key signs for neither.
  LogFixture f;
  auto log_key = SigningKey::generate();
  auto a = SigningKey::generate(), b = SigningKey::generate();
  struct Keys : KeyProvider {
    std::map<std::string, SigningKey> k;
    const SigningKey& key_for(const std::string& agent) override { return k.at(agent); }
  };
  auto keys = std::make_shared<Keys>();
  keys->k.emplace("log", clone_key(log_key));
  keys->k.emplace("agent-a", clone_key(a));
  keys->k.emplace("agent-b", clone_key(b));
  {
    AuditLog log(f.opts, keys, "log");
    for (int i = 0; i < 6; ++i)
      log.append(i % 2 ? "agent-a" : "agent-b", decision(i, true, i % 2 ? "agent-a" : "agent-b"),
                 AuditLog::Kind::Decision, nullptr);
    log.flush();
  }
  VerifyOptions vo;
  vo.keyring = ring_for(log_key, "acme", "log");
  vo.keyring.merge(ring_for(a, "acme", "agent-a"));
  vo.keyring.merge(ring_for(b, "acme", "agent-b"));
  auto files = log_files_in(f.opts.dir);
  auto rep = verify_log(files, vo);
  INFO(rep.first.message);
  REQUIRE(rep.ok);
  CHECK(rep.agents["agent-a"].decisions == 3);
  CHECK(rep.agents["agent-b"].decisions == 3);

  SECTION("a seal re-signed without agent-b's key (the holder of the log key alone)") {
    // The first seal that covers a record of agent-b gets a note signed by the log key and
    // agent-a's only: its tree is right, its signatures verify, and yet it vouches for a
    // record whose key did not sign.
    auto ls = lines_of(slurp(f.active()));
    bool covers_b = false;
    std::size_t at = 0;
    for (std::size_t k = 0; k < ls.size(); ++k) {
      auto r = parse_record(ls[k]);
      if (r->kind == "decision" && r->payload["agent"] == "agent-b") covers_b = true;
      if (r->kind == "seal" && covers_b) {
        at = k;
        break;
      }
      if (r->kind == "seal") covers_b = false;
    }
    REQUIRE(at > 0);
    json p = json::parse(ls[at]);
    auto cp = parse_checkpoint_text(parse_note(p["note"].get<std::string>())->text);
    p["note"] = sign_checkpoint(*cp, std::vector<const SigningKey*>{&log_key, &a});
    ls[at] = canonicalize(p);
    spit(f.active(), join_lines(ls));
    auto bad = verify_log(files, vo);
    CHECK(bad.first.damage == Damage::WrongKey);
    CHECK_THAT(bad.first.message, Catch::Contains("carries no signature of that key"));
  }
}
