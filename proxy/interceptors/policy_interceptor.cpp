#include "proxy/interceptors/policy_interceptor.hpp"

#include "proxy/admin/health.hpp"

#include "governance/policy/visibility.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "governance/policy/evaluate.hpp"
#include "governance/policy/options.hpp"
#include "governance/policy/yaml_json.hpp"

namespace gt::proxy {

namespace pol = gov::policy;

PolicyInterceptorConfig parse_policy_config(const InterceptorEnv& env, const YAML::Node& section) {
  PolicyInterceptorConfig c;
  c.debug = env.debug;
  if (!section || section.IsNull()) {
    c.enabled = false;
    return c;
  }
  const std::string where = "governance.policies";
  if (!section.IsMap()) throw ConfigError(where + ": must be a mapping with at least `dir`");
  static const std::set<std::string> known = {
      "dir",       "bindings",       "default_policy",          "mode",
      "timezone",  "require_signed", "require_signed_policies", "public_key",
      "state_dir", "reload",         "reload_interval_ms",      "govern"};
  for (const auto& kv : section) {
    std::string k = kv.first.Scalar();
    if (!known.count(k)) throw ConfigError(where + ": unknown key `" + k + "`");
  }
  if (!section["dir"] || !section["dir"].IsScalar() || section["dir"].Scalar().empty()) {
    throw ConfigError(where + ": `dir` (the policy directory) is required");
  }
  c.dir = env.config.resolve(section["dir"].Scalar());
  std::string err;
  if (!pol::parse_set_options(section, c.options, err, [&](const std::string& p) {
        return env.config.resolve(p).string();
      })) {
    throw ConfigError(where + ": " + err);
  }
  if (const auto g = section["govern"]) {
    // What the policies judge besides tools/call. Tools are always judged: leaving them out
    // would forward every call unjudged, which is what removing the section says.
    const std::string what = where + ": `govern` must be a list of `tools`, `resources`, `prompts`";
    if (!g.IsSequence()) throw ConfigError(what);
    c.resources = c.prompts = false;  // what the list names, no more
    bool tools = false;
    for (const auto& k : g) {
      const std::string v = k.IsScalar() ? k.Scalar() : std::string();
      if (v == "tools") {
        tools = true;
      } else if (v == "resources") {
        c.resources = true;
      } else if (v == "prompts") {
        c.prompts = true;
      } else {
        throw ConfigError(what + ", not `" + (v.empty() ? "(not a string)" : v) + "`");
      }
    }
    if (!tools) {
      throw ConfigError(where + ": `govern` must include `tools` (tool calls are always judged)");
    }
  }
  c.state_dir = section["state_dir"] && section["state_dir"].IsScalar()
                    ? env.config.resolve(section["state_dir"].Scalar())
                    : env.config.resolve(".glasstape/state/" + env.tenant.id);
  if (const auto r = section["reload"]) {
    auto j = pol::yaml_to_json(r);
    if (!j.is_boolean()) throw ConfigError(where + ": `reload` must be true or false");
    c.reload = j.get<bool>();
  }
  if (const auto r = section["reload_interval_ms"]) {
    auto j = pol::yaml_to_json(r);
    if (!j.is_number_integer() || j.get<int64_t>() < 10 || j.get<int64_t>() > 3600000) {
      throw ConfigError(where + ": `reload_interval_ms` must be a whole number from 10 to 3600000");
    }
    c.reload_interval = std::chrono::milliseconds(j.get<int64_t>());
  }
  return c;
}

PolicyInterceptor::PolicyInterceptor(PolicyInterceptorConfig config) : config_(std::move(config)) {
  if (!config_.enabled) return;
  store_ = std::make_unique<pol::PolicyStore>(config_.dir, config_.options);
  store_->reload();  // a failure is logged and every call is denied until a good version loads
  if (config_.reload) store_->start_watching(config_.reload_interval);
}

PolicyInterceptor::~PolicyInterceptor() {
  if (store_) store_->stop_watching();
}

void PolicyInterceptor::report(admin::Report& out, const std::string& tenant) const {
  if (!store_) return;
  auto st = store_->status();
  admin::Check c{"policies[" + tenant + "]", st.loaded, ""};
  if (!st.loaded) {
    c.detail = "no policy set loaded from `" + store_->dir().string() +
               "`; every governed call is denied: " + st.last_error;
  } else {
    c.detail =
        std::to_string(st.policies) + " policies loaded from `" + store_->dir().string() + "`";
    if (!st.last_error.empty())
      c.detail += "; the last reload failed (the previous set is kept): " + st.last_error;
  }
  out.checks.push_back(std::move(c));
  out.samples.push_back({"glasstape_policy_set_loaded", {tenant}, st.loaded ? 1.0 : 0.0});
  out.samples.push_back({"glasstape_policies_loaded", {tenant}, static_cast<double>(st.policies)});
  out.samples.push_back(
      {"glasstape_policy_reloads_total", {tenant, "ok"}, static_cast<double>(st.reloads)});
  out.samples.push_back(
      {"glasstape_policy_reloads_total", {tenant, "error"}, static_cast<double>(st.failures)});
  if (st.loaded) {
    out.samples.push_back(
        {"glasstape_policy_last_reload_timestamp_seconds",
         {tenant},
         std::chrono::duration<double>(st.last_load_time.time_since_epoch()).count()});
  }
}

pol::PolicyStore::Status PolicyInterceptor::status() const {
  if (!store_) return {};
  return store_->status();
}

pol::LimitStore* PolicyInterceptor::limits() {
  std::lock_guard<std::mutex> g(limits_mu_);
  if (limits_) return limits_.get();
  auto now = std::chrono::steady_clock::now();
  if (!limits_error_.empty() && now < limits_retry_) return nullptr;
  std::string err;
  limits_ = pol::LimitStore::open(config_.state_dir / "limits.jsonl", err);
  if (!limits_) {
    limits_error_ = err;
    limits_retry_ = now + std::chrono::seconds(5);
    spdlog::error("policy: {}", err);
    return nullptr;
  }
  limits_error_.clear();
  return limits_.get();
}

Verdict PolicyInterceptor::on_call(CallContext& ctx) {
  if (!config_.enabled) return Verdict::Continue;
  auto now = ctx.now.time_since_epoch().count() == 0 ? std::chrono::system_clock::now() : ctx.now;
  // The tool as the proxy knows it; server and name come from the routed call itself.
  gov::ToolRef tool = ctx.tool_ref;
  tool.server = ctx.server;
  tool.name = ctx.tool;
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json& args = ctx.arguments.is_object() ? ctx.arguments : kEmpty;

  pol::Result r;
  auto set = store_->current();
  if (!set) {
    auto st = store_->status();
    r = pol::load_failure(st.last_error.empty() ? "not loaded yet" : st.last_error);
  } else {
    pol::EvalOptions eo;
    eo.trace = config_.debug;
    r = pol::evaluate(pol::Request{ctx.principal, tool, args, now}, *set, eo);
    if (r.effect == pol::Effect::Allow && !r.charges.empty()) {
      pol::LimitStore* store = limits();
      pol::LimitStore::Reservation hold;
      pol::apply_limits(r, store, now, eo.trace, &hold);
      if (!hold.empty()) {
        std::lock_guard<std::mutex> g(holds_mu_);
        auto& slot = holds_[&ctx];
        if (!slot.empty()) store->release(slot);  // the same context decided twice: not expected
        slot = std::move(hold);
      }
    }
  }
  for (const auto& step : r.trace)
    spdlog::debug("policy: {}/{}: {}", ctx.server, ctx.tool, step);

  Decision& d = ctx.decision;
  d.policy_id = r.policy_id;
  d.policy_version = r.policy_version;
  d.policy_sha256 = r.policy_sha256;
  d.rule_id = r.rule_id;
  if (!r.policies.empty()) d.details["policies"] = r.policies;
  if (!r.errors.empty()) d.details["policy_errors"] = r.errors;
  if (r.effect == pol::Effect::Deny) {
    d.effect = Effect::Deny;
    d.code = r.code;
    d.reason = r.reason;
    d.decided_by = "policy";
    return Verdict::Deny;
  }
  if (r.monitor) d.mode = "monitor";
  if (r.would_deny) {
    d.would_deny = true;
    // The signed record keeps what would have denied the call (the call itself is allowed):
    // the recorder writes code, reason and decided_by, and its one log line says "would deny".
    d.code = r.would_deny_code;
    d.reason = r.would_deny_reason;
    d.decided_by = "policy";
    d.details["would_deny"] = {{"code", r.would_deny_code},
                               {"reason", r.would_deny_reason},
                               {"policy_id", r.would_deny_policy},
                               {"rule_id", r.would_deny_rule}};
  }
  return Verdict::Continue;
}

bool PolicyInterceptor::hides(std::string_view server, const std::string& name,
                              const nlohmann::json& tool, const gov::Principal& who) const {
  if (!store_) return false;
  auto set = store_->current();
  gov::ToolRef ref;
  ref.server = std::string(server);
  ref.name = name;
  if (auto a = tool.find("annotations"); a != tool.end() && a->is_object()) ref.annotations = *a;
  return gov::policy::denied_whatever_the_arguments(set.get(), who, ref);
}

void PolicyInterceptor::set_visibility_listener(std::function<void()> changed) {
  if (store_) store_->set_listener(std::move(changed));
}

bool PolicyInterceptor::governs(gov::ToolRef::Kind kind) const {
  switch (kind) {
    case gov::ToolRef::Kind::Resource:
      return config_.enabled && config_.resources;
    case gov::ToolRef::Kind::Prompt:
      return config_.enabled && config_.prompts;
    case gov::ToolRef::Kind::Tool:
      break;
  }
  return true;
}

bool PolicyInterceptor::hides_entry(const gov::ToolRef& ref, const gov::Principal& who) const {
  if (!store_ || !governs(ref.kind)) return false;
  auto set = store_->current();
  return gov::policy::denied_whatever_the_arguments(set.get(), who, ref);
}

void PolicyInterceptor::describe(GovernanceView& view) const {
  view.policies = config_.enabled;
  if (store_) view.policy_set = store_->current();
}

void PolicyInterceptor::on_decided(const CallContext& ctx, bool forwarded) {
  pol::LimitStore::Reservation hold;
  {
    std::lock_guard<std::mutex> g(holds_mu_);
    auto f = holds_.find(&ctx);
    if (f == holds_.end()) return;
    hold = std::move(f->second);
    holds_.erase(f);
  }
  pol::LimitStore* store;
  {
    std::lock_guard<std::mutex> g(limits_mu_);  // set before any hold exists, never reset
    store = limits_.get();
  }
  if (!store) return;
  if (forwarded) {
    store->commit(hold);
  } else {
    store->release(hold);
  }
}

std::unique_ptr<Interceptor> make_policy_interceptor(const InterceptorEnv& env,
                                                     const YAML::Node& section) {
  PolicyInterceptorConfig c = parse_policy_config(env, section);
  if (!c.enabled) {
    spdlog::warn(
        "tenant `{}` has no governance.policies section: no policy is applied to its calls",
        env.tenant.id);
  }
  return std::make_unique<PolicyInterceptor>(std::move(c));
}

}  // namespace gt::proxy
