// Receipt bundles built from real logs (AuditLog), verified, and tampered with.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/jcs.hpp"
#include "governance/audit/merkle.hpp"
#include "governance/audit/receipt_bundle.hpp"
#include "governance/audit/records.hpp"
#include "log_fixture.hpp"

using namespace gt::gov::audit;
using namespace gt::gov::audit::test;
using nlohmann::json;

namespace {

struct Rec {
  std::string id, kind, decision;
  std::uint64_t seq = 0;
};

// Every record of a log directory, in order.
std::vector<Rec> rec_list(const std::filesystem::path& dir) {
  std::vector<Rec> out;
  for (const auto& f : log_files_in(dir)) {
    for (const auto& l : lines_of(slurp(f))) {
      auto r = parse_record(l);
      REQUIRE(r);
      out.push_back(
          {r->payload.value("id", ""), r->kind, r->payload.value("decision", ""), r->seq});
    }
  }
  return out;
}

std::vector<Rec> decisions_of(const std::filesystem::path& dir) {
  std::vector<Rec> out;
  for (auto& r : rec_list(dir))
    if (r.kind == "decision") out.push_back(r);
  return out;
}

// A log of 40 decisions (checkpoints every 16 records, and a final one at close).
struct BundleLog : LogFixture {
  BundleLog() {
    auto log = open();
    write(*log, 20);  // two batches at least: a record's own seal is not the last one
    write(*log, 20, 20);
  }
  std::string bundle(const std::string& id, BundleOptions o = {}) {
    return build_receipt_bundle(opts.dir, id, o);
  }
  BundleReport check(const std::string& b) { return verify_receipt_bundle(b, ring_for(key)); }
};

std::string edit(const std::string& bundle, const std::function<void(json&)>& f) {
  json j = json::parse(bundle);
  f(j);
  return j.dump();
}

}  // namespace

TEST_CASE("receipt bundle: every decision of a log gets a bundle that verifies",
          "[receipt_bundle]") {
  BundleLog g;
  auto ds = decisions_of(g.opts.dir);
  REQUIRE(ds.size() == 40);
  auto all = rec_list(g.opts.dir);
  for (const auto& d : ds) {
    std::string b = g.bundle(d.id);
    json j = json::parse(b);
    CHECK(j["format"] == "glasstape.receipt-bundle/1");
    CHECK(j["receipt_id"] == d.id);
    CHECK(j["seq"] == d.seq);
    // A sealed record is proved against its own seal: the first after it, which carries the
    // signature of its key.
    std::uint64_t own_seal = 0;
    for (const auto& r : all) {
      if (r.kind == "seal" && r.seq > d.seq) {
        own_seal = r.seq;
        break;
      }
    }
    auto rep = g.check(b);
    INFO(rep.error);
    REQUIRE(rep.ok);
    CHECK(rep.receipt_id == d.id);
    CHECK(rep.seq == d.seq);
    CHECK(rep.kind == "decision");
    CHECK(rep.decision == d.decision);
    CHECK(rep.server == "fs");
    CHECK((rep.tool == "read_file" || rep.tool == "write_file"));
    CHECK(!rep.ts.empty());
    CHECK(rep.tenant == "acme");
    CHECK(rep.record_signature_checked);
    CHECK(rep.checkpoint_key_id == g.key.key_id());
    CHECK(rep.checkpoint_size == own_seal);
    CHECK_FALSE(rep.consistent_from);
  }
}

TEST_CASE("receipt bundle: the bundle is canonical and names the record's log_id",
          "[receipt_bundle]") {
  BundleLog g;
  auto d = decisions_of(g.opts.dir).front();
  std::string b = g.bundle(d.id);
  CHECK(b == canonicalize(json::parse(b)));
  json j = json::parse(b);
  auto r = parse_record(j["record"].get<std::string>());
  REQUIRE(r);
  if (r->payload.contains("log_id")) {
    CHECK(j["log_id"] == r->payload["log_id"]);
  } else {
    CHECK_FALSE(j.contains("log_id"));
  }
  CHECK(j["leaf_hash"] == to_base64(merkle_leaf_hash(j["record"].get<std::string>())));
}

TEST_CASE("receipt bundle: without the checkpoint file the record's own seal is used",
          "[receipt_bundle]") {
  BundleLog g;
  std::filesystem::remove(g.opts.dir / kCheckpointFileName);
  auto all = rec_list(g.opts.dir);
  for (const auto& d : decisions_of(g.opts.dir)) {
    std::uint64_t want = 0;
    for (const auto& r : all) {
      if (r.kind == "seal" && r.seq > d.seq) {
        want = r.seq;
        break;
      }
    }
    auto rep = g.check(g.bundle(d.id));
    INFO(rep.error);
    REQUIRE(rep.ok);
    CHECK(rep.checkpoint_size == want);
  }
}

TEST_CASE("receipt bundle: errors when building", "[receipt_bundle]") {
  LogFixture f;
  f.opts.checkpoint_every = 1000;
  f.opts.checkpoint_interval = std::chrono::milliseconds(0);
  auto log = f.open();
  f.write(*log, 3);
  auto d = decisions_of(f.opts.dir).front();
  // Sealed as it was written: provable at once, while the log is open.
  CHECK(verify_receipt_bundle(build_receipt_bundle(f.opts.dir, d.id), ring_for(f.key)).ok);
  CHECK_THROWS_WITH(build_receipt_bundle(f.opts.dir, "no-such-id"),
                    Catch::Contains("no record with receipt id `no-such-id`"));
  CHECK_THROWS_WITH(build_receipt_bundle(f.dir.path / "nowhere", d.id),
                    Catch::Contains("is not a directory"));
  log.reset();  // the final checkpoint file covers it too
  CHECK(verify_receipt_bundle(build_receipt_bundle(f.opts.dir, d.id), ring_for(f.key)).ok);

  SECTION("a record whose seal was cut off, and no checkpoint covers it") {
    std::filesystem::remove(f.opts.dir / kCheckpointFileName);
    auto lines = lines_of(slurp(f.active()));
    lines.resize(d.seq + 1);
    spit(f.active(), join_lines(lines));
    CHECK_THROWS_WITH(build_receipt_bundle(f.opts.dir, d.id),
                      Catch::Contains("is not yet covered by a checkpoint"));
  }

  SECTION("a log that does not match its checkpoint") {
    auto lines = lines_of(slurp(f.active()));
    // Same records, one byte of an `open` record changed: the chain's root differs.
    lines[0].insert(lines[0].size() - 1, " ");
    spit(f.active(), join_lines(lines));
    CHECK_THROWS_WITH(build_receipt_bundle(f.opts.dir, d.id),
                      Catch::Contains("the log does not match its checkpoint"));
  }
  SECTION("a log shorter than its checkpoint") {
    auto lines = lines_of(slurp(f.active()));
    auto seq = d.seq;
    lines.resize(seq + 1);
    spit(f.active(), join_lines(lines));
    CHECK_THROWS_WITH(build_receipt_bundle(f.opts.dir, d.id), Catch::Contains("the log has only"));
  }
}

TEST_CASE("receipt bundle: a later bundle proves the earlier checkpoint is still in the log",
          "[receipt_bundle]") {
  LogFixture f;
  std::string first;
  std::string id;
  {
    auto log = f.open();
    f.write(*log, 20);
  }
  id = decisions_of(f.opts.dir).front().id;
  first = build_receipt_bundle(f.opts.dir, id);
  auto first_rep = verify_receipt_bundle(first, ring_for(f.key));
  REQUIRE(first_rep.ok);
  {
    auto log = f.open();
    f.write(*log, 30, 20);
  }
  BundleOptions o;
  o.since_bundle = first;
  std::string later = build_receipt_bundle(f.opts.dir, id, o);
  auto rep = verify_receipt_bundle(later, ring_for(f.key));
  INFO(rep.error);
  REQUIRE(rep.ok);
  REQUIRE(rep.consistent_from);
  CHECK(*rep.consistent_from == first_rep.checkpoint_size);
  CHECK(rep.checkpoint_size > first_rep.checkpoint_size);
  // A bundle of another decision, consistent with the first bundle's checkpoint.
  auto other = decisions_of(f.opts.dir).back();
  CHECK(verify_receipt_bundle(build_receipt_bundle(f.opts.dir, other.id, o), ring_for(f.key)).ok);

  SECTION("an altered consistency proof fails") {
    json j = json::parse(later);
    auto& hs = j["consistency"]["hashes"];
    REQUIRE(!hs.empty());
    hs[0] = j["leaf_hash"];
    auto bad = verify_receipt_bundle(j.dump(), ring_for(f.key));
    CHECK_FALSE(bad.ok);
    CHECK_THAT(bad.error, Catch::Contains("the consistency proof does not show"));
  }
  SECTION("an older checkpoint of another size fails") {
    json j = json::parse(later);
    j["consistency"]["from_checkpoint"] = j["checkpoint"];
    CHECK_FALSE(verify_receipt_bundle(j.dump(), ring_for(f.key)).ok);
  }
  SECTION("an older bundle from another log is refused when building") {
    BundleLog g2;
    BundleOptions o2;
    o2.since_bundle = g2.bundle(decisions_of(g2.opts.dir).front().id);
    CHECK_THROWS_AS(build_receipt_bundle(f.opts.dir, id, o2), BundleError);
  }
}

TEST_CASE("receipt bundle: tampered bundles fail", "[receipt_bundle]") {
  BundleLog g;
  auto ds = decisions_of(g.opts.dir);
  // A decision whose inclusion proof has two hashes or more (to swap them). How long a proof
  // is depends on where the record's own seal fell, which depends on how the writer batched:
  // with a seal after every record (a slow machine), ds[5]'s proof can be one hash.
  std::size_t k = 5;
  std::string b;
  for (; k < ds.size(); ++k) {
    b = g.bundle(ds[k].id);
    if (json::parse(b)["inclusion"]["hashes"].size() >= 2) break;
  }
  REQUIRE(k < ds.size());
  const auto& d = ds[k];
  REQUIRE(g.check(b).ok);
  auto fails = [&](const std::string& bad, const std::string& why) {
    auto rep = g.check(bad);
    INFO(bad);
    CHECK_FALSE(rep.ok);
    CHECK_THAT(rep.error, Catch::Contains(why));
  };

  SECTION("an edited record") {
    std::string edited = edit(b, [](json& j) {
      auto r = parse_record(j["record"].get<std::string>());
      json p = r->payload;
      p["decision"] = p["decision"] == "allow" ? "deny" : "allow";
      j["record"] = canonicalize(p);  // a sealed (v2) record is its line
    });
    fails(edited, "does not match the bundle's `leaf_hash`");
    // With a leaf hash made to match, the inclusion proof no longer leads to the root.
    std::string rehashed = edit(edited, [](json& j) {
      j["leaf_hash"] = to_base64(merkle_leaf_hash(j["record"].get<std::string>()));
    });
    fails(rehashed, "the inclusion proof does not lead to the checkpoint's root");
  }
  SECTION("a swapped or altered proof hash") {
    json j = json::parse(b);
    auto hs = j["inclusion"]["hashes"];
    REQUIRE(hs.size() >= 2);
    fails(
        edit(b,
             [&](json& x) { std::swap(x["inclusion"]["hashes"][0], x["inclusion"]["hashes"][1]); }),
        "the inclusion proof does not lead");
    fails(edit(b, [&](json& x) { x["inclusion"]["hashes"][0] = x["leaf_hash"]; }),
          "the inclusion proof does not lead");
    fails(edit(b, [&](json& x) { x["inclusion"]["hashes"].erase(0); }),
          "the inclusion proof does not lead");
    fails(edit(b, [&](json& x) { x["inclusion"]["hashes"].push_back(x["leaf_hash"]); }),
          "the inclusion proof does not lead");
    fails(edit(b, [&](json& x) { x["inclusion"]["hashes"][0] = "not base64"; }),
          "no valid `inclusion`");
  }
  SECTION("another key") {
    SigningKey other = SigningKey::generate();
    auto rep = verify_receipt_bundle(b, ring_for(other));
    CHECK_FALSE(rep.ok);
    CHECK_THAT(rep.error, Catch::Contains("the checkpoint does not verify"));
    // A checkpoint for another root, signed by another key the keyring knows: the signature
    // verifies, the proof does not.
    Keyring both = ring_for(g.key);
    both.merge(ring_for(other));
    auto cp =
        parse_checkpoint_text(parse_note(json::parse(b)["checkpoint"].get<std::string>())->text);
    REQUIRE(cp);
    Checkpoint forged = *cp;
    forged.root = merkle_leaf_hash("forged");
    std::string forged_bundle =
        edit(b, [&](json& x) { x["checkpoint"] = sign_checkpoint(forged, other); });
    auto frep = verify_receipt_bundle(forged_bundle, both);
    CHECK_FALSE(frep.ok);
    CHECK_THAT(frep.error, Catch::Contains("the inclusion proof does not lead"));
  }
  SECTION("the record's key not in the keyring: the record's signature is not checked") {
    Keyring ring = ring_for(g.key);
    ring.entries[0].key_id = "0000000000000000";  // the checkpoint still verifies by public key
    auto rep = verify_receipt_bundle(b, ring);
    INFO(rep.error);
    CHECK(rep.ok);
    CHECK_FALSE(rep.record_signature_checked);
  }
  SECTION("a checkpoint of another size") {
    // A later seal that also covers the record, but not the bundle's (its own seal).
    std::string older;
    const std::string own = json::parse(b)["checkpoint"];
    for (const auto& l : lines_of(slurp(g.active()))) {
      auto r = parse_record(l);
      if (r->kind == "seal" && r->seq > d.seq && r->payload["note"] != own) {
        older = r->payload["note"].get<std::string>();
        break;
      }
    }
    REQUIRE(!older.empty());
    REQUIRE(older != json::parse(b)["checkpoint"]);
    fails(edit(b, [&](json& x) { x["checkpoint"] = older; }), "the inclusion proof is for a tree");
    auto cp = parse_checkpoint_text(parse_note(older)->text);
    fails(edit(b,
               [&](json& x) {
                 x["checkpoint"] = older;
                 x["inclusion"]["tree_size"] = cp->size;
               }),
          "the inclusion proof does not lead");
  }
  SECTION("a bundle from another log") {
    BundleLog g2;
    // Same key for both logs, so every signature verifies: only the proofs can tell.
    LogFixture f3;
    f3.key = clone_key(g.key);
    {
      auto log = f3.open();
      f3.write(*log, 40);
    }
    std::string b3 = build_receipt_bundle(f3.opts.dir, decisions_of(f3.opts.dir)[5].id);
    REQUIRE(g.check(b3).ok);
    std::string cp3 = json::parse(b3)["checkpoint"];
    fails(edit(b, [&](json& x) { x["checkpoint"] = cp3; }), "the inclusion proof");
    fails(edit(b3, [&](json& x) { x["checkpoint"] = json::parse(b)["checkpoint"]; }),
          "the inclusion proof");
    // Another log's key altogether.
    std::string b2 = g2.bundle(decisions_of(g2.opts.dir)[5].id);
    fails(b2, "the checkpoint does not verify");
  }
  SECTION("another seq or receipt id") {
    fails(edit(b, [](json& x) { x["seq"] = x["seq"].get<std::uint64_t>() + 1; }),
          "is not the bundle's seq");
    // Another decision's id (not ds[k]'s own: k depends on how the writer batched).
    const auto& another = ds[(k + 1) % ds.size()];
    REQUIRE(another.id != d.id);
    fails(edit(b, [&](json& x) { x["receipt_id"] = another.id; }),
          "is not the bundle's receipt id");
    fails(edit(b, [](json& x) { x["log_id"] = "0123456789abcdef0123456789abcdef"; }), "`log_id`");
  }
  SECTION("malformed bundles are refused, not crashed on") {
    for (std::string bad :
         {std::string(""), std::string("[]"), std::string("{}"),
          std::string("{\"format\":\"glasstape.receipt-bundle/1\"}"), b.substr(0, b.size() / 2)}) {
      CHECK_FALSE(g.check(bad).ok);
    }
    for (const char* member :
         {"receipt_id", "seq", "record", "leaf_hash", "inclusion", "checkpoint"})
      CHECK_FALSE(g.check(edit(b, [&](json& x) { x.erase(member); })).ok);
    fails(edit(b, [](json& x) { x["inclusion"]["tree_size"] = -1; }), "no valid `inclusion`");
    fails(edit(b, [](json& x) { x["seq"] = "5"; }), "no valid `seq`");
    fails(edit(b, [](json& x) { x["format"] = "glasstape.receipt-bundle/2"; }),
          "not a receipt bundle");
  }
}
