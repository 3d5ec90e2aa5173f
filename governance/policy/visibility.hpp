// Which tools a principal may see (issue 18): a tool is hidden from a principal's tools/list
// when the policies deny it to this principal whatever its arguments are. Decided by
// evaluating the governing policies with the principal and the tool known and the arguments,
// the extraction bindings and the environment (time) unknown: an unknown is an error value,
// which only && and || can decide past (`false && x` is false, `true || x` is true), so a rule
// comes out true or false only when its value cannot depend on what is unknown.
//
// Hidden when: no policy set is loaded; a config binding names a policy that is not loaded;
// no policy governs the tool and there is no default policy; a governing policy is rejected
// (unsigned or altered); a deny rule is true; or every allow rule is false. Monitor mode
// (global, or a policy's own) hides nothing for that policy, since its denials are forwarded.
// When the evaluation cannot prove a denial, the tool stays visible; a call is judged in full
// either way. Pure.
#pragma once

#include <string>

#include "governance/policy/policy.hpp"
#include "governance/principal.hpp"

namespace gt::gov::policy {

// True (with `why`) when every call of `tool` by `principal` would be denied. `set` may be null
// (no load has succeeded).
bool denied_whatever_the_arguments(const PolicySet* set, const Principal& principal,
                                   const ToolRef& tool, std::string* why = nullptr);

}  // namespace gt::gov::policy
