#include "governance/policy/testing.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>

#include "governance/policy/evaluate.hpp"
#include "governance/policy/limits.hpp"
#include "governance/policy/options.hpp"
#include "governance/policy/yaml_json.hpp"
#include "governance/policy/yaml_load.hpp"

namespace gt::gov::policy {

namespace fs = std::filesystem;

namespace {

std::string where(const std::string& file, const YAML::Node& n) {
  auto m = n.Mark();
  return file + (m.line >= 0 ? ":" + std::to_string(m.line + 1) : "");
}

bool parse_principal(const YAML::Node& n, Principal& p, std::string& err) {
  if (!n || n.IsNull()) return true;
  if (!n.IsMap()) {
    err = "`principal` must be a mapping (id, tenant, roles, attributes, claims)";
    return false;
  }
  json j = yaml_to_json(n);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k == "id" && it->is_string()) {
      p.id = it->get<std::string>();
    } else if (k == "tenant" && it->is_string()) {
      p.tenant = it->get<std::string>();
    } else if (k == "roles" && it->is_array()) {
      for (const auto& r : *it) {
        if (!r.is_string()) {
          err = "`principal.roles` must be a list of strings";
          return false;
        }
        p.roles.push_back(r.get<std::string>());
      }
    } else if (k == "attributes" && it->is_object()) {
      p.attributes = *it;
    } else if (k == "claims" && it->is_object()) {
      p.claims = *it;
    } else {
      err =
          "unknown or mistyped principal field `" + k + "` (id, tenant, roles, attributes, claims)";
      return false;
    }
  }
  return true;
}

}  // namespace

TestReport run_policy_tests(const fs::path& dir, const SetOptions& base) {
  TestReport rep;
  std::string lerr;
  std::vector<fs::path> tests = list_files(dir, &is_test_file, lerr);
  if (!lerr.empty()) {
    rep.errors.push_back({dir.string(), 0, 0, lerr});
    return rep;
  }
  rep.files = tests.size();
  const auto default_now = parse_rfc3339("2025-01-06T12:00:00Z").value();
  for (const auto& rel : tests) {
    std::string file = rel.generic_string();
    std::string text, rerr;
    if (!read_text_file(dir / rel, base.max_file_bytes, text, rerr)) {
      if (rerr.find("over the limit") != std::string::npos) rerr += " (max_file_bytes)";
      rep.errors.push_back({file, 0, 0, "cannot read file: " + rerr});
      continue;
    }
    YAML::Node root;
    YamlLimits ylim;
    ylim.max_bytes = base.max_file_bytes;
    YamlError yerr;
    if (!load_yaml(text, ylim, root, yerr)) {
      rep.errors.push_back({file, static_cast<int>(yerr.line), static_cast<int>(yerr.column),
                            "invalid yaml: " + yerr.message});
      continue;
    }
    text.clear();
    text.shrink_to_fit();
    if (!root.IsMap() || !root["tests"] || !root["tests"].IsSequence()) {
      rep.errors.push_back({file, 0, 0, "a test file must be a mapping with a `tests` list"});
      continue;
    }
    for (const auto& kv : root) {
      std::string k = kv.first.Scalar();
      if (k != "tests" && k != "bindings" && k != "default_policy" && k != "mode" &&
          k != "timezone") {
        rep.errors.push_back(
            {file, kv.first.Mark().line + 1, kv.first.Mark().column + 1,
             "unknown key `" + k + "` (use tests, bindings, default_policy, mode, timezone)"});
      }
    }
    SetOptions opts = base;
    std::string oerr;
    if (!parse_set_options(root, opts, oerr)) {
      rep.errors.push_back({file, 0, 0, oerr});
      continue;
    }
    // Test files judge the policy logic; signature checks are `policy check`'s and the proxy's job.
    opts.require_signed = false;
    opts.max_file_bytes = base.max_file_bytes;  // a test file cannot raise the limit
    LoadReport lr = load_policy_dir(dir, opts);
    if (!lr.set) {
      for (auto& e : lr.errors)
        rep.errors.push_back(std::move(e));
      continue;
    }
    size_t index = 0;
    int64_t calls_left = kMaxCallsPerTestFile;
    for (const auto& tc : root["tests"]) {
      ++index;
      TestOutcome out;
      out.file = file;
      out.name = tc["name"] && tc["name"].IsScalar() ? tc["name"].Scalar()
                                                     : "test #" + std::to_string(index);
      auto fail = [&](std::string msg) {
        out.passed = false;
        out.message = where(file, tc) + ": " + msg;
        rep.results.push_back(out);
        ++rep.failed;
      };
      if (!tc.IsMap()) {
        fail("a test case must be a mapping");
        continue;
      }
      static const std::vector<std::string> known = {"name",
                                                     "tool",
                                                     "resource",
                                                     "prompt",
                                                     "server",
                                                     "args",
                                                     "principal",
                                                     "now",
                                                     "expect",
                                                     "rule",
                                                     "policy",
                                                     "code",
                                                     "reason_contains",
                                                     "would_deny",
                                                     "repeat",
                                                     "annotations"};
      std::string unknown;
      for (const auto& kv : tc) {
        if (std::find(known.begin(), known.end(), kv.first.Scalar()) == known.end())
          unknown = kv.first.Scalar();
      }
      if (!unknown.empty()) {
        fail("unknown key `" + unknown + "` in test case");
        continue;
      }
      // What the case calls: a tool (tools/call), a resource (resources/read, by URI) or a
      // prompt (prompts/get). Exactly one.
      int targets = (tc["tool"] ? 1 : 0) + (tc["resource"] ? 1 : 0) + (tc["prompt"] ? 1 : 0);
      const char* target_key = tc["resource"] ? "resource" : tc["prompt"] ? "prompt" : "tool";
      if (targets != 1 || !tc[target_key].IsScalar()) {
        fail("test case needs exactly one of `tool`, `resource` (a URI) and `prompt`, a string");
        continue;
      }
      std::string expect = tc["expect"] && tc["expect"].IsScalar() ? tc["expect"].Scalar() : "";
      if (expect != "allow" && expect != "deny") {
        fail("`expect` must be `allow` or `deny`");
        continue;
      }
      ToolRef tool;
      tool.kind = tc["resource"] ? ToolRef::Kind::Resource
                  : tc["prompt"] ? ToolRef::Kind::Prompt
                                 : ToolRef::Kind::Tool;
      tool.name = tc[target_key].Scalar();
      tool.server = tc["server"] && tc["server"].IsScalar() ? tc["server"].Scalar() : "test";
      if (tc["annotations"]) tool.annotations = yaml_to_json(tc["annotations"]);
      json args = tc["args"] ? yaml_to_json(tc["args"]) : json::object();
      if (args.is_null()) args = json::object();
      Principal principal;
      principal.id = "test-agent";
      std::string perr;
      if (!parse_principal(tc["principal"], principal, perr)) {
        fail(perr);
        continue;
      }
      auto now = default_now;
      if (tc["now"]) {
        auto t = parse_rfc3339(tc["now"].Scalar());
        if (!t) {
          fail("`now` must be an RFC 3339 time such as 2025-01-06T10:00:00Z");
          continue;
        }
        now = *t;
      }
      int repeat = 0;
      if (tc["repeat"]) {
        auto r = yaml_to_json(tc["repeat"]);
        if (!r.is_number_integer() || r.get<int64_t>() < 0 || r.get<int64_t>() > 100000) {
          fail("`repeat` must be a whole number from 0 to 100000");
          continue;
        }
        repeat = static_cast<int>(r.get<int64_t>());
      }
      calls_left -= repeat + 1;
      if (calls_left < 0) {
        fail("this test file makes more than " + std::to_string(kMaxCallsPerTestFile) +
             " calls (`repeat` included)");
        continue;
      }
      LimitStore limits;  // fresh, in memory, per test case
      Request req{principal, tool, args, now};
      for (int i = 0; i < repeat; ++i)
        decide(req, *lr.set, &limits);
      Result r = decide(req, *lr.set, &limits);
      std::string got = r.effect == Effect::Allow ? "allow" : "deny";
      std::string summary = got + (r.code.empty() ? "" : " " + r.code) +
                            (r.policy_id.empty() ? "" : " by " + r.policy_id) +
                            (r.rule_id.empty() ? "" : "/" + r.rule_id) + ": " + r.reason;
      if (got != expect) {
        fail("expected " + expect + ", got " + summary);
        continue;
      }
      if (tc["rule"] && r.rule_id != tc["rule"].Scalar()) {
        fail("expected rule `" + tc["rule"].Scalar() + "`, got `" + r.rule_id + "` (" + summary +
             ")");
        continue;
      }
      if (tc["policy"] && r.policy_id != tc["policy"].Scalar()) {
        fail("expected policy `" + tc["policy"].Scalar() + "`, got `" + r.policy_id + "` (" +
             summary + ")");
        continue;
      }
      std::string code = r.would_deny ? r.would_deny_code : r.code;
      if (tc["code"] && code != tc["code"].Scalar()) {
        fail("expected code `" + tc["code"].Scalar() + "`, got `" + code + "` (" + summary + ")");
        continue;
      }
      if (tc["reason_contains"]) {
        std::string reason = r.would_deny ? r.would_deny_reason : r.reason;
        if (reason.find(tc["reason_contains"].Scalar()) == std::string::npos) {
          fail("expected the reason to contain `" + tc["reason_contains"].Scalar() + "`, got `" +
               reason + "`");
          continue;
        }
      }
      if (tc["would_deny"]) {
        auto w = yaml_to_json(tc["would_deny"]);
        if (!w.is_boolean() || w.get<bool>() != r.would_deny) {
          fail(std::string("expected would_deny ") + w.dump() + ", got " +
               (r.would_deny ? "true" : "false"));
          continue;
        }
      }
      out.passed = true;
      out.message = summary;
      rep.results.push_back(out);
      ++rep.passed;
    }
  }
  return rep;
}

}  // namespace gt::gov::policy
