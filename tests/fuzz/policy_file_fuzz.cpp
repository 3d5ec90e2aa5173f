// Fuzzes policy files: libyaml tree → policy parser → compiled rules → one decision.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "governance/policy/evaluate.hpp"
#include "governance/policy/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace pol = gt::gov::policy;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<pol::Diagnostic> errors;
  auto policy = pol::parse_policy(text, "fuzz.yaml", errors);
  if (!policy) {
    if (errors.empty()) __builtin_trap();  // a rejected file must say why
    return 0;
  }
  pol::PolicySet set;
  set.policies.push_back(policy);
  set.options.default_policy = policy->id;
  set.build_index();
  gt::gov::Principal p;
  p.id = "fuzz";
  p.attributes = {{"user_role", "analyst"}};
  gt::gov::ToolRef t{"srv", "make_payment", nlohmann::json::object()};
  nlohmann::json args = {{"amount", 60}, {"recipient", "bob"}, {"url", "https://example.com/"}};
  pol::Result r =
      pol::evaluate(pol::Request{p, t, args, std::chrono::system_clock::time_point{}}, set);
  if (r.effect == pol::Effect::Deny && r.reason.empty()) __builtin_trap();  // denials are explained
  // The same file judging a resource read and a prompt (`resources:`, `prompts:`).
  for (auto kind : {gt::gov::ToolRef::Kind::Resource, gt::gov::ToolRef::Kind::Prompt}) {
    gt::gov::ToolRef other{"srv", kind == gt::gov::ToolRef::Kind::Resource ? "file:///srv/a" : "p",
                           nlohmann::json::object(), kind};
    r = pol::evaluate(pol::Request{p, other, args, std::chrono::system_clock::time_point{}}, set);
    if (r.effect == pol::Effect::Deny && r.reason.empty()) __builtin_trap();
  }
  return 0;
}
