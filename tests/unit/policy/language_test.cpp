// The condition language: lexer → parser → compiler → evaluator, as an outline of the spec.
#include <catch2/catch.hpp>

#include "helpers.hpp"

using gt_test::compile_error;
using gt_test::json;
using gt_test::run_expr;

TEST_CASE("literals and arithmetic", "[language]") {
  SECTION("values") {
    CHECK(run_expr("null") == json(nullptr));
    CHECK(run_expr("true") == json(true));
    CHECK(run_expr("42") == json(42));
    CHECK(run_expr("0x1F") == json(31));
    CHECK(run_expr("1.5e2") == json(150.0));
    CHECK(run_expr("'it\\'s'") == json("it's"));
    CHECK(run_expr("\"\\u00e9\"") == json("\xc3\xa9"));
    CHECK(run_expr("r'\\d+'") == json("\\d+"));
    CHECK(run_expr("[1, 'a', [true]]") == json::parse(R"([1,"a",[true]])"));
    CHECK(run_expr("{'a': 1, 'b': {'c': 2}}") == json::parse(R"({"a":1,"b":{"c":2}})"));
  }
  SECTION("precedence follows CEL") {
    CHECK(run_expr("1 + 2 * 3") == json(7));
    CHECK(run_expr("(1 + 2) * 3") == json(9));
    CHECK(run_expr("10 - 4 - 3") == json(3));
    CHECK(run_expr("7 / 2") == json(3));
    CHECK(run_expr("7 % 3") == json(1));
    CHECK(run_expr("7.0 / 2.0") == json(3.5));  // no int/double mixing (cel_fidelity_test)
    CHECK(run_expr("-3 + 1") == json(-2));
    CHECK(run_expr("!true || true") == json(true));
    CHECK(run_expr("true || false && false") == json(true));
    CHECK(run_expr("1 < 2 == true") == json(true));
    CHECK(run_expr("true ? 1 : 2") == json(1));
    CHECK(run_expr("false ? 1 : true ? 2 : 3") == json(2));
  }
  SECTION("string and list concatenation") {
    CHECK(run_expr("'ab' + 'cd'") == json("abcd"));
    CHECK(run_expr("[1] + [2]") == json::parse("[1,2]"));
  }
  SECTION("arithmetic errors are values, not crashes") {
    CHECK(run_expr("1 / 0")["error"] == "division by zero");
    CHECK(run_expr("1 % 0")["error"] == "modulus by zero");
    CHECK(run_expr("9223372036854775807 + 1")["error"] == "integer overflow in `+`");
    CHECK(run_expr("args.a - 1", json{{"a", "x"}})["error"] ==
          "no such overload: `-` on string and int");
  }
}

TEST_CASE("comparison and membership", "[language]") {
  CHECK(run_expr("1 == 1.0") == json(true));
  CHECK(run_expr("2 > 1.5") == json(true));
  CHECK(run_expr("'abc' < 'abd'") == json(true));
  CHECK(run_expr("args.x == 'a'", json{{"x", 1}}) == json(false));  // heterogeneous equality
  CHECK(run_expr("[1, 2] == [1, 2.0]") == json(true));
  CHECK(run_expr("{'a': 1} == {'a': 1}") == json(true));
  CHECK(run_expr("'b' in ['a', 'b']") == json(true));
  CHECK(run_expr("'c' not in ['a', 'b']") == json(true));
  CHECK(run_expr("'a' in {'a': 1}") == json(true));
  CHECK(run_expr("3 in [1, 2, 3.0]") == json(true));
  CHECK(run_expr("'foobar' contains 'oba'") == json(true));
  CHECK(run_expr("args.s < 1", json{{"s", "x"}})["error"] ==
        "no such overload: `<` on string and int");
}

TEST_CASE("field access on args, principal, tool and env", "[language]") {
  gt::gov::Principal p;
  p.id = "agent-7";
  p.tenant = "acme";
  p.roles = {"analyst", "viewer"};
  p.attributes = {{"user_role", "analyst"}, {"limits", {{"daily", 100}}}};
  p.claims = {{"scope", "mcp:tools files:write"}, {"client_id", "ci-agent"}};
  gt::gov::ToolRef t;
  t.server = "fs";
  t.name = "read_file";
  t.annotations = {{"readOnlyHint", true}};
  json args = {{"amount", 12.5}, {"to", {{"iban", "DE00"}}}, {"items", {1, 2, 3}}};
  CHECK(run_expr("args.amount", args, &p, &t) == json(12.5));
  CHECK(run_expr("args.to.iban", args, &p, &t) == json("DE00"));
  CHECK(run_expr("args['to']['iban']", args, &p, &t) == json("DE00"));
  CHECK(run_expr("args.items[1]", args, &p, &t) == json(2));
  CHECK(run_expr("args.items[5]", args, &p, &t)["error"] == "index 5 out of range (size 3)");
  CHECK(run_expr("args.missing", args, &p, &t)["error"] == "no such key `missing`");
  CHECK(run_expr("principal.id", args, &p, &t) == json("agent-7"));
  CHECK(run_expr("principal.tenant", args, &p, &t) == json("acme"));
  CHECK(run_expr("'analyst' in principal.roles", args, &p, &t) == json(true));
  CHECK(run_expr("principal.attributes.limits.daily", args, &p, &t) == json(100));
  CHECK(run_expr("principal.roles.exists(r, r == 'viewer')", args, &p, &t) == json(true));
  CHECK(run_expr("tool.name + '@' + tool.server", args, &p, &t) == json("read_file@fs"));
  CHECK(run_expr("tool.annotations.readOnlyHint", args, &p, &t) == json(true));
  CHECK(run_expr("has(principal.attributes.user_role)", args, &p, &t) == json(true));
  CHECK(run_expr("has(tool.annotations.destructiveHint)", args, &p, &t) == json(false));
  // An authenticated client's verified token claims (http.auth); {} for anyone else.
  CHECK(run_expr("principal.claims.client_id", args, &p, &t) == json("ci-agent"));
  CHECK(run_expr("principal.claims.scope contains 'files:write'", args, &p, &t) == json(true));
  CHECK(run_expr("principal.claims", args, &p, &t)["client_id"] == json("ci-agent"));
  CHECK(run_expr("principal", args, &p, &t)["claims"]["client_id"] == json("ci-agent"));
  CHECK(run_expr("has(principal.claims.exp)", args, &p, &t) == json(false));
  gt::gov::Principal bare;
  CHECK(run_expr("size(principal.claims)", args, &bare, &t) == json(0));
  // 2025-01-06T12:00:00Z is a Monday
  CHECK(run_expr("env.now") == json(1736164800));
  CHECK(run_expr("env.now_iso") == json("2025-01-06T12:00:00Z"));
  CHECK(run_expr("env.weekday") == json(1));
  CHECK(run_expr("env.hour") == json(12));
  CHECK(run_expr("env.time_of_day") == json("12:00:00"));
  CHECK(run_expr("env.date") == json("2025-01-06"));
  CHECK(run_expr("env.timezone") == json("UTC"));
}

TEST_CASE("functions", "[language]") {
  json args = {
      {"s", "Hello World"}, {"l", {1, 2, 3}}, {"m", {{"k", 1}}}, {"n", "42"}, {"u", "h\xc3\xa9"}};
  CHECK(run_expr("size(args.s)", args) == json(11));
  CHECK(run_expr("args.s.size()", args) == json(11));
  CHECK(run_expr("size(args.u)", args) == json(2));  // code points
  CHECK(run_expr("size(args.l) + size(args.m)", args) == json(4));
  CHECK(run_expr("args.s.contains('lo W')", args) == json(true));
  CHECK(run_expr("args.s.startsWith('Hell')", args) == json(true));
  CHECK(run_expr("args.s.endsWith('World')", args) == json(true));
  CHECK(run_expr("startsWith(args.s, 'World')", args) == json(false));
  CHECK(run_expr("args.l.contains(2)", args) == json(true));
  CHECK(run_expr("args.s.matches('^H.*d$')", args) == json(true));
  CHECK(run_expr("args.s.matches('xyz')", args) == json(false));
  CHECK(run_expr("matches(args.s, 'o W')", args) == json(true));  // partial match, as in CEL
  CHECK(run_expr("args.s.lower()", args) == json("hello world"));
  CHECK(run_expr("upper(args.s)", args) == json("HELLO WORLD"));
  CHECK(run_expr("int(args.n) + 1", args) == json(43));
  CHECK(run_expr("int(3.9)") == json(3));
  CHECK(run_expr("int('4x')")["error"] == "int() cannot convert `4x`");
  CHECK(run_expr("double('2.5')") == json(2.5));
  CHECK(run_expr("double(2)") == json(2.0));
  CHECK(run_expr("string(42)") == json("42"));
  CHECK(run_expr("string(2.0)") == json("2.0"));
  CHECK(run_expr("string(true)") == json("true"));
  CHECK(run_expr("has(args.s)", args) == json(true));
  CHECK(run_expr("has(args.zzz)", args) == json(false));
}

TEST_CASE("lower() and upper() map Latin, Greek and Cyrillic letters", "[language][unicode]") {
  auto lo = [](const std::string& s) { return run_expr("args.s.lower()", {{"s", s}}); };
  auto up = [](const std::string& s) { return run_expr("args.s.upper()", {{"s", s}}); };
  CHECK(lo("ÀÉÎÕÜ ÇÑ Ø Þ") == json("àéîõü çñ ø þ"));  // Latin-1
  CHECK(up("àéîõü çñ ø þ ÿ") == json("ÀÉÎÕÜ ÇÑ Ø Þ Ÿ"));
  CHECK(lo("ŁÓDŹ ŒUVRE ĞİŞ") == json("łódź œuvre ğiş"));  // Latin Extended-A
  CHECK(up("łódź œuvre ğış ſ") == json("ŁÓDŹ ŒUVRE ĞIŞ S"));
  CHECK(lo("ΑΘΉΝΑ ΣΟΦΊΑ") == json("αθήνα σοφία"));        // Greek
  CHECK(up("αθήνα σοφίας") == json("ΑΘΉΝΑ ΣΟΦΊΑΣ"));      // final sigma too
  CHECK(lo("МОСКВА ЁЖ ЄЇ Ґ") == json("москва ёж єї ґ"));  // Cyrillic
  CHECK(up("москва ёж єї ґ") == json("МОСКВА ЁЖ ЄЇ Ґ"));
  // Simple 1:1 mappings only: ß stays ß (no "SS"); other scripts and symbols are unchanged.
  CHECK(up("straße 東京 ✓ €") == json("STRAßE 東京 ✓ €"));
  CHECK(lo("ǅ Ꭰ") == json("ǅ Ꭰ"));  // outside the mapped blocks
  // Invalid UTF-8 is copied through byte for byte.
  CHECK(lo(std::string("A\xC3(B\xFF")) == json(std::string("a\xC3(b\xFF")));
  CHECK(run_expr("lower(args.s) == 'straße'", {{"s", "STRAßE"}}) == json(true));
}

TEST_CASE("macros", "[language]") {
  json args = {
      {"l", {1, 5, 10}}, {"m", {{"a", 1}, {"b", 2}}}, {"urls", {"https://a.example", "http://b"}}};
  CHECK(run_expr("args.l.exists(x, x > 8)", args) == json(true));
  CHECK(run_expr("args.l.all(x, x > 0)", args) == json(true));
  CHECK(run_expr("args.l.all(x, x > 1)", args) == json(false));
  CHECK(run_expr("args.l.exists_one(x, x > 4)", args) == json(false));
  CHECK(run_expr("args.l.exists_one(x, x > 9)", args) == json(true));
  CHECK(run_expr("args.m.all(k, k in ['a', 'b'])", args) == json(true));
  CHECK(run_expr("args.urls.all(u, u.startsWith('https://'))", args) == json(false));
  CHECK(run_expr("args.l.exists(x, args.l.exists(y, x + y == 15))", args) == json(true));
  SECTION("errors: a decisive element wins, otherwise the error propagates") {
    json mixed = {{"l", {"a", 5}}};
    CHECK(run_expr("args.l.exists(x, x > 4)", mixed) == json(true));
    CHECK(run_expr("args.l.all(x, x > 4)", mixed)["error"] ==
          "no such overload: `>` on string and int");
    CHECK(run_expr("args.l.all(x, x > 9)", mixed) == json(false));
  }
  SECTION("evaluation is bounded") {
    json big = {{"l", json::array()}};
    for (int i = 0; i < 2000; ++i)
      big["l"].push_back(i);
    auto r = run_expr("args.l.exists(x, args.l.exists(y, x + y < 0))", big);
    REQUIRE(r.contains("error"));
    CHECK(r["error"] == "evaluation exceeded 1000000 steps");
  }
}

TEST_CASE("short-circuit and error absorption as in CEL", "[language]") {
  json args = {{"a", 1}};
  CHECK(run_expr("false && args.missing") == json(false));
  CHECK(run_expr("args.missing && false") == json(false));
  CHECK(run_expr("true || args.missing") == json(true));
  CHECK(run_expr("args.missing || true") == json(true));
  CHECK(run_expr("true && args.missing")["error"] == "no such key `missing`");
  CHECK(run_expr("args.missing || false")["error"] == "no such key `missing`");
  CHECK(run_expr("has(args.b) && args.b > 1", args) == json(false));
  CHECK(run_expr("args.a == 1 ? 'one' : args.missing", args) == json("one"));
}

TEST_CASE("syntax errors carry file, line and column", "[language][errors]") {
  // Origin: the expression starts at p.yaml:3:16
  CHECK(compile_error("amount >") == "p.yaml:3:24: parse error: unexpected end of expression");
  CHECK(compile_error("amount = 5") ==
        "p.yaml:3:23: syntax error: unexpected `=` (use `==` to compare)");
  CHECK(compile_error("'abc") == "p.yaml:3:16: syntax error: unterminated string");
  CHECK(compile_error("(1 + 2") ==
        "p.yaml:3:22: parse error: expected `)` to close `(`, found end of expression");
  CHECK(compile_error("a.b c") == "p.yaml:3:20: parse error: unexpected `c` after expression");
  CHECK(compile_error("1 +\n  # x") == "p.yaml:4:18: syntax error: unexpected character `#`");
  CHECK(compile_error("99999999999999999999") ==
        "p.yaml:3:16: syntax error: integer literal `99999999999999999999` is out of range");
  std::string deep(200, '(');
  CHECK(compile_error(deep + "1" + std::string(200, ')')).find("nests deeper than 96 levels") !=
        std::string::npos);
}

TEST_CASE("type errors are found at load", "[language][errors]") {
  CHECK(compile_error("amount > 5") ==
        "p.yaml:3:16: type error: unknown name `amount` (use `args.amount` for a tool argument, or "
        "declare it in "
        "extraction_bindings)");
  CHECK(compile_error("args.a + 1 == 'x'").empty());  // dyn: decided at evaluation
  CHECK(compile_error("1 == 'x'") ==
        "p.yaml:3:18: type error: `==` compares values of different types (always unequal), got "
        "int and string");
  CHECK(compile_error("'a' > 1") ==
        "p.yaml:3:20: type error: `>` needs two numbers, two strings or two bools, got string and "
        "int");
  CHECK(compile_error("!'a'") == "p.yaml:3:16: type error: `!` needs a bool, got string");
  CHECK(compile_error("size(1) > 0") ==
        "p.yaml:3:16: type error: `size` needs a string, list or map, got int");
  CHECK(compile_error("args.a.frob()") == "p.yaml:3:23: type error: unknown function `frob`");
  CHECK(compile_error("args.s.matches(args.p)") ==
        "p.yaml:3:23: type error: `matches` needs a string literal pattern (patterns are compiled "
        "once, at load)");
  CHECK(compile_error("args.s.matches('(')").find("invalid regular expression `(`") !=
        std::string::npos);
  CHECK(compile_error("principal.name == 'x'") ==
        "p.yaml:3:26: type error: unknown field `name` of `principal` (fields: id, tenant, roles, "
        "attributes, claims)");
  CHECK(compile_error("env.hour_of_day > 1").find("unknown field `hour_of_day` of `env`") !=
        std::string::npos);
  CHECK(compile_error("'x' in 'xyz'") ==
        "p.yaml:3:20: type error: `in` needs a list or map on the right, got string (use "
        "`contains` for substrings)");
  CHECK(compile_error("1 + 2") == "p.yaml:3:18: type error: a condition must be a bool, got int");
  CHECK(compile_error("principal.id.size()", false).empty());
  CHECK(compile_error("args.l.exists(1, true)") ==
        "p.yaml:3:30: type error: the first argument of `exists` must be a variable name");
  CHECK(compile_error("args.x.exists(v, v + 1)").empty());  // dyn: checked at evaluation
  CHECK(compile_error("").empty());                         // empty condition: matches
}
