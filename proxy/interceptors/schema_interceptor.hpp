// schema: validates every tools/call's arguments against the inputSchema that the server
// declared in tools/list, before any policy sees the call, and checks structuredContent
// against outputSchema on the way back. The validator itself is gt::gov::schema.
//
//   governance:
//     schema:
//       format_assertion: false   # `format` asserts instead of annotating
//       default_dialect: 2020-12  # for schemas without $schema (or draft-07)
//       schema_dir: schemas/      # local documents for $ref to other URIs (never fetched)
//       output: log               # log | enforce | off  (outputSchema mismatches)
//       unknown_tools: deny       # deny | allow  (a call to a tool never listed)
//       limits: {max_depth: 128, max_nodes: 1000000, max_string_bytes: 16777216,
//                max_instance_bytes: 33554432, max_steps: 10000000, max_eval_depth: 512,
//                max_violations: 32}
//
// Decisions (ctx.decision.schema_outcome, code):
//   valid        arguments match                      -> Continue
//   invalid      GT-SCHEMA-INVALID (violations listed), GT-SCHEMA-LIMIT (a limit was hit)
//   unsupported  GT-SCHEMA-UNSUPPORTED (schema cannot be compiled),
//                GT-SCHEMA-UNKNOWN-TOOL (the tool was never listed by that server)
//   skipped      unknown tool with `unknown_tools: allow`
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "governance/schema/validator.hpp"
#include "proxy/config.hpp"
#include "proxy/pipeline.hpp"

namespace gt::proxy {

struct SchemaInterceptorConfig {
  enum class Output { Off, Log, Enforce };
  gov::schema::Options options;  // options.store holds schema_dir, loaded once
  Output output = Output::Log;
  bool deny_unknown_tools = true;
};

class SchemaInterceptor : public Interceptor {
 public:
  explicit SchemaInterceptor(SchemaInterceptorConfig cfg);
  std::string_view name() const override { return "schema"; }
  // Compiles each tool's inputSchema and outputSchema, keyed by (server, tool name). A
  // tool whose schema cannot be compiled is logged once here and denied on every call.
  void on_tools_listed(std::string_view server, const nlohmann::json& tools) override;
  Verdict on_call(CallContext& ctx) override;
  // Checks structuredContent against outputSchema; with `output: enforce` a mismatch is
  // replaced by an isError result. The response is parsed only for tools with an outputSchema.
  void on_result(const CallContext& ctx, Response& response) override;

  struct Tool {
    gov::schema::Compiled input;
    bool has_output = false;
    gov::schema::Compiled output;
  };
  std::shared_ptr<const Tool> find(const std::string& server, const std::string& tool) const;

 private:
  SchemaInterceptorConfig cfg_;
  mutable std::shared_mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Tool>, std::less<>> tools_;
};

// Parses the tenant's governance.schema section (undefined/null = defaults). Throws
// ConfigError with an exact message on a bad key or value.
SchemaInterceptorConfig parse_schema_config(const InterceptorEnv& env, const YAML::Node& section);

std::unique_ptr<Interceptor> make_schema_interceptor(const InterceptorEnv& env,
                                                     const YAML::Node& section);

}  // namespace gt::proxy
