#include "governance/policy/evaluate.hpp"

#include <charconv>
#include <cmath>

namespace gt::gov::policy {

namespace {

struct Outcome {
  const Policy* policy = nullptr;
  Effect effect = Effect::Deny;
  bool monitor = false;
  std::string code, reason, rule_id;
  std::vector<Charge> charges;
};

std::string show(const json& j) {
  std::string s = j.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

const json* lookup_arg(const json& args, const std::string& name) {
  if (!args.is_object()) return nullptr;
  auto it = args.find(name);
  if (it != args.end()) return &*it;
  // Dotted names descend into nested objects: "payment.amount".
  if (name.find('.') == std::string::npos) return nullptr;
  const json* cur = &args;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    std::string part =
        name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    auto jt = cur->find(part);
    if (jt == cur->end()) return nullptr;
    cur = &*jt;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

Value apply_transform(const Transform& t, Value v, const std::string& name) {
  const json& j = v.get();
  switch (t.kind) {
    case Transform::Kind::ToNumber: {
      if (j.is_number()) return v;
      if (j.is_string()) {
        std::string s = j.get<std::string>();
        size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
        if (b != std::string::npos) {
          s = s.substr(b, e - b + 1);
          int64_t i = 0;
          auto r = std::from_chars(s.data(), s.data() + s.size(), i);
          if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return Value::of(i);
          double d = 0;
          auto rd = std::from_chars(s.data(), s.data() + s.size(), d);
          if (rd.ec == std::errc() && rd.ptr == s.data() + s.size() && std::isfinite(d))
            return Value::of(d);
        }
      }
      return Value::error("binding `" + name + "`: cannot convert " + show(j) + " to a number");
    }
    case Transform::Kind::CurrencyNormalize: {
      if (j.is_string()) {
        std::string s = j.get<std::string>();
        for (char& c : s) {
          if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
        if (s == "USD" || s == "CAD" || s == "EUR") return Value::of(s);
      }
      return Value::of(t.default_currency);
    }
  }
  return v;
}

// Fills `out` (one Value per binding slot). Returns false with `why` when a required
// binding has no value or a transform fails.
bool extract(const Policy& p, const Request& req, std::vector<Value>& out, std::string& why,
             std::vector<std::string>* trace) {
  out.clear();
  out.reserve(p.bindings.size());
  for (const auto& b : p.bindings) {
    const json* hit = nullptr;
    for (const auto& s : b.sources) {
      const json* v = nullptr;
      switch (s.kind) {
        case BindingSource::Kind::Arg:
          v = lookup_arg(req.args, s.name);
          break;
        case BindingSource::Kind::Context:
          if (req.principal.attributes.is_object()) {
            auto it = req.principal.attributes.find(s.name);
            if (it != req.principal.attributes.end()) v = &*it;
          }
          break;
        case BindingSource::Kind::Literal:
          v = &s.value;
          break;
      }
      if (v && !v->is_null()) {  // the first source with a value wins
        hit = v;
        break;
      }
    }
    if (!hit) {
      if (b.required) {
        why = "required value `" + b.name + "` is missing (binding `" + b.path + "`)";
        return false;
      }
      out.push_back(Value::of(nullptr));  // optional and absent: null
      if (trace)
        trace->push_back("policy `" + p.id + "`: binding `" + b.name +
                         "` = null (no source had a value)");
      continue;
    }
    Value v = Value::refer(*hit);
    for (const auto& t : b.transforms) {
      v = apply_transform(t, std::move(v), b.name);
      if (v.is_error()) {
        why = v.err;
        return false;
      }
    }
    if (trace)
      trace->push_back("policy `" + p.id + "`: binding `" + b.name + "` = " + show(v.get()));
    out.push_back(std::move(v));
  }
  return true;
}

std::string scope_key(Limit::Per per, const Request& req) {
  switch (per) {
    case Limit::Per::Principal:
      return "principal=" + req.principal.tenant + "/" + req.principal.id;
    // A resource or a prompt is counted apart from a tool of the same name.
    case Limit::Per::Tool:
      return std::string(kind_name(req.tool.kind)) + "=" + req.tool.server + "/" + req.tool.name;
    case Limit::Per::PrincipalTool:
      return "principal=" + req.principal.tenant + "/" + req.principal.id + "," +
             kind_name(req.tool.kind) + "=" + req.tool.server + "/" + req.tool.name;
    case Limit::Per::Global:
      return "global";
  }
  return "global";
}

Mode effective_mode(const Policy& p, const SetOptions& o) {
  if (o.mode == Mode::Monitor) return Mode::Monitor;
  return p.mode == Mode::Inherit ? o.mode : p.mode;
}

// ---- Precedence, in one place ---------------------------------------------------------------
// Per policy (decide_policy):
//   0. a rejected (unsigned/altered) policy file                  → DENY  GT-POLICY-UNSIGNED
//   1. a required binding without a value, or a failing transform → DENY  GT-POLICY-ERROR
//   2. the first deny rule that matches                           → DENY  GT-POLICY-DENY
//      a deny rule whose evaluation errors (ErrorHandling::FailClosed) → DENY GT-POLICY-ERROR
//   3. else the first allow rule that matches                     → ALLOW
//      (an allow rule whose evaluation errors is skipped and its error recorded: it never allows)
//   4. else                                                       → DENY  GT-POLICY-NOMATCH "no
//   matching allow rule"
//   5. an allowed call yields the policy's limit charges; a failing `when` or `amount`
//      expression                                                 → DENY  GT-POLICY-ERROR
// Across the governing policies (evaluate):
//   a. none governs the tool → the default policy if one is named, else DENY GT-POLICY-NONE
//   b. any policy in enforce mode denies → DENY (the first such policy, in order)
//   c. else any policy in monitor mode denies → ALLOW with would_deny recorded
//   d. else ALLOW, attributed to the first policy's matching allow rule
// Limits are then applied by LimitStore (limits.hpp): exhausted → DENY GT-LIMIT (or would-deny
// in monitor mode). Only calls that end up allowed are counted.
// "file:line" of a rule, for the trace.
std::string at(const Rule& r) {
  return r.loc.file + ":" + std::to_string(r.loc.line);
}

Outcome decide_policy(const Policy& p, const Request& req, Scope& scope, const SetOptions& opts,
                      std::vector<std::string>& errors, std::vector<std::string>* trace) {
  Outcome o;
  o.policy = &p;
  o.monitor = effective_mode(p, opts) == Mode::Monitor;
  auto deny = [&](const char* code, std::string reason, std::string rule) {
    o.effect = Effect::Deny;
    o.code = code;
    o.reason = std::move(reason);
    o.rule_id = std::move(rule);
    if (trace) trace->push_back("policy `" + p.id + "`: deny (" + o.code + "): " + o.reason);
    return o;
  };
  // 0.
  if (!p.rejected.empty()) return deny(codes::kUnsigned, p.rejected, "");
  // 1.
  std::vector<Value> values;
  std::string why;
  if (!extract(p, req, values, why, trace)) return deny(codes::kError, why, "");
  scope.bindings = &values;
  scope.steps_left = kMaxEvalSteps;
  // 2.
  for (const auto& r : p.deny) {
    std::string err;
    auto hit = r.condition.test(scope, err);
    if (!hit) {
      errors.push_back("deny rule `" + r.id + "`: " + err);
      return deny(codes::kError,
                  "deny rule `" + r.id + "` failed to evaluate (" + err + "); failing closed",
                  r.id);
    }
    if (trace)
      trace->push_back("policy `" + p.id + "`: deny rule `" + r.id + "` (" + at(r) + ") " +
                       (*hit ? "matches" : "does not match"));
    if (*hit) return deny(codes::kDeny, r.reason, r.id);
  }
  // 3.
  const Rule* allowed = nullptr;
  std::string allow_errors;
  for (const auto& r : p.allow) {
    std::string err;
    auto hit = r.condition.test(scope, err);
    if (!hit) {
      errors.push_back("allow rule `" + r.id + "`: " + err);
      if (allow_errors.empty())
        allow_errors = "allow rule `" + r.id + "` failed to evaluate: " + err;
      if (trace)
        trace->push_back("policy `" + p.id + "`: allow rule `" + r.id + "` (" + at(r) +
                         ") failed to evaluate, skipped: " + err);
      continue;
    }
    if (trace)
      trace->push_back("policy `" + p.id + "`: allow rule `" + r.id + "` (" + at(r) + ") " +
                       (*hit ? "matches" : "does not match"));
    if (*hit) {
      allowed = &r;
      break;
    }
  }
  // 4.
  if (!allowed) {
    std::string reason = "no matching allow rule in policy `" + p.id + "`";
    if (!allow_errors.empty()) reason += " (" + allow_errors + ")";
    return deny(allow_errors.empty() ? codes::kNoMatch : codes::kError, reason, "");
  }
  o.effect = Effect::Allow;
  o.rule_id = allowed->id;
  o.reason = allowed->reason;
  // 5.
  for (const auto& l : p.limits) {
    std::string err;
    if (!l.when.empty()) {
      auto applies = l.when.test(scope, err);
      if (!applies)
        return deny(codes::kError, "limit `" + l.id + "`: `when` failed to evaluate (" + err + ")",
                    l.id);
      if (!*applies) continue;
    }
    Charge c;
    c.kind = l.kind;
    if (l.kind == Limit::Kind::Spend) {
      Value v = l.amount.eval(scope);
      if (v.is_error())
        return deny(codes::kError,
                    "spend limit `" + l.id + "`: amount failed to evaluate (" + v.err + ")", l.id);
      const json& a = v.get();
      if (!a.is_number() || !std::isfinite(a.get<double>()) || a.get<double>() < 0) {
        return deny(
            codes::kError,
            "spend limit `" + l.id + "`: amount must be a non-negative number, got " + show(a),
            l.id);
      }
      c.amount = a.get<double>();
    }
    c.policy_id = p.id;
    c.policy_version = p.version;
    c.policy_sha256 = p.sha256;
    c.limit_id = l.id;
    c.max = l.max;
    c.window_seconds = l.window_seconds;
    c.window_text = l.window_text;
    c.per = per_name(l.per);
    c.monitor = o.monitor;
    c.key = p.id + "|" + l.id + "|" + scope_key(l.per, req);
    o.charges.push_back(std::move(c));
  }
  if (trace) trace->push_back("policy `" + p.id + "`: allow by rule `" + o.rule_id + "`");
  return o;
}

void attribute(Result& r, const Policy& p) {
  r.policy_id = p.id;
  r.policy_version = p.version;
  r.policy_sha256 = p.sha256;
}

}  // namespace

Result load_failure(const std::string& why) {
  Result r;
  r.effect = Effect::Deny;
  r.code = codes::kLoad;
  r.reason = "no valid policy set is loaded: " + why;
  return r;
}

Result evaluate(const Request& req, const PolicySet& set, const EvalOptions& options) {
  Result r;
  std::vector<std::string>* trace = options.trace ? &r.trace : nullptr;
  const PolicySet::Governing& gov =
      set.governing_cached(req.tool.server, req.tool.name, req.tool.kind);
  const bool is_tool = req.tool.kind == ToolRef::Kind::Tool;
  const char* kind = kind_name(req.tool.kind);
  const std::vector<std::string>& missing = gov.missing;
  const Policy* fallback[1] = {nullptr};
  const Policy* const* gbegin = gov.policies.data();
  size_t gcount = gov.policies.size();
  bool global_monitor = set.options.mode == Mode::Monitor;
  auto finish_deny = [&](const char* code, std::string reason) {
    r.effect = Effect::Deny;
    r.code = code;
    r.reason = std::move(reason);
    // Global monitor mode forwards policy denials too (but never integrity or load failures).
    if (global_monitor && r.code != codes::kUnsigned) {
      r.effect = Effect::Allow;
      r.monitor = true;
      r.would_deny = true;
      r.would_deny_code = r.code;
      r.would_deny_reason = r.reason;
      r.would_deny_policy = r.policy_id;
      r.would_deny_rule = r.rule_id;
      r.code.clear();
    }
    if (trace)
      trace->push_back(
          "decision: " +
          std::string(r.effect == Effect::Allow ? "allow (monitor, would deny)" : "deny") + ": " +
          (r.would_deny ? r.would_deny_reason : r.reason));
    return r;
  };
  // a.
  if (!missing.empty()) {
    return finish_deny(codes::kNone, "policy `" + missing.front() + "` not found (bound to tool `" +
                                         req.tool.name + "`)");
  }
  if (gcount == 0) {
    if (!set.options.default_policy.empty()) {
      const Policy* d = set.find(set.options.default_policy);
      if (!d)
        return finish_deny(codes::kNone,
                           "default policy `" + set.options.default_policy + "` not found");
      fallback[0] = d;
      gbegin = fallback;
      gcount = 1;
      if (trace)
        trace->push_back(std::string(kind) + " `" + req.tool.name +
                         "`: governed by the default policy `" + d->id + "`");
    } else if (!is_tool) {
      std::string reason = std::string("no policy for ") + kind + " `" + req.tool.name + "`";
      if (!req.tool.server.empty()) reason += " of server `" + req.tool.server + "`";
      reason += req.tool.kind == ToolRef::Kind::Resource
                    ? " (a policy's `resources:` may match its URI with a glob)"
                    : " (a policy's `prompts:` may name it `" + req.tool.name + "` or `" +
                          req.tool.server + "/" + req.tool.name + "`)";
      return finish_deny(codes::kNone, reason);
    } else {
      // Policies match a tool as `name` or `server/name`: the reason names both, so an
      // operator can write the policy (with `run -- cmd` the server is named `server`).
      std::string reason = "no policy for tool `" + req.tool.name + "`";
      if (!req.tool.server.empty())
        reason += " of server `" + req.tool.server + "` (a policy's `tools:` may name it `" +
                  req.tool.name + "` or `" + req.tool.server + "/" + req.tool.name + "`)";
      if (!set.rejected_files.empty()) {
        reason += " (" + std::to_string(set.rejected_files.size()) +
                  " policy file(s) were rejected: " + set.rejected_files.front() + ")";
      }
      return finish_deny(codes::kNone, reason);
    }
  }
  Scope scope;
  scope.args = &req.args;
  scope.principal = &req.principal;
  scope.tool = &req.tool;
  scope.now = req.now;
  scope.tz = set.options.tz.get();
  if (trace && fallback[0] == nullptr) {
    std::string ids;
    for (size_t gi = 0; gi < gcount; ++gi)
      ids += (ids.empty() ? "`" : ", `") + gbegin[gi]->id + "`";
    trace->push_back(
        std::string(kind) + " `" + (req.tool.server.empty() ? "" : req.tool.server + "/") +
        req.tool.name + "`: governed by " + ids +
        (is_tool ? " (config bindings first, then policies whose `tools:` match)" : ""));
  }
  std::vector<Outcome> outcomes;
  outcomes.reserve(gcount);
  for (size_t gi = 0; gi < gcount; ++gi) {
    const Policy* p = gbegin[gi];
    r.policies.push_back(p->id);
    outcomes.push_back(decide_policy(*p, req, scope, set.options, r.errors, trace));
    scope.bindings = nullptr;
  }
  // b.
  for (const auto& o : outcomes) {
    if (o.effect == Effect::Deny && !o.monitor) {
      attribute(r, *o.policy);
      r.rule_id = o.rule_id;
      r.monitor = false;
      global_monitor =
          false;  // an enforcing policy denied (global monitor would have marked it monitor)
      return finish_deny(o.code.c_str(), o.reason);
    }
  }
  // c.
  for (const auto& o : outcomes) {
    if (o.effect == Effect::Deny && o.monitor) {
      if (o.code == codes::kUnsigned) {  // integrity failures are never merely monitored
        attribute(r, *o.policy);
        r.rule_id = o.rule_id;
        global_monitor = false;
        return finish_deny(o.code.c_str(), o.reason);
      }
      r.effect = Effect::Allow;
      r.monitor = true;
      r.would_deny = true;
      r.would_deny_code = o.code;
      r.would_deny_reason = o.reason;
      r.would_deny_policy = o.policy->id;
      r.would_deny_rule = o.rule_id;
      attribute(r, *o.policy);
      r.rule_id = o.rule_id;
      r.reason = "monitor mode: would deny: " + o.reason;
      break;
    }
  }
  // d.
  if (!r.would_deny) {
    attribute(r, *outcomes.front().policy);
    r.rule_id = outcomes.front().rule_id;
    r.reason = outcomes.front().reason;
    r.effect = Effect::Allow;
  }
  for (auto& o : outcomes) {
    if (o.monitor) r.monitor = true;
    if (o.effect == Effect::Allow) {
      for (auto& c : o.charges)
        r.charges.push_back(std::move(c));
    }
  }
  if (trace)
    trace->push_back(std::string("decision: allow") +
                     (r.would_deny ? " (monitor, would deny)" : "") + " by policy `" + r.policy_id +
                     "` rule `" + r.rule_id + "`");
  return r;
}

}  // namespace gt::gov::policy
