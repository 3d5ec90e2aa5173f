// Fuzzes the condition language: lexer → parser → compiler → evaluator.
// Input: an expression, optionally followed by "\n---\n" and a JSON object used as `args`.
// Nothing may crash, hang or overflow the stack; errors must be values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "governance/policy/program.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace pol = gt::gov::policy;
  std::string in(reinterpret_cast<const char*>(data), size);
  std::string expr = in;
  nlohmann::json args = {{"amount", 60}, {"s", "hello"}, {"l", {1, 2, 3}}, {"m", {{"k", "v"}}}};
  auto sep = in.find("\n---\n");
  if (sep != std::string::npos) {
    expr = in.substr(0, sep);
    auto parsed = nlohmann::json::parse(in.substr(sep + 5), nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) args = std::move(parsed);
  }
  pol::CompileEnv env;
  env.bindings = {"amount", "user_role"};
  pol::LangError err;
  auto prog = pol::compile(expr, pol::Origin{"fuzz", 1, 1}, env, err, false);
  if (!prog) {
    if (err.message.empty()) __builtin_trap();  // every failure must say why
    return 0;
  }
  gt::gov::Principal p;
  p.id = "fuzz";
  p.roles = {"analyst"};
  p.attributes = {{"user_role", "analyst"}};
  gt::gov::ToolRef t{"srv", "tool", nlohmann::json::object()};
  std::vector<pol::Value> bindings;
  bindings.push_back(pol::Value::of(60));
  bindings.push_back(pol::Value::of("analyst"));
  pol::Scope scope;
  scope.args = &args;
  scope.principal = &p;
  scope.tool = &t;
  scope.bindings = &bindings;
  pol::Value v = prog->eval(scope);
  std::string e;
  scope.steps_left = pol::kMaxEvalSteps;
  (void)prog->test(scope, e);
  (void)v;
  return 0;
}
