// The verifier against v1 logs (records signed one by one) tampered with in each way it must
// name: edited, deleted, inserted, reordered, truncated, wrong key. Sealed (v2) logs have their
// own tests in verify_sealed_test.cpp.
#include <catch2/catch.hpp>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/dsse.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/jcs.hpp"
#include "governance/audit/records.hpp"
#include "log_fixture.hpp"

using namespace gt::gov::audit;
using namespace gt::gov::audit::test;
using nlohmann::json;

namespace {

struct Tamper : LogFixture {
  std::vector<std::string> lines;
  std::string checkpoint_note;

  Tamper() {
    // A v1 log: records signed one by one (sealed logs: verify_sealed_test.cpp).
    write_v1_log(opts.dir, key, 40);
    lines = lines_of(slurp(active()));
    checkpoint_note = slurp(opts.dir / kCheckpointFileName);
  }
  // Index of the n-th decision line.
  std::size_t decision_line(int n) const {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (parse_record(lines[i])->kind == "decision" && n-- == 0) return i;
    }
    return 0;
  }
  void save(const std::vector<std::string>& ls) { spit(active(), join_lines(ls)); }
  // Re-encodes line i's payload after `change`, keeping (or re-signing) the envelope.
  std::string with_payload(std::size_t i, const std::function<void(json&)>& change,
                           const SigningKey* resign = nullptr) const {
    auto r = parse_record(lines[i]);
    json p = r->payload;
    change(p);
    std::string body = canonicalize(p);
    if (resign) return make_envelope(kReceiptPayloadType, body, *resign);
    json env = json::parse(lines[i]);
    env["payload"] = base64_encode(body);
    return canonicalize(env);
  }
};

}  // namespace

TEST_CASE("verify: an intact log", "[verify]") {
  Tamper t;
  auto rep = t.verify(t.checkpoint_note);
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.first.damage == Damage::None);
  CHECK(rep.decisions == 40);
  CHECK(rep.denials == 14);  // i % 3 == 0 for i in [0, 40)
  CHECK(rep.records == t.lines.size());
  CHECK(rep.tenant == "acme");
  REQUIRE(rep.external);
  CHECK(rep.external->size == t.lines.size() - 1);
}

TEST_CASE("verify: edited", "[verify]") {
  Tamper t;
  std::size_t i = t.decision_line(3);
  auto seq = parse_record(t.lines[i])->seq;
  SECTION("a decision turned from deny to allow") {
    t.lines[i] = t.with_payload(i, [](json& p) { p["decision"] = "allow"; });
    t.save(t.lines);
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::Edited);
    CHECK(rep.first.line == i + 1);
    CHECK(rep.first.seq == seq);
    CHECK_THAT(rep.first.message, Catch::Contains("signature does not match"));
  }
  SECTION("bytes changed outside the signed payload (the chain catches it)") {
    json env = json::parse(t.lines[i]);
    t.lines[i] = env.dump(1);  // same payload and signature, different bytes
    t.lines[i].erase(std::remove(t.lines[i].begin(), t.lines[i].end(), '\n'), t.lines[i].end());
    t.save(t.lines);
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::Edited);
    CHECK(rep.first.seq == seq);
    CHECK(rep.first.line == i + 1);
    CHECK_THAT(rep.first.message, Catch::Contains("altered after it was chained"));
  }
  SECTION("garbage in place of a record") {
    t.lines[i] = "{\"hello\":1}";
    t.save(t.lines);
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::Edited);
    CHECK(rep.first.line == i + 1);
  }
  SECTION("an in-log checkpoint that disagrees with the records") {
    std::size_t c = 0;
    for (std::size_t k = 0; k < t.lines.size(); ++k) {
      if (parse_record(t.lines[k])->kind == "checkpoint") {
        c = k;
        break;
      }
    }
    REQUIRE(c > 0);
    // Re-signed by the log key itself: signatures alone cannot tell, the tree does.
    t.lines[c] = t.with_payload(
        c, [](json& p) { p["root"] = to_base64(sha256("forged")); }, &t.key);
    t.save(t.lines);
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::Edited);
    CHECK(rep.first.line == c + 1);
  }
}

TEST_CASE("verify: deleted", "[verify]") {
  Tamper t;
  std::size_t i = t.decision_line(5);
  auto seq = parse_record(t.lines[i])->seq;
  t.lines.erase(t.lines.begin() + static_cast<long>(i), t.lines.begin() + static_cast<long>(i) + 2);
  t.save(t.lines);
  auto rep = t.verify();
  CHECK(rep.first.damage == Damage::Deleted);
  CHECK(rep.first.line == i + 1);  // the first record after the gap
  CHECK(rep.first.seq == seq + 2);
  CHECK_THAT(rep.first.message, Catch::Contains("records seq " + std::to_string(seq) + ".." +
                                                std::to_string(seq + 1) + " are missing"));
}

TEST_CASE("verify: inserted", "[verify]") {
  Tamper t;
  std::size_t i = t.decision_line(10);
  SECTION("a copy of an earlier record") {
    t.lines.insert(t.lines.begin() + static_cast<long>(i), t.lines[t.decision_line(2)]);
    t.save(t.lines);
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::Inserted);
    CHECK(rep.first.line == i + 1);
  }
  SECTION("a copy of a later record") {
    t.lines.insert(t.lines.begin() + static_cast<long>(i), t.lines[t.decision_line(20)]);
    t.save(t.lines);
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::Inserted);
    CHECK(rep.first.line == i + 1);
  }
  SECTION("a forged record whose signature does not verify") {
    std::string forged = t.with_payload(i, [](json& p) {
      p["id"] = "forged";
      p["decision"] = "allow";
    });
    t.lines.insert(t.lines.begin() + static_cast<long>(i), forged);
    t.save(t.lines);
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::Inserted);
    CHECK(rep.first.line == i + 1);
  }
}

TEST_CASE("verify: reordered", "[verify]") {
  Tamper t;
  std::size_t i = t.decision_line(7);
  auto seq = parse_record(t.lines[i])->seq;
  std::swap(t.lines[i], t.lines[i + 1]);
  t.save(t.lines);
  auto rep = t.verify();
  CHECK(rep.first.damage == Damage::Reordered);
  CHECK(rep.first.line == i + 1);
  CHECK(rep.first.seq == seq + 1);
}

TEST_CASE("verify: truncated", "[verify]") {
  Tamper t;
  SECTION("records cut from the end are caught by a checkpoint kept elsewhere") {
    t.lines.resize(t.lines.size() - 6);
    t.save(t.lines);
    // Without the external checkpoint the shorter log is self-consistent...
    CHECK(t.verify().ok);
    // ...with it, the missing tail is named.
    auto rep = t.verify(t.checkpoint_note);
    CHECK(rep.first.damage == Damage::Truncated);
    CHECK_THAT(rep.first.message, Catch::Contains("were removed from the end"));
  }
  SECTION("a torn last line") {
    std::string body = join_lines(t.lines);
    spit(t.active(), body + t.lines[3].substr(0, 40));
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::Truncated);
    CHECK(rep.first.line == t.lines.size() + 1);
  }
  SECTION("an external checkpoint of another history") {
    Checkpoint cp{
        checkpoint_origin("acme", parse_record(t.lines[0])->log_id), 10, sha256("other"), {}};
    auto rep = t.verify(sign_checkpoint(cp, t.key));
    CHECK(rep.first.damage == Damage::Edited);
    CHECK_THAT(rep.first.message, Catch::Contains("history was rewritten"));
  }
  SECTION("an external checkpoint signed by a stranger is not trusted") {
    auto stranger = SigningKey::generate();
    Checkpoint cp{
        checkpoint_origin("acme", parse_record(t.lines[0])->log_id), 10, sha256("other"), {}};
    auto rep = t.verify(sign_checkpoint(cp, stranger));
    CHECK_FALSE(rep.ok);
    CHECK(rep.first.damage == Damage::WrongKey);
  }
}

TEST_CASE("verify: wrong key", "[verify]") {
  Tamper t;
  std::size_t i = t.decision_line(4);
  auto seq = parse_record(t.lines[i])->seq;
  SECTION("re-signed with a key that is not in the keyring") {
    auto mallory = SigningKey::generate();
    t.lines[i] = t.with_payload(
        i,
        [&](json& p) {
          p["decision"] = "allow";
          p["key_id"] = mallory.key_id();
        },
        &mallory);
    t.save(t.lines);
    auto rep = t.verify();
    CHECK(rep.first.damage == Damage::WrongKey);
    CHECK(rep.first.seq == seq);
    CHECK_THAT(rep.first.message, Catch::Contains("not in the keyring"));
  }
  SECTION("a known key that belongs to another agent") {
    VerifyOptions vo;
    vo.keyring = ring_for(t.key, "acme", "someone-else");
    auto rep = verify_log(log_files_in(t.opts.dir), vo);
    CHECK(rep.first.damage == Damage::WrongKey);
    CHECK(rep.first.line == 1);
  }
  SECTION("a key used outside its validity window") {
    VerifyOptions vo;
    vo.keyring = ring_for(t.key);
    vo.keyring.entries[0].not_after = "2000-01-01T00:00:00Z";
    auto rep = verify_log(log_files_in(t.opts.dir), vo);
    CHECK(rep.first.damage == Damage::WrongKey);
    CHECK_THAT(rep.first.message, Catch::Contains("retired"));
  }
  SECTION("a signature by another known key under a borrowed key id") {
    auto other = SigningKey::generate();
    t.lines[i] = t.with_payload(
        i, [](json&) {}, &other);
    // Put back the original key id in the envelope and payload? The payload names t.key,
    // the signature is other's: the verifier says who really signed.
    t.save(t.lines);
    VerifyOptions vo;
    vo.keyring = ring_for(t.key);
    vo.keyring.merge(ring_for(other));
    auto rep = verify_log(log_files_in(t.opts.dir), vo);
    CHECK(rep.first.damage == Damage::WrongKey);
    CHECK_THAT(rep.first.message, Catch::Contains("signed by key " + other.key_id()));
  }
}
