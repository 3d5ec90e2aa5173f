// Parsing the policy options shared by the proxy config section (governance.policies) and
// test files: bindings, default_policy, mode, timezone, require_signed, public_key,
// max_file_bytes.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "governance/policy/policy.hpp"

namespace gt::gov::policy {

// bindings: either a list  [{tools: "make_payment" | [..], server: "srv", policies: "id" | [..]}]
//           or a mapping   {"make_payment": "id", "fs/*": ["a", "b"]}
bool parse_config_bindings(const YAML::Node& node, std::vector<ConfigBinding>& out,
                           std::string& error);

// Reads the shared keys of `node` into `out` (keys absent leave defaults). `resolve` maps a
// relative path (public_key file) to an absolute one. Unknown keys are not checked here.
bool parse_set_options(const YAML::Node& node, SetOptions& out, std::string& error,
                       const std::function<std::string(const std::string&)>& resolve = {});

// RFC 3339 date-time ("2025-01-06T10:00:00Z", "2025-01-06T10:00:00+01:00", fractional
// seconds allowed) → time point.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text);

}  // namespace gt::gov::policy
