// The policy decision: a pure function of the request, the policy set and the time.
//
//   Result r = evaluate(request, policy_set);          // no I/O, no state
//   // limits (stateful) are applied afterwards by LimitStore (limits.hpp)
//
// Precedence is written once, in evaluate.cpp (decide_policy and combine).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/policy/policy.hpp"
#include "governance/principal.hpp"

namespace gt::gov::policy {

// Stable decision codes (README error catalog).
namespace codes {
inline constexpr const char* kDeny = "GT-POLICY-DENY";        // a deny rule matched
inline constexpr const char* kNoMatch = "GT-POLICY-NOMATCH";  // no allow rule matched
inline constexpr const char* kNone =
    "GT-POLICY-NONE";  // no policy governs the tool / policy not found
inline constexpr const char* kError = "GT-POLICY-ERROR";        // evaluation, type or binding error
inline constexpr const char* kUnsigned = "GT-POLICY-UNSIGNED";  // unsigned or altered policy file
inline constexpr const char* kLoad = "GT-POLICY-LOAD";          // no valid policy set is loaded
inline constexpr const char* kLimit = "GT-LIMIT";  // a rate limit or spend budget is exhausted
}  // namespace codes

enum class Effect { Allow, Deny };

struct Request {
  const Principal& principal;
  const ToolRef& tool;
  const nlohmann::json& args;
  std::chrono::system_clock::time_point now;
};

// One limit a call would consume if it ends up allowed.
struct Charge {
  std::string key;  // policy/limit/scope
  std::string policy_id, policy_version, policy_sha256;
  std::string limit_id;
  Limit::Kind kind = Limit::Kind::Rate;
  double amount = 1;
  double max = 0;
  int64_t window_seconds = 60;
  std::string window_text;
  std::string per;
  bool monitor = false;  // the policy runs in monitor mode: exhaustion is a would-deny
};

struct Result {
  Effect effect = Effect::Deny;
  std::string code;  // codes::* on deny; "" on allow
  std::string reason;
  std::string policy_id, policy_version, policy_sha256, rule_id;  // the deciding policy and rule
  std::vector<std::string> errors;    // evaluation errors met on the way (e.g. in allow rules)
  std::vector<std::string> policies;  // ids of every governing policy, in order
  // Monitor mode: the call is allowed, but a policy in monitor mode would have denied it.
  bool monitor = false;
  bool would_deny = false;
  std::string would_deny_code, would_deny_reason, would_deny_policy, would_deny_rule;
  std::vector<Charge> charges;     // limits to count if the call is finally allowed
  std::vector<std::string> trace;  // evaluation steps (EvalOptions::trace)
};

struct EvalOptions {
  bool trace =
      false;  // record each evaluation step in Result::trace (the proxy logs them with --debug)
  ErrorHandling errors = ErrorHandling::FailClosed;
};

Result evaluate(const Request& request, const PolicySet& set, const EvalOptions& options = {});

// The Result of having no usable policy set (initial load failed).
Result load_failure(const std::string& why);

}  // namespace gt::gov::policy
