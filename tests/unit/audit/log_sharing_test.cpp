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
  // Appended, as a dying writer leaves it: a rewrite would briefly truncate the file under the
  // open writer, which then (rightly) reports a second, unrelated failure.
  std::ofstream(f.active(), std::ios::binary | std::ios::app) << R"({"payload":"dG9ybg)";
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
