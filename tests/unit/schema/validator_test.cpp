// gt::gov::schema: keywords, dialects, references, messages and options. The official
// test suite (tests/conformance/json_schema_suite.cpp) covers the keyword semantics in
// depth; these tests pin GlassTape's own choices: messages, pointers, fail-closed cases.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "governance/schema/validator.hpp"

using nlohmann::json;
namespace gs = gt::gov::schema;

namespace {

std::shared_ptr<const gs::Validator> must_compile(const json& schema,
                                                  const gs::Options& opts = {}) {
  auto c = gs::compile(schema, opts);
  INFO("compile error: " << c.error);
  REQUIRE(c.error.empty());
  REQUIRE(c.validator);
  return c.validator;
}

const json kTool = json::parse(R"({
  "type": "object",
  "properties": {
    "path": {"type": "string", "minLength": 1, "pattern": "^/"},
    "mode": {"enum": ["read", "write"]},
    "count": {"type": "integer", "minimum": 1, "maximum": 10},
    "options": {
      "type": "object",
      "properties": {"recursive": {"type": "boolean"}},
      "additionalProperties": false
    }
  },
  "required": ["path"],
  "additionalProperties": false
})");

}  // namespace

TEST_CASE("a typical tool schema accepts good arguments and lists every violation") {
  auto v = must_compile(kTool);
  CHECK(v->dialect() == "2020-12");
  SECTION("valid") {
    auto r = v->validate(json{
        {"path", "/tmp/a"}, {"mode", "read"}, {"count", 3}, {"options", {{"recursive", true}}}});
    CHECK(r.valid);
    CHECK_FALSE(r.aborted);
    CHECK(r.violations.empty());
  }
  SECTION("every violation has a pointer, a keyword and a message") {
    auto r = v->validate(json{{"mode", "delete"},
                              {"count", 11},
                              {"options", {{"recursive", "yes"}, {"x", 1}}},
                              {"extra", 1}});
    REQUIRE_FALSE(r.valid);
    CHECK_FALSE(r.aborted);
    std::set<std::string> seen;
    for (const auto& viol : r.violations)
      seen.insert(viol.instance_pointer + " " + viol.keyword);
    CHECK(seen == std::set<std::string>{
                      " required", "/mode enum", "/count maximum", "/options/recursive type",
                      "/options/x additionalProperties", "/extra additionalProperties"});
    for (const auto& viol : r.violations) {
      CHECK_FALSE(viol.message.empty());
      CHECK(viol.schema_pointer.rfind("#", 0) == 0);
    }
  }
  SECTION("messages are exact and put user input in backticks") {
    auto r = v->validate(json{{"path", 5}});
    REQUIRE(r.violations.size() == 1);
    CHECK(r.violations[0].instance_pointer == "/path");
    CHECK(r.violations[0].keyword == "type");
    CHECK(r.violations[0].schema_pointer == "#/properties/path/type");
    CHECK(r.violations[0].message == "expected string, got integer");
    r = v->validate(json::object());
    REQUIRE(r.violations.size() == 1);
    CHECK(r.violations[0].message == "missing required property `path`");
    r = v->validate(json{{"path", "relative"}});
    REQUIRE(r.violations.size() == 1);
    CHECK(r.violations[0].message == "must match the pattern `^/`");
    CHECK(gs::summarize(r) == "`/path` pattern: must match the pattern `^/`");
  }
  SECTION("is_valid agrees") {
    CHECK(v->is_valid(json{{"path", "/x"}}));
    CHECK_FALSE(v->is_valid(json{{"path", "x"}}));
  }
}

TEST_CASE("dialects: 2020-12 by default, draft-07 when $schema names it") {
  json tuple = {{"items", json::array({json{{"type", "string"}}})}, {"additionalItems", false}};
  SECTION("draft-07 array items are a tuple") {
    json s = tuple;
    s["$schema"] = "http://json-schema.org/draft-07/schema#";
    auto v = must_compile(s);
    CHECK(v->dialect() == "draft-07");
    CHECK(v->is_valid(json::array({"a"})));
    CHECK_FALSE(v->is_valid(json::array({"a", "b"})));
    CHECK_FALSE(v->is_valid(json::array({1})));
  }
  SECTION("an array `items` is invalid 2020-12, so the schema is unsupported") {
    auto c = gs::compile(tuple, {});
    CHECK_FALSE(c.validator);
    CHECK(c.error.find("`items`") != std::string::npos);
  }
  SECTION("draft-07 ignores siblings of $ref, 2020-12 applies them") {
    json s = {{"definitions", {{"s", {{"type", "string"}}}}},
              {"$ref", "#/definitions/s"},
              {"maxLength", 2}};
    CHECK_FALSE(must_compile(s)->is_valid("abc"));
    s["$schema"] = "http://json-schema.org/draft-07/schema#";
    CHECK(must_compile(s)->is_valid("abc"));
  }
  SECTION("an unknown $schema is unsupported") {
    auto c = gs::compile(json{{"$schema", "http://json-schema.org/draft-04/schema#"}}, {});
    CHECK(c.error.find("unsupported `$schema`") != std::string::npos);
  }
  SECTION("default_dialect option") {
    gs::Options o;
    o.default_dialect = "draft-07";
    CHECK(must_compile(tuple, o)->dialect() == "draft-07");
  }
}

TEST_CASE("references are never fetched") {
  SECTION("a network $ref makes the schema unsupported") {
    auto c = gs::compile(json{{"$ref", "https://example.com/schema.json"}}, {});
    CHECK_FALSE(c.validator);
    CHECK(c.error.find("never fetched") != std::string::npos);
  }
  SECTION("unless the document is in the local store") {
    auto store = std::make_shared<gs::SchemaStore>();
    store->add("https://example.com/schema.json", json{{"type", "integer"}});
    gs::Options o;
    o.store = store;
    auto v = must_compile(json{{"$ref", "https://example.com/schema.json"}}, o);
    CHECK(v->is_valid(3));
    CHECK_FALSE(v->is_valid("3"));
  }
  SECTION("schema_dir is read by $id") {
    auto dir = std::filesystem::temp_directory_path() / "gt_schema_dir_test";
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "pos.json")
        << R"({"$id": "urn:example:positive", "type": "number", "exclusiveMinimum": 0})";
    gs::Options o;
    o.schema_dir = dir;
    auto v = must_compile(json{{"$ref", "urn:example:positive"}}, o);
    CHECK(v->is_valid(1));
    CHECK_FALSE(v->is_valid(0));
    std::filesystem::remove_all(dir);
  }
  SECTION("an unknown local pointer or anchor is an error") {
    CHECK_FALSE(gs::compile(json{{"$ref", "#/$defs/missing"}}, {}).validator);
    CHECK_FALSE(gs::compile(json{{"$ref", "#nope"}}, {}).validator);
  }
  SECTION("recursive schemas work") {
    json tree = json::parse(
        R"({"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}}})");
    auto v = must_compile(tree);
    CHECK(v->is_valid(json::parse(R"({"kids":[{"kids":[]},{}]})")));
    CHECK_FALSE(v->is_valid(json::parse(R"({"kids":[{"kids":[1]}]})")));
  }
}

TEST_CASE("regexes run on RE2; what it cannot take is unsupported, never a fallback") {
  CHECK(must_compile(json{{"pattern", "^\\d{3}-\\w+$"}})->is_valid("123-abc"));
  CHECK(must_compile(json{{"pattern", "^\\p{Letter}+$"}})->is_valid("\xcf\x80"));  // pi
  for (const char* bad : {"(?=a)b", "(a)\\1", "a(?<!b)", "\\k<x>", "\\C", "\\A"}) {
    INFO(bad);
    auto c = gs::compile(json{{"pattern", bad}}, {});
    CHECK_FALSE(c.validator);
    CHECK(c.error.find("unsupported regex") != std::string::npos);
  }
  // The same applies to patternProperties.
  CHECK_FALSE(gs::compile(json{{"patternProperties", {{"(?!x)", true}}}}, {}).validator);
}

TEST_CASE("format is an annotation unless format_assertion is on") {
  json s = {{"format", "date-time"}};
  CHECK(must_compile(s)->is_valid("yesterday"));
  gs::Options o;
  o.format_assertion = true;
  auto v = must_compile(s, o);
  CHECK(v->is_valid("2025-11-25T10:00:00Z"));
  auto r = v->validate("yesterday");
  REQUIRE_FALSE(r.valid);
  CHECK(r.violations[0].keyword == "format");
  CHECK(r.violations[0].message == "must be a valid `date-time`");
  // Unknown formats stay annotations.
  CHECK(must_compile(json{{"format", "color"}}, o)->is_valid("nope"));
}

TEST_CASE("const and enum use JSON equality") {
  auto v =
      must_compile(json{{"enum", json::array({1, "a", json::array({1, 2}), json{{"k", 1.0}}})}});
  CHECK(v->is_valid(1.0));
  CHECK(v->is_valid(json{{"k", 1}}));
  CHECK(v->is_valid(json::array({1.0, 2})));
  CHECK_FALSE(v->is_valid(true));
  CHECK_FALSE(v->is_valid(json::array({2, 1})));
  auto c = must_compile(json{{"const", false}});
  CHECK_FALSE(c->is_valid(0));
  CHECK(c->is_valid(false));
}

TEST_CASE("unevaluatedProperties sees through allOf, $ref and if/then") {
  json s = json::parse(R"({
    "$defs": {"base": {"properties": {"a": true}}},
    "allOf": [{"$ref": "#/$defs/base"}],
    "if": {"properties": {"kind": {"const": "x"}}, "required": ["kind"]},
    "then": {"properties": {"x": true}},
    "properties": {"kind": true},
    "unevaluatedProperties": false
  })");
  auto v = must_compile(s);
  CHECK(v->is_valid(json{{"a", 1}, {"kind", "x"}, {"x", 2}}));
  CHECK_FALSE(v->is_valid(json{{"a", 1}, {"kind", "y"}, {"x", 2}}));
  auto r = v->validate(json{{"b", 1}});
  REQUIRE(r.violations.size() == 1);
  CHECK(r.violations[0].instance_pointer == "/b");
  CHECK(r.violations[0].keyword == "unevaluatedProperties");
}

TEST_CASE("invalid schemas are reported, not guessed") {
  CHECK(gs::compile(json{{"minLength", -1}}, {}).error.find("`minLength`") != std::string::npos);
  CHECK(gs::compile(json{{"type", "strnig"}}, {}).error.find("unknown type") != std::string::npos);
  CHECK(gs::compile(json{{"multipleOf", 0}}, {}).error.find("`multipleOf`") != std::string::npos);
  CHECK_FALSE(gs::compile(json{{"properties", {{"a", 3}}}}, {}).validator);
  CHECK_FALSE(gs::compile(json(42), {}).validator);
}

TEST_CASE("pointers escape ~ and /") {
  auto v = must_compile(json{{"additionalProperties", false}});
  auto r = v->validate(json{{"a/b~c", 1}});
  REQUIRE(r.violations.size() == 1);
  CHECK(r.violations[0].instance_pointer == "/a~1b~0c");
}

TEST_CASE("violations beyond max_violations are counted, not listed") {
  gs::Options o;
  o.limits.max_violations = 3;
  auto v = must_compile(json{{"items", {{"type", "string"}}}}, o);
  auto r = v->validate(json::array({1, 2, 3, 4, 5}));
  CHECK(r.violations.size() == 3);
  CHECK(r.omitted == 2);
  CHECK(gs::summarize(r).find("and 2 more") != std::string::npos);
}

TEST_CASE("the dialects' meta-schemas are built in, so a tool may take a schema as an argument") {
  for (const char* meta : {"https://json-schema.org/draft/2020-12/schema",
                           "http://json-schema.org/draft-07/schema#"}) {
    INFO(meta);
    auto v = must_compile(json{{"type", "object"}, {"properties", {{"schema", {{"$ref", meta}}}}}});
    CHECK(v->is_valid(json{{"schema", {{"type", "string"}, {"minLength", 1}}}}));
    auto r = v->validate(json{{"schema", {{"minLength", -1}}}});
    CHECK_FALSE(r.valid);
    CHECK_FALSE(r.aborted);
  }
}
