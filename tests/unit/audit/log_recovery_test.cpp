// The audit log writer: crash recovery (torn tails, kill -9 under load) and write failures
// (the fault hook and a real EFBIG): denied calls recorded late, failed bytes never chained.
#include <poll.h>
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

TEST_CASE("log: a torn last line is kept as evidence, recorded, and the chain continues", "[log]") {
  LogFixture f;
  { f.write(*f.open(), 10); }
  // A write cut short by a crash, or complete lines of zeros (delayed allocation after a
  // power cut).
  std::string torn = GENERATE(std::string(R"({"payload":"eyJ0b3JuIjp0cnVl)"),
                              std::string(100, '\0') + "\n" + std::string(50, '\0'));
  spit(f.active(), slurp(f.active()) + torn);
  auto before = f.verify();
  CHECK(before.first.damage == (torn[0] == '\0' ? Damage::Edited : Damage::Truncated));
  std::string good = slurp(f.active());
  good.resize(good.size() - torn.size());
  {
    auto log = f.open();
    f.write(*log, 3, 100);
  }
  std::filesystem::path evidence;
  for (const auto& e : std::filesystem::directory_iterator(f.opts.dir)) {
    if (e.path().filename().string().find(".torn-") != std::string::npos) evidence = e.path();
  }
  REQUIRE_FALSE(evidence.empty());
  CHECK(slurp(evidence) == torn);
  // History before the tear is untouched, byte for byte.
  CHECK(slurp(f.active()).substr(0, good.size()) == good);
  auto rs = records_of(f.opts.dir);
  auto rec = std::find_if(rs.begin(), rs.end(),
                          [](const ParsedRecord& r) { return r.kind == "recovery"; });
  REQUIRE(rec != rs.end());
  CHECK(rec->payload["event"] == "torn-tail");
  CHECK(rec->payload["bytes"] == torn.size());
  CHECK(rec->payload["offset"] == good.size());
  CHECK(rec->payload["sha256"] == sha256_hex(torn));
  CHECK(rec->payload["evidence"] == evidence.filename().string());
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.recoveries == 1);
}

TEST_CASE("log: kill -9 under load loses no acknowledged record", "[log][crash]") {
  LogFixture f;
  { f.open(); }  // create the log (and its key use) before forking
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    try {
      auto log = f.open();
      std::atomic<std::uint64_t> counter{0};
      for (int i = 0;; ++i) {
        log->append("agent-1", decision(i), AuditLog::Kind::Decision, [&](const AppendResult& r) {
          if (r.ok) {
            std::uint64_t s = r.seq;
            (void)!::write(pipefd[1], &s, sizeof s);  // acknowledged: report its seq
          }
        });
        if (++counter % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    } catch (...) {
    }
    ::_exit(3);
  }
  ::close(pipefd[1]);
  // Killed once it has acknowledged more than 100 records (however long that takes on a busy
  // machine; at most 60 s), in the middle of the stream of appends that follows.
  std::uint64_t s = 0, max_acked = 0, acked = 0;
  auto take = [&] {
    max_acked = std::max(max_acked, s);
    ++acked;
  };
  pollfd pfd{pipefd[0], POLLIN, 0};
  while (acked <= 100 && ::poll(&pfd, 1, 60000) == 1 && ::read(pipefd[0], &s, sizeof s) == sizeof s)
    take();
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  while (::read(pipefd[0], &s, sizeof s) == sizeof s)
    take();
  ::close(pipefd[0]);
  CHECK(acked > 100);
  {
    auto log = f.open();  // recovers a torn tail if the kill left one
    f.write(*log, 5, 1000000);
  }
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  // Every acknowledged record is in the log.
  CHECK(rep.next_seq > max_acked);
  auto rs = records_of(f.opts.dir);
  REQUIRE(rs.size() > max_acked);
  CHECK(rs[max_acked].seq == max_acked);
  CHECK(rs[max_acked].kind == "decision");
}

TEST_CASE("log: a failed write denies, says so once, keeps serving, and records the denials",
          "[log]") {
  LogFixture f;
  f.opts.fsync = GENERATE(FsyncMode::Group, FsyncMode::Off);  // Off: the first fails inline
  f.opts.caller_writes = true;
  std::atomic<int> fail_writes{0};
  f.opts.fault = [&](IoOp op) { return op == IoOp::Write && fail_writes.load() ? ENOSPC : 0; };
  auto log = f.open();
  CHECK(f.write(*log, 5) == 5);
  fail_writes = 1;
  std::vector<std::string> failed_ids;
  std::mutex mu;
  std::vector<std::string> errors;
  for (int i = 0; i < 7; ++i) {
    PayloadBuilder p = decision(100 + i);
    failed_ids.push_back(p.get_string("id"));
    log->append("agent-1", std::move(p), AuditLog::Kind::Decision, [&](const AppendResult& r) {
      std::lock_guard lk(mu);
      errors.push_back(r.ok ? std::string("ok") : r.error);
    });
  }
  log->flush();
  REQUIRE(errors.size() == 7);
  for (const auto& e : errors)
    CHECK_THAT(e, Catch::Contains("No space left on device"));
  CHECK(log->stats().failing);
  fail_writes = 0;
  CHECK(f.write(*log, 4, 200) == 4);  // serving again
  CHECK_FALSE(log->stats().failing);
  log.reset();
  auto rs = records_of(f.opts.dir);
  auto rec = std::find_if(rs.begin(), rs.end(),
                          [](const ParsedRecord& r) { return r.kind == "recovery"; });
  REQUIRE(rec != rs.end());
  CHECK(rec->payload["event"] == "write-failure");
  CHECK(rec->payload["denied"] == 7);
  CHECK(rec->payload["dropped"] == 0);
  CHECK_THAT(rec->payload["error"].get<std::string>(), Catch::Contains("No space left"));
  for (const auto& id : failed_ids) {
    int n = 0;
    for (const auto& r : rs) {
      if (r.payload.value("id", "") != id) continue;
      ++n;
      CHECK(r.payload["decision"] == "deny");
      CHECK(r.payload["code"] == "GT-AUDIT-WRITE");
      CHECK(r.payload["late"] == true);
      CHECK(r.payload.contains("intended_decision"));
    }
    CHECK(n == 1);  // each denied call has exactly one decision record
  }
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
}

TEST_CASE("log: bytes of a write whose sync failed are moved aside, never chained", "[log]") {
  LogFixture f;
  std::atomic<int> fail_sync{0};
  f.opts.fault = [&](IoOp op) { return op == IoOp::Sync && fail_sync.exchange(0) ? EIO : 0; };
  auto log = f.open();
  f.write(*log, 3);
  fail_sync = 1;
  PayloadBuilder p = decision(50);
  std::string id = p.get_string("id");
  std::atomic<bool> ok{true};
  log->append("agent-1", std::move(p), AuditLog::Kind::Decision,
              [&](const AppendResult& r) { ok = r.ok; });
  log->flush();
  CHECK_FALSE(ok);
  f.write(*log, 3, 60);
  log.reset();
  auto rs = records_of(f.opts.dir);
  int n = 0;
  for (const auto& r : rs) {
    if (r.payload.value("id", "") == id) {
      ++n;
      CHECK(r.payload["decision"] == "deny");  // the denial the client got, not the allow
    }
  }
  CHECK(n == 1);
  int evidence = 0;
  for (const auto& r : rs)
    evidence += r.kind == "recovery" && r.payload["event"] == "failed-write";
  CHECK(evidence == 1);
  CHECK(f.verify().ok);
}

TEST_CASE("log: a real kernel write failure (file size limit) is survived", "[log]") {
  LogFixture f;
  f.opts.fsync = FsyncMode::Off;
  auto log = f.open();
  f.write(*log, 3);
  struct rlimit old {};
  ::getrlimit(RLIMIT_FSIZE, &old);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = std::filesystem::file_size(f.active()) + 3000;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
  int ok = f.write(*log, 20, 100);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  CHECK(ok < 20);
  CHECK(f.write(*log, 5, 200) == 5);
  log.reset();
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.recoveries >= 1);
}
