// The policy file format, tool bindings, default policy, modes and load errors.
#include <catch2/catch.hpp>

#include "governance/policy/limits.hpp"
#include "governance/policy/options.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;
using gt_test::json;
using gt_test::TempDir;

namespace {

Result call(const PolicySet& set, const std::string& tool, json args = json::object(),
            std::string server = "srv", std::vector<std::string> roles = {}) {
  gt::gov::Principal p;
  p.id = "agent";
  p.roles = std::move(roles);
  gt::gov::ToolRef t;
  t.server = std::move(server);
  t.name = tool;
  return evaluate(Request{p, t, args, gt_test::at(1736164800)}, set);
}

const char* kPayments = R"(policy_id: payments
version: "2"
description: test
tools: [make_payment]
rules:
  deny:
    - id: too-big
      condition: args.amount > 100
      reason: too big
  allow:
    - id: ok
      condition: args.amount > 0
      reason: fine
)";

}  // namespace

TEST_CASE("a YAML policy governs the tools it names", "[policy-file]") {
  TempDir d;
  d.write("payments.yaml", kPayments);
  auto rep = load_policy_dir(d.path, {});
  REQUIRE(rep.errors.empty());
  REQUIRE(rep.set);
  auto r = call(*rep.set, "make_payment", {{"amount", 10}});
  CHECK(r.effect == Effect::Allow);
  CHECK(r.policy_id == "payments");
  CHECK(r.policy_version == "2");
  CHECK(r.rule_id == "ok");
  CHECK(r.policy_sha256 == sha256_hex(kPayments));
  CHECK(call(*rep.set, "make_payment", {{"amount", 1000}}).rule_id == "too-big");
  CHECK(call(*rep.set, "make_payment", {{"amount", -1}}).code == codes::kNoMatch);
  CHECK(call(*rep.set, "other").code == codes::kNone);
}

TEST_CASE("globs, server qualifiers and config bindings", "[policy-file]") {
  TempDir d;
  d.write("fs.yaml", R"(policy_id: fs
tools: ["fs/read_*", "?ist_dir"]
rules: {allow: [{id: any, condition: ""}]}
)");
  d.write(
      "all.json",
      R"({"policy_id": "strict", "rules": {"deny": [{"id": "never", "condition": "true", "reason": "no"}]}})");
  SetOptions o;
  std::string err;
  REQUIRE(parse_config_bindings(YAML::Load("[{tools: [write_file], server: fs, policies: strict}]"),
                                o.bindings, err));
  auto rep = load_policy_dir(d.path, o);
  REQUIRE(rep.set);
  CHECK(call(*rep.set, "read_file", {}, "fs").effect == Effect::Allow);
  CHECK(call(*rep.set, "read_file", {}, "web").code == codes::kNone);
  CHECK(call(*rep.set, "list_dir", {}, "any").effect == Effect::Allow);
  auto w = call(*rep.set, "write_file", {}, "fs");
  CHECK(w.rule_id == "never");
  CHECK(w.policy_id == "strict");
  CHECK(call(*rep.set, "write_file", {}, "other").code == codes::kNone);
}

TEST_CASE("a default policy governs ungoverned tools only when named", "[policy-file]") {
  TempDir d;
  d.write("p.yaml", kPayments);
  d.write("fallback.yaml",
          "policy_id: fallback\nrules:\n  allow:\n    - {id: read-only, condition: "
          "\"tool.annotations.readOnlyHint == true\"}\n");
  SetOptions o;
  o.default_policy = "fallback";
  auto rep = load_policy_dir(d.path, o);
  REQUIRE(rep.set);
  gt::gov::Principal p;
  gt::gov::ToolRef t{"srv", "get_weather", {{"readOnlyHint", true}}};
  json args = json::object();
  auto r = evaluate(Request{p, t, args, gt_test::at(0)}, *rep.set);
  CHECK(r.effect == Effect::Allow);
  CHECK(r.policy_id == "fallback");
  t.annotations = json::object();
  CHECK(evaluate(Request{p, t, args, gt_test::at(0)}, *rep.set).effect ==
        Effect::Deny);  // has() absent → error → no allow
  SECTION("a default that does not exist denies with `not found`") {
    o.default_policy = "nope";
    auto rep2 = load_policy_dir(d.path, o);
    REQUIRE(rep2.set);
    CHECK(call(*rep2.set, "x").reason == "default policy `nope` not found");
  }
  SECTION("a binding to an unknown policy denies with `not found`") {
    SetOptions o2;
    o2.bindings = {{ToolPattern::parse("x"), {"ghost"}}};
    auto rep2 = load_policy_dir(d.path, o2);
    REQUIRE(rep2.set);
    auto r2 = call(*rep2.set, "x");
    CHECK(r2.code == codes::kNone);
    CHECK(r2.reason == "policy `ghost` not found (bound to tool `x`)");
  }
}

TEST_CASE("every governing policy must allow (deny overrides)", "[policy-file]") {
  TempDir d;
  d.write("a.yaml", "policy_id: a\ntools: [t]\nrules: {allow: [{id: a-ok, condition: 'true'}]}\n");
  d.write("b.yaml",
          "policy_id: b\ntools: [t]\nrules: {allow: [{id: b-small, condition: 'args.n < 5'}]}\n");
  auto rep = load_policy_dir(d.path, {});
  REQUIRE(rep.set);
  auto ok = call(*rep.set, "t", {{"n", 1}});
  CHECK(ok.effect == Effect::Allow);
  CHECK(ok.policies == std::vector<std::string>{"a", "b"});
  auto no = call(*rep.set, "t", {{"n", 9}});
  CHECK(no.effect == Effect::Deny);
  CHECK(no.policy_id == "b");
  CHECK(no.code == codes::kNoMatch);
}

TEST_CASE("errors in rules: deny rules fail closed, allow rules never allow", "[policy-file]") {
  TempDir d;
  d.write("e.yaml", R"(policy_id: e
tools: [t]
rules:
  deny:
    - {id: d, condition: "args.mode == 'x' && args.size > 10"}
  allow:
    - {id: broken, condition: "args.nothere > 1"}
    - {id: fallback, condition: "args.mode == 'ok'"}
)");
  auto rep = load_policy_dir(d.path, {});
  REQUIRE(rep.set);
  auto r = call(*rep.set, "t", {{"mode", "x"}, {"size", "big"}});
  CHECK(r.effect == Effect::Deny);
  CHECK(r.code == codes::kError);
  CHECK(r.rule_id == "d");
  CHECK(
      r.reason ==
      "deny rule `d` failed to evaluate (no such overload: `>` on string and int); failing closed");
  auto a = call(*rep.set, "t", {{"mode", "ok"}});
  CHECK(a.effect == Effect::Allow);
  CHECK(a.rule_id == "fallback");
  CHECK(a.errors == std::vector<std::string>{"allow rule `broken`: no such key `nothere`"});
  auto n = call(*rep.set, "t", {{"mode", "no"}});
  CHECK(n.effect == Effect::Deny);
  CHECK(n.code == codes::kError);
  CHECK(n.reason ==
        "no matching allow rule in policy `e` (allow rule `broken` failed to evaluate: no such key "
        "`nothere`)");
}

TEST_CASE("extraction bindings: sources, transforms, required", "[policy-file]") {
  TempDir d;
  d.write("b.yaml", R"(policy_id: b
tools: [pay]
extraction_bindings:
  bindings:
    - path: input.resource.attr.amount
      sources: [{type: arg, name: amount}, {type: arg, name: payment.amount}]
      transform: [{name: to_number}]
      required: true
    - path: input.resource.attr.currency
      sources: [{type: arg, name: currency}, {type: literal, value: usd}]
      transform: [{name: currency_normalize, params: {default: EUR}}]
    - path: input.principal.attr.region
      sources: [{type: context, name: region}]
rules:
  allow:
    - {id: ok, condition: "amount <= 100 && currency == 'USD' && region == null"}
    - {id: eur, condition: "currency == 'EUR'"}
)");
  auto rep = load_policy_dir(d.path, {});
  for (auto& e : rep.errors)
    FAIL(e.str());
  REQUIRE(rep.set);
  CHECK(call(*rep.set, "pay", {{"amount", "99.5"}}).rule_id == "ok");  // literal usd → USD
  CHECK(call(*rep.set, "pay", {{"payment", {{"amount", 5}}}}).rule_id == "ok");  // second source
  CHECK(call(*rep.set, "pay", {{"amount", 5}, {"currency", "gbp"}}).rule_id == "eur");  // default
  auto bad = call(*rep.set, "pay", {{"amount", "ten"}});
  CHECK(bad.code == codes::kError);
  CHECK(bad.reason == "binding `amount`: cannot convert \"ten\" to a number");
  CHECK(call(*rep.set, "pay", {{"amount", nullptr}}).reason ==
        "required value `amount` is missing (binding `input.resource.attr.amount`)");
}

TEST_CASE("load errors name file, line and column; a bad file fails the whole load",
          "[policy-file][errors]") {
  TempDir d;
  d.write("good.yaml", kPayments);
  SECTION("condition syntax") {
    d.write("bad.yaml",
            "policy_id: bad\ntools: [x]\nrules:\n  allow:\n    - id: r1\n      condition: \"args.a "
            ">\"\n");
    auto rep = load_policy_dir(d.path, {});
    CHECK_FALSE(rep.set);
    REQUIRE(rep.errors.size() == 1);
    CHECK(rep.errors[0].str() == "bad.yaml:6:27: parse error: unexpected end of expression");
  }
  SECTION("condition in a block scalar") {
    d.write("bad.yaml",
            "policy_id: bad\nrules:\n  deny:\n    - id: r1\n      condition: |\n        args.a > 1 "
            "&&\n        args.b = 2\n");
    auto rep = load_policy_dir(d.path, {});
    REQUIRE(rep.errors.size() == 1);
    CHECK(rep.errors[0].str() ==
          "bad.yaml:7:16: syntax error: unexpected `=` (use `==` to compare)");
  }
  SECTION("type error") {
    d.write("bad.yaml",
            "policy_id: bad\nrules:\n  deny:\n    - {id: r1, condition: \"amount > 1\"}\n");
    auto rep = load_policy_dir(d.path, {});
    REQUIRE(rep.errors.size() == 1);
    CHECK(rep.errors[0].str().rfind("bad.yaml:4:28: type error: unknown name `amount`", 0) == 0);
  }
  SECTION("structure") {
    d.write("bad.yaml", "policy_id: bad\nrule:\n  allow: []\n");
    auto rep = load_policy_dir(d.path, {});
    CHECK_FALSE(rep.set);
    REQUIRE(rep.errors.size() == 2);
    CHECK(rep.errors[0].str().rfind("bad.yaml:2:1: unknown key `rule`", 0) == 0);
    CHECK(rep.errors[1].str() == "bad.yaml:1:1: policy `bad` has no `rules`");
  }
  SECTION("invalid yaml") {
    d.write("bad.yaml", "policy_id: [unclosed\n");
    auto rep = load_policy_dir(d.path, {});
    REQUIRE(rep.errors.size() == 1);
    CHECK(rep.errors[0].str().rfind("bad.yaml:", 0) == 0);
    CHECK(rep.errors[0].message.rfind("invalid yaml/json: ", 0) == 0);
  }
  SECTION("duplicate ids") {
    d.write("again.yaml", kPayments);
    auto rep = load_policy_dir(d.path, {});
    REQUIRE(rep.errors.size() == 1);
    CHECK(rep.errors[0].str() ==
          "good.yaml: duplicate policy_id `payments` (also defined in another file)");
  }
  SECTION("rule without condition, duplicate rule ids") {
    d.write("bad.yaml",
            "policy_id: bad\nrules:\n  allow:\n    - {id: a}\n    - {id: b, condition: ''}\n    - "
            "{id: b, condition: ''}\n");
    auto rep = load_policy_dir(d.path, {});
    REQUIRE(rep.errors.size() == 2);
    CHECK(rep.errors[0].message == "rule `a` has no `condition` (use \"\" to match every call)");
    CHECK(rep.errors[1].message == "duplicate rule id `b`");
  }
  SECTION("test files and hidden files are not policies") {
    d.write("good_test.yaml", "tests: []\n");
    d.write(".hidden/x.yaml", "garbage: [");
    d.write("notes.txt", "hello");
    auto rep = load_policy_dir(d.path, {});
    CHECK(rep.errors.empty());
    CHECK(rep.files == 1);
  }
}

TEST_CASE("monitor mode forwards and records would-deny", "[policy-file][mode]") {
  TempDir d;
  d.write("m.yaml",
          "policy_id: m\nmode: monitor\ntools: [t]\nrules:\n  deny: [{id: no-big, condition: "
          "'args.n > 5', reason: too big}]\n  allow: [{id: ok, condition: ''}]\n");
  d.write("e.yaml",
          "policy_id: e\ntools: [u]\nrules:\n  allow: [{id: small, condition: 'args.n < 5'}]\n");
  auto rep = load_policy_dir(d.path, {});
  REQUIRE(rep.set);
  auto r = call(*rep.set, "t", {{"n", 10}});
  CHECK(r.effect == Effect::Allow);
  CHECK(r.monitor);
  CHECK(r.would_deny);
  CHECK(r.would_deny_code == codes::kDeny);
  CHECK(r.would_deny_reason == "too big");
  CHECK(r.rule_id == "no-big");
  CHECK(call(*rep.set, "u", {{"n", 10}}).effect == Effect::Deny);  // enforce policy still blocks
  SECTION("global monitor applies to every policy, and to tools without a policy") {
    SetOptions o;
    o.mode = Mode::Monitor;
    auto rep2 = load_policy_dir(d.path, o);
    REQUIRE(rep2.set);
    auto u = call(*rep2.set, "u", {{"n", 10}});
    CHECK(u.effect == Effect::Allow);
    CHECK(u.would_deny);
    CHECK(u.would_deny_code == codes::kNoMatch);
    auto none = call(*rep2.set, "zzz");
    CHECK(none.effect == Effect::Allow);
    CHECK(none.would_deny_code == codes::kNone);
  }
}

TEST_CASE("trace records each evaluation step", "[policy-file]") {
  TempDir d;
  d.write("p.yaml", kPayments);
  auto rep = load_policy_dir(d.path, {});
  REQUIRE(rep.set);
  gt::gov::Principal p;
  gt::gov::ToolRef t{"srv", "make_payment", json::object()};
  json args = {{"amount", 5}};
  EvalOptions eo;
  eo.trace = true;
  auto r = evaluate(Request{p, t, args, gt_test::at(0)}, *rep.set, eo);
  // Which policies govern the tool, then each rule with its file:line, then the decision.
  REQUIRE(r.trace.size() == 5);
  CHECK(r.trace[0] ==
        "tool `srv/make_payment`: governed by `payments` (config bindings first, then policies "
        "whose `tools:` match)");
  CHECK(r.trace[1] == "policy `payments`: deny rule `too-big` (p.yaml:8) does not match");
  CHECK(r.trace[2] == "policy `payments`: allow rule `ok` (p.yaml:12) matches");
  CHECK(r.trace[3] == "policy `payments`: allow by rule `ok`");
  CHECK(r.trace[4] == "decision: allow by policy `payments` rule `ok`");
}
