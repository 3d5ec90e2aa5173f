// The schema interceptor: compile on tools/list, deny invalid, unsupported and unknown
// tools with every violation, check structuredContent against outputSchema.
#include <catch2/catch.hpp>

#include "proxy/interceptors/schema_interceptor.hpp"

using nlohmann::json;
using namespace gt::proxy;

namespace {

const json kTools = json::parse(R"js([
  {"name": "read_file",
   "inputSchema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                   "properties": {"path": {"type": "string"}, "head": {"type": "number"}},
                   "required": ["path"], "additionalProperties": false}},
  {"name": "no_args", "inputSchema": {"type": "object", "properties": {}}},
  {"name": "lookahead", "inputSchema": {"type": "object", "properties": {"q": {"type": "string", "pattern": "(?=x)"}}}},
  {"name": "remote", "inputSchema": {"$ref": "https://example.com/s.json"}},
  {"name": "weather",
   "inputSchema": {"type": "object"},
   "outputSchema": {"type": "object", "properties": {"temp": {"type": "number"}}, "required": ["temp"]}}
])js");

CallContext call(const std::string& tool, json args = json::object()) {
  CallContext ctx;
  ctx.server = "fs";
  ctx.tool = tool;
  ctx.arguments = std::move(args);
  return ctx;
}

Config empty_config() {
  return parse_config("servers: {}\n", ".");
}

std::unique_ptr<SchemaInterceptor> make(const std::string& yaml = "") {
  static Config cfg = empty_config();
  InterceptorEnv env{cfg, cfg.tenants.front()};
  YAML::Node node = yaml.empty() ? YAML::Node() : YAML::Load(yaml);
  auto i = std::make_unique<SchemaInterceptor>(parse_schema_config(env, node));
  i->on_tools_listed("fs", kTools);
  return i;
}

}  // namespace

TEST_CASE("schema interceptor: valid arguments continue") {
  auto i = make();
  auto ctx = call("read_file", {{"path", "/tmp/a"}});
  CHECK(i->on_call(ctx) == Verdict::Continue);
  CHECK(ctx.decision.schema_outcome == "valid");
  CHECK(ctx.decision.effect == Effect::Allow);
  // Missing arguments are validated as {}.
  auto none = call("no_args");
  CHECK(i->on_call(none) == Verdict::Continue);
}

TEST_CASE("schema interceptor: invalid arguments are denied with every violation") {
  auto i = make();
  auto ctx = call("read_file", {{"head", "ten"}, {"extra", true}});
  REQUIRE(i->on_call(ctx) == Verdict::Deny);
  const Decision& d = ctx.decision;
  CHECK(d.effect == Effect::Deny);
  CHECK(d.code == "GT-SCHEMA-INVALID");
  CHECK(d.decided_by == "schema");
  CHECK(d.schema_outcome == "invalid");
  CHECK(d.reason.rfind("arguments of tool `read_file` do not match its input schema: ", 0) == 0);
  CHECK(d.reason.find("missing required property `path`") != std::string::npos);
  CHECK(d.reason.find("`/head` type: expected number, got string") != std::string::npos);
  CHECK(d.reason.find("`/extra` additionalProperties") != std::string::npos);
  REQUIRE(d.details["violations"].size() == 3);
  for (const auto& v : d.details["violations"]) {
    CHECK(v.contains("instancePath"));
    CHECK(v.contains("keyword"));
    CHECK(v.contains("schemaPath"));
    CHECK(v.contains("message"));
  }
}

TEST_CASE("schema interceptor: unsupported schemas and unknown tools fail closed") {
  auto i = make();
  for (const char* tool : {"lookahead", "remote"}) {
    auto ctx = call(tool);
    REQUIRE(i->on_call(ctx) == Verdict::Deny);
    CHECK(ctx.decision.code == "GT-SCHEMA-UNSUPPORTED");
    CHECK(ctx.decision.schema_outcome == "unsupported");
  }
  auto unknown = call("never_listed");
  REQUIRE(i->on_call(unknown) == Verdict::Deny);
  CHECK(unknown.decision.code == "GT-SCHEMA-UNKNOWN-TOOL");
  CHECK(unknown.decision.reason ==
        "tool `never_listed` was not listed by server `fs`, so its arguments cannot be checked");
  // The same tool name on another server is another tool.
  auto other = call("read_file", {{"path", "/x"}});
  other.server = "other";
  CHECK(i->on_call(other) == Verdict::Deny);

  auto lenient = make("unknown_tools: allow");
  auto ctx = call("never_listed");
  CHECK(lenient->on_call(ctx) == Verdict::Continue);
  CHECK(ctx.decision.schema_outcome == "skipped");
}

TEST_CASE("schema interceptor: limits turn hostile arguments into a denial") {
  auto i = make("limits: {max_depth: 4}");
  json deep = 1;
  for (int k = 0; k < 10; ++k)
    deep = json::array({deep});
  auto ctx = call("no_args", {{"x", deep}});
  REQUIRE(i->on_call(ctx) == Verdict::Deny);
  CHECK(ctx.decision.code == "GT-SCHEMA-LIMIT");
  CHECK(ctx.decision.reason.find("instance nesting depth exceeds 4") != std::string::npos);
}

TEST_CASE("schema interceptor: outputSchema") {
  const std::string good =
      R"({"jsonrpc":"2.0","id":7,"result":{"content":[],"structuredContent":{"temp":20.5}}})";
  const std::string bad =
      R"({"jsonrpc":"2.0","id":7,"result":{"content":[],"structuredContent":{"temp":"hot"}}})";
  const std::string missing = R"({"jsonrpc":"2.0","id":7,"result":{"content":[]}})";
  const std::string tool_error =
      R"({"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":true}})";
  auto ctx = call("weather");
  SECTION("log (default) never replaces") {
    auto i = make();
    Response r(bad);
    i->on_result(ctx, r);
    CHECK_FALSE(r.replaced());
  }
  SECTION("enforce replaces a mismatch with an isError result") {
    auto i = make("output: enforce");
    for (const auto& ok : {good, tool_error}) {
      Response r(ok);
      i->on_result(ctx, r);
      CHECK_FALSE(r.replaced());
    }
    for (const auto& wrong : {bad, missing}) {
      Response r(wrong);
      i->on_result(ctx, r);
      REQUIRE(r.replaced());
      const json& m = r.replacement();
      CHECK(m["id"] == 7);
      CHECK(m["result"]["isError"] == true);
      CHECK_FALSE(m["result"].contains("structuredContent"));
      CHECK(m["result"]["content"][0]["text"].get<std::string>().find("GT-SCHEMA-OUTPUT-INVALID") !=
            std::string::npos);
    }
  }
  SECTION("tools without an outputSchema are not parsed at all") {
    auto i = make("output: enforce");
    Response r("not json");
    auto c = call("read_file");
    i->on_result(c, r);
    CHECK_FALSE(r.replaced());
  }
}

TEST_CASE("schema interceptor: config errors are exact") {
  Config cfg = empty_config();
  InterceptorEnv env{cfg, cfg.tenants.front()};
  auto bad = [&](const char* yaml) {
    try {
      parse_schema_config(env, YAML::Load(yaml));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(bad("output: maybe") ==
        "governance.schema.output: must be `log`, `enforce` or `off`, got `maybe`");
  CHECK(bad("format_assertion: yes") ==
        "governance.schema.format_assertion: must be true or false, got `yes`");
  CHECK(bad("limits: {max_depth: -1}") ==
        "governance.schema.limits.max_depth: must be a positive integer, got `-1`");
  CHECK(bad("colour: red").rfind("governance.schema.colour: unknown key", 0) == 0);
  CHECK(bad("default_dialect: draft-04") ==
        "governance.schema.default_dialect: must be `2020-12` or `draft-07`, got `draft-04`");
  CHECK(bad("schema_dir: /nonexistent/dir") ==
        "governance.schema.schema_dir: schema_dir `/nonexistent/dir` is not a directory");
}
