#include "proxy/interceptors/deny_tools.hpp"

namespace gt::proxy {

DenyToolsInterceptor::DenyToolsInterceptor(std::vector<std::string> patterns)
    : patterns_(std::move(patterns)) {}

bool DenyToolsInterceptor::hides(std::string_view server, const std::string& name,
                                 const nlohmann::json&, const gov::Principal&) const {
  const std::string qualified = std::string(server) + "/" + name;
  for (const auto& p : patterns_) {
    if (p.find('/') != std::string::npos ? glob_match(p, qualified) : glob_match(p, name))
      return true;
  }
  return false;
}

Verdict DenyToolsInterceptor::on_call(CallContext& ctx) {
  std::string qualified = ctx.server + "/" + ctx.tool;
  for (const auto& p : patterns_) {
    bool hit =
        p.find('/') != std::string::npos ? glob_match(p, qualified) : glob_match(p, ctx.tool);
    if (hit) {
      ctx.decision.effect = Effect::Deny;
      ctx.decision.code = "GT-DENY-TOOL";
      ctx.decision.rule_id = "deny_tools:" + p;
      ctx.decision.reason =
          "tool `" + ctx.tool + "` is disabled by the operator (deny_tools `" + p + "`)";
      return Verdict::Deny;
    }
  }
  return Verdict::Continue;
}

std::unique_ptr<Interceptor> make_deny_tools_interceptor(const InterceptorEnv& /*env*/,
                                                         const YAML::Node& section) {
  std::vector<std::string> patterns;
  if (section && !section.IsNull()) {
    if (!section.IsSequence())
      throw ConfigError("governance.deny_tools: must be a list of tool names");
    for (const auto& n : section) {
      if (!n.IsScalar() || n.Scalar().empty()) {
        throw ConfigError(
            "governance.deny_tools: every entry must be a non-empty tool name or glob");
      }
      patterns.push_back(n.Scalar());
    }
  }
  return std::make_unique<DenyToolsInterceptor>(std::move(patterns));
}

}  // namespace gt::proxy
