// AST → compiled Program: resolves names, checks static types, folds constant lists and
// maps, and compiles regular expressions (RE2) once.
#include <re2/re2.h>

#include <unordered_map>

#include "governance/policy/parser.hpp"
#include "governance/policy/program.hpp"

namespace gt::gov::policy {

const char* type_name(Type t) {
  switch (t) {
    case Type::Dyn:
      return "dyn";
    case Type::Null:
      return "null";
    case Type::Bool:
      return "bool";
    case Type::Int:
      return "int";
    case Type::Double:
      return "double";
    case Type::String:
      return "string";
    case Type::List:
      return "list";
    case Type::Map:
      return "map";
  }
  return "dyn";
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "int";
    case json::value_t::number_float:
      return "double";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "list";
    case json::value_t::object:
      return "map";
    default:
      return "dyn";
  }
}

namespace {

Type type_of(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return Type::Null;
    case json::value_t::boolean:
      return Type::Bool;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return Type::Int;
    case json::value_t::number_float:
      return Type::Double;
    case json::value_t::string:
      return Type::String;
    case json::value_t::array:
      return Type::List;
    case json::value_t::object:
      return Type::Map;
    default:
      return Type::Dyn;
  }
}

bool numeric(Type t) {
  return t == Type::Int || t == Type::Double;
}
bool dyn(Type t) {
  return t == Type::Dyn;
}

struct CompileFail {};

struct EnvField {
  const char* name;
  Type type;
};
const EnvField kEnvFields[] = {
    {"now", Type::Int},        {"now_iso", Type::String},
    {"date", Type::String},    {"time_of_day", Type::String},
    {"hour", Type::Int},       {"minute", Type::Int},
    {"second", Type::Int},     {"weekday", Type::Int},
    {"day", Type::Int},        {"month", Type::Int},
    {"year", Type::Int},       {"timezone", Type::String},
    {"utc_offset", Type::Int},
};

class Compiler final : public CompileSink {
 public:
  Compiler(const Origin& origin, const CompileEnv& env, LangError& err, Code& code)
      : origin_(origin), env_(env), err_(err), code_(code) {}

  int max_locals = 0;

  uint32_t compile(Expr& e) override {
    switch (e.kind) {
      case Expr::Kind::Compiled:
        return e.node;
      case Expr::Kind::Literal: {
        Node n = make(Op::Const, e);
        n.type = type_of(e.value);
        n.arg = static_cast<uint32_t>(code_.consts.size());
        code_.consts.push_back(std::move(e.value));
        return emit(n);
      }
      case Expr::Kind::Ident:
        return ident(e);
      case Expr::Kind::Select:
        return select(e);
      case Expr::Kind::Index: {
        uint32_t b = compile(*e.kids[0]);
        uint32_t i = compile(*e.kids[1]);
        Type t = type(b), it = type(i);
        if (t == Type::List && !dyn(it) && it != Type::Int)
          fail(e, std::string("list index must be an int, got ") + type_name(it));
        if (t == Type::Map && !dyn(it) && it != Type::String)
          fail(e, std::string("map key must be a string, got ") + type_name(it));
        if (!dyn(t) && t != Type::List && t != Type::Map)
          fail(e, std::string("cannot index a ") + type_name(t));
        return emit(make(Op::Index, e), {b, i});
      }
      case Expr::Kind::Call:
        return call(e);
      case Expr::Kind::List:
      case Expr::Kind::Map: {
        const char* op = e.kind == Expr::Kind::List ? "[]" : "{}";
        std::vector<uint32_t> kids;
        for (size_t i = 0; i < e.kids.size(); ++i) {
          kids.push_back(compile(*e.kids[i]));
          if (i % 2 == 0 && e.kind == Expr::Kind::Map)
            check(op, kids.back(), e.kids[i]->line, e.kids[i]->column);
        }
        return sequence(op, kids, e.line, e.column);
      }
      case Expr::Kind::Unary: {
        uint32_t k = compile(*e.kids[0]);
        Type t = type(k);
        Node n = make(e.name == "!" ? Op::Not : Op::Neg, e);
        if (n.op == Op::Not) {
          if (!dyn(t) && t != Type::Bool)
            fail(e, std::string("`!` needs a bool, got ") + type_name(t));
          n.type = Type::Bool;
        } else {
          if (!dyn(t) && !numeric(t))
            fail(e, std::string("`-` needs a number, got ") + type_name(t));
          n.type = t;
        }
        return emit(n, {k});
      }
      case Expr::Kind::Binary:
        return binary(e);
      case Expr::Kind::Cond: {
        uint32_t c = compile(*e.kids[0]);
        uint32_t a = compile(*e.kids[1]);
        uint32_t b = compile(*e.kids[2]);
        Type ct = type(c);
        if (!dyn(ct) && ct != Type::Bool)
          fail(*e.kids[0], std::string("`?:` condition must be a bool, got ") + type_name(ct));
        Node n = make(Op::Cond, e);
        n.type = type(a) == type(b) ? type(a) : Type::Dyn;
        return emit(n, {c, a, b});
      }
    }
    fail(e, "unsupported expression");
  }

  // ---- what the parser hands over as it reads (CompileSink) ----
  void check(const std::string& op, uint32_t node, int line, int column) override {
    Type t = type(node);
    if (op == "{}") {
      if (!dyn(t) && t != Type::String)
        fail_at(line, column, std::string("map keys must be strings, got ") + type_name(t));
    } else if (!dyn(t) && t != Type::Bool) {
      fail_at(line, column, "`" + op + "` needs bool operands, got " + type_name(t));
    }
  }
  uint32_t sequence(const std::string& op, const std::vector<uint32_t>& kids, int line,
                    int column) override {
    (void)line;
    (void)column;
    Node n;
    if (op == "||" || op == "&&") {
      n.op = op == "||" ? Op::Or : Op::And;
      n.type = Type::Bool;
    } else {
      n.op = op == "[]" ? Op::MakeList : Op::MakeMap;
      n.type = op == "[]" ? Type::List : Type::Map;
    }
    return emit(n, kids);
  }
  void push_local(const std::string& name) override {
    locals_.push_back(name);
    max_locals = std::max(max_locals, static_cast<int>(locals_.size()));
  }
  void pop_local() override { locals_.pop_back(); }

  [[noreturn]] void fail(const Expr& at, std::string msg) {
    fail_at(at.line, at.column, std::move(msg));
  }
  [[noreturn]] void fail_at(int line, int column, std::string msg) {
    err_.stage = Stage::Type;
    err_.loc = locate(origin_, line, column);
    err_.message = std::move(msg);
    throw CompileFail{};
  }
  Type type(uint32_t node) const { return code_.nodes[node].type; }

 private:
  const Origin& origin_;
  const CompileEnv& env_;
  LangError& err_;
  Code& code_;
  std::vector<std::string> locals_;
  std::unordered_map<std::string, uint32_t> field_ids_;
  std::unordered_map<uint64_t, uint32_t> leaves_;   // (op, arg) → node
  std::unordered_map<uint64_t, uint32_t> selects_;  // (operand, field) → node

  Node make(Op op, const Expr&) {
    Node n;
    n.op = op;
    return n;
  }
  static Node typed(Node n, Type t) {
    n.type = t;
    return n;
  }
  // A node without operands (a root, a binding, a local, an env field) is made once.
  uint32_t leaf(Node n) {
    uint64_t key = (uint64_t{static_cast<uint8_t>(n.op)} << 32) | n.arg;
    auto it = leaves_.find(key);
    if (it != leaves_.end()) return it->second;
    uint32_t id = emit(n);
    leaves_.emplace(key, id);
    return id;
  }
  uint32_t emit(Node n, std::initializer_list<uint32_t> kids = {}) {
    n.first = static_cast<uint32_t>(code_.kids.size());
    n.nkids = static_cast<uint32_t>(kids.size());
    code_.kids.insert(code_.kids.end(), kids.begin(), kids.end());
    code_.nodes.push_back(n);
    return static_cast<uint32_t>(code_.nodes.size() - 1);
  }
  uint32_t emit(Node n, const std::vector<uint32_t>& kids) {
    n.first = static_cast<uint32_t>(code_.kids.size());
    n.nkids = static_cast<uint32_t>(kids.size());
    code_.kids.insert(code_.kids.end(), kids.begin(), kids.end());
    code_.nodes.push_back(n);
    return static_cast<uint32_t>(code_.nodes.size() - 1);
  }
  uint32_t field_id(const std::string& name) {
    auto it = field_ids_.find(name);
    if (it != field_ids_.end()) return it->second;
    auto id = static_cast<uint32_t>(code_.fields.size());
    code_.fields.push_back(name);
    field_ids_.emplace(name, id);
    return id;
  }

  // A root name (args/principal/tool/env) that is not shadowed by a local or binding.
  bool is_root(const Expr& e, const char* name) const {
    if (e.kind != Expr::Kind::Ident || e.name != name) return false;
    for (const auto& l : locals_) {
      if (l == name) return false;
    }
    for (const auto& b : env_.bindings) {
      if (b == name) return false;
    }
    return true;
  }

  uint32_t ident(const Expr& e) {
    for (size_t i = locals_.size(); i-- > 0;) {
      if (locals_[i] == e.name) {
        Node n = make(Op::Local, e);
        n.arg = static_cast<uint32_t>(i);
        return leaf(n);
      }
    }
    for (size_t i = 0; i < env_.bindings.size(); ++i) {
      if (env_.bindings[i] == e.name) {
        Node n = make(Op::Binding, e);
        n.arg = static_cast<uint32_t>(i);
        return leaf(n);
      }
    }
    if (e.name == "args") return leaf(typed(make(Op::Args, e), Type::Map));
    if (e.name == "principal") return leaf(typed(make(Op::Principal, e), Type::Map));
    if (e.name == "tool") return leaf(typed(make(Op::Tool, e), Type::Map));
    if (e.name == "env") return leaf(typed(make(Op::Env, e), Type::Map));
    // {uri, server} on a resources/read, {name, server} on a prompts/get; {} otherwise.
    if (e.name == "resource") return leaf(typed(make(Op::Resource, e), Type::Map));
    if (e.name == "prompt") return leaf(typed(make(Op::Prompt, e), Type::Map));
    fail(e, "unknown name `" + e.name + "` (use `args." + e.name +
                "` for a tool argument, or declare it in extraction_bindings)");
  }

  uint32_t select(Expr& e) {
    Expr& base = *e.kids[0];
    if (is_root(base, "principal")) {
      if (e.name == "id") return leaf(typed(make(Op::PrincipalId, e), Type::String));
      if (e.name == "tenant") return leaf(typed(make(Op::PrincipalTenant, e), Type::String));
      if (e.name == "roles") return leaf(typed(make(Op::PrincipalRoles, e), Type::List));
      if (e.name == "attributes") return leaf(typed(make(Op::PrincipalAttrs, e), Type::Map));
      if (e.name == "claims") return leaf(typed(make(Op::PrincipalClaims, e), Type::Map));
      fail(e, "unknown field `" + e.name +
                  "` of `principal` (fields: id, tenant, roles, attributes, claims)");
    }
    if (is_root(base, "tool")) {
      if (e.name == "name") return leaf(typed(make(Op::ToolName, e), Type::String));
      if (e.name == "server") return leaf(typed(make(Op::ToolServer, e), Type::String));
      if (e.name == "annotations") return leaf(typed(make(Op::ToolAnnotations, e), Type::Map));
      fail(e, "unknown field `" + e.name + "` of `tool` (fields: name, server, annotations)");
    }
    if (is_root(base, "env")) {
      for (const auto& f : kEnvFields) {
        if (e.name == f.name) {
          Node n = make(Op::EnvField, e);
          n.arg = field_id(e.name);
          n.type = f.type;
          return leaf(n);
        }
      }
      fail(
          e,
          "unknown field `" + e.name +
              "` of `env` (fields: now, now_iso, date, time_of_day, hour, minute, second, weekday, "
              "day, month, year, timezone, utc_offset)");
    }
    uint32_t b = compile(base);
    Type t = type(b);
    if (!dyn(t) && t != Type::Map)
      fail(e, "cannot select field `" + e.name + "` from a " + type_name(t));
    Node n = make(Op::Select, e);
    n.arg = field_id(e.name);
    uint64_t key = (uint64_t{b} << 32) | n.arg;
    auto it = selects_.find(key);
    if (it != selects_.end()) return it->second;
    uint32_t id = emit(n, {b});
    selects_.emplace(key, id);
    return id;
  }

  void want_args(const Expr& e, size_t with_target, size_t without_target) {
    size_t got = e.kids.size() - (e.has_target ? 1 : 0);
    size_t want = e.has_target ? with_target : without_target;
    if (want == SIZE_MAX || got != want) {
      if (e.has_target && with_target == SIZE_MAX)
        fail(e, "`" + e.name + "` cannot be called as a method");
      if (!e.has_target && without_target == SIZE_MAX)
        fail(e, "`" + e.name + "` must be called as a method, e.g. `x." + e.name + "(...)`");
      fail(e, "`" + e.name + "` takes " + std::to_string(want) + " argument" +
                  (want == 1 ? "" : "s") + ", got " + std::to_string(got));
    }
  }

  uint32_t call(Expr& e) {
    const std::string& f = e.name;
    if (f == "has") {
      want_args(e, SIZE_MAX, 1);
      Expr& sel = *e.kids[0];
      if (sel.kind != Expr::Kind::Select)
        fail(e, "`has()` needs a field selection such as `has(args.amount)`");
      Expr& base = *sel.kids[0];
      uint32_t b;
      if (is_root(base, "principal") || is_root(base, "tool") || is_root(base, "env")) {
        // has(principal.id) etc.: the whole root object, then the key test.
        Node root = make(base.name == "principal" ? Op::Principal
                         : base.name == "tool"    ? Op::Tool
                                                  : Op::Env,
                         base);
        root.type = Type::Map;
        b = leaf(root);
      } else {
        b = compile(base);
      }
      Type t = type(b);
      if (!dyn(t) && t != Type::Map)
        fail(e, std::string("`has()` needs a map, got ") + type_name(t));
      Node n = make(Op::Has, e);
      n.type = Type::Bool;
      n.arg = field_id(sel.name);
      return emit(n, {b});
    }
    if (f == "exists" || f == "all" || f == "exists_one") {
      if (!e.has_target) fail(e, "`" + f + "` is a macro: write `list." + f + "(x, condition)`");
      want_args(e, 2, SIZE_MAX);
      const Expr& var = *e.kids[1];
      if (var.kind != Expr::Kind::Ident)
        fail(var, "the first argument of `" + f + "` must be a variable name");
      Node n = make(f == "exists" ? Op::Exists : f == "all" ? Op::All : Op::ExistsOne, e);
      n.type = Type::Bool;
      uint32_t target = compile(*e.kids[0]);
      Type t = type(target);
      if (!dyn(t) && t != Type::List && t != Type::Map)
        fail(e, "`" + f + "` needs a list or map, got " + type_name(t));
      n.arg = static_cast<uint32_t>(locals_.size());
      // The parser declared the variable the same way while it read the condition.
      push_local(var.name);
      uint32_t body = compile(*e.kids[2]);
      pop_local();
      Type p = type(body);
      if (!dyn(p) && p != Type::Bool)
        fail(*e.kids[2], "the condition of `" + f + "` must be a bool, got " + type_name(p));
      return emit(n, {target, body});
    }
    struct Fn {
      const char* name;
      Op op;
      size_t with_target, without_target;
      Type result;
    };
    static const Fn fns[] = {
        {"size", Op::Size, 0, 1, Type::Int},
        {"contains", Op::Contains, 1, 2, Type::Bool},
        {"startsWith", Op::StartsWith, 1, 2, Type::Bool},
        {"endsWith", Op::EndsWith, 1, 2, Type::Bool},
        {"matches", Op::Matches, 1, 2, Type::Bool},
        {"lower", Op::Lower, 0, 1, Type::String},
        {"upper", Op::Upper, 0, 1, Type::String},
        {"int", Op::ToInt, SIZE_MAX, 1, Type::Int},
        {"double", Op::ToDouble, SIZE_MAX, 1, Type::Double},
        {"string", Op::ToString, SIZE_MAX, 1, Type::String},
    };
    for (const auto& fn : fns) {
      if (f != fn.name) continue;
      want_args(e, fn.with_target, fn.without_target);
      Node n = make(fn.op, e);
      n.type = fn.result;
      std::vector<uint32_t> kids;
      for (auto& k : e.kids)
        kids.push_back(compile(*k));
      Type a = type(kids[0]);
      Type b = kids.size() > 1 ? type(kids[1]) : Type::Dyn;
      auto need = [&](Type t, std::initializer_list<Type> ok, const char* what) {
        if (dyn(t)) return;
        for (Type o : ok) {
          if (o == t) return;
        }
        fail(e, "`" + f + "` needs " + what + ", got " + type_name(t));
      };
      switch (fn.op) {
        case Op::Size:
          need(a, {Type::String, Type::List, Type::Map}, "a string, list or map");
          break;
        case Op::Contains:
          need(a, {Type::String, Type::List, Type::Map}, "a string, list or map");
          if (a == Type::String) need(b, {Type::String}, "a string argument");
          break;
        case Op::StartsWith:
        case Op::EndsWith:
          need(a, {Type::String}, "a string");
          need(b, {Type::String}, "a string argument");
          break;
        case Op::Matches: {
          need(a, {Type::String}, "a string");
          const Node& pat = code_.nodes[kids[1]];
          if (pat.op != Op::Const || !code_.k(pat).is_string()) {
            fail(e,
                 "`matches` needs a string literal pattern (patterns are compiled once, at load)");
          }
          const std::string& text = code_.k(pat).get_ref<const std::string&>();
          RE2::Options opt;
          opt.set_log_errors(false);
          opt.set_max_mem(1 << 20);
          auto re = std::make_shared<RE2>(text, opt);
          if (!re->ok()) fail(e, "invalid regular expression `" + text + "`: " + re->error());
          n.arg = static_cast<uint32_t>(code_.regexes.size());
          code_.regexes.push_back(std::move(re));
          break;
        }
        case Op::Lower:
        case Op::Upper:
          need(a, {Type::String}, "a string");
          break;
        case Op::ToInt:
          need(a, {Type::Int, Type::Double, Type::String}, "an int, double or string");
          break;
        case Op::ToDouble:
          need(a, {Type::Int, Type::Double, Type::String}, "an int, double or string");
          break;
        case Op::ToString:
          need(a, {Type::Int, Type::Double, Type::String, Type::Bool}, "a scalar");
          break;
        default:
          break;
      }
      return emit(n, kids);
    }
    fail(e, "unknown function `" + f + "`");
  }

  uint32_t binary(Expr& e) {
    static const struct {
      const char* name;
      Op op;
    } ops[] = {{"||", Op::Or}, {"&&", Op::And}, {"==", Op::Eq},        {"!=", Op::Ne},
               {"<", Op::Lt},  {"<=", Op::Le},  {">", Op::Gt},         {">=", Op::Ge},
               {"+", Op::Add}, {"-", Op::Sub},  {"*", Op::Mul},        {"/", Op::Div},
               {"%", Op::Mod}, {"in", Op::In},  {"not in", Op::NotIn}, {"contains", Op::Contains}};
    Op op = Op::Eq;
    bool found = false;
    for (const auto& o : ops) {
      if (e.name == o.name) {
        op = o.op;
        found = true;
      }
    }
    if (!found) fail(e, "unknown operator `" + e.name + "`");
    if (op == Op::Or || op == Op::And) {
      std::vector<uint32_t> kids;
      for (auto& k : e.kids) {
        kids.push_back(compile(*k));
        check(e.name, kids.back(), k->line, k->column);
      }
      return sequence(e.name, kids, e.line, e.column);
    }
    Node n = make(op, e);
    uint32_t ka = compile(*e.kids[0]);
    uint32_t kb = compile(*e.kids[1]);
    Type a = type(ka), b = type(kb);
    std::string shown = "`" + e.name + "`";
    auto mismatch = [&](const char* what) {
      fail(e, shown + " " + what + ", got " + type_name(a) + " and " + type_name(b));
    };
    switch (op) {
      case Op::Eq:
      case Op::Ne:
        if (!dyn(a) && !dyn(b) && a != b && !(numeric(a) && numeric(b)) && a != Type::Null &&
            b != Type::Null) {
          mismatch("compares values of different types (always unequal)");
        }
        n.type = Type::Bool;
        break;
      case Op::Lt:
      case Op::Le:
      case Op::Gt:
      case Op::Ge:
        if (!dyn(a) && !dyn(b) && !(numeric(a) && numeric(b)) &&
            !(a == b && (a == Type::String || a == Type::Bool))) {
          mismatch("needs two numbers, two strings or two bools");
        }
        if ((a == Type::Null || a == Type::List || a == Type::Map) ||
            (b == Type::Null || b == Type::List || b == Type::Map)) {
          mismatch("cannot order these types");
        }
        n.type = Type::Bool;
        break;
      case Op::Add:
        // No implicit int/double conversion (CEL): `1 + 1.5` is an error; `double(1) + 1.5`.
        if (!dyn(a) && !dyn(b) &&
            !(a == b && (numeric(a) || a == Type::String || a == Type::List))) {
          mismatch(numeric(a) && numeric(b)
                       ? "needs two ints or two doubles (convert with int() or double())"
                       : "needs two numbers, two strings or two lists");
        }
        n.type = (a == b) ? a : Type::Dyn;
        break;
      case Op::Sub:
      case Op::Mul:
      case Op::Div:
        if ((!dyn(a) && !numeric(a)) || (!dyn(b) && !numeric(b))) mismatch("needs numbers");
        if (numeric(a) && numeric(b) && a != b)
          mismatch("needs two ints or two doubles (convert with int() or double())");
        n.type = (a == b) ? a : Type::Dyn;
        break;
      case Op::Mod:
        if ((!dyn(a) && a != Type::Int) || (!dyn(b) && b != Type::Int)) mismatch("needs ints");
        n.type = Type::Int;
        break;
      case Op::In:
      case Op::NotIn:
        if (!dyn(b) && b != Type::List && b != Type::Map) {
          fail(e, shown + " needs a list or map on the right, got " + type_name(b) +
                      (b == Type::String ? " (use `contains` for substrings)" : ""));
        }
        n.type = Type::Bool;
        break;
      case Op::Contains:
        if (!dyn(a) && a != Type::String && a != Type::List && a != Type::Map) {
          fail(e, shown + " needs a string, list or map on the left, got " + type_name(a));
        }
        if (a == Type::String && !dyn(b) && b != Type::String)
          mismatch("on a string needs a string");
        n.type = Type::Bool;
        break;
      default:
        break;
    }
    return emit(n, {ka, kb});
  }
};

}  // namespace

void Code::shrink() {
  nodes.shrink_to_fit();
  kids.shrink_to_fit();
  consts.shrink_to_fit();
  fields.shrink_to_fit();
  regexes.shrink_to_fit();
}

std::optional<Program> compile(std::string_view text, const Origin& origin, const CompileEnv& env,
                               LangError& err, bool as_condition,
                               const std::shared_ptr<Code>& arena) {
  std::shared_ptr<Code> code = arena ? arena : std::make_shared<Code>();
  Compiler c(origin, env, err, *code);
  Program p;
  try {
    // The parser hands every finished piece to the compiler at once: no whole tree is built.
    auto ast = parse(text, origin, err, c);
    if (!ast) return std::nullopt;
    if (!*ast) return p;  // empty condition: always matches
    uint32_t root = c.compile(**ast);
    Type t = c.type(root);
    if (as_condition && t != Type::Bool && t != Type::Dyn) {
      c.fail(**ast, std::string("a condition must be a bool, got ") + type_name(t));
    }
    p.root_ = root;
    p.nlocals_ = c.max_locals;
  } catch (const CompileFail&) {
    return std::nullopt;
  }
  if (!arena) code->shrink();
  p.code_ = std::move(code);
  return p;
}

}  // namespace gt::gov::policy
