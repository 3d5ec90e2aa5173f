// The audit log writer: rotation by size keeps the chain and the tree across files.
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

TEST_CASE("log: rotation by size keeps the chain across files", "[log]") {
  LogFixture f;
  f.opts.rotate_bytes = 8192;
  {
    auto log = f.open();
    for (int i = 0; i < 10; ++i)
      f.write(*log, 12, i * 12);
    CHECK(log->stats().rotations >= 3);
  }
  {
    auto log = f.open();  // restart after rotations
    f.write(*log, 5, 500);
  }
  auto files = log_files_in(f.opts.dir);
  REQUIRE(files.size() >= 4);
  CHECK(files.back().filename() == "audit.jsonl");
  for (std::size_t i = 0; i + 1 < files.size(); ++i) {
    auto ls = lines_of(slurp(files[i]));
    CHECK(parse_record(ls.front())->kind == "open");
    CHECK(parse_record(ls.back())->kind == "seal");  // every rotated file is closed by one
    // Named after its first seq.
    CHECK(files[i].filename() == rotated_log_name(parse_record(ls.front())->seq));
  }
  auto rep = f.verify();
  INFO(rep.first.message);
  CHECK(rep.ok);
  CHECK(rep.decisions == 125);
  // Without the first file the log is missing its beginning...
  VerifyOptions vo;
  vo.keyring = ring_for(f.key);
  std::vector<std::filesystem::path> tail(files.begin() + 1, files.end());
  auto cut = verify_log(tail, vo);
  CHECK(cut.first.damage == Damage::Deleted);
  // ...which --partial accepts, resuming the tree from the file's `open` record.
  vo.partial = true;
  auto partial = verify_log(tail, vo);
  INFO(partial.first.message);
  CHECK(partial.ok);
  CHECK(partial.root == rep.root);
}
