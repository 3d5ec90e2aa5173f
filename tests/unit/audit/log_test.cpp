// The audit log writer: chaining, signing, group commit and fsync modes, inline writes,
// checkpoints, restart and key changes. Rotation, crash recovery and write failures, and
// several processes sharing a directory have test files of their own (log_*_test.cpp).
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/key_store.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/sha256.hpp"
#include "log_fixture.hpp"

using namespace gt::gov::audit;
using namespace gt::gov::audit::test;
using nlohmann::json;

TEST_CASE("log: records are chained, sealed batch by batch, checkpointed and verify", "[log]") {
  LogFixture f;
  {
    auto log = f.open();
    CHECK(f.write(*log, 50) == 50);
  }
  auto lines = lines_of(slurp(f.active()));
  REQUIRE(lines.size() > 52);
  std::string prev(64, '0');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto r = parse_record(lines[i]);
    REQUIRE(r);
    CHECK(r->seq == i);
    CHECK(r->prev == prev);
    CHECK(r->key_id == f.key.key_id());
    prev = sha256_hex(lines[i]);
  }
  auto rs = records_of(f.opts.dir);
  CHECK(rs.front().kind == "open");
  CHECK(rs[1].kind == "start");
  CHECK(count_kind(rs, "decision") == 50);
  // Each line is the record itself (v2), never signed alone; every batch ends with its seal,
  // so the log does too, and no record is more than a batch away from the seal covering it.
  CHECK(rs.back().kind == "seal");
  CHECK(count_kind(rs, "checkpoint") == 0);
  std::size_t since = 0;
  for (const auto& r : rs) {
    CHECK(r.version == kRecordV2);
    CHECK(r.envelope.signatures.empty());
    since = r.kind == "seal" ? 0 : since + 1;
    CHECK(since <= f.opts.group_records + 2);
  }
  // The checkpoint file is the last seal (refreshed every 16 records, and at shutdown).
  CHECK(slurp(f.opts.dir / kCheckpointFileName) == rs.back().payload["note"]);
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == 50);
  CHECK(rep.records == lines.size());
  CHECK(rep.checkpoints == static_cast<std::uint64_t>(count_kind(rs, "checkpoint")));
  // The checkpoint file next to the log is the last signed tree head.
  auto cp = verify_checkpoint_note(slurp(f.opts.dir / kCheckpointFileName), ring_for(f.key));
  REQUIRE(cp.ok);
  CHECK(cp.checkpoint.origin == "glasstape/audit/acme/" + rs.front().log_id);
  CHECK(valid_log_id(rs.front().log_id));
  CHECK(cp.checkpoint.size == lines.size() - 1);
}

TEST_CASE("log: records signed with precomputed nonces, or without a pool, verify", "[log]") {
  auto pool = GENERATE(as<std::size_t>{}, 0, 64);
  LogFixture f;
  f.opts.nonce_pool = pool;
  std::uint64_t presigned = 0;
  {
    auto log = f.open();
    // Let the pool make some nonces (it runs at SCHED_IDLE, so on a loaded machine this can
    // take a while), then write in small steps so that records find a nonce ready.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (pool && log->stats().nonces_made < 32 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    for (int i = 0; i < 10; ++i)
      CHECK(f.write(*log, 20, i * 20) == 20);
    presigned = log->stats().presigned;
  }
  if (pool == 0) {
    CHECK(presigned == 0);
  } else {
    CHECK(presigned > 0);
  }
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == 200);
}

TEST_CASE("log: group mode syncs records nobody waits for later, never a decision", "[log]") {
  LogFixture f;
  std::mutex mu;
  std::vector<IoOp> ops;
  std::vector<std::chrono::steady_clock::time_point> when;
  f.opts.fault = [&](IoOp op) {
    std::lock_guard lk(mu);
    ops.push_back(op);
    when.push_back(std::chrono::steady_clock::now());
    return 0;
  };
  auto count = [&](IoOp op) {
    std::lock_guard lk(mu);
    return std::count(ops.begin(), ops.end(), op);
  };
  auto log = f.open();
  auto syncs0 = count(IoOp::Sync);
  std::size_t first_op = 0;
  {
    std::lock_guard lk(mu);
    first_op = ops.size();
  }
  // A result record (no callback): written at once, sealed and synced within kDeferredSync.
  log->append("agent-1", decision(1), AuditLog::Kind::Result, nullptr);
  log->flush();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (count(IoOp::Sync) == syncs0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(count(IoOp::Sync) == syncs0 + 1);
  {
    // The record's write, then kDeferredSync later its seal's write and the sync.
    std::lock_guard lk(mu);
    REQUIRE(ops.size() == first_op + 3);
    CHECK(ops[first_op] == IoOp::Write);
    CHECK(ops[first_op + 1] == IoOp::Write);
    CHECK(ops.back() == IoOp::Sync);
    CHECK(when.back() - when[first_op] >= kDeferredSync);
  }
  // A decision is acknowledged only after a sync of its own batch.
  auto before = count(IoOp::Sync);
  std::atomic<bool> ok{false};
  log->append("agent-1", decision(2), AuditLog::Kind::Decision,
              [&](const AppendResult& r) { ok = r.ok && count(IoOp::Sync) == before + 1; });
  log->flush();
  CHECK(ok);
  log.reset();
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
}

TEST_CASE("log: group commit acknowledges only after the sync, and batches", "[log]") {
  LogFixture f;
  std::mutex mu;
  std::vector<IoOp> ops;
  f.opts.fault = [&](IoOp op) {
    std::lock_guard lk(mu);
    ops.push_back(op);
    return 0;
  };
  auto log = f.open();
  std::atomic<int> bad{0}, acked{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < 8; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        log->append("agent-1", decision(t * 1000 + i), AuditLog::Kind::Decision,
                    [&](const AppendResult& r) {
                      std::lock_guard lk(mu);
                      // The last I/O before an acknowledgement is the sync of its batch.
                      if (!r.ok || ops.empty() || ops.back() != IoOp::Sync) ++bad;
                      ++acked;
                    });
      }
    });
  }
  for (auto& p : producers)
    p.join();
  log->flush();
  CHECK(acked == 2000);
  CHECK(bad == 0);
  auto st = log->stats();
  CHECK(st.syncs < 2000);  // grouped
  CHECK(st.syncs >= 2000 / 256);
  CHECK(st.batches < 2000);
}

TEST_CASE("log: fsync modes", "[log]") {
  LogFixture f;
  SECTION("always: one sync per record") {
    f.opts.fsync = FsyncMode::Always;
    auto log = f.open();
    f.write(*log, 20);
    CHECK(log->stats().syncs >= 20);
  }
  SECTION("off: no sync") {
    f.opts.fsync = FsyncMode::Off;
    auto log = f.open();
    f.write(*log, 20);
    CHECK(log->stats().syncs == 0);
  }
  CHECK(f.verify().ok);
}

TEST_CASE("log: fsync off writes a record on the caller's thread when the writer is idle",
          "[log]") {
  LogFixture f;
  f.opts.fsync = FsyncMode::Off;
  f.opts.caller_writes = true;
  auto log = f.open();
  std::thread::id ran_on;
  AppendResult got;
  std::atomic<bool> called{false};
  std::string id;
  // The writer thread must first reach its wait (it has just started): until then records
  // are queued. Each attempt is a real record.
  int attempts = 0;
  while (attempts < 500) {
    ++attempts;
    called = false;
    PayloadBuilder p = decision(attempts);
    id = p.get_string("id");
    log->append("agent-1", std::move(p), AuditLog::Kind::Decision, [&](const AppendResult& r) {
      ran_on = std::this_thread::get_id();
      got = r;
      called = true;
    });
    if (called) break;  // no flush: written and acknowledged before append() returned
    log->flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(called);
  CHECK(got.ok);
  CHECK(ran_on == std::this_thread::get_id());
  CHECK(log->stats().inline_records == 1);
  auto rs = records_of(f.opts.dir);
  REQUIRE_FALSE(rs.empty());
  // Written at once; its seal follows within seal_window (fsync off: no signature on the way).
  CHECK(rs.back().payload["id"] == id);
  CHECK(rs.back().seq == got.seq);
  // ...and the writer thread seals it within seal_window, with no other record to wake it.
  const auto sealed_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (records_of(f.opts.dir).back().kind != "seal" &&
         std::chrono::steady_clock::now() < sealed_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(records_of(f.opts.dir).back().kind == "seal");
  CHECK(records_of(f.opts.dir).back().seq == got.seq + 1);

  // A callback that appends again (to the same log) gets its record queued, not a deadlock.
  std::atomic<bool> nested_ok{false};
  log->append("agent-1", decision(2), AuditLog::Kind::Decision, [&](const AppendResult&) {
    log->append("agent-1", decision(3), AuditLog::Kind::Decision,
                [&](const AppendResult& r) { nested_ok = r.ok; });
  });
  log->flush();
  CHECK(nested_ok);

  // In group mode a caller that did not say it is idle never waits for a sync on its thread.
  // Nor does a log without caller_writes write anything there.
  for (bool off : {false, true}) {
    LogFixture g;
    g.opts.caller_writes = true;
    if (off) {
      g.opts.fsync = FsyncMode::Off;
      g.opts.caller_writes = false;
    }
    auto glog = g.open();
    for (int i = 0; i < 5; ++i) {
      CHECK(g.write(*glog, 1, i) == 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CHECK(glog->stats().inline_records == 0);
  }
  log.reset();
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == static_cast<std::uint64_t>(attempts) + 2);
}

// Appends a decision with caller_idle until one is written on this thread (the writer thread
// must first reach its wait). Returns how many attempts it took (every one is a record).
int append_until_inline(AuditLog& log, AppendResult& got, bool& inline_call, int from) {
  int attempts = 0;
  inline_call = false;
  while (attempts < 500 && !inline_call) {
    ++attempts;
    bool called = false;
    std::thread::id ran_on;
    log.append(
        "agent-1", decision(from + attempts), AuditLog::Kind::Decision,
        [&](const AppendResult& r) {
          got = r;
          called = true;
          ran_on = std::this_thread::get_id();
        },
        /*caller_idle=*/true);
    inline_call = called && ran_on == std::this_thread::get_id();
    if (!inline_call) {
      log.flush();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return attempts;
}

TEST_CASE("log: group mode, an idle caller writes, seals and syncs its own decision", "[log]") {
  LogFixture f;
  f.opts.fsync = FsyncMode::Group;
  f.opts.caller_writes = true;
  // Fails a sync made on this (the caller's) thread only: the writer thread may sync too
  // meanwhile (a deferred sync, or a queued attempt), and must not take the failure.
  std::atomic<int> fail_syncs{0}, caller_syncs{0};
  const auto caller = std::this_thread::get_id();
  f.opts.fault = [&](IoOp op) {
    if (op != IoOp::Sync || std::this_thread::get_id() != caller) return 0;
    ++caller_syncs;
    if (fail_syncs > 0) {
      --fail_syncs;
      return EIO;
    }
    return 0;
  };
  auto log = f.open();
  AppendResult got;
  bool inline_call = false;
  int records = append_until_inline(*log, got, inline_call, 0);
  REQUIRE(inline_call);
  CHECK(got.ok);
  CHECK(log->stats().inline_records == 1);
  // Acknowledged only once durable: its seal is in the file, right after it, and synced.
  const auto syncs = log->stats().syncs;
  CHECK(syncs >= 1);
  auto rs = records_of(f.opts.dir);
  REQUIRE(rs.size() >= 2);
  CHECK(rs[rs.size() - 2].seq == got.seq);
  CHECK(rs.back().kind == "seal");

  // A result (nobody waits for it): written on this thread too, but neither synced nor sealed
  // there; the writer thread does both within kDeferredSync, with nothing else to wake it.
  // (A result is queued instead when the writer is not waiting: retried until one is inline.)
  const int synced_here = caller_syncs;  // opening the log, and the decision above
  CHECK(synced_here >= 2);
  std::string result_id;
  for (int i = 0; i < 500 && log->stats().inline_records < 2; ++i) {
    PayloadBuilder result = decision(1000 + i);  // its kind does not matter to the writer
    result_id = result.get_string("id");
    log->append("agent-1", std::move(result), AuditLog::Kind::Result, nullptr);
    ++records;
    if (log->stats().inline_records < 2) {
      log->flush();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  REQUIRE(log->stats().inline_records == 2);
  CHECK(caller_syncs == synced_here);  // not synced on this thread
  // Sealed and synced by the writer thread: a seal after it, and one more sync.
  auto sealed_after = [&] {
    bool seen = false;
    for (const auto& r : records_of(f.opts.dir)) {
      if (r.payload.value("id", "") == result_id) seen = true;
      if (seen && r.kind == "seal") return true;
    }
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((!sealed_after() || log->stats().syncs == syncs) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(sealed_after());
  CHECK(log->stats().syncs > syncs);
  CHECK(caller_syncs == synced_here);

  // A decision whose caller did not say it is idle goes to the writer thread.
  CHECK(f.write(*log, 1, 2000) == 1);
  ++records;
  CHECK(log->stats().inline_records == 2);

  // A sync that fails on the caller's thread: the call is told so (and denied by the proxy);
  // the next record brings a `recovery` record, and the log verifies.
  fail_syncs = 1;
  AppendResult failed;
  bool failed_inline = false;
  records += append_until_inline(*log, failed, failed_inline, 3000);
  REQUIRE(failed_inline);
  CHECK_FALSE(failed.ok);
  CHECK_THAT(failed.error, Catch::Contains("Input/output error"));
  CHECK(log->stats().failing);
  CHECK(f.write(*log, 3, 4000) == 3);
  records += 3;
  CHECK_FALSE(log->stats().failing);
  log.reset();
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == static_cast<std::uint64_t>(records));
  // The bytes the failed batch left are moved aside (`failed-write`), then `write-failure`.
  std::multiset<std::string> events;
  for (const auto& r : records_of(f.opts.dir))
    if (r.kind == "recovery") events.insert(r.payload["event"].get<std::string>());
  CHECK(events == std::multiset<std::string>{"failed-write", "write-failure"});
}

TEST_CASE("log: always mode writes on the caller's thread only for an idle caller", "[log]") {
  LogFixture f;
  f.opts.fsync = FsyncMode::Always;
  f.opts.caller_writes = true;
  auto log = f.open();
  // A result: it would wait for a sync on the caller's thread, so it is queued.
  for (int i = 0; i < 20; ++i) {
    log->append("agent-1", decision(100 + i), AuditLog::Kind::Result, nullptr);
    log->flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(log->stats().inline_records == 0);
  AppendResult got;
  bool inline_call = false;
  int records = 20 + append_until_inline(*log, got, inline_call, 0);
  REQUIRE(inline_call);
  CHECK(got.ok);
  CHECK(log->stats().inline_records == 1);
  CHECK(records_of(f.opts.dir).back().kind == "seal");
  log.reset();
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == static_cast<std::uint64_t>(records));
}

TEST_CASE("log: fsync off, threads writing inline and queued, with rotation and checkpoints",
          "[log]") {
  LogFixture f;
  f.opts.fsync = FsyncMode::Off;
  f.opts.caller_writes = true;
  f.opts.rotate_bytes = 16384;
  f.opts.checkpoint_every = 7;
  constexpr int kThreads = 4, kEach = 300;
  std::atomic<int> ok{0}, results{0}, extra{0};
  std::set<std::uint64_t> seqs;
  std::mutex mu;
  {
    auto log = f.open();
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) {
      ts.emplace_back([&, t] {
        auto on_decision = [&](const AppendResult& r) {
          ok += r.ok ? 1 : 0;
          std::lock_guard lk(mu);
          seqs.insert(r.seq);
        };
        for (int i = 0; i < kEach; ++i) {
          // Thread 0 pauses now and then: the writer goes idle, so its records are written
          // inline while the others' are queued or written inline in between.
          if (t == 0 && i % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
          int n = t * 10000 + i;
          log->append("agent-1", decision(n, n % 3 != 0), AuditLog::Kind::Decision, on_decision);
          if (i % 5 == 0) {  // a payload built on the writer thread: always queued
            log->append(
                "agent-1", [n] { return decision(n + 5000); }, AuditLog::Kind::Result,
                [&](const AppendResult& r) { results += r.ok ? 1 : 0; });
          }
        }
        // A slow machine (sanitizers) can keep the writer busy until the others are done:
        // thread 0 then goes on, pausing, until one of its records has been written inline.
        while (t == 0 && log->stats().inline_records == 0 && extra < 2000) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          log->append("agent-1", decision(20000 + extra), AuditLog::Kind::Decision, on_decision);
          ++extra;
        }
      });
    }
    for (auto& t : ts)
      t.join();
    log->flush();
    auto st = log->stats();
    CHECK(st.inline_records > 0);
    CHECK(st.rotations >= 2);
  }
  auto rs = records_of(f.opts.dir);
  int since = 0, most = 0;
  for (const auto& r : rs) {
    since = r.kind == "seal" ? 0 : since + 1;
    most = std::max(most, since);
  }
  // With fsync off a batch is not sealed by itself: seals come with rotation (every rotated
  // file ends with one, checked below) and within seal_window. So a run of records without a
  // seal never crosses into the next file. (A run is not bounded by one batch: the records
  // written inline since the last seal and a full writer batch can precede a rotation.)
  std::size_t largest_file = 0;
  for (const auto& file : log_files_in(f.opts.dir))
    largest_file = std::max(largest_file, lines_of(slurp(file)).size());
  CHECK(most > 0);
  CHECK(static_cast<std::size_t>(most) < largest_file);
  CHECK(ok == kThreads * kEach + extra);
  CHECK(results == kThreads * (kEach / 5));
  CHECK(seqs.size() == static_cast<std::size_t>(kThreads * kEach + extra));  // own places
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions ==
        static_cast<std::uint64_t>(kThreads * kEach + extra) + kThreads * (kEach / 5));
  CHECK(rep.files > 2);
  // Every rotated file is still closed by a seal, though rotation was requested inline.
  auto files = log_files_in(f.opts.dir);
  for (std::size_t i = 0; i + 1 < files.size(); ++i) {
    auto ls = lines_of(slurp(files[i]));
    CHECK(parse_record(ls.back())->kind == "seal");
  }
}

TEST_CASE("log: a restart continues the chain", "[log]") {
  LogFixture f;
  for (int round = 0; round < 3; ++round) {
    auto log = f.open();
    CHECK(f.write(*log, 10, round * 10) == 10);
  }
  auto rs = records_of(f.opts.dir);
  CHECK(count_kind(rs, "start") == 3);
  CHECK(count_kind(rs, "open") == 1);
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == 30);
}

TEST_CASE("log: timed checkpoints", "[log]") {
  LogFixture f;
  f.opts.checkpoint_every = 0;
  f.opts.checkpoint_interval = std::chrono::milliseconds(30);
  auto log = f.open();
  f.write(*log, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(log->stats().checkpoints >= 1);
  // The checkpoint file was refreshed on time from the last seal, with no record written.
  auto rs = records_of(f.opts.dir);
  CHECK(rs.back().kind == "seal");
  CHECK(slurp(f.opts.dir / kCheckpointFileName) == rs.back().payload["note"]);
}

TEST_CASE("log: keys rotated while running, and an agent whose key cannot be loaded",
          "[log][keys]") {
  LogFixture f;
  ScopedEnv env(kKeyEnvVar, nullptr);
  auto root = f.dir.path / "keys";
  auto store = std::make_shared<AgentKeyStore>(root, "acme");
  auto log = std::make_unique<AuditLog>(f.opts, store, "agent-1");
  std::atomic<int> ok{0};
  auto write = [&](const std::string& agent, int n) {
    for (int i = 0; i < n; ++i) {
      log->append(agent, decision(i, true, agent), AuditLog::Kind::Decision,
                  [&](const AppendResult& r) { ok += r.ok; });
    }
    log->flush();
  };
  write("agent-1", 5);
  write("agent-2", 5);
  std::string old_id = store->key_for("agent-1").key_id();
  Rotation rot = rotate_agent_key(root, "acme", "agent-1");
  write("agent-1", 5);
  CHECK(ok == 15);
  // agent-3's key file is readable by others: its call fails, and the log says why.
  auto bad = agent_key_path(root, "acme", "agent-3");
  std::filesystem::create_directories(bad.parent_path());
  spit(bad, SigningKey::generate().seed_base64());
  std::string err;
  log->append("agent-3", decision(1, true, "agent-3"), AuditLog::Kind::Decision,
              [&](const AppendResult& r) { err = r.ok ? "ok" : r.error; });
  log->flush();
  CHECK_THAT(err, Catch::Contains("accessible by group or others"));
  log.reset();
  auto rs = records_of(f.opts.dir);
  std::set<std::string> ids;
  for (const auto& r : rs)
    ids.insert(r.key_id);
  CHECK(ids.count(old_id));
  CHECK(ids.count(rot.new_key.key.key_id()));
  auto key_fail = std::find_if(rs.begin(), rs.end(), [](const ParsedRecord& r) {
    return r.payload.value("code", "") == "GT-AUDIT-KEY";
  });
  REQUIRE(key_fail != rs.end());
  CHECK(key_fail->payload["agent"] == "agent-3");
  CHECK(key_fail->payload["signed_by"] == "agent-1");
  CHECK(key_fail->payload["decision"] == "deny");
  VerifyOptions vo;
  vo.keyring = Keyring::load(keyring_path(root, "acme"));
  auto rep = verify_log(log_files_in(f.opts.dir), vo);
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.key_ids.size() == 3);  // agent-1 old and new, agent-2
}
