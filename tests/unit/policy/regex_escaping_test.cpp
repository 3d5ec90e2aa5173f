// README "Policy files", escaping a regex: a pattern in a YAML policy is read twice, as YAML and
// then as a condition-language string. Each way the README writes `(^|/)\.env$` must load and
// match a literal dot; the README must show these lines exactly as this test loads them.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "helpers.hpp"

using namespace gt::gov::policy;
using gt_test::json;
using gt_test::TempDir;

namespace {

struct Form {
  const char* name;
  const char* yaml;  // the `condition:` line(s), as the README shows them
};

const Form kForms[] = {
    {"block scalar, raw string",
     "      condition: >-\n        args.path.matches(r'(^|/)\\.env$')\n"},
    {"YAML single quotes, raw string", "      condition: 'args.path.matches(r\"(^|/)\\.env$\")'\n"},
    {"YAML double quotes, raw string",
     "      condition: \"args.path.matches(r'(^|/)\\\\.env$')\"\n"},
    {"YAML double quotes, plain string",
     "      condition: \"args.path.matches('(^|/)\\\\\\\\.env$')\"\n"},
};

Effect decide(const PolicySet& set, const std::string& path) {
  gt::gov::Principal p;
  p.id = "agent";
  gt::gov::ToolRef t;
  t.server = "srv";
  t.name = "read_file";
  return evaluate(Request{p, t, json{{"path", path}}, gt_test::at(1736164800)}, set).effect;
}

}  // namespace

TEST_CASE("each README way of escaping a regex in YAML matches a literal dot", "[policy-file]") {
  for (const auto& f : kForms) {
    INFO(f.name << ":\n" << f.yaml);
    TempDir d;
    d.write("env.yaml", std::string("policy_id: env\ntools: [read_file]\nrules:\n  deny:\n"
                                    "    - id: no-env\n") +
                            f.yaml + "  allow:\n    - id: rest\n      condition: \"true\"\n");
    auto rep = load_policy_dir(d.path, {});
    REQUIRE(rep.errors.empty());
    REQUIRE(rep.set);
    CHECK(decide(*rep.set, ".env") == Effect::Deny);
    CHECK(decide(*rep.set, "app/.env") == Effect::Deny);
    CHECK(decide(*rep.set, "xenv") == Effect::Allow);    // the dot is not "any character"
    CHECK(decide(*rep.set, "\\.env") == Effect::Allow);  // nor a backslash and any character
    CHECK(decide(*rep.set, ".envrc") == Effect::Allow);
  }
}

TEST_CASE("too few backslashes in YAML double quotes is a load error, not a silent mismatch",
          "[policy-file]") {
  // "\." is not a YAML escape: the file does not load, and says where.
  TempDir d;
  d.write("env.yaml",
          "policy_id: env\ntools: [read_file]\nrules:\n  deny:\n    - id: no-env\n"
          "      condition: \"args.path.matches(r'(^|/)\\.env$')\"\n");
  auto rep = load_policy_dir(d.path, {});
  CHECK_FALSE(rep.errors.empty());
}

TEST_CASE("the README shows the escaping forms this test loads", "[policy-file]") {
  std::ifstream in(std::string(GT_SOURCE_DIR) + "/README.md", std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  for (const auto& f : kForms) {
    INFO(f.name << ":\n" << f.yaml);
    CHECK(readme.find(f.yaml) != std::string::npos);
  }
}
