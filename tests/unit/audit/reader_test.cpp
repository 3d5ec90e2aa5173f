// `glasstape tail` building blocks: filters, line format, following across rotation.
#include <catch2/catch.hpp>

#include "governance/audit/log_reader.hpp"
#include "log_fixture.hpp"

using namespace gt::gov::audit;
using namespace gt::gov::audit::test;
using nlohmann::json;

TEST_CASE("tail: filters and formatting", "[tail]") {
  json deny = {{"kind", "decision"},
               {"ts", "2025-06-01T12:34:56.789012Z"},
               {"agent", "claude"},
               {"server", "fs"},
               {"tool", "write_file"},
               {"decision", "deny"},
               {"would_deny", false},
               {"rule_id", "no-writes"},
               {"reason", "writes are not allowed"},
               {"id", "r-1"}};
  json allow = deny;
  allow["decision"] = "allow";
  allow["tool"] = "read_file";
  allow["rule_id"] = "";
  allow["reason"] = "";
  json monitor = allow;
  monitor["would_deny"] = true;
  json result = {{"kind", "result"}};
  json start = {{"kind", "start"}};
  json recovery = {{"kind", "recovery"},
                   {"event", "torn-tail"},
                   {"ts", "2025-06-01T12:00:00Z"},
                   {"bytes", 12},
                   {"evidence", "audit.jsonl.torn-x"}};
  CHECK(tail_matches(deny, {}));
  CHECK(tail_matches(allow, {}));
  CHECK_FALSE(tail_matches(result, {}));
  CHECK_FALSE(tail_matches(start, {}));
  CHECK(tail_matches(recovery, {}));
  TailFilter denied{true, ""};
  CHECK(tail_matches(deny, denied));
  CHECK(tail_matches(monitor, denied));
  CHECK_FALSE(tail_matches(allow, denied));
  CHECK(tail_matches(deny, TailFilter{false, "write_*"}));
  CHECK(tail_matches(deny, TailFilter{false, "fs/*"}));
  CHECK_FALSE(tail_matches(allow, TailFilter{false, "write_*"}));
  CHECK_FALSE(tail_matches(recovery, TailFilter{false, "write_*"}));

  CHECK(format_tail_line(deny, false) ==
        "2025-06-01T12:34:56Z  claude  fs/write_file  DENY  no-writes  writes are not allowed  "
        "[r-1]");
  CHECK(format_tail_line(allow, false) ==
        "2025-06-01T12:34:56Z  claude  fs/read_file  ALLOW  -  [r-1]");
  CHECK_THAT(format_tail_line(monitor, false), Catch::Contains("WOULD-DENY"));
  std::string coloured = format_tail_line(deny, true);
  CHECK_THAT(coloured, Catch::Contains("\x1b[1;31mDENY\x1b[0m"));
  CHECK_THAT(format_tail_line(recovery, false), Catch::Contains("RECOVERY  torn-tail: 12 byte(s)"));
}

TEST_CASE("tail: following a live log across rotation", "[tail]") {
  LogFixture f;
  f.opts.rotate_bytes = 6000;
  auto log = f.open();
  f.write(*log, 2);
  LogFollower follow(f.active(), true);
  CHECK(follow.poll().empty());
  int seen = 0;
  for (int round = 0; round < 6; ++round) {
    // Several rotations between two polls: the files in between are read too.
    f.write(*log, round == 3 ? 25 : 5, round * 100);
    for (const auto& line : follow.poll()) {
      auto p = decode_payload(line);
      REQUIRE(p);
      if ((*p)["kind"] == "decision") ++seen;
    }
  }
  CHECK(log->stats().rotations >= 4);
  CHECK(seen == 50);
  CHECK_FALSE(decode_payload("garbage"));
}
