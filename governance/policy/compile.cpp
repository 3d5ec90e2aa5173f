// AST → compiled Program: resolves names, checks static types, folds constant lists and
// maps, and compiles regular expressions (RE2) once.
#include <re2/re2.h>

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

class Compiler {
 public:
  Compiler(const Origin& origin, const CompileEnv& env, LangError& err)
      : origin_(origin), env_(env), err_(err) {}

  int max_locals = 0;

  Node compile(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::Literal: {
        Node n = make(Op::Const, e);
        n.k = e.value;
        n.type = type_of(e.value);
        return n;
      }
      case Expr::Kind::Ident:
        return ident(e);
      case Expr::Kind::Select:
        return select(e);
      case Expr::Kind::Index: {
        Node n = make(Op::Index, e);
        n.kids.push_back(compile(*e.kids[0]));
        n.kids.push_back(compile(*e.kids[1]));
        Type t = n.kids[0].type, i = n.kids[1].type;
        if (t == Type::List && !dyn(i) && i != Type::Int)
          fail(e, std::string("list index must be an int, got ") + type_name(i));
        if (t == Type::Map && !dyn(i) && i != Type::String)
          fail(e, std::string("map key must be a string, got ") + type_name(i));
        if (!dyn(t) && t != Type::List && t != Type::Map)
          fail(e, std::string("cannot index a ") + type_name(t));
        return n;
      }
      case Expr::Kind::Call:
        return call(e);
      case Expr::Kind::List: {
        Node n = make(Op::MakeList, e);
        n.type = Type::List;
        bool all_const = true;
        for (const auto& k : e.kids) {
          n.kids.push_back(compile(*k));
          all_const = all_const && n.kids.back().op == Op::Const;
        }
        if (all_const) {
          json arr = json::array();
          for (auto& k : n.kids)
            arr.push_back(std::move(k.k));
          Node c = make(Op::Const, e);
          c.k = std::move(arr);
          c.type = Type::List;
          return c;
        }
        return n;
      }
      case Expr::Kind::Map: {
        Node n = make(Op::MakeMap, e);
        n.type = Type::Map;
        bool all_const = true;
        for (size_t i = 0; i < e.kids.size(); ++i) {
          n.kids.push_back(compile(*e.kids[i]));
          if (i % 2 == 0 && !dyn(n.kids.back().type) && n.kids.back().type != Type::String) {
            fail(*e.kids[i],
                 std::string("map keys must be strings, got ") + type_name(n.kids.back().type));
          }
          all_const = all_const && n.kids.back().op == Op::Const;
        }
        if (all_const) {
          json obj = json::object();
          for (size_t i = 0; i + 1 < n.kids.size(); i += 2)
            obj[n.kids[i].k.get<std::string>()] = std::move(n.kids[i + 1].k);
          Node c = make(Op::Const, e);
          c.k = std::move(obj);
          c.type = Type::Map;
          return c;
        }
        return n;
      }
      case Expr::Kind::Unary: {
        Node n = make(e.name == "!" ? Op::Not : Op::Neg, e);
        n.kids.push_back(compile(*e.kids[0]));
        Type t = n.kids[0].type;
        if (n.op == Op::Not) {
          if (!dyn(t) && t != Type::Bool)
            fail(e, std::string("`!` needs a bool, got ") + type_name(t));
          n.type = Type::Bool;
        } else {
          if (!dyn(t) && !numeric(t))
            fail(e, std::string("`-` needs a number, got ") + type_name(t));
          n.type = t;
        }
        return n;
      }
      case Expr::Kind::Binary:
        return binary(e);
      case Expr::Kind::Cond: {
        Node n = make(Op::Cond, e);
        for (const auto& k : e.kids)
          n.kids.push_back(compile(*k));
        Type c = n.kids[0].type;
        if (!dyn(c) && c != Type::Bool)
          fail(*e.kids[0], std::string("`?:` condition must be a bool, got ") + type_name(c));
        n.type = n.kids[1].type == n.kids[2].type ? n.kids[1].type : Type::Dyn;
        return n;
      }
    }
    fail(e, "unsupported expression");
  }

  [[noreturn]] void fail(const Expr& at, std::string msg) {
    err_.stage = Stage::Type;
    err_.loc = locate(origin_, at.line, at.column);
    err_.message = std::move(msg);
    throw CompileFail{};
  }

 private:
  const Origin& origin_;
  const CompileEnv& env_;
  LangError& err_;
  std::vector<std::string> locals_;

  Node make(Op op, const Expr& e) {
    Node n;
    n.op = op;
    n.line = e.line;
    n.column = e.column;
    return n;
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

  Node ident(const Expr& e) {
    for (size_t i = locals_.size(); i-- > 0;) {
      if (locals_[i] == e.name) {
        Node n = make(Op::Local, e);
        n.slot = static_cast<int>(i);
        return n;
      }
    }
    for (size_t i = 0; i < env_.bindings.size(); ++i) {
      if (env_.bindings[i] == e.name) {
        Node n = make(Op::Binding, e);
        n.slot = static_cast<int>(i);
        return n;
      }
    }
    if (e.name == "args") return typed(make(Op::Args, e), Type::Map);
    if (e.name == "principal") return typed(make(Op::Principal, e), Type::Map);
    if (e.name == "tool") return typed(make(Op::Tool, e), Type::Map);
    if (e.name == "env") return typed(make(Op::Env, e), Type::Map);
    fail(e, "unknown name `" + e.name + "` (use `args." + e.name +
                "` for a tool argument, or declare it in extraction_bindings)");
  }
  static Node typed(Node n, Type t) {
    n.type = t;
    return n;
  }

  Node select(const Expr& e) {
    const Expr& base = *e.kids[0];
    if (is_root(base, "principal")) {
      if (e.name == "id") return typed(make(Op::PrincipalId, e), Type::String);
      if (e.name == "tenant") return typed(make(Op::PrincipalTenant, e), Type::String);
      if (e.name == "roles") return typed(make(Op::PrincipalRoles, e), Type::List);
      if (e.name == "attributes") return typed(make(Op::PrincipalAttrs, e), Type::Map);
      fail(e,
           "unknown field `" + e.name + "` of `principal` (fields: id, tenant, roles, attributes)");
    }
    if (is_root(base, "tool")) {
      if (e.name == "name") return typed(make(Op::ToolName, e), Type::String);
      if (e.name == "server") return typed(make(Op::ToolServer, e), Type::String);
      if (e.name == "annotations") return typed(make(Op::ToolAnnotations, e), Type::Map);
      fail(e, "unknown field `" + e.name + "` of `tool` (fields: name, server, annotations)");
    }
    if (is_root(base, "env")) {
      for (const auto& f : kEnvFields) {
        if (e.name == f.name) {
          Node n = make(Op::EnvField, e);
          n.field = e.name;
          n.type = f.type;
          return n;
        }
      }
      fail(
          e,
          "unknown field `" + e.name +
              "` of `env` (fields: now, now_iso, date, time_of_day, hour, minute, second, weekday, "
              "day, month, year, timezone, utc_offset)");
    }
    Node n = make(Op::Select, e);
    n.field = e.name;
    n.kids.push_back(compile(base));
    Type t = n.kids[0].type;
    if (!dyn(t) && t != Type::Map)
      fail(e, "cannot select field `" + e.name + "` from a " + type_name(t));
    return n;
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

  Node call(const Expr& e) {
    const std::string& f = e.name;
    if (f == "has") {
      want_args(e, SIZE_MAX, 1);
      const Expr& sel = *e.kids[0];
      if (sel.kind != Expr::Kind::Select)
        fail(e, "`has()` needs a field selection such as `has(args.amount)`");
      Node n = make(Op::Has, e);
      n.type = Type::Bool;
      n.field = sel.name;
      const Expr& base = *sel.kids[0];
      if (is_root(base, "principal") || is_root(base, "tool") || is_root(base, "env")) {
        // has(principal.id) etc.: the whole root object, then the key test.
        Node root = make(base.name == "principal" ? Op::Principal
                         : base.name == "tool"    ? Op::Tool
                                                  : Op::Env,
                         base);
        root.type = Type::Map;
        n.kids.push_back(std::move(root));
      } else {
        n.kids.push_back(compile(base));
      }
      Type t = n.kids[0].type;
      if (!dyn(t) && t != Type::Map)
        fail(e, std::string("`has()` needs a map, got ") + type_name(t));
      return n;
    }
    if (f == "exists" || f == "all" || f == "exists_one") {
      if (!e.has_target) fail(e, "`" + f + "` is a macro: write `list." + f + "(x, condition)`");
      want_args(e, 2, SIZE_MAX);
      const Expr& var = *e.kids[1];
      if (var.kind != Expr::Kind::Ident)
        fail(var, "the first argument of `" + f + "` must be a variable name");
      Node n = make(f == "exists" ? Op::Exists : f == "all" ? Op::All : Op::ExistsOne, e);
      n.type = Type::Bool;
      n.kids.push_back(compile(*e.kids[0]));
      Type t = n.kids[0].type;
      if (!dyn(t) && t != Type::List && t != Type::Map)
        fail(e, "`" + f + "` needs a list or map, got " + type_name(t));
      n.slot = static_cast<int>(locals_.size());
      locals_.push_back(var.name);
      max_locals = std::max(max_locals, static_cast<int>(locals_.size()));
      n.kids.push_back(compile(*e.kids[2]));
      locals_.pop_back();
      Type p = n.kids[1].type;
      if (!dyn(p) && p != Type::Bool)
        fail(*e.kids[2], "the condition of `" + f + "` must be a bool, got " + type_name(p));
      return n;
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
      for (const auto& k : e.kids)
        n.kids.push_back(compile(*k));
      Type a = n.kids[0].type;
      Type b = n.kids.size() > 1 ? n.kids[1].type : Type::Dyn;
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
          if (n.kids[1].op != Op::Const || !n.kids[1].k.is_string()) {
            fail(e,
                 "`matches` needs a string literal pattern (patterns are compiled once, at load)");
          }
          RE2::Options opt;
          opt.set_log_errors(false);
          opt.set_max_mem(1 << 20);
          auto re = std::make_shared<RE2>(n.kids[1].k.get<std::string>(), opt);
          if (!re->ok())
            fail(e, "invalid regular expression `" + n.kids[1].k.get<std::string>() +
                        "`: " + re->error());
          n.re = std::move(re);
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
      return n;
    }
    fail(e, "unknown function `" + f + "`");
  }

  Node binary(const Expr& e) {
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
    Node n = make(op, e);
    n.kids.push_back(compile(*e.kids[0]));
    n.kids.push_back(compile(*e.kids[1]));
    Type a = n.kids[0].type, b = n.kids[1].type;
    std::string shown = "`" + e.name + "`";
    auto mismatch = [&](const char* what) {
      fail(e, shown + " " + what + ", got " + type_name(a) + " and " + type_name(b));
    };
    switch (op) {
      case Op::Or:
      case Op::And:
        if ((!dyn(a) && a != Type::Bool) || (!dyn(b) && b != Type::Bool))
          mismatch("needs bool operands");
        n.type = Type::Bool;
        break;
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
        if (!dyn(a) && !dyn(b) && !(numeric(a) && numeric(b)) &&
            !(a == b && (a == Type::String || a == Type::List))) {
          mismatch("needs two numbers, two strings or two lists");
        }
        n.type = (a == b) ? a : (numeric(a) && numeric(b)) ? Type::Double : Type::Dyn;
        break;
      case Op::Sub:
      case Op::Mul:
      case Op::Div:
        if ((!dyn(a) && !numeric(a)) || (!dyn(b) && !numeric(b))) mismatch("needs numbers");
        n.type = (a == b) ? a : (numeric(a) && numeric(b)) ? Type::Double : Type::Dyn;
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
    return n;
  }
};

}  // namespace

std::optional<Program> compile(std::string_view text, const Origin& origin, const CompileEnv& env,
                               LangError& err, bool as_condition) {
  auto ast = parse(text, origin, err);
  if (!ast) return std::nullopt;
  Program p;
  p.text_ = std::string(text);
  if (!*ast) return p;  // empty condition: always matches
  Compiler c(origin, env, err);
  try {
    Node root = c.compile(**ast);
    if (as_condition && root.type != Type::Bool && root.type != Type::Dyn) {
      c.fail(**ast, std::string("a condition must be a bool, got ") + type_name(root.type));
    }
    auto holder = std::make_shared<Node>(std::move(root));
    p.root_ = holder;
    p.nlocals_ = c.max_locals;
  } catch (const CompileFail&) {
    return std::nullopt;
  }
  return p;
}

}  // namespace gt::gov::policy
