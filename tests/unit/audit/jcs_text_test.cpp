// JcsText (JCS straight from JSON text through simdjson) must give exactly the bytes of the
// nlohmann path, canonicalize(nlohmann::json::parse(text)), for every text simdjson accepts;
// result receipts hash either one depending on how the response reached the recorder.
#include "governance/audit/jcs_text.hpp"

#include <bit>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>

#include "governance/audit/jcs.hpp"
#include "governance/audit/receipt.hpp"

using namespace gt::gov::audit;
using nlohmann::json;

namespace {

// Both paths on `text`: the same canonical bytes, or both refusing (JcsError); a text
// simdjson refuses must be one the nlohmann path also refuses or accepts on its own terms.
void same_as_nlohmann(const std::string& text) {
  INFO(text.substr(0, 200));
  JcsText t;
  auto tree = json::parse(text, nullptr, false);
  if (!t.parse(text)) {
    // Refused by simdjson; the caller falls back to the nlohmann path. Record why it may
    // refuse: invalid JSON is refused by both.
    if (tree.is_discarded()) SUCCEED("both refuse");
    return;
  }
  REQUIRE_FALSE(tree.is_discarded());  // simdjson accepts nothing nlohmann rejects
  std::string want, got;
  bool want_throw = false, got_throw = false;
  try {
    want = canonicalize(tree);
  } catch (const JcsError&) {
    want_throw = true;
  }
  try {
    got = t.canonical();
  } catch (const JcsError&) {
    got_throw = true;
  }
  CHECK(got_throw == want_throw);
  CHECK(got == want);
}

std::string random_string(std::mt19937_64& rng) {
  static const std::vector<std::string> pieces = {
      "a",       "b",       "Z",       "0",   " ", "\\\"", "\\\\",           "\\n",
      "\\u0000", "\\u001f", "\\u20ac", "é",   "€", "😀",    "\\ud83d\\ude00", "דּ",
      "\\/",     "\\t",     "key",     "\x7f"};
  std::string s = "\"";
  auto n = rng() % 6;
  for (std::size_t i = 0; i < n; ++i)
    s += pieces[rng() % pieces.size()];
  return s + "\"";
}

std::string random_number(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0:
      return std::to_string(static_cast<std::int64_t>(rng()));
    case 1:
      return std::to_string(rng());
    case 2:
      return std::to_string(static_cast<int>(rng() % 2000) - 1000);
    case 3: {
      double d = std::bit_cast<double>(rng());
      if (!std::isfinite(d)) d = 1.5;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", d);
      return buf;
    }
    case 4:
      return "-0";
    default: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%de%d", static_cast<int>(rng() % 100),
                    static_cast<int>(rng() % 600) - 300);
      return buf;
    }
  }
}

std::string random_value(std::mt19937_64& rng, int depth) {
  auto kind = rng() % (depth > 4 ? 5 : 7);
  switch (kind) {
    case 0:
      return "null";
    case 1:
      return rng() % 2 ? "true" : "false";
    case 2:
    case 3:
      return random_number(rng);
    case 4:
      return random_string(rng);
    case 5: {
      std::string s = "[";
      auto n = rng() % 5;
      for (std::size_t i = 0; i < n; ++i)
        s += (i ? "," : "") + random_value(rng, depth + 1);
      return s + "]";
    }
    default: {
      // Few distinct names, so repeated names are common.
      std::string s = "{";
      auto n = rng() % 6;
      for (std::size_t i = 0; i < n; ++i)
        s += (i ? "," : "") + random_string(rng) + ":" + random_value(rng, depth + 1);
      return s + "}";
    }
  }
}

json result_via(const ResultInput& base, const json* tree, std::string_view text) {
  ResultInput r = base;
  r.response = tree;
  r.response_text = text;
  return json::parse(result_payload(r).finish(1, std::string(64, '0'), "k"));
}

}  // namespace

TEST_CASE("jcs text: the RFC 8785 examples and edge cases match the nlohmann path", "[jcs_text]") {
  for (const char* text : {
           R"({"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
               "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
               "literals": [null, true, false]})",
           R"({"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6,
               "\u00f6": 7})",
           R"({"a": 1, "a": 2, "b": {"x": [1, 2], "x": "last"}, "a": 3})",
           R"({"😀": 1, "דּ": 2, "😀": 9})",
           R"([9007199254740991, 9007199254740992, 9007199254740993, -9007199254740993,
               9223372036854775807, -9223372036854775808, 18446744073709551615])",
           R"([-0, -0.0, 0e10, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 100, 1.0])",
           R"("just a string")", "42", "true", "null", "[]", "{}",
           R"({"content":[{"type":"text","text":"line1\nline2\ttab \u00e9"}],"isError":false})"}) {
    same_as_nlohmann(text);
  }
}

TEST_CASE("jcs text: thousands of random documents match the nlohmann path", "[jcs_text]") {
  std::mt19937_64 rng(20261201);
  for (int i = 0; i < 3000; ++i)
    same_as_nlohmann(random_value(rng, 0));
}

TEST_CASE("jcs text: the ECMAScript number samples match", "[jcs_text]") {
  std::ifstream in(std::string(GT_SOURCE_DIR) + "/tests/unit/audit/data/es6_numbers.txt");
  REQUIRE(in);
  std::string line, doc = "[";
  int n = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    double d = std::bit_cast<double>(std::stoull(line.substr(0, line.find(' ')), nullptr, 16));
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    doc += (n++ ? "," : "") + std::string(buf);
  }
  REQUIRE(n > 4000);
  same_as_nlohmann(doc + "]");
}

TEST_CASE("jcs text: what simdjson refuses, and depth", "[jcs_text]") {
  JcsText t;
  CHECK_FALSE(t.parse("{\"a\":"));                          // not JSON
  CHECK_FALSE(t.parse("\"\xC3\x28\""));                     // invalid UTF-8
  CHECK_FALSE(t.parse("[18446744073709551616]"));           // beyond 64 bits: nlohmann's call
  CHECK(json::parse("[18446744073709551616]").is_array());  // ...which takes it as a double
  // Nested 513 deep parses, and canonicalization refuses it as the nlohmann path does.
  std::string deep = std::string(513, '[') + std::string(513, ']');
  REQUIRE(t.parse(deep));
  CHECK_THROWS_AS(t.canonical(), JcsError);
  CHECK_THROWS_AS(canonicalize(json::parse(deep)), JcsError);
  std::string ok = std::string(512, '[') + std::string(512, ']');
  same_as_nlohmann(ok);
  // A document over 1 MB uses a parser of its own, then the small one again.
  std::string big = "{\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"" +
                    std::string(3 << 20, 'x') + "\"}]}}";
  same_as_nlohmann(big);
  same_as_nlohmann(R"({"after":"big"})");
}

TEST_CASE("jcs text: result receipts are the same from text and from a tree", "[jcs_text]") {
  ResultInput base;
  base.receipt_id = "r";
  base.decision_id = "d";
  base.ts = Clock::now();
  base.tenant = "t";
  base.agent = "a";
  for (std::string text :
       {R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}})",
        R"({"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}})",
        R"({"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":"yes"}})",
        R"({"jsonrpc":"2.0","id":1,"result":{"isError":true,"isError":false}})",
        R"({"jsonrpc":"2.0","id":1,"result":1,"result":{"isError":true}})",
        R"({"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"boom"}})",
        R"({"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1}})", R"({"jsonrpc":"2.0","id":1})",
        R"([1,2])", R"({"result":[18446744073709551616]})"}) {
    INFO(text);
    auto tree = json::parse(text);
    auto a = result_via(base, &tree, {});
    auto b = result_via(base, nullptr, text);
    CHECK(a == b);
  }
  // Not JSON at all: no hash, and a note that says so.
  auto p = result_via(base, nullptr, "this is not json");
  CHECK(p["result_sha256"].is_null());
  CHECK(p["result_note"] == "the response is not JSON");
  CHECK(p["is_error"] == false);
}
