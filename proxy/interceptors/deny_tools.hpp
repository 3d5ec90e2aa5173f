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

#include "proxy/config.hpp"
#include "proxy/pipeline.hpp"

namespace gt::proxy {

class DenyToolsInterceptor : public Interceptor {
 public:
  explicit DenyToolsInterceptor(std::vector<std::string> patterns);
  std::string_view name() const override { return "deny_tools"; }
  Verdict on_call(CallContext& ctx) override;

 private:
  std::vector<std::string> patterns_;
};

// Glob match: `*` any run of characters, `?` one character. Iterative, linear in practice.
bool glob_match(std::string_view pattern, std::string_view text);

// Section: a list of names/globs. Extra names (e.g. from --deny-tool) are appended.
std::unique_ptr<Interceptor> make_deny_tools_interceptor(const InterceptorEnv& env,
                                                         const YAML::Node& section);

}  // namespace gt::proxy
