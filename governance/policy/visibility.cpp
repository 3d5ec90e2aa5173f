#include "governance/policy/visibility.hpp"

#include "governance/policy/program.hpp"

namespace gt::gov::policy {

namespace {

bool monitored(const Policy& p, const SetOptions& o) {
  if (o.mode == Mode::Monitor) return true;
  return (p.mode == Mode::Inherit ? o.mode : p.mode) == Mode::Monitor;
}

// true / false when the condition's value does not depend on anything unknown; else nullopt.
std::optional<bool> known(const Rule& r, Scope& scope) {
  if (r.condition.empty()) return true;
  std::string err;
  scope.steps_left = kMaxEvalSteps;
  return r.condition.test(scope, err);
}

}  // namespace

bool denied_whatever_the_arguments(const PolicySet* set, const Principal& principal,
                                   const ToolRef& tool, std::string* why) {
  auto says = [&](std::string w) {
    if (why) *why = std::move(w);
    return true;
  };
  if (!set) return says("no policy set is loaded");
  if (set->options.mode == Mode::Monitor) return false;
  const auto& g = set->governing_cached(tool.server, tool.name, tool.kind);
  if (!g.missing.empty()) return says("policy `" + g.missing.front() + "` is not loaded");
  std::vector<const Policy*> governing = g.policies;
  if (governing.empty()) {
    const Policy* d =
        set->options.default_policy.empty() ? nullptr : set->find(set->options.default_policy);
    if (!d) return says("no policy governs it");
    governing.push_back(d);
  }
  Scope scope;
  scope.principal = &principal;
  scope.tool = &tool;
  scope.partial = true;
  scope.tz = set->options.tz.get();
  for (const Policy* p : governing) {
    if (monitored(*p, set->options)) continue;
    if (!p->rejected.empty()) return says("policy `" + p->id + "` is rejected: " + p->rejected);
    for (const auto& r : p->deny) {
      if (auto v = known(r, scope); v && *v)
        return says("deny rule `" + r.id + "` of policy `" + p->id + "` applies");
    }
    bool may_allow = false;
    for (const auto& r : p->allow) {
      auto v = known(r, scope);
      if (!v || *v) {
        may_allow = true;
        break;
      }
    }
    if (!may_allow) return says("no allow rule of policy `" + p->id + "` can match");
  }
  return false;
}

}  // namespace gt::gov::policy
