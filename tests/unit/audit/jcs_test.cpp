// RFC 8785 (JCS): the RFC's own examples, its Appendix B number samples, and a few thousand
// numbers rendered by Node's String(x) (data/es6_numbers.txt, from data/gen_es6_numbers.mjs).
#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include <catch2/catch.hpp>

#include "governance/audit/jcs.hpp"

using gt::gov::audit::canonicalize;
using gt::gov::audit::jcs_number;
using gt::gov::audit::JcsError;
using nlohmann::json;

namespace {
double from_bits(std::uint64_t b) {
  return std::bit_cast<double>(b);
}
}  // namespace

TEST_CASE("jcs: the RFC 8785 §3.2.4 example", "[jcs]") {
  // The input exactly as in the RFC (the \u escapes are JSON escapes in the input text).
  const char* input = R"({
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  })";
  std::string expected =
      "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
      "\"string\":\"\xE2\x82\xAC$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
  CHECK(canonicalize(json::parse(input)) == expected);
}

TEST_CASE("jcs: the RFC 8785 §3.2.3 sorting example (UTF-16 code units)", "[jcs]") {
  const char* input = R"({
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis"
  })";
  std::string out = canonicalize(json::parse(input));
  std::vector<std::string> order = {"Carriage Return",
                                    "One",
                                    "Control",
                                    "Latin Small Letter O With Diaeresis",
                                    "Euro Sign",
                                    "Emoji: Grinning Face",
                                    "Hebrew Letter Dalet With Dagesh"};
  std::size_t pos = 0;
  for (const auto& v : order) {
    auto at = out.find(v, pos);
    INFO(out);
    REQUIRE(at != std::string::npos);
    pos = at;
  }
  // UTF-8 byte order would put U+FB33 before the emoji (EF.. < F0..): JCS must not.
  CHECK(out.find("Emoji") < out.find("Hebrew"));
}

TEST_CASE("jcs: RFC 8785 Appendix B number samples", "[jcs]") {
  const std::pair<std::uint64_t, const char*> samples[] = {
      {0x0000000000000000, "0"},
      {0x8000000000000000, "0"},
      {0x0000000000000001, "5e-324"},
      {0x8000000000000001, "-5e-324"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0xffefffffffffffff, "-1.7976931348623157e+308"},
      {0x4340000000000000, "9007199254740992"},
      {0xc340000000000000, "-9007199254740992"},
      {0x4430000000000000, "295147905179352830000"},
      {0x44b52d02c7e14af5, "9.999999999999997e+22"},
      {0x44b52d02c7e14af6, "1e+23"},
      {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
      {0x444b1ae4d6e2ef4e, "999999999999999700000"},
      {0x444b1ae4d6e2ef4f, "999999999999999900000"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x41b3de4355555553, "333333333.3333332"},
      {0x41b3de4355555554, "333333333.33333325"},
      {0x41b3de4355555555, "333333333.3333333"},
      {0x41b3de4355555556, "333333333.3333334"},
      {0x41b3de4355555557, "333333333.33333343"},
      {0xbecbf647612f3696, "-0.0000033333333333333333"},
      {0x43143ff3c1cb0959, "1424953923781206.2"},
  };
  for (const auto& [bits, text] : samples) {
    INFO(std::hex << bits);
    CHECK(jcs_number(from_bits(bits)) == text);
    CHECK(canonicalize(json(from_bits(bits))) == text);
  }
  // NaN and Infinity (also Appendix B) have no JSON form.
  CHECK_THROWS_AS(jcs_number(std::numeric_limits<double>::quiet_NaN()), JcsError);
  CHECK_THROWS_AS(jcs_number(std::numeric_limits<double>::infinity()), JcsError);
  CHECK_THROWS_AS(canonicalize(json(-std::numeric_limits<double>::infinity())), JcsError);
}

TEST_CASE("jcs: numbers agree with ECMAScript String(x) on thousands of doubles", "[jcs]") {
  std::ifstream in(std::string(GT_SOURCE_DIR) + "/tests/unit/audit/data/es6_numbers.txt");
  REQUIRE(in);
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find(' ');
    std::uint64_t bits = std::stoull(line.substr(0, sp), nullptr, 16);
    std::string want = line.substr(sp + 1);
    INFO(line);
    REQUIRE(jcs_number(from_bits(bits)) == want);
    ++checked;
  }
  CHECK(checked > 4000);
}

TEST_CASE("jcs: integers", "[jcs]") {
  CHECK(canonicalize(json(0)) == "0");
  CHECK(canonicalize(json(-7)) == "-7");
  CHECK(canonicalize(json(9007199254740991LL)) == "9007199254740991");
  // Beyond 2^53 an integer is an IEEE double, exactly as JSON.parse in JavaScript sees it.
  CHECK(canonicalize(json::parse("9007199254740993")) == "9007199254740992");
  CHECK(canonicalize(json::parse("18446744073709551615")) == "18446744073709552000");
  CHECK(canonicalize(json::parse("-9223372036854775808")) == "-9223372036854776000");
  CHECK(canonicalize(json::parse("1.0")) == "1");
  CHECK(canonicalize(json::parse("-0.0")) == "0");
  CHECK(canonicalize(json::parse("1e21")) == "1e+21");
  CHECK(canonicalize(json::parse("123e18")) == "123000000000000000000");
}

TEST_CASE("jcs: strings escape only what they must", "[jcs]") {
  CHECK(canonicalize(json("a\"b\\c")) == R"("a\"b\\c")");
  CHECK(canonicalize(json("\b\t\n\f\r")) == R"("\b\t\n\f\r")");
  CHECK(canonicalize(json(std::string("\x01\x1f", 2))) == R"("\u0001\u001f")");
  CHECK(canonicalize(json(std::string("\0", 1))) == R"("\u0000")");
  CHECK(canonicalize(json("/\x7f")) == "\"/\x7f\"");
  CHECK(canonicalize(json("\xE2\x80\xA8 \xF0\x9F\x98\x80")) == "\"\xE2\x80\xA8 \xF0\x9F\x98\x80\"");
  CHECK_THROWS_AS(canonicalize(json("\xC0\xAF")), JcsError);      // overlong
  CHECK_THROWS_AS(canonicalize(json("\xED\xA0\x80")), JcsError);  // surrogate
  CHECK_THROWS_AS(canonicalize(json("\xF0\x9F\x98")), JcsError);  // truncated
}

TEST_CASE("jcs: structure", "[jcs]") {
  CHECK(canonicalize(json::parse(R"({ "b" : [ 1 , {"z":null,"a":true} ], "a" : {} })")) ==
        R"({"a":{},"b":[1,{"a":true,"z":null}]})");
  CHECK(canonicalize(json::parse("[]")) == "[]");
  // Output is a fixed point.
  auto once = canonicalize(json::parse(R"({"x":[1.5e300,-0.1,"\u00e9"],"\u00e9":2})"));
  CHECK(canonicalize(json::parse(once)) == once);
}

TEST_CASE("jcs: nesting is bounded", "[jcs]") {
  json deep = json::array();
  json* cur = &deep;
  for (int i = 0; i < gt::gov::audit::kJcsMaxDepth + 5; ++i) {
    cur->push_back(json::array());
    cur = &(*cur)[0];
  }
  CHECK_THROWS_AS(canonicalize(deep), JcsError);
  json binary = json::binary({1, 2, 3});
  CHECK_THROWS_AS(canonicalize(binary), JcsError);
}
