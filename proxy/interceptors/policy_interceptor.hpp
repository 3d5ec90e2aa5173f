// policies: judges every tools/call against the tenant's policy directory (gt::gov::policy).
// The engine is pure (evaluate); this interceptor only adapts the CallContext, counts limits,
// and keeps the directory loaded (hot reload).
//
// clang-format off
//   governance:
//     policies:
//       dir: policies/                   # required: the policy directory (relative to the config)
//       bindings:                        # optional: tools → policies, besides each policy's `tools:`
//         make_payment: [payments.spending_limit, office_hours]
//         # or a list: - {tools: ["fs/*"], policies: filesystem.read_only}
//       default_policy: ""               # governs tools no policy names; unset → "no policy for tool"
//       mode: enforce                    # enforce | monitor (monitor forwards, records would-deny)
//       timezone: UTC                    # IANA zone for env.time_of_day/hour/weekday, or "+02:00"
//       require_signed: false            # (or require_signed_policies) only load signed files
//       public_key: keys/policy.pub      # base64/hex Ed25519 public key, or a file holding it
//       state_dir: .glasstape/state/<tenant>   # limit counters (limits.jsonl), shareable
//       reload: true                     # watch `dir` and reload on change
//       reload_interval_ms: 1000
//       govern: [tools, resources, prompts]  # the default; [tools] leaves resources/read and
//                                        # prompts/get unjudged (resources:/prompts: in policies)
// clang-format on
//
// Decisions (ctx.decision.code): GT-POLICY-DENY, GT-POLICY-NOMATCH, GT-POLICY-NONE,
// GT-POLICY-ERROR, GT-POLICY-UNSIGNED, GT-POLICY-LOAD, GT-LIMIT. Allowed calls still carry
// policy_id/version/sha256/rule_id. Monitor mode: decision.mode = "monitor",
// decision.would_deny = true, details.would_deny = {code, reason, policy_id, rule_id}.
//
// Limits: when this interceptor allows a call, its charges are *reserved* (they count against
// the limit at once, so racing calls cannot both take the last slot). on_decided() commits
// them when the call is recorded and forwarded, and releases them when it was denied later
// (e.g. GT-AUDIT-WRITE): only forwarded calls consume quota.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <yaml-cpp/yaml.h>

#include "governance/policy/limits.hpp"
#include "governance/policy/store.hpp"
#include "proxy/config.hpp"
#include "proxy/pipeline.hpp"

namespace gt::proxy {

struct PolicyInterceptorConfig {
  std::filesystem::path dir;
  gov::policy::SetOptions options;
  std::filesystem::path state_dir;
  bool reload = true;
  std::chrono::milliseconds reload_interval{1000};
  bool debug = false;
  bool enabled = true;  // false when the tenant has no `policies` section
  // `govern`: the kinds of request the policies judge (tools always; all three by default).
  bool resources = true;
  bool prompts = true;
};

// Parses the section. Throws ConfigError("governance.policies: ...") on any problem.
PolicyInterceptorConfig parse_policy_config(const InterceptorEnv& env, const YAML::Node& section);

class PolicyInterceptor : public Interceptor {
 public:
  explicit PolicyInterceptor(PolicyInterceptorConfig config);
  ~PolicyInterceptor() override;
  std::string_view name() const override { return "policy"; }
  Verdict on_call(CallContext& ctx) override;
  void on_decided(const CallContext& ctx, bool forwarded) override;
  void describe(GovernanceView& view) const override;
  // Hidden from a principal: what the policies deny it whatever the arguments
  // (governance/policy/visibility.hpp).
  bool hides(std::string_view server, const std::string& name, const nlohmann::json& tool,
             const gov::Principal& who) const override;
  bool may_hide() const override { return config_.enabled; }
  bool governs(gov::ToolRef::Kind kind) const override;
  bool hides_entry(const gov::ToolRef& ref, const gov::Principal& who) const override;
  // Called after each reload that installs a new policy set.
  void set_visibility_listener(std::function<void()> changed) override;

  // /readyz: a policy set is loaded (a failed reload that kept the previous set is ready, and
  // says so); /metrics: the glasstape_polic* samples.
  void report(admin::Report& out, const std::string& tenant) const override;
  // For the health output: load status, last load error and its time, rejected files.
  gov::policy::PolicyStore::Status status() const;
  const PolicyInterceptorConfig& config() const { return config_; }

 private:
  gov::policy::LimitStore* limits();

  PolicyInterceptorConfig config_;
  std::unique_ptr<gov::policy::PolicyStore> store_;
  std::mutex limits_mu_;
  std::unique_ptr<gov::policy::LimitStore> limits_;
  std::string limits_error_;
  std::chrono::steady_clock::time_point limits_retry_{};
  // Reservations of calls allowed by this interceptor and not yet decided by the pipeline.
  std::mutex holds_mu_;
  std::unordered_map<const CallContext*, gov::policy::LimitStore::Reservation> holds_;
};

// Factory (proxy/chain.cpp). `section` = the tenant's governance.policies node; when it is
// undefined the interceptor is disabled (Continue for every call) and a warning is logged.
std::unique_ptr<Interceptor> make_policy_interceptor(const InterceptorEnv& env,
                                                     const YAML::Node& section);

}  // namespace gt::proxy
