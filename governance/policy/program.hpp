// Stage 3 and 4 of the condition language: AST → compiled Program (names resolved, types
// checked, constants folded, regexes compiled once) → evaluation against one request.
//
// Values are JSON values (null, bool, int, double, string, list, map). Request data is
// referenced, never copied. Errors are values (as in CEL): `&&` and `||` absorb an error
// when the other side decides (`false && error` is false), everything else propagates it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/policy/ast.hpp"
#include "governance/policy/timezone.hpp"
#include "governance/principal.hpp"

namespace re2 {
class RE2;
}

namespace gt::gov::policy {

using json = nlohmann::json;

// A value during evaluation: a reference into the request, an owned value, or an error.
struct Value {
  const json* ref = nullptr;
  json own;
  std::string err;  // non-empty: this value is an error

  const json& get() const { return ref ? *ref : own; }
  bool is_error() const { return !err.empty(); }
  static Value refer(const json& j) {
    Value v;
    v.ref = &j;
    return v;
  }
  static Value of(json j) {
    Value v;
    v.own = std::move(j);
    return v;
  }
  static Value error(std::string msg) {
    Value v;
    v.err = std::move(msg);
    return v;
  }
};

// Static types used by the checker. Dyn = unknown until evaluation (arguments, attributes).
enum class Type : uint8_t { Dyn, Null, Bool, Int, Double, String, List, Map };
const char* type_name(Type t);
const char* type_name(const json& j);

// Evaluation budget: each node visited costs one step (bounds macro loops over large args).
inline constexpr int64_t kMaxEvalSteps = 1'000'000;

// What one evaluation sees. The interceptor builds this from the CallContext.
struct Scope {
  const json* args = nullptr;
  const Principal* principal = nullptr;
  const ToolRef* tool = nullptr;
  std::chrono::system_clock::time_point now{};
  const TimeZone* tz = nullptr;                  // null = UTC
  const std::vector<Value>* bindings = nullptr;  // values of extraction_bindings, by slot
  int64_t steps_left = kMaxEvalSteps;
  // Listing, not calling (visibility.hpp): arguments, bindings and env (time) are unknown, and
  // every use of them is an error value, which only && and || can decide past.
  bool partial = false;

  // Lazily built views (only when a condition uses them).
  const json& env() const;
  const json& principal_json() const;
  const json& roles_json() const;
  const json& tool_json() const;
  // {uri, server} on a resources/read and {name, server} on a prompts/get; {} otherwise.
  const json& resource_json() const;
  const json& prompt_json() const;

  // Macro variables (exists/all/exists_one), by slot.
  std::vector<const json*> locals;

 private:
  mutable std::optional<json> env_, principal_, roles_, tool_, resource_, prompt_;
};

enum class Op : uint8_t {
  Const,
  Args,
  Principal,
  PrincipalId,
  PrincipalTenant,
  PrincipalRoles,
  PrincipalAttrs,
  PrincipalClaims,
  Tool,
  ToolName,
  ToolServer,
  ToolAnnotations,
  Resource,
  Prompt,
  Env,
  EnvField,
  Binding,
  Local,
  Select,
  Has,
  Index,
  MakeList,
  MakeMap,
  Not,
  Neg,
  And,
  Or,
  Cond,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  Add,
  Sub,
  Mul,
  Div,
  Mod,
  In,
  NotIn,
  Contains,
  StartsWith,
  EndsWith,
  Matches,
  Size,
  Lower,
  Upper,
  ToInt,
  ToDouble,
  ToString,
  Exists,
  All,
  ExistsOne,
};

// One operation of a compiled condition. Nodes live in a Code arena and name their operands
// by index, so a node costs 16 bytes (and 4 per operand), and a long condition a few times
// its text. Nodes are pure, so the compiler shares repeated ones (`args`, `args.amount`).
struct Node {
  Op op = Op::Const;
  Type type = Type::Dyn;
  uint32_t first = 0;  // operands: code.kids[first .. first + nkids) (And/Or: two or more)
  uint32_t nkids = 0;
  uint32_t arg = 0;  // Binding/Local: slot; Exists/All/ExistsOne: the variable's slot;
                     // Const: code.consts; Select/Has/EnvField: code.fields; Matches: code.regexes
};

// The arena of compiled conditions. A policy file compiles all its conditions into one, shared
// by their Programs; it is immutable once the file is loaded.
struct Code {
  std::vector<Node> nodes;
  std::vector<uint32_t> kids;
  std::vector<json> consts;
  std::vector<std::string> fields;
  std::vector<std::shared_ptr<const re2::RE2>> regexes;

  const Node& kid(const Node& n, size_t i) const { return nodes[kids[n.first + i]]; }
  const json& k(const Node& n) const { return consts[n.arg]; }
  const std::string& field(const Node& n) const { return fields[n.arg]; }
  // Frees the slack left by growing (once nothing more is compiled into it).
  void shrink();
};

// The names a condition may use besides args/principal/tool/env.
struct CompileEnv {
  std::vector<std::string> bindings;  // bare names from extraction_bindings (slot = index)
};

// A compiled condition. An empty program (empty text) always matches.
class Program {
 public:
  Program() = default;
  bool empty() const { return !code_; }
  Type type() const { return code_ ? code_->nodes[root_].type : Type::Bool; }
  // Evaluates to a value (or an error value).
  Value eval(Scope& scope) const;
  // Evaluates as a condition: true/false, or an error message in `error`.
  // Returns nullopt on error.
  std::optional<bool> test(Scope& scope, std::string& error) const;

 private:
  friend std::optional<Program> compile(std::string_view, const Origin&, const CompileEnv&,
                                        LangError&, bool, const std::shared_ptr<Code>&);
  std::shared_ptr<const Code> code_;
  uint32_t root_ = 0;
  int nlocals_ = 0;
};

// Lex + parse + compile. `as_condition`: the result must be bool (or dyn). The program is
// compiled into `arena` when given (e.g. one per policy file), else into its own.
std::optional<Program> compile(std::string_view text, const Origin& origin, const CompileEnv& env,
                               LangError& err, bool as_condition = true,
                               const std::shared_ptr<Code>& arena = nullptr);

// Used by the evaluator.
Value eval_node(const Code& c, const Node& n, Scope& s);

}  // namespace gt::gov::policy
