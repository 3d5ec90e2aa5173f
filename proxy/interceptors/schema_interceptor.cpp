#include "proxy/interceptors/schema_interceptor.hpp"

#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace gs = gov::schema;
using nlohmann::json;

namespace {

json violations_json(const gs::Validator::Result& r) {
  json arr = json::array();
  for (const auto& v : r.violations) {
    arr.push_back({{"instancePath", v.instance_pointer},
                   {"keyword", v.keyword},
                   {"schemaPath", v.schema_pointer},
                   {"message", v.message}});
  }
  return arr;
}

std::string bt(const std::string& s) {
  // User-controlled names in backticks, one line, bounded.
  std::string out;
  for (char c : s.substr(0, 128))
    out.push_back((c == '`' || static_cast<unsigned char>(c) < 0x20) ? '?' : c);
  if (s.size() > 128) out += "...";
  return "`" + out + "`";
}

// A result the server may repeat per call that fails its output schema: at most 20 lines per
// 10 s, then one with the count (transport/rate_limited_log.hpp).
transport::RateLimitedLog& result_faults() {
  static transport::RateLimitedLog log(spdlog::level::warn,
                                       transport::RateLimitedLog::kDefaultInterval, 20);
  return log;
}

}  // namespace

SchemaInterceptor::SchemaInterceptor(SchemaInterceptorConfig cfg) : cfg_(std::move(cfg)) {}

void SchemaInterceptor::on_tools_listed(std::string_view server, const json& tools) {
  if (!tools.is_array()) return;
  std::vector<std::pair<std::string, std::shared_ptr<const Tool>>> compiled;
  for (const auto& t : tools) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) {
      spdlog::warn("schema: server `{}` listed a tool without a string name; ignored", server);
      continue;
    }
    std::string name = t["name"].get<std::string>();
    auto entry = std::make_shared<Tool>();
    auto in = t.find("inputSchema");
    if (in == t.end()) {
      entry->input.error = "the tool declares no inputSchema";
    } else {
      entry->input = gs::compile(*in, cfg_.options);
    }
    // One log line per tool and problem: a re-listing (every session lists tools) with the
    // same error stays quiet.
    auto previous = find(std::string(server), name);
    bool same_input = previous && previous->input.error == entry->input.error;
    if (!entry->input.error.empty() && !same_input) {
      spdlog::error(
          "schema: tool {} of server {} has an unsupported input schema; every call will be "
          "denied: {}",
          bt(name), bt(std::string(server)), entry->input.error);
    }
    if (auto out = t.find("outputSchema"); out != t.end()) {
      entry->has_output = true;
      entry->output = gs::compile(*out, cfg_.options);
      bool same_output = previous && previous->output.error == entry->output.error;
      if (!entry->output.error.empty() && !same_output) {
        spdlog::warn("schema: tool {} of server {} has an unsupported output schema{}: {}",
                     bt(name), bt(std::string(server)),
                     cfg_.output == SchemaInterceptorConfig::Output::Enforce
                         ? "; its results will be withheld"
                         : "",
                     entry->output.error);
      }
    }
    compiled.emplace_back(std::move(name), std::move(entry));
  }
  std::unique_lock lock(mu_);
  for (auto& [name, entry] : compiled)
    tools_[{std::string(server), name}] = std::move(entry);
}

std::shared_ptr<const SchemaInterceptor::Tool> SchemaInterceptor::find(
    const std::string& server, const std::string& tool) const {
  std::shared_lock lock(mu_);
  auto it = tools_.find(std::make_pair(server, tool));
  return it == tools_.end() ? nullptr : it->second;
}

Verdict SchemaInterceptor::on_call(CallContext& ctx) {
  Decision& d = ctx.decision;
  auto deny = [&](const char* code, std::string outcome, std::string reason) {
    d.effect = Effect::Deny;
    d.code = code;
    d.decided_by = "schema";
    d.schema_outcome = std::move(outcome);
    d.reason = std::move(reason);
    return Verdict::Deny;
  };
  auto tool = find(ctx.server, ctx.tool);
  if (!tool) {
    if (!cfg_.deny_unknown_tools) {
      d.schema_outcome = "skipped";
      return Verdict::Continue;
    }
    return deny("GT-SCHEMA-UNKNOWN-TOOL", "unsupported",
                "tool " + bt(ctx.tool) + " was not listed by server " + bt(ctx.server) +
                    ", so its arguments cannot be checked");
  }
  if (!tool->input.validator) {
    return deny("GT-SCHEMA-UNSUPPORTED", "unsupported",
                "tool " + bt(ctx.tool) +
                    " has an input schema that glasstape cannot check: " + tool->input.error);
  }
  auto r = tool->input.validator->validate(ctx.arguments);
  if (r.valid) {
    d.schema_outcome = "valid";
    return Verdict::Continue;
  }
  d.details["violations"] = violations_json(r);
  if (r.omitted) d.details["violations_omitted"] = r.omitted;
  if (r.aborted) {
    return deny(
        "GT-SCHEMA-LIMIT", "invalid",
        "arguments of tool " + bt(ctx.tool) + " exceed a validation limit: " + gs::summarize(r));
  }
  return deny(
      "GT-SCHEMA-INVALID", "invalid",
      "arguments of tool " + bt(ctx.tool) + " do not match its input schema: " + gs::summarize(r));
}

void SchemaInterceptor::on_result(const CallContext& ctx, Response& response) {
  if (cfg_.output == SchemaInterceptorConfig::Output::Off) return;
  auto tool = find(ctx.server, ctx.tool);
  if (!tool || !tool->has_output) return;
  const json* msg;
  try {
    msg = &response.json();
  } catch (const std::exception& e) {
    result_faults()("schema: result of tool {} (server {}) is not json: {}", bt(ctx.tool),
                    bt(ctx.server), e.what());
    return;
  }
  auto res = msg->find("result");
  if (res == msg->end() || !res->is_object()) return;  // a JSON-RPC error passes as is
  if (auto e = res->find("isError"); e != res->end() && e->is_boolean() && e->get<bool>()) return;
  std::string problem;
  auto sc = res->find("structuredContent");
  if (!tool->output.validator) {
    problem = "its output schema cannot be checked: " + tool->output.error;
  } else if (sc == res->end()) {
    problem = "the result has no structuredContent although the tool declares an outputSchema";
  } else {
    auto r = tool->output.validator->validate(*sc);
    if (r.valid) return;
    problem = "structuredContent does not match the output schema: " + gs::summarize(r);
  }
  bool enforce = cfg_.output == SchemaInterceptorConfig::Output::Enforce;
  result_faults()("schema: result of tool {} (server {}, session {}){}: {}", bt(ctx.tool),
                  bt(ctx.server), ctx.session_id, enforce ? " withheld" : "", problem);
  if (!enforce) return;
  // A new message, not a copy: the server's content is not echoed back.
  json text = "glasstape withheld the result of tool " + bt(ctx.tool) +
              " [GT-SCHEMA-OUTPUT-INVALID]: " + problem;
  json id = msg->contains("id") ? (*msg)["id"] : json(nullptr);
  response.replace(json{
      {"jsonrpc", "2.0"},
      {"id", std::move(id)},
      {"result",
       {{"content", json::array({json{{"type", "text"}, {"text", text}}})}, {"isError", true}}}});
}

SchemaInterceptorConfig parse_schema_config(const InterceptorEnv& env, const YAML::Node& section) {
  SchemaInterceptorConfig c;
  if (!section || section.IsNull()) return c;
  if (!section.IsMap()) throw ConfigError("governance.schema: must be a mapping");
  auto err = [](const std::string& key, const std::string& what) {
    return ConfigError("governance.schema." + key + ": " + what);
  };
  auto scalar = [&](const YAML::Node& n, const std::string& key) {
    if (!n.IsScalar()) throw err(key, "must be a scalar");
    return n.Scalar();
  };
  auto boolean = [&](const YAML::Node& n, const std::string& key) {
    std::string v = scalar(n, key);
    if (v == "true") return true;
    if (v == "false") return false;
    throw err(key, "must be true or false, got `" + v + "`");
  };
  auto count = [&](const YAML::Node& n, const std::string& key) -> std::uint64_t {
    std::string v = scalar(n, key);
    if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) {
      throw err(key, "must be a positive integer, got `" + v + "`");
    }
    auto x = std::stoull(v);
    if (x == 0) throw err(key, "must be a positive integer, got `0`");
    return x;
  };
  for (const auto& kv : section) {
    std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "format_assertion") {
      c.options.format_assertion = boolean(v, key);
    } else if (key == "default_dialect") {
      std::string d = scalar(v, key);
      if (d != "2020-12" && d != "draft-07")
        throw err(key, "must be `2020-12` or `draft-07`, got `" + d + "`");
      c.options.default_dialect = d;
    } else if (key == "schema_dir") {
      auto dir = env.config.resolve(scalar(v, key));
      std::vector<std::string> errors;
      auto store = gs::SchemaStore::load_dir(dir, &errors);
      if (!errors.empty()) throw err(key, errors.front());
      c.options.schema_dir = dir;
      c.options.store = std::make_shared<gs::SchemaStore>(std::move(store));
    } else if (key == "output") {
      std::string o = scalar(v, key);
      if (o == "off") {
        c.output = SchemaInterceptorConfig::Output::Off;
      } else if (o == "log") {
        c.output = SchemaInterceptorConfig::Output::Log;
      } else if (o == "enforce") {
        c.output = SchemaInterceptorConfig::Output::Enforce;
      } else {
        throw err(key, "must be `log`, `enforce` or `off`, got `" + o + "`");
      }
    } else if (key == "unknown_tools") {
      std::string o = scalar(v, key);
      if (o == "deny") {
        c.deny_unknown_tools = true;
      } else if (o == "allow") {
        c.deny_unknown_tools = false;
      } else {
        throw err(key, "must be `deny` or `allow`, got `" + o + "`");
      }
    } else if (key == "limits") {
      if (!v.IsMap()) throw err(key, "must be a mapping");
      auto& l = c.options.limits;
      for (const auto& lk : v) {
        std::string name = lk.first.as<std::string>();
        std::string full = "limits." + name;
        if (name == "max_depth") {
          l.max_depth = count(lk.second, full);
        } else if (name == "max_nodes") {
          l.max_nodes = count(lk.second, full);
        } else if (name == "max_string_bytes") {
          l.max_string_bytes = count(lk.second, full);
        } else if (name == "max_instance_bytes") {
          l.max_instance_bytes = count(lk.second, full);
        } else if (name == "max_steps") {
          l.max_steps = count(lk.second, full);
        } else if (name == "max_eval_depth") {
          l.max_eval_depth = count(lk.second, full);
        } else if (name == "max_violations") {
          l.max_violations = count(lk.second, full);
        } else {
          throw err(
              full,
              "unknown limit (known: max_depth, max_nodes, max_string_bytes, max_instance_bytes, "
              "max_steps, max_eval_depth, max_violations)");
        }
      }
    } else {
      throw err(key,
                "unknown key (known: format_assertion, default_dialect, schema_dir, output, "
                "unknown_tools, limits)");
    }
  }
  return c;
}

std::unique_ptr<Interceptor> make_schema_interceptor(const InterceptorEnv& env,
                                                     const YAML::Node& section) {
  return std::make_unique<SchemaInterceptor>(parse_schema_config(env, section));
}

}  // namespace gt::proxy
