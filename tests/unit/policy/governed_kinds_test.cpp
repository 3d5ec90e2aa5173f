// Resources and prompts judged by the same engine as tools (issue 18): `resources:` URI globs
// and `prompts:` names in policy files, the `resource` and `prompt` condition variables, what
// governs what, limits counted apart, visibility, and `policy test` cases.
#include <catch2/catch.hpp>

#include "governance/policy/testing.hpp"
#include "governance/policy/visibility.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;
using gt::gov::ToolRef;
using gt_test::json;
using gt_test::TempDir;

namespace {

using Kind = ToolRef::Kind;

Result judge(const PolicySet& set, Kind kind, const std::string& name, json args = json::object(),
             std::string server = "docs", std::string agent = "agent") {
  if (args.is_null()) args = json::object();  // `{}` at a call site is a JSON null
  gt::gov::Principal p;
  p.id = std::move(agent);
  ToolRef t;
  t.kind = kind;
  t.server = std::move(server);
  t.name = name;
  return evaluate(Request{p, t, args, gt_test::at(1736164800)}, set);
}

const char* kReads = R"P(policy_id: docs.reads
version: "1"
resources: ["file:///srv/docs/*", "mem://notes/*"]
prompts: [summarize, "docs/draft_*"]
rules:
  deny:
    - id: no-secrets
      condition: "has(resource.uri) && resource.uri.contains('/secret')"
      reason: secret documents are off limits
    - id: no-shouting
      condition: "has(prompt.name) && has(args.tone) && args.tone == 'shouting'"
      reason: no shouting
    - id: interns-read-nothing
      condition: "principal.id == 'intern'"
      reason: interns may not read
  allow:
    - id: reads
      condition: "has(resource.uri) && resource.server == 'docs'"
      reason: reading docs is fine
    - id: prompts
      condition: "has(prompt.name) && prompt.name != ''"
      reason: prompts are fine
)P";

const char* kTools = R"P(policy_id: tools.only
tools: ["*"]
rules:
  allow:
    - id: any-tool
      condition: "tool.name != ''"
)P";

std::shared_ptr<PolicySet> load(const TempDir& d, SetOptions o = {}) {
  auto rep = load_policy_dir(d.path, o);
  INFO((rep.errors.empty() ? std::string() : rep.errors.front().str()));
  REQUIRE(rep.errors.empty());
  REQUIRE(rep.set);
  return rep.set;
}

}  // namespace

TEST_CASE("resources: URI globs govern reads and conditions see resource.uri", "[kinds]") {
  TempDir d;
  d.write("reads.yaml", kReads);
  d.write("tools.yaml", kTools);
  auto set = load(d);

  auto ok = judge(*set, Kind::Resource, "file:///srv/docs/guide.md");
  CHECK(ok.effect == Effect::Allow);
  CHECK(ok.policy_id == "docs.reads");
  CHECK(ok.rule_id == "reads");
  // `*` crosses `/`: the glob is a prefix here, and deny rules do the rest.
  auto secret = judge(*set, Kind::Resource, "file:///srv/docs/hr/secret/pay.csv");
  CHECK(secret.effect == Effect::Deny);
  CHECK(secret.code == codes::kDeny);
  CHECK(secret.rule_id == "no-secrets");
  // The allow rule checks the server: the same URI from another server matches no allow rule.
  CHECK(judge(*set, Kind::Resource, "mem://notes/a", {}, "other").code == codes::kNoMatch);
  CHECK(judge(*set, Kind::Resource, "mem://notes/a", {}, "docs").effect == Effect::Allow);
  CHECK(judge(*set, Kind::Resource, "file:///srv/docs/a", {}, "docs", "intern").rule_id ==
        "interns-read-nothing");
}

TEST_CASE("a resource or prompt no policy governs is denied, naming what to write", "[kinds]") {
  TempDir d;
  d.write("reads.yaml", kReads);
  d.write("tools.yaml", kTools);
  auto set = load(d);
  // tools.only governs every *tool* (`tools: ["*"]`), never a resource or a prompt.
  auto r = judge(*set, Kind::Resource, "file:///etc/passwd");
  CHECK(r.effect == Effect::Deny);
  CHECK(r.code == codes::kNone);
  CHECK_THAT(r.reason, Catch::Contains("no policy for resource `file:///etc/passwd`") &&
                           Catch::Contains("resources:"));
  auto p = judge(*set, Kind::Prompt, "delete_everything");
  CHECK(p.code == codes::kNone);
  CHECK_THAT(p.reason, Catch::Contains("no policy for prompt `delete_everything`") &&
                           Catch::Contains("docs/delete_everything"));
  // A tool named like a governed prompt is still a tool: judged by tools.only.
  auto t = judge(*set, Kind::Tool, "summarize");
  CHECK(t.effect == Effect::Allow);
  CHECK(t.policy_id == "tools.only");
}

TEST_CASE("prompts: names and server/name globs; args are the prompt's arguments", "[kinds]") {
  TempDir d;
  d.write("reads.yaml", kReads);
  auto set = load(d);
  CHECK(judge(*set, Kind::Prompt, "summarize").rule_id == "prompts");
  CHECK(judge(*set, Kind::Prompt, "draft_letter", {}, "docs").effect == Effect::Allow);
  CHECK(judge(*set, Kind::Prompt, "draft_letter", {}, "mail").code == codes::kNone);
  auto loud = judge(*set, Kind::Prompt, "summarize", {{"tone", "shouting"}});
  CHECK(loud.effect == Effect::Deny);
  CHECK(loud.rule_id == "no-shouting");
  CHECK(judge(*set, Kind::Prompt, "summarize", {{"tone", "calm"}}).effect == Effect::Allow);
  // A resource URI that happens to equal a prompt name is not that prompt.
  CHECK(judge(*set, Kind::Resource, "summarize").code == codes::kNone);
}

TEST_CASE("a policy may govern tools, resources and prompts at once", "[kinds]") {
  TempDir d;
  d.write("mixed.yaml", R"P(policy_id: mixed
tools: [read_file]
resources: ["file:///*"]
prompts: ["*"]
rules:
  deny:
    - id: tools-named
      condition: "tool.name == 'read_file' && has(args.path) && args.path.contains('..')"
  allow:
    - id: each-kind
      condition: "tool.name == 'read_file' || has(resource.uri) || has(prompt.name)"
)P");
  auto set = load(d);
  CHECK(judge(*set, Kind::Tool, "read_file", {{"path", "/a"}}).effect == Effect::Allow);
  CHECK(judge(*set, Kind::Tool, "read_file", {{"path", "/../a"}}).rule_id == "tools-named");
  // On a read, `tool.name` is "" and `prompt` is {}: the tool rule does not match by accident.
  CHECK(judge(*set, Kind::Resource, "file:///a").effect == Effect::Allow);
  CHECK(judge(*set, Kind::Prompt, "p").effect == Effect::Allow);
  CHECK(judge(*set, Kind::Tool, "write_file").code == codes::kNone);
}

TEST_CASE("the condition variables resource and prompt", "[kinds]") {
  ToolRef res;
  res.kind = Kind::Resource;
  res.server = "docs";
  res.name = "file:///a.md";
  CHECK(gt_test::run_expr("resource", {}, nullptr, &res) ==
        json({{"uri", "file:///a.md"}, {"server", "docs"}}));
  CHECK(gt_test::run_expr("prompt", {}, nullptr, &res) == json::object());
  CHECK(gt_test::run_expr("tool.name", {}, nullptr, &res) == "");
  CHECK(gt_test::run_expr("tool.server == ''", {}, nullptr, &res) == true);
  CHECK(gt_test::run_expr("has(resource.uri)", {}, nullptr, &res) == true);
  CHECK(gt_test::run_expr("has(prompt.name)", {}, nullptr, &res) == false);
  ToolRef pr;
  pr.kind = Kind::Prompt;
  pr.server = "docs";
  pr.name = "summarize";
  CHECK(gt_test::run_expr("prompt.name + '@' + prompt.server", {}, nullptr, &pr) ==
        "summarize@docs");
  CHECK(gt_test::run_expr("has(resource.uri)", {}, nullptr, &pr) == false);
  // Selecting a field the request does not have is an error (fail closed in a deny rule).
  CHECK(gt_test::run_expr("resource.uri", {}, nullptr, &pr).contains("error"));
  ToolRef tool{"srv", "read_file", json::object()};
  CHECK(gt_test::run_expr("tool.name", {}, nullptr, &tool) == "read_file");
  CHECK(gt_test::run_expr("resource", {}, nullptr, &tool) == json::object());
  // Bindings may not shadow the new roots.
  TempDir d;
  d.write("bad.yaml", R"P(policy_id: bad
tools: [x]
extraction_bindings:
  bindings:
    - path: input.resource
      sources: [{type: arg, name: uri}]
rules: {allow: [{id: a, condition: "true"}]}
)P");
  auto rep = load_policy_dir(d.path, {});
  CHECK_FALSE(rep.set);
  REQUIRE_FALSE(rep.errors.empty());
  CHECK_THAT(rep.errors.front().str(), Catch::Contains("resource"));
}

TEST_CASE("resources: and prompts: must be strings", "[kinds]") {
  TempDir d;
  d.write("bad.yaml", R"P(policy_id: bad
resources: [{uri: "file:///*"}, ""]
prompts: [[x]]
rules: {allow: [{id: a, condition: "true"}]}
)P");
  auto rep = load_policy_dir(d.path, {});
  CHECK_FALSE(rep.set);
  REQUIRE(rep.errors.size() >= 3);
  CHECK_THAT(rep.errors[0].str(), Catch::Contains("`resources` entry must be a non-empty string"));
  CHECK_THAT(rep.errors[2].str(), Catch::Contains("`prompts` entry"));
}

TEST_CASE("the default policy judges ungoverned resources and prompts too", "[kinds]") {
  TempDir d;
  d.write("reads.yaml", kReads);
  d.write("fallback.yaml", R"P(policy_id: fallback
rules:
  allow:
    - id: readonly-tools
      condition: "tool.annotations.readOnlyHint == true"
)P");
  SetOptions o;
  o.default_policy = "fallback";
  auto set = load(d, o);
  // The fallback's allow rule reads a tool's annotations: on a resource `tool.annotations` is {}
  // and the field is missing, an error, so the allow rule never allows (fail closed).
  auto r = judge(*set, Kind::Resource, "file:///etc/passwd");
  CHECK(r.effect == Effect::Deny);
  CHECK(r.policy_id == "fallback");
  CHECK(r.code == codes::kError);
  // A governed resource is not judged by the default policy.
  CHECK(judge(*set, Kind::Resource, "file:///srv/docs/a").policy_id == "docs.reads");
}

TEST_CASE("limits count a resource apart from a tool of the same name", "[kinds]") {
  TempDir d;
  d.write("lim.yaml", R"P(policy_id: lim
tools: [a]
resources: [a]
limits:
  - {id: one, type: rate, max: 1, window: 1m, per: tool}
rules: {allow: [{id: a, condition: "true"}]}
)P");
  auto set = load(d);
  auto t = judge(*set, Kind::Tool, "a");
  auto r = judge(*set, Kind::Resource, "a");
  REQUIRE(t.charges.size() == 1);
  REQUIRE(r.charges.size() == 1);
  CHECK(t.charges[0].key != r.charges[0].key);
  CHECK_THAT(r.charges[0].key, Catch::Contains("resource=docs/a"));
  CHECK_THAT(t.charges[0].key, Catch::Contains("tool=docs/a"));
}

TEST_CASE("visibility: a resource or prompt denied whatever the arguments is hidden", "[kinds]") {
  TempDir d;
  d.write("reads.yaml", kReads);
  auto set = load(d);
  gt::gov::Principal agent;
  agent.id = "agent";
  gt::gov::Principal intern;
  intern.id = "intern";
  auto ref = [](Kind k, std::string name) {
    ToolRef t;
    t.kind = k;
    t.server = "docs";
    t.name = std::move(name);
    return t;
  };
  std::string why;
  CHECK_FALSE(denied_whatever_the_arguments(set.get(), agent,
                                            ref(Kind::Resource, "file:///srv/docs/a"), &why));
  CHECK(denied_whatever_the_arguments(set.get(), agent,
                                      ref(Kind::Resource, "file:///srv/docs/secret/a"), &why));
  CHECK_THAT(why, Catch::Contains("no-secrets"));
  CHECK(
      denied_whatever_the_arguments(set.get(), agent, ref(Kind::Resource, "file:///etc/a"), &why));
  CHECK(why == "no policy governs it");
  CHECK(denied_whatever_the_arguments(set.get(), intern, ref(Kind::Resource, "file:///srv/docs/a"),
                                      &why));
  // A prompt denied only for some arguments stays visible.
  CHECK_FALSE(denied_whatever_the_arguments(set.get(), agent, ref(Kind::Prompt, "summarize")));
}

TEST_CASE("policy test cases name exactly one of tool, resource and prompt", "[kinds]") {
  TempDir d;
  d.write("reads.yaml", kReads);
  d.write("reads_test.yaml", R"P(tests:
  - name: a doc is readable
    resource: file:///srv/docs/a.md
    server: docs
    expect: allow
    rule: reads
  - name: secrets are not
    resource: file:///srv/docs/secret/a.md
    server: docs
    expect: deny
    rule: no-secrets
  - name: a calm summary
    prompt: summarize
    args: {tone: calm}
    expect: allow
  - name: no shouting
    prompt: summarize
    args: {tone: shouting}
    expect: deny
    rule: no-shouting
  - name: both is an error
    tool: summarize
    prompt: summarize
    expect: allow
  - name: a wrong expectation fails
    resource: file:///srv/docs/secret/b.md
    server: docs
    expect: allow
)P");
  auto rep = run_policy_tests(d.path);
  REQUIRE(rep.results.size() == 6);
  CHECK(rep.results[0].passed);
  CHECK(rep.results[1].passed);
  CHECK(rep.results[2].passed);
  CHECK(rep.results[3].passed);
  CHECK_FALSE(rep.results[4].passed);
  CHECK_THAT(rep.results[4].message, Catch::Contains("exactly one of `tool`, `resource`"));
  CHECK_FALSE(rep.results[5].passed);
  CHECK(rep.failed == 2);
}
