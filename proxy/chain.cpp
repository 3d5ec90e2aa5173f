#include "proxy/chain.hpp"

#include <set>

#include "proxy/interceptors/audit_recorder.hpp"
#include "proxy/interceptors/deny_tools.hpp"
#include "proxy/interceptors/schema_interceptor.hpp"
#include "proxy/interceptors/policy_interceptor.hpp"

namespace gt::proxy {

std::unique_ptr<Pipeline> build_pipeline(const InterceptorEnv& env) {
  const YAML::Node& g = env.tenant.governance;
  static const std::set<std::string> known = {"deny_tools", "schema", "policies", "audit"};
  for (const auto& kv : g) {
    auto key = kv.first.as<std::string>();
    if (!known.count(key)) {
      throw ConfigError("tenant `" + env.tenant.id + "` governance: unknown section `" + key + "`");
    }
  }
  // The chain's order is fixed: the operator's kill switch, then the tool's own schema,
  // then the policies. Schema comes before policy so that rules only ever see arguments
  // of the declared types.
  std::vector<std::unique_ptr<Interceptor>> chain;
  chain.push_back(make_deny_tools_interceptor(env, g["deny_tools"]));
  chain.push_back(make_schema_interceptor(env, g["schema"]));
  chain.push_back(make_policy_interceptor(env, g["policies"]));
  std::unique_ptr<Recorder> recorder;
  recorder = make_audit_recorder(env, g["audit"]);
  return std::make_unique<Pipeline>(std::move(chain), std::move(recorder));
}

}  // namespace gt::proxy
