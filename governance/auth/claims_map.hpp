// Verified token claims → the principal a call is judged as. The token has already been
// checked (signature, issuer, audience, expiry); this only decides who it names, and refuses
// (fails closed) whenever the claims do not name one agent of one safe tenant.
//
// Config, one per issuer: the mapping under `claims:`
//
//   claims:
//     id: sub                  # claim naming the agent; default `sub`. Exactly this claim: no
//                              # fallback to another (e.g. `client_id`) when it is absent.
//     tenant: org_id           # claim holding the tenant; or
//     tenant_value: acme       # one fixed tenant for every token of this issuer
//                              # (exactly one of `tenant` / `tenant_value`)
//     tenants: {"0f3a...": acme, "77b1...": globex}
//                              # optional, with `tenant` only: claim value → tenant id. When
//                              # given, a value not listed is refused.
//     roles: roles             # optional claim: an array of strings, or one space-separated
//                              # string (as OAuth's `scope`)
//     attributes: {team: team, env: ext.env}
//                              # optional: attribute name → claim path; a missing claim is
//                              # simply absent from the attributes
//
// A claim path is dotted for nested claims (`ext.agent` is claims["ext"]["agent"]): each step
// is an object member, at most 8 steps, no empty step. A claim whose own name holds a dot
// (`https://example.com/org`) cannot be named.
//
// Refusals (nullopt and a one-line, lowercase why):
//   - the id claim missing, not a string, empty, longer than 256 bytes or holding a control
//     character (it is written into logs). A number is not stringified: it is refused.
//   - no tenant: the claim missing or not a string, or a value not listed in `tenants`;
//   - a tenant that is not a safe name (is_safe_tenant): the tenant selects directories on
//     disk, so `../x` never passes;
//   - roles that are not strings (no entry is silently dropped), more than 64 roles, or a role
//     that is empty or longer than 256 bytes;
//   - an attribute value longer than 4 KiB serialized.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "governance/principal.hpp"

namespace gt::auth {

// Bounds every principal from a client credential meets, from a token or from the API keys
// file alike: a credential is not allowed to make the principal, or a receipt, unbounded.
inline constexpr std::size_t kMaxAgentIdBytes = 256;
inline constexpr std::size_t kMaxRoles = 64;
inline constexpr std::size_t kMaxRoleBytes = 256;
inline constexpr std::size_t kMaxAttributeBytes = 4096;  // one attribute value, serialized

// A tenant id selects keys, policies and the audit log directory: [A-Za-z0-9._-]{1,64}, not
// starting with `.` (so neither `.` nor `..` nor a hidden name).
bool is_safe_tenant(std::string_view s);
// An agent id: non-empty, at most kMaxAgentIdBytes, no control characters.
bool is_valid_agent_id(std::string_view s);

class ClaimsMap {
 public:
  static constexpr std::size_t kMaxPathSteps = 8;

  // Parses the mapping under `claims:`; an absent (undefined or null) node is the empty
  // mapping, which is refused for want of a tenant. Every problem is refused with a why
  // led by "line L, column C" when the node came from a file.
  static std::optional<ClaimsMap> from_yaml(const YAML::Node& node, std::string& why);

  // The principal `claims` names, or nullopt and why (which never holds a whole claim value:
  // at most 64 printable bytes of one).
  std::optional<gov::Principal> map(const nlohmann::json& claims, std::string& why) const;

 private:
  struct Path {
    std::string text;                // as configured, for messages
    std::vector<std::string> steps;  // object members, outermost first
  };
  static std::optional<Path> parse_path(const std::string& text, std::string& problem);
  static const nlohmann::json* resolve(const nlohmann::json& claims, const Path& p);

  Path id_{"sub", {"sub"}};
  std::optional<Path> tenant_claim_;  // exactly one of tenant_claim_ / tenant_value_
  std::string tenant_value_;
  std::optional<std::unordered_map<std::string, std::string>> tenants_;
  std::optional<Path> roles_;
  std::vector<std::pair<std::string, Path>> attributes_;  // in config order
};

}  // namespace gt::auth
