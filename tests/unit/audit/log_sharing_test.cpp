// The audit log writer: several processes appending to one directory, one tenant per directory.
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

TEST_CASE("log: several writers (processes) share one directory", "[log]") {
  LogFixture f;
  f.opts.fsync = GENERATE(FsyncMode::Group, FsyncMode::Off);  // Off: inline writes contend too
  f.opts.caller_writes = true;
  f.opts.rotate_bytes = 16384;
  auto a = f.open();
  auto b = f.open();  // its own lock file description: exactly like another process
  std::thread ta([&] {
    for (int i = 0; i < 10; ++i)
      f.write(*a, 10, i * 10);
  });
  std::thread tb([&] {
    for (int i = 0; i < 10; ++i)
      f.write(*b, 10, 1000 + i * 10);
  });
  ta.join();
  tb.join();
  a.reset();
  b.reset();
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == 200);
  CHECK(rep.files > 1);
  // A writer that dies mid-batch leaves a torn line: the next writer recovers it.
  auto c = f.open();
  f.write(*c, 1, 5000);
  // Appended, as a dying writer leaves it: under the directory lock (which makes `c`, sole
  // until then, give it up), and not rewritten: a rewrite would briefly truncate the file
  // under the open writer, which then (rightly) reports a second, unrelated failure.
  {
    DirLock dying(f.opts.dir);
    std::lock_guard held(dying);
    std::ofstream(f.active(), std::ios::binary | std::ios::app) << R"({"payload":"dG9ybg)";
  }
  CHECK(f.write(*c, 2, 5001) == 2);
  c.reset();
  auto rep2 = f.verify();
  INFO(rep2.first.message);
  CHECK(rep2.ok);
  CHECK(rep2.recoveries == 1);
}

TEST_CASE("log: a directory belongs to one tenant", "[log]") {
  LogFixture f;
  { f.open(); }
  f.opts.tenant = "other";
  CHECK_THROWS_WITH(f.open(), Catch::Contains("is the audit log of tenant `acme`"));
}

TEST_CASE("log: a log appending alone keeps the directory lock until another one joins", "[log]") {
  LogFixture f;
  f.opts.fsync = GENERATE(FsyncMode::Group, FsyncMode::Off);
  f.opts.caller_writes = true;
  auto a = f.open();
  CHECK(f.write(*a, 5) == 5);
  CHECK(a->stats().sole);
  auto b = f.open();  // asks a for the lock: a now takes it per batch, and catches up
  CHECK_FALSE(a->stats().sole);
  CHECK_FALSE(b->stats().sole);
  CHECK(a->stats().leases_given_up == 1);
  for (int round = 0; round < 3; ++round) {
    CHECK(f.write(*a, 5, 100 + round * 10) == 5);
    CHECK(f.write(*b, 5, 200 + round * 10) == 5);
  }
  a.reset();
  b.reset();
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == 35);
}

TEST_CASE("log: a log appending alone still finds its file cut, within kSoleCheck", "[log]") {
  LogFixture f;
  auto a = f.open();
  CHECK(f.write(*a, 5) == 5);
  REQUIRE(a->stats().sole);
  // Cut by hand, outside any lock (the writer cannot stop that; it must not write on as if
  // nothing happened).
  std::filesystem::resize_file(f.active(), std::filesystem::file_size(f.active()) - 10);
  std::this_thread::sleep_for(kSoleCheck + std::chrono::milliseconds(100));
  std::string error;
  a->append("agent-1", decision(10), AuditLog::Kind::Decision,
            [&](const AppendResult& r) { error = r.ok ? "ok" : r.error; });
  a->flush();
  CHECK_THAT(error, Catch::Contains("shrank") && Catch::Contains("truncated by someone else"));
}
