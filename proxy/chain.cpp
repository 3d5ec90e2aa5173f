#include "proxy/chain.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "proxy/interceptors/audit_recorder.hpp"
#include "proxy/interceptors/deny_tools.hpp"
#include "proxy/interceptors/policy_interceptor.hpp"
#include "proxy/interceptors/schema_interceptor.hpp"
#include "proxy/interceptors/tool_gate.hpp"

namespace gt::proxy {

std::unique_ptr<Pipeline> build_pipeline(const InterceptorEnv& env) {
  const YAML::Node& g = env.tenant.governance;
  static const std::set<std::string> known = {"deny_tools", "tools", "schema",
                                              "policies",   "audit", "passthrough"};
  for (const auto& kv : g) {
    auto key = kv.first.as<std::string>();
    if (!known.count(key)) {
      throw ConfigError("tenant `" + env.tenant.id + "` governance: unknown section `" + key + "`");
    }
  }
  // `passthrough: true` (alone): no chain and no recorder. Calls are forwarded unchecked
  // and unrecorded; it exists to measure the transport on its own (tests/bench/http_run.sh)
  // and must be asked for explicitly, never implied by a missing section.
  if (auto p = g["passthrough"]) {
    if (!p.IsScalar() || (p.Scalar() != "true" && p.Scalar() != "false")) {
      throw ConfigError("tenant `" + env.tenant.id +
                        "` governance.passthrough: must be true or false");
    }
    if (p.Scalar() == "true") {
      if (g.size() != 1) {
        throw ConfigError("tenant `" + env.tenant.id +
                          "` governance.passthrough: cannot be combined with other sections");
      }
      spdlog::warn(
          "tenant `{}`: governance.passthrough is on: tool calls are forwarded without schema "
          "checks, policies or receipts",
          env.tenant.id);
      auto p = std::make_unique<Pipeline>(std::vector<std::unique_ptr<Interceptor>>{}, nullptr);
      p->set_tenant(env.tenant.id);
      return p;
    }
  }
  // The chain's order is fixed: the operator's kill switch, then the tool gate (pinned and
  // scanned definitions), then the tool's own schema, then the policies. Schema comes before policy
  // so that rules only ever see arguments of the declared types.
  std::vector<std::unique_ptr<Interceptor>> chain;
  chain.push_back(make_deny_tools_interceptor(env, g["deny_tools"]));
  chain.push_back(make_tool_gate(env, g["tools"]));
  chain.push_back(make_schema_interceptor(env, g["schema"]));
  chain.push_back(make_policy_interceptor(env, g["policies"]));
  std::unique_ptr<Recorder> recorder;
  recorder = make_audit_recorder(env, g["audit"]);
  auto pipeline = std::make_unique<Pipeline>(std::move(chain), std::move(recorder));
  pipeline->set_tenant(env.tenant.id);
  return pipeline;
}

}  // namespace gt::proxy
