// deny_tools: the operator's kill switch. Tools named here (exact names or globs, optionally
// qualified by server as `server/tool`) are denied before any other check.
//
//   governance:
//     deny_tools: [delete_file, "fs/write_*"]
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "governance/policy/policy.hpp"
#include "proxy/config.hpp"
#include "proxy/pipeline.hpp"

namespace gt::proxy {

class DenyToolsInterceptor : public Interceptor {
 public:
  explicit DenyToolsInterceptor(std::vector<std::string> patterns);
  std::string_view name() const override { return "deny_tools"; }
  Verdict on_call(CallContext& ctx) override;
  // A denied tool is not listed: no principal may call it.
  bool hides(std::string_view server, const std::string& name, const nlohmann::json& tool,
             const gov::Principal& who) const override;
  bool may_hide() const override { return !patterns_.empty(); }
  void describe(GovernanceView& view) const override {
    view.deny_tools.insert(view.deny_tools.end(), patterns_.begin(), patterns_.end());
  }

 private:
  std::vector<std::string> patterns_;
};

// The same glob the policy files use (`*` any run, `?` one character).
using gov::policy::glob_match;

// Section: a list of names/globs. Extra names (e.g. from --deny-tool) are appended.
std::unique_ptr<Interceptor> make_deny_tools_interceptor(const InterceptorEnv& env,
                                                         const YAML::Node& section);

}  // namespace gt::proxy
