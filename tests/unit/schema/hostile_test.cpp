// Hostile schemas and instances: every case must end in a clear result, within a bounded amount
// of work, without a crash. Instances are built iteratively (nlohmann's copy and dump recurse;
// the validator must not, and must not call them on unbounded input).
//
// No case measures time (a loaded machine makes any wall-clock bound flaky). Work is bounded
// instead: by the validator's step budget (`limits.max_steps`, each case sets one just above the
// linear cost), and by input sizes chosen so that a super-linear algorithm could not finish at
// all (a backtracking regex engine takes ~2^100000 steps on `^(a+)+$` against 100,000 `a`s and a
// `!`; a pairwise uniqueItems check takes 4.5 * 10^10 comparisons on 300,000 items).
#include <catch2/catch.hpp>

#include "governance/schema/validator.hpp"

using nlohmann::json;
namespace gs = gt::gov::schema;

namespace {

json nested_arrays(std::size_t depth) {
  json j = 0;
  for (std::size_t i = 0; i < depth; ++i) {
    json a = json::array();
    a.push_back(std::move(j));
    j = std::move(a);
  }
  return j;
}

std::shared_ptr<const gs::Validator> must_compile(const json& schema,
                                                  const gs::Options& opts = {}) {
  auto c = gs::compile(schema, opts);
  INFO(c.error);
  REQUIRE(c.validator);
  return c.validator;
}

}  // namespace

TEST_CASE("1,000,000-deep nesting is denied by the depth limit, for any schema") {
  json deep = nested_arrays(1'000'000);
  for (const json& schema : {json::object(), json{{"items", {{"$ref", "#"}}}}, json{{"const", 1}},
                             json{{"uniqueItems", true}}, json{{"enum", json::array({1, 2})}}}) {
    INFO(schema.dump());
    auto r = must_compile(schema)->validate(deep);
    CHECK_FALSE(r.valid);
    CHECK(r.aborted);
    REQUIRE(r.violations.size() == 1);
    CHECK(r.violations[0].keyword == "limit");
    CHECK(r.violations[0].message == "instance nesting depth exceeds 128");
  }
  // The same inside an object.
  json obj = {{"args", std::move(deep)}};
  CHECK(must_compile(json{{"type", "object"}})->validate(obj).aborted);
}

TEST_CASE("1,000,000-deep schemas are rejected at compile time") {
  json deep = json::object();
  for (int i = 0; i < 1'000'000; ++i) {
    json s = json::object();
    s["not"] = std::move(deep);
    deep = std::move(s);
  }
  auto c = gs::compile(deep, {});
  CHECK_FALSE(c.validator);
  CHECK(c.error.find("nests deeper than") != std::string::npos);
}

TEST_CASE("a $ref cycle that never consumes the instance is stopped") {
  auto v = must_compile(json::parse(
      R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})"));
  auto r = v->validate(1);
  CHECK(r.aborted);
  CHECK(r.violations[0].message.find("nests deeper than") != std::string::npos);
}

TEST_CASE("10 MB strings") {
  std::string big(10u << 20, 'a');
  SECTION("validated in linear work when allowed") {
    // The validator charges one step per 64 bytes for a pattern and per 256 for a length
    // check (about 205,000 steps here): the budget is that and no more than 1.5x over.
    gs::Options o;
    o.limits.max_steps = 300'000;
    auto v =
        must_compile(json{{"type", "string"}, {"pattern", "^a+$"}, {"maxLength", 20'000'000}}, o);
    auto r = v->validate(big);
    CHECK(r.valid);
    CHECK_FALSE(r.aborted);
    // A budget under the linear cost is enforced, so the one above is a real bound.
    o.limits.max_steps = 100'000;
    auto tight =
        must_compile(json{{"type", "string"}, {"pattern", "^a+$"}, {"maxLength", 20'000'000}}, o);
    CHECK(tight->validate(big).aborted);
  }
  SECTION("denied by max_string_bytes") {
    gs::Options o;
    o.limits.max_string_bytes = 1 << 20;
    auto r = must_compile(json{{"type", "string"}}, o)->validate(big);
    CHECK(r.aborted);
    CHECK(r.violations[0].message ==
          "instance has a string of 10485760 bytes, more than the limit of 1048576");
  }
  SECTION("as a property name") {
    gs::Options o;
    o.limits.max_string_bytes = 1 << 20;
    CHECK(must_compile(json::object(), o)->validate(json{{big, 1}}).aborted);
  }
}

TEST_CASE("catastrophic-backtracking patterns run in linear time on RE2") {
  // A backtracking engine would never finish these (see the top of the file); RE2 matches in
  // time linear in the input, and the validator's own work stays within a small budget.
  gs::Options o;
  o.limits.max_steps = 10'000;
  auto v = must_compile(json{{"pattern", "^(a+)+$"}}, o);
  std::string evil(100'000, 'a');
  evil.push_back('!');
  auto r = v->validate(evil);
  CHECK_FALSE(r.valid);
  CHECK_FALSE(r.aborted);
  CHECK(r.violations[0].keyword == "pattern");
  CHECK(v->is_valid(std::string(100'000, 'a')));
  // Also as patternProperties against a long key.
  auto pp = must_compile(json{{"patternProperties", {{"^(a|aa)+$", false}}}}, o);
  CHECK(pp->is_valid(json{{evil, 1}}));
  CHECK_FALSE(pp->is_valid(json{{std::string(50'000, 'a'), 1}}));
}

TEST_CASE("huge enum and uniqueItems arrays") {
  SECTION("enum with 100,000 values is a binary search") {
    json values = json::array();
    for (int i = 0; i < 100'000; ++i)
      values.push_back("value-" + std::to_string(i));
    auto v = must_compile(json{{"enum", values}});
    CHECK(v->is_valid("value-99999"));
    CHECK_FALSE(v->is_valid("value-100000"));
    json many = json::array();
    for (int i = 0; i < 100'000; ++i)
      many.push_back("value-" + std::to_string(i));
    // The work counter proves the search, independent of the machine's speed: 100,000 items
    // against 100,000 values take about 100,000 * 17 comparisons as a binary search, and some
    // 5 * 10^9 as a linear scan, which this budget would abort.
    gs::Options budget;
    budget.limits.max_steps = 5'000'000;
    auto r = must_compile(json{{"items", {{"enum", values}}}}, budget)->validate(many);
    CHECK(r.valid);
    CHECK_FALSE(r.aborted);
  }
  SECTION("uniqueItems over 300,000 items sorts, it does not compare all pairs") {
    json arr = json::array();
    for (int i = 0; i < 300'000; ++i)
      arr.push_back(i);
    // A sort takes about 300,000 * 18 comparisons; all pairs would be 4.5 * 10^10.
    gs::Options budget;
    budget.limits.max_steps = 10'000'000;
    auto v = must_compile(json{{"uniqueItems", true}}, budget);
    CHECK(v->is_valid(arr));
    arr.push_back(150'000.0);  // equal to the integer 150000
    auto r = v->validate(arr);
    CHECK_FALSE(r.valid);
    CHECK_FALSE(r.aborted);
    CHECK(r.violations[0].message == "items 150000 and 300000 are equal; items must be unique");
  }
  SECTION("uniqueItems over 1,000,000 items ends in a clear denial") {
    json arr = json::array();
    for (int i = 0; i < 999'999; ++i)
      arr.push_back(i);
    auto r = must_compile(json{{"uniqueItems", true}})->validate(arr);
    CHECK(r.aborted);
    CHECK(r.violations[0].message == "validation exceeded the work limit of 10000000 steps");
  }
  SECTION("an enum over the limit is unsupported") {
    gs::Options o;
    o.compile_limits.max_enum_values = 10;
    json values = json::array();
    for (int i = 0; i < 11; ++i)
      values.push_back(i);
    CHECK_FALSE(gs::compile(json{{"enum", values}}, o).validator);
  }
}

TEST_CASE("the work budget stops combinatorial schemas") {
  // Nested anyOf whose branches all fail late: exponential without a budget.
  // Shared through $ref so that the schema itself stays small.
  json defs = {{"d0", {{"type", "integer"}}}};
  for (int i = 1; i <= 30; ++i) {
    json ref = {{"$ref", "#/$defs/d" + std::to_string(i - 1)}};
    defs["d" + std::to_string(i)] = json{{"anyOf", json::array({ref, ref})}};
  }
  json s = {{"$defs", defs}, {"$ref", "#/$defs/d30"}};
  gs::Options o;
  o.limits.max_steps = 100'000;
  auto v = must_compile(s, o);
  auto r = v->validate("not an integer");
  CHECK(r.aborted);
  CHECK(r.violations[0].message == "validation exceeded the work limit of 100000 steps");
}

TEST_CASE("instance size limits") {
  gs::Options o;
  o.limits.max_nodes = 1000;
  json arr = json::array();
  for (int i = 0; i < 1001; ++i)
    arr.push_back(i);
  auto r = must_compile(json::object(), o)->validate(arr);
  CHECK(r.aborted);
  CHECK(r.violations[0].message == "instance has more than 1000 values");
  o = {};
  o.limits.max_instance_bytes = 1000;
  r = must_compile(json::object(), o)
          ->validate(json::array({std::string(600, 'x'), std::string(600, 'y')}));
  CHECK(r.aborted);
}

TEST_CASE("huge messages are truncated") {
  std::string key(100'000, 'k');
  auto r = must_compile(json{{"additionalProperties", false}})->validate(json{{key, 1}});
  REQUIRE(r.violations.size() == 1);
  CHECK(r.violations[0].message.size() < 200);
  CHECK(r.violations[0].instance_pointer.size() < 300);
}
