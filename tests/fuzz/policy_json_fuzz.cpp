// Fuzzes `.json` policy files: the JSON reader (pnode_json.cpp) → policy parser → compiled
// rules → one decision, as policy_file_fuzz does for YAML. The reader is checked against
// nlohmann-json's own verdict: it accepts only valid JSON, and refuses valid JSON only for a
// limit or a duplicate key; every node's mark points into the text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/policy/evaluate.hpp"
#include "governance/policy/pnode.hpp"
#include "governance/policy/policy.hpp"

namespace {

namespace pol = gt::gov::policy;

void check_marks(const pol::PNode& n, size_t size) {
  const auto m = n.GetMark();
  if (m.pos < 0 || static_cast<size_t>(m.pos) >= size || m.line < 0 || m.column < 0)
    __builtin_trap();
  for (const auto& i : n.items())
    check_marks(i, size);
  for (const auto e : n.entries()) {
    check_marks(e.first, size);
    check_marks(e.second, size);
  }
}

bool limit_or_duplicate(const std::string& msg) {
  return msg.rfind("nesting deeper than", 0) == 0 || msg.rfind("document has more than", 0) == 0 ||
         msg.rfind("duplicate key", 0) == 0 || msg.rfind("the document is", 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);

  pol::PNode root;
  pol::PNodeError perr;
  const bool ok = pol::parse_pnode_json(text, root, perr);
  const bool valid = nlohmann::json::accept(text);
  if (ok && !valid) __builtin_trap();  // accepted invalid JSON
  if (!ok && valid && !limit_or_duplicate(perr.message)) __builtin_trap();
  if (!ok && (perr.message.empty() || (perr.line < 1 && !limit_or_duplicate(perr.message))))
    __builtin_trap();  // an error says what and where
  if (ok && root) check_marks(root, text.size());

  std::vector<pol::Diagnostic> errors;
  auto policy = pol::parse_policy(text, "fuzz.json", errors);
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
  return 0;
}
