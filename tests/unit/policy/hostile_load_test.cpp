// Loading hostile policy and test files: no input may crash the loader or the hot-reload
// thread, or make it use memory or recursion out of proportion to the file.
//
// Memory is measured by counting this binary's heap allocations (operator new is replaced
// below for all of policy_tests; libyaml's own small buffers are not counted).
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <new>

#include "governance/policy/pnode.hpp"
#include "governance/policy/store.hpp"
#include "governance/policy/testing.hpp"
#include "helpers.hpp"

namespace {

std::atomic<long long> g_heap{0};
std::atomic<long long> g_peak{0};

void note_alloc(void* p) {
  long long now = g_heap.fetch_add(static_cast<long long>(malloc_usable_size(p))) +
                  static_cast<long long>(malloc_usable_size(p));
  long long peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

}  // namespace

// GCC cannot see that these two replacements pair malloc with free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  note_alloc(p);
  return p;
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  void* p = std::malloc(n ? n : 1);
  if (p) note_alloc(p);
  return p;
}
void operator delete(void* p) noexcept {
  if (!p) return;
  g_heap.fetch_sub(static_cast<long long>(malloc_usable_size(p)));
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  operator delete(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  operator delete(p);
}
// The array forms too, so that every allocation and its release go through the same pair
// (ASan checks that they match).
void* operator new[](size_t n) {
  return operator new(n);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept {
  return operator new(n, t);
}
void operator delete[](void* p) noexcept {
  operator delete(p);
}
void operator delete[](void* p, size_t) noexcept {
  operator delete(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  operator delete(p);
}
#pragma GCC diagnostic pop

using namespace gt::gov::policy;
using gt_test::json;
using gt_test::TempDir;

namespace {

// Peak heap growth (bytes) while `f` runs.
template <typename F>
long long peak_growth(F&& f) {
  long long base = g_heap.load();
  g_peak.store(base);
  f();
  return g_peak.load() - base;
}

std::string repeat(const std::string& s, size_t times) {
  std::string out;
  out.reserve(s.size() * times);
  for (size_t i = 0; i < times; ++i)
    out += s;
  return out;
}

// A policy file whose one deny rule has `condition` (a double-quoted YAML scalar).
std::string policy_with(const std::string& condition) {
  return "policy_id: big\ntools: [t]\nrules:\n  deny:\n    - id: d\n      condition: \"" +
         condition + "\"\n  allow:\n    - {id: a, condition: 'true'}\n";
}

Result call(const PolicySet& set, const json& args) {
  gt::gov::Principal p;
  gt::gov::ToolRef t{"srv", "t", json::object()};
  return evaluate(Request{p, t, args, gt_test::at(0)}, set);
}

LoadReport load_one(const TempDir& d, const std::string& text, SetOptions o = {}) {
  d.write("big.yaml", text);
  return load_policy_dir(d.path, o);
}

std::string first_error(const LoadReport& r) {
  return r.errors.empty() ? std::string() : r.errors.front().str();
}

}  // namespace

TEST_CASE("a 1 MB chain of || loads, evaluates, and costs a few times its size",
          "[hostile][memory]") {
  // 40 bytes an operand: 25,000 operands, about 1,000,000 bytes in all.
  std::string cond = repeat("args.a == 1 || args.b == 'xyzxyzxy' || ", 25'400) + "args.a == 7";
  REQUIRE(cond.size() > 990'000);
  TempDir d;
  LoadReport rep;
  std::string file = policy_with(cond);
  long long grew = peak_growth([&] { rep = load_one(d, file); });
  INFO(first_error(rep));
  REQUIRE(rep.set);
  CHECK(call(*rep.set, {{"a", 7}, {"b", ""}}).effect == Effect::Deny);
  CHECK(call(*rep.set, {{"a", 2}, {"b", ""}}).effect == Effect::Allow);
  CHECK(call(*rep.set, {{"a", 2}, {"b", "xyzxyzxy"}}).effect == Effect::Deny);
  // The old loader kept every token and a two-child node per operator: about 36× the file.
  WARN("|| chain: peak heap " << grew << " bytes for a " << file.size() << "-byte file");
  CHECK(grew < static_cast<long long>(file.size()) * 10);
}

TEST_CASE("long && chains, long lists and maps of literals load in little memory",
          "[hostile][memory]") {
  struct Shape {
    const char* name;
    std::string cond;
    json args;
    Effect want;
  };
  std::vector<Shape> shapes = {
      {"&& chain", repeat("has(args.a) && ", 60'000) + "args.a == 1", {{"a", 1}}, Effect::Deny},
      {"list of ints", "args.a in [" + repeat("12,", 300'000) + "1]", {{"a", 1}}, Effect::Deny},
      {"list of strings",
       "args.s in [" + repeat("'abcdef',", 100'000) + "'z']",
       {{"s", "abcdef"}},
       Effect::Deny},
      {"map of literals", "", json::object(), Effect::Deny},
  };
  for (int i = 0; i < 60'000; ++i)
    shapes.back().cond += "'k" + std::to_string(i) + "': 1, ";
  shapes.back().cond = "has({" + shapes.back().cond + "'z': 2}.z)";
  for (const auto& s : shapes) {
    TempDir d;
    LoadReport rep;
    std::string file = policy_with(s.cond);
    long long grew = peak_growth([&] { rep = load_one(d, file); });
    INFO(s.name << ": " << first_error(rep));
    REQUIRE(rep.set);
    CHECK(call(*rep.set, s.args).effect == s.want);
    WARN(s.name << ": peak heap " << grew << " bytes for a " << file.size() << "-byte file");
    CHECK(grew < static_cast<long long>(file.size()) * 24);
  }
}

TEST_CASE("chains of other operators are refused at file:line:col, however long",
          "[hostile][errors]") {
  // Each `+` adds a level: the 96th is refused, never a stack overflow.
  std::string plus = repeat("1 + ", 200'000) + "1 == 2";
  CHECK(gt_test::compile_error(plus) ==
        "p.yaml:3:398: parse error: expression nests deeper than 96 levels");
  for (const std::string& cond :
       {repeat("args.a == ", 100'000) + "1", repeat("args.a < ", 100'000) + "1",
        "args" + repeat(".a", 100'000) + " == 1", repeat("-", 100'000) + "args.a == 1",
        repeat("!", 100'000) + "true", repeat("(", 100'000) + "true" + repeat(")", 100'000),
        repeat("[", 100'000) + repeat("]", 100'000) + " == []",
        repeat("args.a ? 1 : ", 100'000) + "2 == 1",
        // A `.field` chain may restart inside parentheses: the tree's height still counts.
        "(args" + repeat(".a", 90) + ")" + repeat(".a", 90) + " == 1"}) {
    std::string e = gt_test::compile_error(cond);
    INFO(cond.substr(0, 60));
    CHECK(e.rfind("p.yaml:", 0) == 0);
    CHECK(e.find("parse error: expression nests deeper than 96 levels") != std::string::npos);
  }
  // In a file, the error names the file, the line and the column.
  TempDir d;
  auto rep = load_one(d, policy_with(plus));
  REQUIRE_FALSE(rep.set);
  CHECK(first_error(rep) == "big.yaml:6:401: parse error: expression nests deeper than 96 levels");
  // At the limit itself, chains still load.
  CHECK(gt_test::compile_error(repeat("1 + ", 94) + "1 == 2").empty());
}

TEST_CASE("|| and && chains keep CEL's error rules", "[hostile][language]") {
  using gt_test::run_expr;
  json args = {{"a", 1}};
  CHECK(run_expr("args.x || args.y || true", args) == json(true));
  CHECK(run_expr("args.x || false || false", args)["error"] == "no such key `x`");
  CHECK(run_expr("false || args.a || args.x", args)["error"] == "no such overload: `||` on int");
  CHECK(run_expr("true && args.x && false", args) == json(false));
  CHECK(run_expr("true && true && args.x", args)["error"] == "no such key `x`");
  CHECK(run_expr("true && true && true", args) == json(true));
  CHECK(run_expr("false || false || false", args) == json(false));
  CHECK(gt_test::compile_error("true || 1 || false") ==
        "p.yaml:3:24: type error: `||` needs bool operands, got int");
}

TEST_CASE("policy files over max_file_bytes are refused unread", "[hostile][size]") {
  TempDir d;
  std::string big = policy_with("true || " + repeat("true || ", 140'000) + "true");
  REQUIRE(big.size() > kDefaultMaxYamlBytes);
  auto rep = load_one(d, big);
  REQUIRE_FALSE(rep.set);
  CHECK(first_error(rep) == "big.yaml: cannot read file: the file is " +
                                std::to_string(big.size()) +
                                " bytes, over the limit of 1048576 bytes (max_file_bytes)");
  SetOptions o;
  o.max_file_bytes = 2 << 20;
  CHECK(load_one(d, big, o).set);
  // Test files are read under the same limit.
  d.write("big_test.yaml", "tests: []\n#" + std::string(kDefaultMaxYamlBytes, 'x') + "\n");
  auto tr = run_policy_tests(d.path, o);
  CHECK(tr.errors.empty());
  tr = run_policy_tests(d.path, {});
  REQUIRE_FALSE(tr.errors.empty());
  CHECK(tr.errors.front().str().find("big_test.yaml: cannot read file: the file is") == 0);
}

namespace {

// "Billion laughs": nine levels of ten aliases each expand to 10^9 strings.
std::string laughs(const std::string& under) {
  std::string y = under + ":\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    std::string p = "*l" + std::to_string(i - 1);
    y += "  l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + p;
    for (int k = 1; k < 10; ++k)
      y += ", " + p;
    y += "]\n";
  }
  return y;
}

}  // namespace

TEST_CASE("alias bombs are refused in policy and test files", "[hostile][yaml]") {
  TempDir d;
  d.write("p.yaml", "policy_id: p\ntools: [t]\nrules: {allow: [{id: a, condition: 'true'}]}\n" +
                        laughs("metadata"));
  auto rep = load_policy_dir(d.path, {});
  REQUIRE_FALSE(rep.set);
  CHECK(first_error(rep).find("p.yaml:8:") == 0);
  CHECK(first_error(rep).find("aliases expand the document too much") != std::string::npos);

  // One long string aliased many times: few nodes, many bytes.
  std::string bytes_bomb =
      "policy_id: p\ntools: [t]\nrules: {allow: [{id: a, condition: 'true'}]}\n"
      "metadata:\n  s: &s '" +
      std::string(100'000, 'x') + "'\n  l: [" + repeat("*s, ", 10'000) + "*s]\n";
  d.write("p.yaml", bytes_bomb);
  rep = load_policy_dir(d.path, {});
  REQUIRE_FALSE(rep.set);
  CHECK(first_error(rep).find("aliases expand the document too much") != std::string::npos);

  // A nested alias may not nest deeper than a document may.
  std::string deep =
      "policy_id: p\ntools: [t]\nrules: {allow: [{id: a, condition: 'true'}]}\n"
      "metadata:\n  a: &a " +
      repeat("[", 110) + repeat("]", 110) + "\n  b: " + repeat("[", 25) + "*a" + repeat("]", 25) +
      "\n";
  d.write("p.yaml", deep);
  rep = load_policy_dir(d.path, {});
  REQUIRE_FALSE(rep.set);
  CHECK(first_error(rep).find("nesting deeper than 128 levels (alias `a` expanded)") !=
        std::string::npos);

  // A few aliases, as people write them, are fine.
  d.write("p.yaml",
          "policy_id: p\ntools: &t [t, u]\nrules: {allow: [{id: a, condition: 'true'}]}\n"
          "metadata: {same: *t, again: *t}\n");
  CHECK(load_policy_dir(d.path, {}).set);

  d.write("p_test.yaml", "tests: []\n" + laughs("bomb"));
  auto tr = run_policy_tests(d.path, {});
  REQUIRE_FALSE(tr.errors.empty());
  CHECK(tr.errors.front().str().find("p_test.yaml:") == 0);
  CHECK(tr.errors.front().message.find("aliases expand the document too much") !=
        std::string::npos);
}

TEST_CASE("the YAML checker bounds every document the same way", "[hostile][yaml]") {
  YamlError e;
  CHECK(check_yaml("a: [1, 2, {b: c}]\n", YamlLimits{}, e));
  CHECK_FALSE(check_yaml(laughs("x"), YamlLimits{}, e));
  CHECK(e.line == 5);
  CHECK(e.message.find("aliases expand the document too much") != std::string::npos);
  // Policy files (parse_pnode) count with the same budget: the same verdict, the same place.
  PNode root;
  PNodeError pe;
  CHECK_FALSE(parse_pnode(laughs("x"), root, pe));
  CHECK(pe.message == e.message);
  CHECK(pe.line == e.line);
  CHECK(pe.column == e.column);
  CHECK_FALSE(check_yaml(repeat("[", 129) + repeat("]", 129), YamlLimits{}, e));
  CHECK(e.message == "nesting deeper than 128 levels");
  CHECK(e.column == 129);
  CHECK_FALSE(check_yaml("a: &a [*a]\n", YamlLimits{}, e));  // a cycle
  CHECK(e.message == "alias `a` refers to a node that contains it");
  // The same cycle through a redefined anchor (found by config_yaml_fuzz: yaml-cpp builds a
  // cyclic node, and the config's YAML-to-JSON conversion recursed until the stack ran out).
  CHECK_FALSE(check_yaml("a: &x [1]\nb: &x [*x, *x]\n", YamlLimits{}, e));
  CHECK(e.message == "alias `x` refers to a node that contains it");
  CHECK(e.line == 2);
  CHECK(e.column == 8);
  CHECK_FALSE(check_yaml("a: *nope\n", YamlLimits{}, e));
  CHECK(e.message == "unknown alias `nope`");
  CHECK_FALSE(check_yaml("a: [", YamlLimits{}, e));
  CHECK(e.line >= 1);
  YamlLimits small;
  small.max_bytes = 10;
  CHECK_FALSE(check_yaml("a: [1, 2, 3, 4]", small, e));
  CHECK(e.message == "the document is 15 bytes, over the limit of 10 bytes");
}

TEST_CASE("a mapping with many keys loads in linear time, duplicates still refused",
          "[hostile][yaml]") {
  std::string many = "m:\n";
  for (int i = 0; i < 75'000; ++i)
    many += "  k" + std::to_string(i) + ": 1\n";
  PNode root;
  PNodeError pe;
  REQUIRE(parse_pnode(many, root, pe));  // quadratic key checks took minutes here
  CHECK(root["m"].size() == 75'000);
  CHECK_FALSE(parse_pnode("m: {a: 1, b: 2, a: 3, b: 4}\n", root, pe));
  CHECK(pe.message == "duplicate key `a`");
  CHECK(pe.line == 1);
  CHECK(pe.column == 17);
}

TEST_CASE("a symlink loop is the same clear error in check and test", "[hostile][fs]") {
  TempDir d;
  d.write("p.yaml", "policy_id: p\ntools: [t]\nrules: {allow: [{id: a, condition: 'true'}]}\n");
  d.write("p_test.yaml", "tests: [{tool: t, expect: allow}]\n");
  REQUIRE(run_policy_tests(d.path, {}).ok());
  REQUIRE(::symlink("loop_test.yaml", (d.path / "loop_test.yaml").c_str()) == 0);
  TestReport tr;
  REQUIRE_NOTHROW(tr = run_policy_tests(d.path, {}));  // was an uncaught filesystem_error
  REQUIRE(tr.errors.size() == 1);
  CHECK(tr.errors[0].message == "cannot read `loop_test.yaml`: Too many levels of symbolic links");
  CHECK(load_policy_dir(d.path, {}).set);  // not a policy file: check ignores it, as before
  std::filesystem::remove(d.path / "loop_test.yaml");

  REQUIRE(::symlink("loop.yaml", (d.path / "loop.yaml").c_str()) == 0);
  auto rep = load_policy_dir(d.path, {});
  REQUIRE_FALSE(rep.set);
  REQUIRE(rep.errors.size() == 1);
  CHECK(rep.errors[0].message == "cannot read `loop.yaml`: Too many levels of symbolic links");
  tr = run_policy_tests(d.path, {});
  REQUIRE(tr.errors.size() == 1);
  CHECK(tr.errors[0].message == rep.errors[0].message);  // the same listing, the same error
}

TEST_CASE("a hot reload of a hostile file keeps the last good set", "[hostile][store]") {
  TempDir d;
  const std::string good =
      "policy_id: p\nversion: '1'\ntools: [t]\nrules: {allow: [{id: ok, condition: 'true'}]}\n";
  d.write("p.yaml", good);
  PolicyStore store(d.path, {});
  REQUIRE(store.reload());
  struct Hostile {
    const char* name;
    std::string text;
    std::string error;
  };
  std::vector<Hostile> files = {
      {"a long + chain", policy_with(repeat("1 + ", 200'000) + "1 == 2"),
       "nests deeper than 96 levels"},
      {"deep parentheses", policy_with(repeat("(", 200'000) + "true" + repeat(")", 200'000)),
       "nests deeper than 96 levels"},
      {"an alias bomb", good + laughs("metadata"), "aliases expand the document too much"},
      {"a file over the size limit", good + "#" + std::string(kDefaultMaxYamlBytes, 'x'),
       "over the limit of 1048576 bytes"},
  };
  for (const auto& h : files) {
    INFO(h.name);
    d.write("p.yaml", h.text);
    CHECK_FALSE(store.reload());
    CHECK(store.status().last_error.find(h.error) != std::string::npos);
    auto set = store.current();
    REQUIRE(set);
    CHECK(call(*set, json::object()).rule_id == "ok");  // the last good version
  }
  d.write("p.yaml", good);
  REQUIRE(::symlink("loop.yaml", (d.path / "loop.yaml").c_str()) == 0);
  CHECK_FALSE(store.reload());
  CHECK(store.status().last_error.find("Too many levels of symbolic links") != std::string::npos);
  REQUIRE(store.current());
}
