// A log cannot be quietly cut or restarted: every record carries the log's random id, the
// checkpoint origin names it, a start refuses a directory whose checkpoint covers records
// that are gone, `accept_loss` (glasstape recover) continues with a signed record of the loss,
// and the verifier rejects records and checkpoints of another log. A log written before log
// ids existed (v1) still verifies and continues with a recorded switch.
#include <catch2/catch.hpp>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/dsse.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/sha256.hpp"
#include "log_fixture.hpp"

using namespace gt::gov::audit;
using namespace gt::gov::audit::test;

namespace fs = std::filesystem;

namespace {

std::string message_of(LogFixture& f) {
  try {
    f.open();
  } catch (const AuditError& e) {
    return e.what();
  }
  return {};
}

// The active file without its last `n` lines (what `head -n -N` leaves).
void cut_last_lines(const fs::path& file, std::size_t n) {
  auto lines = lines_of(slurp(file));
  REQUIRE(lines.size() > n);
  lines.resize(lines.size() - n);
  spit(file, join_lines(lines));
}

}  // namespace

TEST_CASE("log id: every record carries the log's random id, and checkpoints name it",
          "[log][continuity]") {
  LogFixture f;
  std::string id;
  {
    auto log = f.open();
    id = log->log_id();
    CHECK(valid_log_id(id));
    CHECK(f.write(*log, 40) == 40);
  }
  {
    auto log = f.open();  // a restart keeps the id
    CHECK(log->log_id() == id);
    CHECK(f.write(*log, 5, 40) == 5);
  }
  auto rs = records_of(f.opts.dir);
  for (const auto& r : rs)
    CHECK(r.log_id == id);
  auto cp = verify_checkpoint_note(slurp(f.opts.dir / kCheckpointFileName), ring_for(f.key));
  REQUIRE(cp.ok);
  CHECK(cp.checkpoint.origin == "glasstape/audit/acme/" + id);
  auto rep = f.verify(slurp(f.opts.dir / kCheckpointFileName));
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.log_id == id);

  // Another log in another directory, same key and tenant: another id and origin.
  LogFixture g;
  g.key = clone_key(f.key);
  { CHECK(g.open()->log_id() != id); }
}

TEST_CASE("log id: a start refuses a log cut from the end, and recover records the loss",
          "[log][continuity]") {
  LogFixture f;
  {
    auto log = f.open();
    CHECK(f.write(*log, 40) == 40);
  }  // closes with a checkpoint over everything
  const std::string checkpoint = slurp(f.opts.dir / kCheckpointFileName);
  const auto before = records_of(f.opts.dir).size();
  cut_last_lines(f.active(), 5);

  std::string msg = message_of(f);
  INFO(msg);
  CHECK(msg.find("has lost records") != std::string::npos);
  CHECK(msg.find("covers " + std::to_string(before - 1)) != std::string::npos);
  CHECK(msg.find("holds only " + std::to_string(before - 5)) != std::string::npos);
  CHECK(msg.find("glasstape recover") != std::string::npos);
  // Refused means untouched: no record was added, the checkpoint is where it was.
  CHECK(records_of(f.opts.dir).size() == before - 5);
  CHECK(slurp(f.opts.dir / kCheckpointFileName) == checkpoint);

  f.opts.accept_loss = true;
  std::string recorded;
  {
    auto log = f.open();
    recorded = log->loss_recorded();
    CHECK(f.write(*log, 3, 100) == 3);
  }
  CHECK(recorded.find("holds only") != std::string::npos);
  auto rs = records_of(f.opts.dir);
  auto rec = std::find_if(rs.begin(), rs.end(), [](const ParsedRecord& r) {
    return r.kind == "recovery" && r.payload.value("event", "") == "truncated";
  });
  REQUIRE(rec != rs.end());
  CHECK(rec->payload.value("lost", 0) == 4);  // the checkpoint covered before - 1 records
  CHECK(rec->payload.value("checkpoint_size", 0u) == before - 1);
  const std::string evidence = rec->payload.value("evidence", "");
  CHECK(slurp(f.opts.dir / evidence) == checkpoint);

  // The continued log verifies against its own new checkpoint and shows the recovery; the
  // checkpoint from before the cut still reports the cut.
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.recoveries >= 1);
  auto old = f.verify(checkpoint);
  CHECK_FALSE(old.ok);

  // And the next plain start is accepted again.
  f.opts.accept_loss = false;
  CHECK(message_of(f).empty());
}

TEST_CASE("log id: a vanished log is refused, and recover starts a new one that says so",
          "[log][continuity]") {
  LogFixture f;
  std::string old_id;
  {
    auto log = f.open();
    old_id = log->log_id();
    CHECK(f.write(*log, 20) == 20);
  }
  for (const auto& file : log_files_in(f.opts.dir))
    fs::remove(file);
  std::string msg = message_of(f);
  INFO(msg);
  CHECK(msg.find("no log file is left") != std::string::npos);
  CHECK(log_files_in(f.opts.dir).empty());  // nothing created by the refused start

  f.opts.accept_loss = true;
  {
    auto log = f.open();
    CHECK(log->log_id() != old_id);
  }
  auto rs = records_of(f.opts.dir);
  REQUIRE(rs.size() >= 3);
  CHECK(rs[0].kind == "open");
  CHECK(rs[1].kind == "recovery");
  CHECK(rs[1].payload.value("event", "") == "vanished");
  CHECK(rs[1].payload.value("checkpoint_origin", "") == "glasstape/audit/acme/" + old_id);
  CHECK(f.verify().ok);
}

TEST_CASE("log id: a log replaced by another, or rewritten, is refused", "[log][continuity]") {
  SECTION("replaced by another log's files") {
    LogFixture f, other;
    other.key = clone_key(f.key);
    {
      auto a = f.open();
      CHECK(f.write(*a, 10) == 10);
      auto b = other.open();
      CHECK(other.write(*b, 30) == 30);
    }
    for (const auto& file : log_files_in(f.opts.dir))
      fs::remove(file);
    fs::copy_file(other.active(), f.active());
    std::string msg = message_of(f);
    INFO(msg);
    CHECK(msg.find("but the log files are those of") != std::string::npos);
  }
  SECTION("rewritten: same size, other records") {
    LogFixture f;
    {
      auto log = f.open();
      CHECK(f.write(*log, 10) == 10);
    }
    // One decision replaced by another, signed with the right key, same number of records:
    // only the checkpoint's root tells.
    auto lines = lines_of(slurp(f.active()));
    auto r = parse_record(lines[3]);
    REQUIRE(r);
    REQUIRE(r->kind == "decision");
    auto p = r->payload;
    p["tool"] = "something_else";
    lines[3] = make_envelope(kReceiptPayloadType, p.dump(), f.key);
    spit(f.active(), join_lines(lines));
    std::string msg = message_of(f);
    INFO(msg);
    CHECK(msg.find("no longer hash to its root") != std::string::npos);
  }
}

TEST_CASE("log id: an unreadable checkpoint file is kept and recorded, not fatal",
          "[log][continuity]") {
  LogFixture f;
  {
    auto log = f.open();
    CHECK(f.write(*log, 5) == 5);
  }
  spit(f.opts.dir / kCheckpointFileName, "garbage\n");
  { auto log = f.open(); }
  auto rs = records_of(f.opts.dir);
  CHECK(std::any_of(rs.begin(), rs.end(), [](const ParsedRecord& r) {
    return r.kind == "recovery" && r.payload.value("event", "") == "checkpoint-unreadable";
  }));
  CHECK(f.verify().ok);
}

TEST_CASE("log id: a v1 log verifies, and continues with a recorded switch", "[log][continuity]") {
  LogFixture f;
  write_v1_log(f.opts.dir, f.key, 12);
  auto v1 = f.verify(slurp(f.opts.dir / kCheckpointFileName));
  INFO(v1.first.message);
  REQUIRE(v1.ok);
  CHECK(v1.log_id.empty());
  CHECK(v1.decisions == 12);
  const std::string v1_checkpoint = slurp(f.opts.dir / kCheckpointFileName);

  std::string id;
  {
    auto log = f.open();
    id = log->log_id();
    CHECK(f.write(*log, 10, 50) == 10);
  }
  auto rs = records_of(f.opts.dir);
  auto up =
      std::find_if(rs.begin(), rs.end(), [](const ParsedRecord& r) { return r.kind == "upgrade"; });
  REQUIRE(up != rs.end());
  CHECK(up->log_id == id);
  CHECK(up->payload.value("previous_origin", "") == "glasstape/audit/acme");
  CHECK(up->payload.value("origin", "") == "glasstape/audit/acme/" + id);
  for (auto it = rs.begin(); it != up; ++it)
    CHECK(it->log_id.empty());
  for (auto it = up; it != rs.end(); ++it)
    CHECK(it->log_id == id);

  auto rep = f.verify(slurp(f.opts.dir / kCheckpointFileName));
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.log_id == id);
  // The v1 checkpoint still vouches for the v1 part of the same log.
  auto old = f.verify(v1_checkpoint);
  INFO(old.first.message);
  CHECK(old.ok);
}

TEST_CASE("verify: records and checkpoints of another log are found", "[verify][continuity]") {
  LogFixture a, b;
  b.key = clone_key(a.key);
  {
    auto la = a.open();
    CHECK(a.write(*la, 10) == 10);
    auto lb = b.open();
    CHECK(b.write(*lb, 10) == 10);
  }
  SECTION("another log's checkpoint cannot vouch for this one") {
    auto rep = a.verify(slurp(b.opts.dir / kCheckpointFileName));
    CHECK_FALSE(rep.ok);
    CHECK(rep.first.damage == Damage::OtherLog);
  }
  SECTION("a record of another log, re-chained and re-signed with the same key") {
    // An attacker with the key can forge anything; without it, a record copied from another
    // log breaks the chain. The id check names the cause even when the chain was redone.
    auto lines = lines_of(slurp(a.active()));
    auto foreign = parse_record(lines_of(slurp(b.active()))[3]);
    REQUIRE(foreign);
    auto mine = parse_record(lines[3]);
    REQUIRE(mine);
    auto p = foreign->payload;
    p["seq"] = mine->seq;
    p["prev"] = mine->prev;
    lines[3] = make_envelope(kReceiptPayloadType, p.dump(), a.key);
    lines.resize(4);
    spit(a.active(), join_lines(lines));
    auto rep = a.verify();
    CHECK_FALSE(rep.ok);
    CHECK(rep.first.damage == Damage::OtherLog);
    CHECK(rep.first.seq == mine->seq);
  }
}
