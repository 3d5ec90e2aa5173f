// Evaluation of a compiled Program (a tree walk over Node; request data is referenced).
#include <re2/re2.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "governance/policy/program.hpp"

namespace gt::gov::policy {

namespace {

const json kTrue = true;
const json kFalse = false;

Value boolean(bool b) {
  return Value::refer(b ? kTrue : kFalse);
}

bool get_i64(const json& j, int64_t& out) {
  if (j.is_number_unsigned()) {
    auto u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(u);
    return true;
  }
  if (j.is_number_integer()) {
    out = j.get<int64_t>();
    return true;
  }
  return false;
}

Value no_overload(const char* op, const json& a, const json& b) {
  return Value::error(std::string("no such overload: `") + op + "` on " + type_name(a) + " and " +
                      type_name(b));
}
Value no_overload(const char* op, const json& a) {
  return Value::error(std::string("no such overload: `") + op + "` on " + type_name(a));
}

// Ordering for < <= > >=: numbers (across int/double), strings (bytewise), bools.
bool order(const json& a, const json& b, int& out) {
  if (a.is_number() && b.is_number()) {
    int64_t x, y;
    if (get_i64(a, x) && get_i64(b, y)) {
      out = x < y ? -1 : x > y ? 1 : 0;
      return true;
    }
    double dx = a.get<double>(), dy = b.get<double>();
    if (std::isnan(dx) || std::isnan(dy)) return false;
    out = dx < dy ? -1 : dx > dy ? 1 : 0;
    return true;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    out = c < 0 ? -1 : c > 0 ? 1 : 0;
    return true;
  }
  if (a.is_boolean() && b.is_boolean()) {
    out = static_cast<int>(a.get<bool>()) - static_cast<int>(b.get<bool>());
    return true;
  }
  return false;
}

// CEL heterogeneous equality: numbers compare by value across int/double; other types
// must match; lists and maps compare deeply.
bool equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    int c = 0;
    return order(a, b, c) && c == 0;
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!equal(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto jt = b.find(it.key());
      if (jt == b.end() || !equal(*it, *jt)) return false;
    }
    return true;
  }
  return a == b;
}

bool member_of(const json& needle, const json& hay) {
  if (hay.is_array()) {
    for (const auto& e : hay) {
      if (equal(needle, e)) return true;
    }
    return false;
  }
  // map: key membership
  return needle.is_string() && hay.contains(needle.get_ref<const std::string&>());
}

Value arith(Op op, const json& a, const json& b) {
  static const char* names[] = {"+", "-", "*", "/", "%"};
  const char* name = names[static_cast<int>(op) - static_cast<int>(Op::Add)];
  if (op == Op::Add) {
    if (a.is_string() && b.is_string()) {
      return Value::of(a.get_ref<const std::string&>() + b.get_ref<const std::string&>());
    }
    if (a.is_array() && b.is_array()) {
      json r = a;
      for (const auto& e : b)
        r.push_back(e);
      return Value::of(std::move(r));
    }
  }
  if (!a.is_number() || !b.is_number()) return no_overload(name, a, b);
  int64_t x, y;
  if (get_i64(a, x) && get_i64(b, y)) {
    int64_t r = 0;
    switch (op) {
      case Op::Add:
        if (__builtin_add_overflow(x, y, &r)) return Value::error("integer overflow in `+`");
        return Value::of(r);
      case Op::Sub:
        if (__builtin_sub_overflow(x, y, &r)) return Value::error("integer overflow in `-`");
        return Value::of(r);
      case Op::Mul:
        if (__builtin_mul_overflow(x, y, &r)) return Value::error("integer overflow in `*`");
        return Value::of(r);
      case Op::Div:
        if (y == 0) return Value::error("division by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1)
          return Value::error("integer overflow in `/`");
        return Value::of(x / y);
      case Op::Mod:
        if (y == 0) return Value::error("modulus by zero");
        if (y == -1) return Value::of(int64_t{0});
        return Value::of(x % y);
      default:
        break;
    }
  }
  // No implicit conversion between int and double, as in CEL: `1 + 1.5` has no overload.
  if (op == Op::Mod || !a.is_number_float() || !b.is_number_float()) return no_overload(name, a, b);
  double dx = a.get<double>(), dy = b.get<double>();
  switch (op) {
    case Op::Add:
      return Value::of(dx + dy);
    case Op::Sub:
      return Value::of(dx - dy);
    case Op::Mul:
      return Value::of(dx * dy);
    case Op::Div:  // IEEE 754, as in CEL: 1.0 / 0.0 is Infinity (int division by zero is an error)
      return Value::of(dx / dy);
    default:
      return no_overload(name, a, b);
  }
}

// Simple (1:1) Unicode case mapping for ASCII, Latin-1 Supplement, Latin Extended-A, Greek and
// Coptic, Cyrillic and Cyrillic Supplement (U+0000–U+052F); other code points are unchanged.
// Written by hand (ICU is not a dependency, and the C library's towlower depends on the
// process locale); checked exhaustively against Python's unicodedata 14.0 when written.
char32_t simple_lower(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c < 0x100) return c;
  if (c <= 0x17F) {
    if (c == 0x130) return 'i';
    if (c == 0x178) return 0xFF;
    if ((c <= 0x12F || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && c % 2 == 0)
      return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1) return c + 1;
    return c;
  }
  if (c >= 0x370 && c <= 0x3FF) {
    if (c == 0x370 || c == 0x372 || c == 0x376) return c + 1;
    if (c == 0x37F) return 0x3F3;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c == 0x3CF) return 0x3D7;
    if (c >= 0x3D8 && c <= 0x3EF && c % 2 == 0) return c + 1;
    if (c == 0x3F4) return 0x3B8;
    if (c == 0x3F7 || c == 0x3FA) return c + 1;
    if (c == 0x3F9) return 0x3F2;
    if (c >= 0x3FD) return c - 130;
    return c;
  }
  if (c >= 0x400 && c <= 0x52F) {
    if (c <= 0x40F) return c + 80;
    if (c <= 0x42F) return c + 32;
    if (c == 0x4C0) return 0x4CF;
    if (((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || c >= 0x4D0) && c % 2 == 0)
      return c + 1;
    if (c >= 0x4C1 && c <= 0x4CE && c % 2 == 1) return c + 1;
    return c;
  }
  return c;
}

char32_t simple_upper(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
  if (c == 0xB5) return 0x39C;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c < 0x100) return c;
  if (c <= 0x17F) {
    if (c == 0x131) return 'I';
    if (c == 0x17F) return 'S';
    if ((c <= 0x12F || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && c % 2 == 1)
      return c - 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 0) return c - 1;
    return c;
  }
  if (c == 0x345) return 0x399;
  if (c >= 0x370 && c <= 0x3FF) {
    switch (c) {
      case 0x371:
      case 0x373:
      case 0x377:
        return c - 1;
      case 0x37B:
      case 0x37C:
      case 0x37D:
        return c + 130;
      case 0x3AC:
        return 0x386;
      case 0x3C2:
        return 0x3A3;
      case 0x3CC:
        return 0x38C;
      case 0x3CD:
      case 0x3CE:
        return c - 63;
      case 0x3D0:
        return 0x392;
      case 0x3D1:
        return 0x398;
      case 0x3D5:
        return 0x3A6;
      case 0x3D6:
        return 0x3A0;
      case 0x3D7:
        return 0x3CF;
      case 0x3F0:
        return 0x39A;
      case 0x3F1:
        return 0x3A1;
      case 0x3F2:
        return 0x3F9;
      case 0x3F3:
        return 0x37F;
      case 0x3F5:
        return 0x395;
      case 0x3F8:
      case 0x3FB:
        return c - 1;
      default:
        break;
    }
    if (c >= 0x3AD && c <= 0x3AF) return c - 37;
    if (c >= 0x3B1 && c <= 0x3CB) return c - 32;
    if (c >= 0x3D9 && c <= 0x3EF && c % 2 == 1) return c - 1;
    return c;
  }
  if (c >= 0x400 && c <= 0x52F) {
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    if (c == 0x4CF) return 0x4C0;
    if (((c >= 0x461 && c <= 0x481) || (c >= 0x48B && c <= 0x4BF) || c >= 0x4D1) && c % 2 == 1)
      return c - 1;
    if (c >= 0x4C2 && c <= 0x4CE && c % 2 == 0) return c - 1;
    return c;
  }
  return c;
}

// Case-maps UTF-8 text with the tables above. Every mapped code point is below U+0800, so
// only 1- and 2-byte sequences change; longer and invalid sequences are copied unchanged.
std::string map_case(const std::string& in, bool lower) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      out += static_cast<char>(lower ? simple_lower(b) : simple_upper(b));
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF && i + 1 < in.size() &&
        (static_cast<unsigned char>(in[i + 1]) & 0xC0) == 0x80) {
      char32_t c =
          (static_cast<char32_t>(b & 0x1F) << 6) | (static_cast<unsigned char>(in[i + 1]) & 0x3F);
      char32_t m = lower ? simple_lower(c) : simple_upper(c);
      if (m < 0x80) {
        out += static_cast<char>(m);
      } else {
        out += static_cast<char>(0xC0 | (m >> 6));
        out += static_cast<char>(0x80 | (m & 0x3F));
      }
      ++i;
      continue;
    }
    out += static_cast<char>(b);
  }
  return out;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

Value child(const Value& base, const json& c) {
  return base.ref ? Value::refer(c) : Value::of(c);
}

std::string format_double(double d) {
  // NaN and the infinities as CEL writes them (langdef, JSON data conversion).
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", d);
    return buf;
  }
  return json(d).dump();
}

}  // namespace

// ---- Scope views ----------------------------------------------------------------------
const json& Scope::env() const {
  if (!env_) {
    LocalTime lt = (tz ? *tz : *TimeZone::utc()).local(now);
    int64_t unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    int y, m, d;
    int64_t days = unix >= 0 ? unix / 86400 : -((-unix + 86399) / 86400);
    civil_from_days(days, y, m, d);
    int64_t rem = unix - days * 86400;
    char iso[40], date[16], tod[16];
    std::snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
                  static_cast<int>(rem / 3600), static_cast<int>((rem % 3600) / 60),
                  static_cast<int>(rem % 60));
    std::snprintf(date, sizeof date, "%04d-%02d-%02d", lt.year, lt.month, lt.day);
    std::snprintf(tod, sizeof tod, "%02d:%02d:%02d", lt.hour, lt.minute, lt.second);
    env_ = json{{"now", unix},
                {"now_iso", iso},
                {"date", date},
                {"time_of_day", tod},
                {"hour", lt.hour},
                {"minute", lt.minute},
                {"second", lt.second},
                {"weekday", lt.weekday},
                {"day", lt.day},
                {"month", lt.month},
                {"year", lt.year},
                {"utc_offset", lt.utc_offset},
                {"timezone", tz ? tz->name() : std::string("UTC")}};
  }
  return *env_;
}

const json& Scope::roles_json() const {
  if (!roles_) roles_ = principal ? json(principal->roles) : json::array();
  return *roles_;
}

const json& Scope::principal_json() const {
  if (!principal_) {
    if (principal) {
      principal_ = json{{"id", principal->id},
                        {"tenant", principal->tenant},
                        {"roles", principal->roles},
                        {"attributes", principal->attributes},
                        {"claims", principal->claims}};
    } else {
      principal_ = json::object();
    }
  }
  return *principal_;
}

const json& Scope::tool_json() const {
  if (!tool_) {
    if (tool && tool->kind == ToolRef::Kind::Tool) {
      tool_ =
          json{{"name", tool->name}, {"server", tool->server}, {"annotations", tool->annotations}};
    } else if (tool) {  // a resource read or a prompt: `tool` names nothing
      tool_ = json{{"name", ""}, {"server", ""}, {"annotations", json::object()}};
    } else {
      tool_ = json::object();
    }
  }
  return *tool_;
}

const json& Scope::resource_json() const {
  if (!resource_) {
    resource_ = tool && tool->kind == ToolRef::Kind::Resource
                    ? json{{"uri", tool->name}, {"server", tool->server}}
                    : json::object();
  }
  return *resource_;
}

const json& Scope::prompt_json() const {
  if (!prompt_) {
    prompt_ = tool && tool->kind == ToolRef::Kind::Prompt
                  ? json{{"name", tool->name}, {"server", tool->server}}
                  : json::object();
  }
  return *prompt_;
}

// Principal/tool string fields are compared in place (no JSON copy per request).
const std::string* direct_string(const Node& n, const Scope& s) {
  switch (n.op) {
    case Op::PrincipalId:
      return s.principal ? &s.principal->id : nullptr;
    case Op::PrincipalTenant:
      return s.principal ? &s.principal->tenant : nullptr;
    case Op::ToolName:
      return s.tool && s.tool->kind == ToolRef::Kind::Tool ? &s.tool->name : nullptr;
    case Op::ToolServer:
      return s.tool && s.tool->kind == ToolRef::Kind::Tool ? &s.tool->server : nullptr;
    default:
      return nullptr;
  }
}

// ---- the evaluator ---------------------------------------------------------------------
Value eval_node(const Code& code, const Node& n, Scope& s) {
  if (--s.steps_left < 0) {
    return Value::error("evaluation exceeded " + std::to_string(kMaxEvalSteps) + " steps");
  }
  static const json kEmpty = json::object();
  static const std::string kUnknown = "not known when listing";
  switch (n.op) {
    case Op::Const:
      return Value::refer(code.k(n));
    case Op::Args:
      if (s.partial) return Value::error(kUnknown);
      return Value::refer(s.args ? *s.args : kEmpty);
    case Op::Principal:
      return Value::refer(s.principal_json());
    case Op::PrincipalId:
      return Value::of(s.principal ? s.principal->id : std::string());
    case Op::PrincipalTenant:
      return Value::of(s.principal ? s.principal->tenant : std::string());
    case Op::PrincipalRoles:
      return Value::refer(s.roles_json());
    case Op::PrincipalAttrs:
      return Value::refer(
          s.principal && s.principal->attributes.is_object() ? s.principal->attributes : kEmpty);
    case Op::PrincipalClaims:
      return Value::refer(s.principal && s.principal->claims.is_object() ? s.principal->claims
                                                                         : kEmpty);
    case Op::Tool:
      return Value::refer(s.tool_json());
    case Op::ToolName:
      return Value::of(s.tool && s.tool->kind == ToolRef::Kind::Tool ? s.tool->name
                                                                     : std::string());
    case Op::ToolServer:
      return Value::of(s.tool && s.tool->kind == ToolRef::Kind::Tool ? s.tool->server
                                                                     : std::string());
    case Op::ToolAnnotations:
      return Value::refer(s.tool && s.tool->annotations.is_object() ? s.tool->annotations : kEmpty);
    case Op::Resource:
      return Value::refer(s.resource_json());
    case Op::Prompt:
      return Value::refer(s.prompt_json());
    case Op::Env:
      if (s.partial) return Value::error(kUnknown);
      return Value::refer(s.env());
    case Op::EnvField:
      if (s.partial) return Value::error(kUnknown);
      return Value::refer(s.env()[code.field(n)]);
    case Op::Binding: {
      if (s.partial) return Value::error(kUnknown);
      if (!s.bindings || size_t{n.arg} >= s.bindings->size()) {
        return Value::error("binding is not available");
      }
      const Value& b = (*s.bindings)[size_t{n.arg}];
      if (b.is_error()) return Value::error(b.err);
      return Value::refer(b.get());
    }
    case Op::Local:
      return Value::refer(*s.locals[size_t{n.arg}]);
    case Op::Select: {
      Value b = eval_node(code, code.kid(n, 0), s);
      if (b.is_error()) return b;
      const json& j = b.get();
      if (!j.is_object())
        return Value::error("cannot select field `" + code.field(n) + "` from a " + type_name(j));
      auto it = j.find(code.field(n));
      if (it == j.end()) return Value::error("no such key `" + code.field(n) + "`");
      return child(b, *it);
    }
    case Op::Has: {
      Value b = eval_node(code, code.kid(n, 0), s);
      if (b.is_error()) return b;
      const json& j = b.get();
      if (!j.is_object())
        return Value::error("`has()` on a " + std::string(type_name(j)) + ", not a map");
      return boolean(j.contains(code.field(n)));
    }
    case Op::Index: {
      Value b = eval_node(code, code.kid(n, 0), s);
      if (b.is_error()) return b;
      Value i = eval_node(code, code.kid(n, 1), s);
      if (i.is_error()) return i;
      const json& j = b.get();
      const json& k = i.get();
      if (j.is_array()) {
        int64_t idx;
        if (!get_i64(k, idx)) return no_overload("[]", j, k);
        if (idx < 0 || static_cast<uint64_t>(idx) >= j.size()) {
          return Value::error("index " + std::to_string(idx) + " out of range (size " +
                              std::to_string(j.size()) + ")");
        }
        return child(b, j[static_cast<size_t>(idx)]);
      }
      if (j.is_object()) {
        if (!k.is_string()) return no_overload("[]", j, k);
        auto it = j.find(k.get_ref<const std::string&>());
        if (it == j.end()) return Value::error("no such key `" + k.get<std::string>() + "`");
        return child(b, *it);
      }
      return no_overload("[]", j, k);
    }
    case Op::MakeList: {
      json arr = json::array();
      for (size_t i = 0; i < n.nkids; ++i) {
        Value v = eval_node(code, code.kid(n, i), s);
        if (v.is_error()) return v;
        arr.push_back(v.get());
      }
      return Value::of(std::move(arr));
    }
    case Op::MakeMap: {
      json obj = json::object();
      for (size_t i = 0; i + 1 < n.nkids; i += 2) {
        Value k = eval_node(code, code.kid(n, i), s);
        if (k.is_error()) return k;
        if (!k.get().is_string())
          return Value::error(std::string("map keys must be strings, got ") + type_name(k.get()));
        Value v = eval_node(code, code.kid(n, i + 1), s);
        if (v.is_error()) return v;
        const auto& key = k.get().get_ref<const std::string&>();
        if (obj.contains(key)) return Value::error("repeated map key `" + key + "`");
        obj[key] = v.get();
      }
      return Value::of(std::move(obj));
    }
    case Op::Not: {
      Value v = eval_node(code, code.kid(n, 0), s);
      if (v.is_error()) return v;
      if (!v.get().is_boolean()) return no_overload("!", v.get());
      return boolean(!v.get().get<bool>());
    }
    case Op::Neg: {
      Value v = eval_node(code, code.kid(n, 0), s);
      if (v.is_error()) return v;
      int64_t i;
      if (get_i64(v.get(), i)) {
        if (i == std::numeric_limits<int64_t>::min())
          return Value::error("integer overflow in `-`");
        return Value::of(-i);
      }
      if (v.get().is_number()) return Value::of(-v.get().get<double>());
      return no_overload("-", v.get());
    }
    case Op::And:
    case Op::Or: {
      // CEL: commutative short-circuit. The deciding value (false for &&, true for ||)
      // wins over an error in any other operand; otherwise the first error (or non-bool)
      // propagates. A chain `a || b || c` is one node, evaluated in a loop: the same result,
      // in the same order, as ((a || b) || c), one step per operator.
      const bool decisive = n.op == Op::Or;
      const char* name = n.op == Op::Or ? "||" : "&&";
      Value first_bad;
      bool bad = false;
      for (size_t i = 0; i < n.nkids; ++i) {
        if (i > 1 && --s.steps_left < 0) {
          return Value::error("evaluation exceeded " + std::to_string(kMaxEvalSteps) + " steps");
        }
        Value v = eval_node(code, code.kid(n, i), s);
        bool ok = !v.is_error() && v.get().is_boolean();
        if (ok && v.get().get<bool>() == decisive) return boolean(decisive);
        if (!ok && !bad) {
          bad = true;
          first_bad = v.is_error() ? std::move(v) : no_overload(name, v.get());
        }
      }
      if (bad) return first_bad;
      return boolean(!decisive);
    }
    case Op::Cond: {
      Value c = eval_node(code, code.kid(n, 0), s);
      if (c.is_error()) return c;
      if (!c.get().is_boolean()) return no_overload("?:", c.get());
      return eval_node(code, code.kid(n, c.get().get<bool>() ? 1 : 2), s);
    }
    case Op::Eq:
    case Op::Ne: {
      const std::string* ds = direct_string(code.kid(n, 0), s);
      int other = 1;
      if (!ds) {
        ds = direct_string(code.kid(n, 1), s);
        other = 0;
      }
      if (ds) {
        --s.steps_left;
        Value o = eval_node(code, code.kid(n, static_cast<size_t>(other)), s);
        if (o.is_error()) return o;
        bool eq = o.get().is_string() && o.get().get_ref<const std::string&>() == *ds;
        return boolean(n.op == Op::Eq ? eq : !eq);
      }
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      Value b = eval_node(code, code.kid(n, 1), s);
      if (b.is_error()) return b;
      bool eq = equal(a.get(), b.get());
      return boolean(n.op == Op::Eq ? eq : !eq);
    }
    case Op::Lt:
    case Op::Le:
    case Op::Gt:
    case Op::Ge: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      Value b = eval_node(code, code.kid(n, 1), s);
      if (b.is_error()) return b;
      int c = 0;
      static const char* names[] = {"<", "<=", ">", ">="};
      if (!order(a.get(), b.get(), c)) {
        return no_overload(names[static_cast<int>(n.op) - static_cast<int>(Op::Lt)], a.get(),
                           b.get());
      }
      switch (n.op) {
        case Op::Lt:
          return boolean(c < 0);
        case Op::Le:
          return boolean(c <= 0);
        case Op::Gt:
          return boolean(c > 0);
        default:
          return boolean(c >= 0);
      }
    }
    case Op::Add:
    case Op::Sub:
    case Op::Mul:
    case Op::Div:
    case Op::Mod: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      Value b = eval_node(code, code.kid(n, 1), s);
      if (b.is_error()) return b;
      return arith(n.op, a.get(), b.get());
    }
    case Op::In:
    case Op::NotIn: {
      if (code.kid(n, 1).op == Op::PrincipalRoles) {  // `x in principal.roles`, without a JSON copy
        Value a = eval_node(code, code.kid(n, 0), s);
        if (a.is_error()) return a;
        bool in = false;
        if (a.get().is_string() && s.principal) {
          const auto& needle = a.get().get_ref<const std::string&>();
          for (const auto& role : s.principal->roles)
            in = in || role == needle;
        }
        return boolean(n.op == Op::In ? in : !in);
      }
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      Value b = eval_node(code, code.kid(n, 1), s);
      if (b.is_error()) return b;
      const json& hay = b.get();
      if (!hay.is_array() && !hay.is_object())
        return no_overload(n.op == Op::In ? "in" : "not in", a.get(), hay);
      bool in = member_of(a.get(), hay);
      return boolean(n.op == Op::In ? in : !in);
    }
    case Op::Contains:
    case Op::StartsWith:
    case Op::EndsWith: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      Value b = eval_node(code, code.kid(n, 1), s);
      if (b.is_error()) return b;
      const json& x = a.get();
      const json& y = b.get();
      const char* name = n.op == Op::Contains     ? "contains"
                         : n.op == Op::StartsWith ? "startsWith"
                                                  : "endsWith";
      if (x.is_string() && y.is_string()) {
        const auto& hs = x.get_ref<const std::string&>();
        const auto& ns = y.get_ref<const std::string&>();
        if (n.op == Op::Contains) return boolean(hs.find(ns) != std::string::npos);
        if (n.op == Op::StartsWith)
          return boolean(hs.size() >= ns.size() && hs.compare(0, ns.size(), ns) == 0);
        return boolean(hs.size() >= ns.size() &&
                       hs.compare(hs.size() - ns.size(), ns.size(), ns) == 0);
      }
      if (n.op == Op::Contains && (x.is_array() || x.is_object())) return boolean(member_of(y, x));
      return no_overload(name, x, y);
    }
    case Op::Matches: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      if (!a.get().is_string()) return no_overload("matches", a.get());
      return boolean(
          RE2::PartialMatch(a.get().get_ref<const std::string&>(), *code.regexes[n.arg]));
    }
    case Op::Size: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      const json& x = a.get();
      if (x.is_string())
        return Value::of(static_cast<int64_t>(utf8_length(x.get_ref<const std::string&>())));
      if (x.is_array() || x.is_object()) return Value::of(static_cast<int64_t>(x.size()));
      return no_overload("size", x);
    }
    case Op::Lower:
    case Op::Upper: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      if (!a.get().is_string()) return no_overload(n.op == Op::Lower ? "lower" : "upper", a.get());
      return Value::of(map_case(a.get().get_ref<const std::string&>(), n.op == Op::Lower));
    }
    case Op::ToInt: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      const json& x = a.get();
      int64_t i;
      if (get_i64(x, i)) return Value::of(i);
      if (x.is_number_float()) {
        double d = x.get<double>();
        // CEL's range for this conversion is open at both ends: -2^63 and 2^63 as doubles are
        // errors (cel-spec conversions.textproto, double_int_min_range/double_int_max_range).
        if (!std::isfinite(d) || d >= 9.223372036854775808e18 || d <= -9.223372036854775808e18) {
          return Value::error("int() of " + format_double(d) + " is out of range");
        }
        return Value::of(static_cast<int64_t>(d));
      }
      if (x.is_string()) {
        const auto& str = x.get_ref<const std::string&>();
        auto r = std::from_chars(str.data(), str.data() + str.size(), i);
        if (r.ec != std::errc() || r.ptr != str.data() + str.size() || str.empty()) {
          return Value::error("int() cannot convert `" + str + "`");
        }
        return Value::of(i);
      }
      if (x.is_number_unsigned()) return Value::error("int() of " + x.dump() + " is out of range");
      return no_overload("int", x);
    }
    case Op::ToDouble: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      const json& x = a.get();
      if (x.is_number()) return Value::of(x.get<double>());
      if (x.is_string()) {
        const auto& str = x.get_ref<const std::string&>();
        double d = 0;
        auto r = std::from_chars(str.data(), str.data() + str.size(), d);
        if (r.ec != std::errc() || r.ptr != str.data() + str.size() || str.empty()) {
          return Value::error("double() cannot convert `" + str + "`");
        }
        return Value::of(d);
      }
      return no_overload("double", x);
    }
    case Op::ToString: {
      Value a = eval_node(code, code.kid(n, 0), s);
      if (a.is_error()) return a;
      const json& x = a.get();
      if (x.is_string()) return a;
      if (x.is_boolean()) return Value::of(std::string(x.get<bool>() ? "true" : "false"));
      if (x.is_number_float()) return Value::of(format_double(x.get<double>()));
      if (x.is_number()) return Value::of(x.dump());
      return no_overload("string", x);
    }
    case Op::Exists:
    case Op::All:
    case Op::ExistsOne: {
      Value t = eval_node(code, code.kid(n, 0), s);
      if (t.is_error()) return t;
      const json& coll = t.get();
      const char* name = n.op == Op::Exists ? "exists" : n.op == Op::All ? "all" : "exists_one";
      if (!coll.is_array() && !coll.is_object()) return no_overload(name, coll);
      if (s.locals.size() <= size_t{n.arg}) s.locals.resize(size_t{n.arg} + 1);
      std::string first_error;
      int64_t count = 0;
      auto visit = [&](const json& item) -> int {  // 1 = stop with decisive result
        s.locals[size_t{n.arg}] = &item;
        Value r = eval_node(code, code.kid(n, 1), s);
        if (r.is_error() || !r.get().is_boolean()) {
          if (n.op == Op::ExistsOne) {
            first_error =
                r.is_error() ? r.err : "no such overload: `exists_one` condition is not a bool";
            return 1;
          }
          if (first_error.empty())
            first_error = r.is_error() ? r.err
                                       : std::string("no such overload: `") + name +
                                             "` condition is not a bool";
          return s.steps_left < 0 ? 1 : 0;
        }
        bool b = r.get().get<bool>();
        if (n.op == Op::Exists && b) return 1;
        if (n.op == Op::All && !b) return 1;
        if (n.op == Op::ExistsOne && b) ++count;
        return 0;
      };
      bool stopped = false;
      if (coll.is_array()) {
        for (const auto& item : coll) {
          if (visit(item)) {
            stopped = true;
            break;
          }
        }
      } else {
        for (auto it = coll.begin(); it != coll.end(); ++it) {
          json key = it.key();
          if (visit(key)) {
            stopped = true;
            break;
          }
        }
      }
      if (n.op == Op::ExistsOne) {
        if (!first_error.empty()) return Value::error(first_error);
        return boolean(count == 1);
      }
      if (s.steps_left < 0)
        return Value::error("evaluation exceeded " + std::to_string(kMaxEvalSteps) + " steps");
      if (stopped) return boolean(n.op == Op::Exists);
      if (!first_error.empty()) return Value::error(first_error);
      return boolean(n.op == Op::All);
    }
  }
  return Value::error("unsupported operation");
}

Value Program::eval(Scope& scope) const {
  if (!code_) return boolean(true);
  if (scope.locals.size() < static_cast<size_t>(nlocals_))
    scope.locals.resize(static_cast<size_t>(nlocals_));
  return eval_node(*code_, code_->nodes[root_], scope);
}

std::optional<bool> Program::test(Scope& scope, std::string& error) const {
  if (!code_) return true;
  Value v = eval(scope);
  if (v.is_error()) {
    error = v.err;
    return std::nullopt;
  }
  if (!v.get().is_boolean()) {
    error = std::string("condition evaluated to a ") + type_name(v.get()) + ", not a bool";
    return std::nullopt;
  }
  return v.get().get<bool>();
}

}  // namespace gt::gov::policy
