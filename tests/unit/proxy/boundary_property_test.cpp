// Issue 13, "what is judged is what runs": whatever a client sends, the server receives only
// messages that frame as one line, parse one way, and, for tools/call, were allowed by a
// recorded decision over exactly the bytes the server gets. The harness and its invariant
// are in tests/support/boundary_harness.hpp (shared with tests/fuzz/boundary_fuzz.cpp);
// the rules are the README's "What is judged is what runs".
#include <map>
#include <string>

#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>

#include "tests/support/boundary_harness.hpp"

using namespace gt::test::boundary;
using gt::proxy::Effect;
using nlohmann::json;

namespace {

// The refusals log a warn line each; thousands of them would drown the test output.
struct Quiet {
  spdlog::level::level_enum saved = spdlog::get_level();
  Quiet() { spdlog::set_level(spdlog::level::off); }
  ~Quiet() { spdlog::set_level(saved); }
};

std::string call(std::string_view id, std::string_view tool, std::string_view args) {
  return R"({"jsonrpc":"2.0","id":)" + std::string(id) +
         R"(,"method":"tools/call","params":{"name":")" + std::string(tool) + R"(","arguments":)" +
         std::string(args) + "}}";
}

// The client got a JSON-RPC error with this code, for this id (text as nlohmann dumps it).
void require_refused(const Harness& h, int code, const std::string& id_dump) {
  REQUIRE(!h.to_client.empty());
  auto r = h.last_client();
  INFO(h.to_client.back());
  CHECK(r["error"]["code"] == code);
  CHECK(r["id"].dump() == id_dump);
}

void require_clean(const Harness& h) {
  INFO(h.report(30));
  REQUIRE(h.violations.empty());
}

}  // namespace

TEST_CASE("boundary property: seeded traffic never reaches the server unjudged",
          "[boundary][property]") {
  Quiet quiet;
  // Bounded work: 500 sessions of 30 operations each, about 10,000 client lines.
  constexpr std::uint64_t kSessions = 500;
  constexpr int kOps = 30;
  // Violation class → how many, and the first one seen (with its seed).
  std::map<std::string, std::pair<std::size_t, std::string>> found;
  std::size_t failing = 0;
  std::string first_report;
  Harness::Counts total;
  std::size_t crlf_lines = 0, forwarded_lines = 0;
  for (std::uint64_t seed = 1; seed <= kSessions; ++seed) {
    RngSource src(seed);
    Harness h;
    if (seed % 2) h.prime();  // otherwise the proxy lists the tools itself
    for (int op = 0; op < kOps; ++op) {
      auto k = src.below(100);
      if (k < 60) {
        auto line = gen_message(src);
        if (line.find_first_of("\r\n") != std::string::npos) ++crlf_lines;
        h.client(line);
      } else if (k < 68) {
        auto line = gen_message(src);
        mutate_bytes(src, line);
        h.client(line);
      } else if (k < 88) {
        h.server_answers(src.below(8));
      } else if (k < 94) {
        h.client_cancels(src.below(8));
      } else if (k < 96) {
        h.server_down();
      } else if (k < 98) {
        h.server_up();
      } else {
        h.server_tools_changed();
      }
    }
    h.finish();
    forwarded_lines += h.to_server.size();
    total.client_lines += h.counts.client_lines;
    total.calls_forwarded += h.counts.calls_forwarded;
    total.allowed += h.counts.allowed;
    total.denied += h.counts.denied;
    total.refused += h.counts.refused;
    if (h.violations.empty()) continue;
    if (failing++ == 0) first_report = "seed " + std::to_string(seed) + ":\n" + h.report(40);
    for (const auto& v : h.violations) {
      auto& [n, first] = found[v.substr(0, v.find(']') + 1)];
      if (n++ == 0) first = "seed " + std::to_string(seed) + ": " + shown(v, 400);
    }
  }
  std::string summary;
  for (const auto& [tag, f] : found)
    summary += tag + " x" + std::to_string(f.first) + ", first " + f.second + "\n";
  INFO(failing << " of " << kSessions << " sessions broke the invariant\n"
               << summary << "\nthe first failing session, " << first_report);
  CHECK(found.empty());
  // The traffic reaches every path; a generator that stopped doing so would prove nothing.
  INFO("client lines " << total.client_lines << ", with raw CR/LF " << crlf_lines
                       << ", lines forwarded " << forwarded_lines << ", calls forwarded "
                       << total.calls_forwarded << ", allowed " << total.allowed << ", denied "
                       << total.denied << ", refused " << total.refused);
  CHECK(total.client_lines > 9000);
  CHECK(crlf_lines > 2000);
  CHECK(total.allowed > 400);
  CHECK(total.calls_forwarded > 400);
  CHECK(total.denied > 500);
  CHECK(total.refused > 4000);
}

// ---------------------------------------------------------------- 1. framing

TEST_CASE("boundary: CR, LF and CRLF between tokens never reach the server", "[boundary]") {
  Quiet quiet;
  for (std::string sep : {"\n", "\r", "\r\n", " \t"}) {
    Harness h;
    h.prime();
    std::string line = "{" + sep + R"("jsonrpc":"2.0",)" + sep + R"("id":1,"method":)" + sep +
                       R"("tools/call","params":{"name":"echo",)" + sep + R"("arguments":{)" + sep +
                       R"("m":)" + sep + R"("a\nb","n":)" + sep + "1.0" + sep + "}}" + sep + "}" +
                       sep;
    h.client(line);
    INFO("separator " << shown(sep));
    require_clean(h);
    REQUIRE(h.to_server.size() == 1);
    // The server gets the compact text: every token as sent (escapes, 1.0), nothing else.
    CHECK(
        h.to_server[0] ==
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"m":"a\nb","n":1.0}}})");
    REQUIRE(h.decisions.size() == 1);
    CHECK(h.decisions[0].raw_arguments == R"({"m":"a\nb","n":1.0})");
  }
}

TEST_CASE("boundary: a message split by a raw LF or CR cannot smuggle a second call",
          "[boundary]") {
  Quiet quiet;
  // Judged as one allowed call to `echo`; a line-based server that received the bytes as
  // sent would read the middle line as its own, unjudged, call.
  for (std::string sep : {"\n", "\r", "\r\n"}) {
    Harness h;
    h.prime();
    h.client(
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"m":"hi"}},"pad":[)" +
        sep +
        R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run","arguments":{"cmd":"evil"}}})" +
        sep + "]}");
    INFO("separator " << shown(sep));
    require_clean(h);
    CHECK(h.in_flight.size() <= 1);
  }
}

TEST_CASE("boundary: a raw LF inside a batch element is removed too", "[boundary]") {
  Quiet quiet;
  Harness h;
  h.prime();
  h.client("[" + call("1", "echo", "{\"m\":\n\"x\"}") + ",\r\n" + call("2", "echo", "{}") + "]");
  require_clean(h);
  REQUIRE(h.to_server.size() == 2);
  CHECK(h.to_server[0] == call("1", "echo", R"({"m":"x"})"));
}

// ---------------------------------------------------------------- 2. duplicate names

TEST_CASE("boundary: a member name repeated at any depth is refused", "[boundary]") {
  Quiet quiet;
  const std::vector<std::string> args = {
      R"({"a":{"b":"evil","b":"x"}})",
      R"({"a":{"b":"x","b":"evil"}})",
      R"({"cmd":"evil","\u0063md":"ls"})",
      R"({"cmd":"evil","cm\u0064":"ls"})",
      R"({"a":[{"k":1},{"b":"evil","\u0062":"x"}]})",
      R"({"é":"evil","\u00e9":"x"})",
      R"({"\ud83d\ude00":"evil","😀":"x"})",
      R"({"l1":{"l2":{"l3":{"l4":{"l5":{"l6":{"z":"evil","z":1}}}}}}})",
  };
  for (const auto& a : args) {
    Harness h;
    h.prime();
    h.client(call("5", "echo", a));
    INFO(a);
    require_clean(h);
    CHECK(h.to_server.empty());
    CHECK(h.decisions.empty());
    require_refused(h, -32600, "5");
  }
  SECTION("outside arguments too: params of other methods, _meta") {
    for (
        std::string line :
        {R"({"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"a","uri":"b"}})",
         R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":1,"progress\u0054oken":2}}})"}) {
      Harness h;
      h.prime();
      h.client(line);
      INFO(line);
      require_clean(h);
      CHECK(h.to_server.empty());
      CHECK(h.decisions.empty());
      require_refused(h, -32600, "6");
    }
  }
  SECTION("names that differ (case, escapes of different characters) are not duplicates") {
    Harness h;
    h.prime();
    h.client(call("7", "echo", R"({"a":1,"A":2,"\u0062":3,"c":{"a":4}})"));
    require_clean(h);
    REQUIRE(h.to_server.size() == 1);
    REQUIRE(h.decisions.size() == 1);
    CHECK(h.decisions[0].effect == Effect::Allow);
  }
}

TEST_CASE("boundary: escaped member names are the names they spell", "[boundary]") {
  Quiet quiet;
  // A parser reads "\u0061rguments" as "arguments": the arguments judged must be the ones
  // the server runs, whichever way the names are written.
  for (
      std::string line :
      {R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run","\u0061rguments":{"cmd":"evil"}}})",
       R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"n\u0061me":"run","arguments":{"cmd":"evil"}}})",
       R"({"jsonrpc":"2.0","id":2,"method":"tools/call","p\u0061rams":{"name":"run","arguments":{"cmd":"evil"}}})",
       R"({"jsonrpc":"2.0","id":2,"\u006dethod":"tools/call","params":{"name":"run","arguments":{"cmd":"evil"}}})",
       R"({"jsonrpc":"2.0","\u0069d":2,"method":"tools/call","params":{"name":"run","arguments":{"cmd":"evil"}}})",
       R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"forbidden_tool","\u0061rguments":{}}})"}) {
    Harness h;
    h.prime();
    h.client(line);
    INFO(line);
    require_clean(h);
    CHECK(h.to_server.empty());
  }
  SECTION("and a call written that way is forwarded with the arguments judged") {
    Harness h;
    h.prime();
    h.client(
        R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"run","\u0061rguments":{"cmd":"ls"}}})");
    require_clean(h);
    if (!h.to_server.empty()) {
      REQUIRE(h.decisions.size() == 1);
      CHECK(h.decisions[0].raw_arguments == R"({"cmd":"ls"})");
    }
  }
}

// ---------------------------------------------------------------- 3. notifications

TEST_CASE("boundary: a request method sent without an id is refused, never forwarded",
          "[boundary]") {
  Quiet quiet;
  for (
      std::string line :
      {R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"run","arguments":{"cmd":"evil"}}})",
       R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{}}})",
       R"({"jsonrpc":"2.0","method":"tools/list"})", R"({"jsonrpc":"2.0","method":"ping"})",
       R"([{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo"}}])"}) {
    Harness h;
    h.prime();
    h.client(line);
    INFO(line);
    require_clean(h);
    CHECK(h.to_server.empty());
    CHECK(h.decisions.empty());
    REQUIRE(!h.to_client.empty());
    CHECK(h.last_client()["id"].is_null());
    CHECK(h.last_client().contains("error"));
  }
  SECTION("notifications/... pass") {
    Harness h;
    h.prime();
    h.client(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    require_clean(h);
    CHECK(h.to_server.size() == 1);
  }
}

// ---------------------------------------------------------------- 4. method spellings

TEST_CASE("boundary: near misses of a method are refused, exact spellings are judged",
          "[boundary]") {
  Quiet quiet;
  for (std::string m : {"Tools/Call", "TOOLS/CALL", "tools/Call", " tools/call", "tools/call ",
                        "tools/call\\t", "tools/call\\n", "tools/call\\u0000", "tools/call\\u00a0",
                        "\\u200btools/call", "tools/call\xc2\xa0", "Tools/List", "PING"}) {
    Harness h;
    h.prime();
    h.client(R"({"jsonrpc":"2.0","id":3,"method":")" + m +
             R"(","params":{"name":"run","arguments":{"cmd":"evil"}}})");
    INFO(m);
    require_clean(h);
    CHECK(h.to_server.empty());
    CHECK(h.decisions.empty());
    require_refused(h, -32601, "3");
  }
  SECTION("an escaped spelling of tools/call is tools/call: judged, and denied") {
    for (std::string m : {"tools\\/call", "\\u0074ools/call", "tools/cal\\u006C"}) {
      Harness h;
      h.prime();
      h.client(R"({"jsonrpc":"2.0","id":4,"method":")" + m +
               R"(","params":{"name":"run","arguments":{"cmd":"evil"}}})");
      INFO(m);
      require_clean(h);
      CHECK(h.to_server.empty());
      REQUIRE(h.decisions.size() == 1);
      CHECK(h.decisions[0].effect == Effect::Deny);
      h.client(R"({"jsonrpc":"2.0","id":5,"method":")" + m +
               R"(","params":{"name":"run","arguments":{"cmd":"ls"}}})");
      require_clean(h);
      CHECK(h.to_server.size() == 1);
    }
  }
}

TEST_CASE("boundary: a message with both method and result is refused", "[boundary]") {
  Quiet quiet;
  Harness h;
  h.prime();
  h.client(
      R"({"jsonrpc":"2.0","id":8,"result":{},"method":"tools/call","params":{"name":"run","arguments":{"cmd":"evil"}}})");
  require_clean(h);
  CHECK(h.to_server.empty());
  require_refused(h, -32600, "8");
}

// ---------------------------------------------------------------- 5. in-flight ids

TEST_CASE("boundary: an id in flight cannot be reused", "[boundary]") {
  Quiet quiet;
  Harness h;
  h.prime();
  h.client(call("1", "echo", R"({"m":"first"})"));
  REQUIRE(h.to_server.size() == 1);

  SECTION("the same id, any method") {
    h.client(call("1", "echo", R"({"m":"second"})"));
    require_refused(h, -32600, "1");
    h.client(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
    require_refused(h, -32600, "1");
    require_clean(h);
    CHECK(h.to_server.size() == 1);
    // Once answered, the id is free again.
    h.server_answers(0);
    h.client(call("1", "echo", R"({"m":"third"})"));
    require_clean(h);
    CHECK(h.to_server.size() == 2);
  }
  SECTION("ids equal as numbers: 1.0, 1e0, 10E-1 are refused") {
    for (std::string id : {"1.0", "1e0", "10E-1", "1.00"}) {
      h.client(call(id, "echo", R"({"m":"second"})"));
      INFO(id);
      CHECK(h.last_client()["error"]["code"] == -32600);
    }
    require_clean(h);
    CHECK(h.to_server.size() == 1);
  }
  SECTION("the same string, escaped") {
    h.client(call(R"("a")", "echo", "{}"));
    h.client(call(R"("\u0061")", "echo", "{}"));
    require_refused(h, -32600, R"("a")");
    require_clean(h);
    CHECK(h.to_server.size() == 2);
  }
  SECTION("a string and a number are different ids") {
    h.client(call(R"("1")", "echo", "{}"));
    require_clean(h);
    CHECK(h.to_server.size() == 2);
  }
  SECTION("twice in one batch") {
    h.client("[" + call("9", "echo", R"({"m":"x"})") + "," + call("9", "echo", R"({"m":"y"})") +
             "]");
    require_clean(h);
    CHECK(h.to_server.size() == 2);
    require_refused(h, -32600, "9");
  }
}

TEST_CASE("boundary: ids beyond 2^53-1 and other inexact ids are refused", "[boundary]") {
  Quiet quiet;
  Harness h;
  h.prime();
  for (std::string id : {"9007199254740992", "9007199254740993", "-9007199254740993",
                         "18446744073709551616", "-0", "1.5", "null"}) {
    h.client(call(id, "echo", "{}"));
    INFO(id);
    CHECK(h.last_client()["error"]["code"] == -32600);
  }
  require_clean(h);
  CHECK(h.to_server.empty());
  CHECK(h.decisions.empty());
  // The largest exact integers pass, and are recorded exactly as sent.
  h.client(call("9007199254740991", "echo", "{}"));
  h.client(call("-9007199254740991", "echo", "{}"));
  require_clean(h);
  CHECK(h.to_server.size() == 2);
  REQUIRE(h.decisions.size() == 2);
  CHECK(h.decisions[0].id.dump() == "9007199254740991");
  CHECK(h.decisions[1].id.dump() == "-9007199254740991");
}

TEST_CASE("boundary: a client id cannot collide with the proxy's own requests", "[boundary]") {
  Quiet quiet;
  Harness h;
  h.auto_answer_own = false;
  // No tools listed yet: the call waits while the proxy lists the tools itself.
  h.client(call("1", "echo", R"({"m":"hi"})"));
  REQUIRE(h.in_flight.size() == 1);
  std::string own = h.in_flight[0].id_text;
  REQUIRE(own.rfind("\"glasstape:", 0) == 0);
  // The same id, spelled with an escape.
  std::string escaped = "\"\\u0067" + own.substr(2);
  h.client(R"({"jsonrpc":"2.0","id":)" + escaped + R"(,"method":"tools/list"})");
  h.client(R"({"jsonrpc":"2.0","id":)" + own + R"(,"method":"tools/list"})");
  require_clean(h);
  h.auto_answer_own = true;
  h.finish();
  require_clean(h);
  // The waiting call was judged against the listing and forwarded.
  REQUIRE(h.decisions.size() == 1);
  CHECK(h.decisions[0].effect == Effect::Allow);
}

// ---------------------------------------------------------------- 6. cancel, then reuse

TEST_CASE("boundary: a cancelled id stays in flight until the server answers it", "[boundary]") {
  Quiet quiet;
  Harness h;
  h.prime();
  h.client(call("7", "echo", R"({"m":"slow"})"));
  REQUIRE(h.to_server.size() == 1);
  h.client_cancels(0);
  REQUIRE(h.to_server.size() == 2);  // the cancellation goes to the server
  h.client(call("7", "run", R"({"cmd":"ls"})"));
  require_refused(h, -32600, "7");
  require_clean(h);
  CHECK(h.to_server.size() == 2);
  // The server's late answer is not passed on (the client gave up on it) and frees the id.
  auto answered = h.to_client.size();
  h.server_answers(0);
  CHECK(h.to_client.size() == answered);
  h.client(call("7", "run", R"({"cmd":"ls"})"));
  require_clean(h);
  CHECK(h.to_server.size() == 3);
  CHECK(h.decisions.back().tool == "run");
}

TEST_CASE("boundary: many cancellations do not free an id the server still owes", "[boundary]") {
  Quiet quiet;
  Harness h;
  h.prime();
  h.client(call("7", "echo", R"({"m":"slow"})"));
  h.client_cancels(0);
  // Thousands of other requests, each cancelled, none answered by the server.
  for (int i = 100; i < 100 + 5000; ++i) {
    h.client(R"({"jsonrpc":"2.0","id":)" + std::to_string(i) + R"(,"method":"ping"})");
    h.client(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" +
             std::to_string(i) + "}}");
  }
  h.client(call("7", "run", R"({"cmd":"ls"})"));
  require_clean(h);
  CHECK(h.last_client()["error"]["code"] == -32600);
}

TEST_CASE("boundary: the fuzz input format replays", "[boundary]") {
  Quiet quiet;
  // A script in run_fuzz_input()'s format: call, cancel, reuse, answer, reuse.
  std::string script = call("7", "echo", "{}") + "\xFFx\xFF" + call("7", "echo", "{}") +
                       "\xFF"
                       "a\xFF" +
                       call("7", "echo", "{}") + "\xFFl";
  Harness h;
  run_fuzz_input(h, script);
  require_clean(h);
  CHECK(h.decisions.size() == 2);
}
