#include "governance/auth/claims_map.hpp"

#include <set>

namespace gt::auth {

namespace {

constexpr std::size_t kMaxTenantBytes = 64;
constexpr std::size_t kMaxPathBytes = 256;
constexpr std::size_t kMaxAttributes = 64;
constexpr std::size_t kMaxAttributeNameBytes = 64;
constexpr std::size_t kMaxTenantsEntries = 10000;
constexpr std::size_t kMaxShownBytes = 64;

// "line L, column C: where: msg" when the node came from a file, else "where: msg".
std::string at(const YAML::Node& n, const std::string& where, const std::string& msg) {
  auto m = n.Mark();
  if (m.is_null() || m.line < 0) return where + ": " + msg;
  return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1) + ": " +
         where + ": " + msg;
}

// A claim value in a message: the operator needs to see which value was refused, but a
// token may hold anything, so at most 64 bytes and nothing that could break a log line.
std::string shown(std::string_view v) {
  std::string out = "`";
  for (std::size_t i = 0; i < v.size() && i < kMaxShownBytes; ++i) {
    auto c = static_cast<unsigned char>(v[i]);
    out += (c < 0x20 || c == 0x7f || c == '`') ? '?' : static_cast<char>(c);
  }
  if (v.size() > kMaxShownBytes) out += "...";
  return out + "`";
}

bool scalar(const YAML::Node& n, std::string& out) {
  if (!n.IsScalar()) return false;
  out = n.Scalar();
  return true;
}

}  // namespace

bool is_safe_tenant(std::string_view s) {
  if (s.empty() || s.size() > kMaxTenantBytes || s.front() == '.') return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_valid_agent_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxAgentIdBytes) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

std::optional<ClaimsMap::Path> ClaimsMap::parse_path(const std::string& text,
                                                     std::string& problem) {
  if (text.empty() || text.size() > kMaxPathBytes) {
    problem = "a claim path must be 1 to " + std::to_string(kMaxPathBytes) + " bytes";
    return std::nullopt;
  }
  Path p{text, {}};
  std::size_t from = 0;
  for (;;) {
    auto dot = text.find('.', from);
    std::string step = text.substr(from, dot == std::string::npos ? dot : dot - from);
    if (step.empty()) {
      problem = "claim path `" + text + "` has an empty step";
      return std::nullopt;
    }
    p.steps.push_back(std::move(step));
    if (p.steps.size() > kMaxPathSteps) {
      problem =
          "claim path `" + text + "` has more than " + std::to_string(kMaxPathSteps) + " steps";
      return std::nullopt;
    }
    if (dot == std::string::npos) break;
    from = dot + 1;
  }
  return p;
}

const nlohmann::json* ClaimsMap::resolve(const nlohmann::json& claims, const Path& p) {
  const nlohmann::json* cur = &claims;
  for (const auto& step : p.steps) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(step);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::optional<ClaimsMap> ClaimsMap::from_yaml(const YAML::Node& node, std::string& why) {
  const std::string where = "claims";
  ClaimsMap m;
  if (!node || node.IsNull()) {
    why = where + ": needs `tenant` (a claim) or `tenant_value` (a fixed tenant)";
    return std::nullopt;
  }
  if (!node.IsMap()) {
    why = at(node, where, "must be a mapping");
    return std::nullopt;
  }
  static const std::set<std::string> known = {"id",      "tenant", "tenant_value",
                                              "tenants", "roles",  "attributes"};
  std::set<std::string> seen;
  for (const auto& kv : node) {
    std::string key;
    if (!scalar(kv.first, key) || !known.count(key)) {
      why = at(kv.first, where,
               "unknown key `" + key +
                   "` (known keys: attributes, id, roles, tenant, tenant_value, tenants)");
      return std::nullopt;
    }
    if (!seen.insert(key).second) {
      why = at(kv.first, where, "`" + key + "` is given twice");
      return std::nullopt;
    }
  }

  // A claim path given as a scalar.
  auto path_of = [&](const char* key) -> std::optional<Path> {
    const YAML::Node n = node[key];
    std::string text, problem;
    if (!scalar(n, text)) {
      why = at(n, where + "." + key, "must be a claim name (a string)");
      return std::nullopt;
    }
    auto p = parse_path(text, problem);
    if (!p) why = at(n, where + "." + key, problem);
    return p;
  };

  if (node["id"]) {
    auto p = path_of("id");
    if (!p) return std::nullopt;
    m.id_ = std::move(*p);
  }

  bool has_claim = static_cast<bool>(node["tenant"]);
  bool has_value = static_cast<bool>(node["tenant_value"]);
  if (has_claim == has_value) {
    why = at(node, where,
             has_claim ? "give either `tenant` (a claim) or `tenant_value` (a fixed tenant), "
                         "not both"
                       : "needs `tenant` (a claim) or `tenant_value` (a fixed tenant)");
    return std::nullopt;
  }
  if (has_claim) {
    auto p = path_of("tenant");
    if (!p) return std::nullopt;
    m.tenant_claim_ = std::move(*p);
  } else {
    const YAML::Node n = node["tenant_value"];
    if (!scalar(n, m.tenant_value_) || !is_safe_tenant(m.tenant_value_)) {
      why = at(n, where + ".tenant_value",
               "must be a tenant id: 1 to 64 letters, digits, `.`, `_`, `-`, not starting "
               "with `.`");
      return std::nullopt;
    }
  }

  if (const YAML::Node t = node["tenants"]) {
    if (!has_claim) {
      why = at(t, where + ".tenants", "maps the `tenant` claim's values: it needs `tenant`");
      return std::nullopt;
    }
    if (!t.IsMap()) {
      why = at(t, where + ".tenants", "must be a mapping of claim value to tenant id");
      return std::nullopt;
    }
    if (t.size() > kMaxTenantsEntries) {
      why = at(t, where + ".tenants",
               "has more than " + std::to_string(kMaxTenantsEntries) + " entries");
      return std::nullopt;
    }
    m.tenants_.emplace();
    for (const auto& kv : t) {
      std::string value, tenant;
      if (!scalar(kv.first, value) || value.empty()) {
        why = at(kv.first, where + ".tenants", "a claim value must be a non-empty string");
        return std::nullopt;
      }
      const std::string w = where + ".tenants." + value;
      if (!scalar(kv.second, tenant) || !is_safe_tenant(tenant)) {
        why = at(kv.second, w,
                 "must be a tenant id: 1 to 64 letters, digits, `.`, `_`, `-`, not starting "
                 "with `.`");
        return std::nullopt;
      }
      if (!m.tenants_->emplace(value, tenant).second) {
        why = at(kv.first, w, "is given twice");
        return std::nullopt;
      }
    }
  }

  if (node["roles"]) {
    auto p = path_of("roles");
    if (!p) return std::nullopt;
    m.roles_ = std::move(*p);
  }

  if (const YAML::Node a = node["attributes"]) {
    if (!a.IsMap()) {
      why = at(a, where + ".attributes", "must be a mapping of attribute name to claim path");
      return std::nullopt;
    }
    if (a.size() > kMaxAttributes) {
      why = at(a, where + ".attributes",
               "has more than " + std::to_string(kMaxAttributes) + " attributes");
      return std::nullopt;
    }
    std::set<std::string> names;
    for (const auto& kv : a) {
      std::string name, text, problem;
      if (!scalar(kv.first, name) || name.empty() || name.size() > kMaxAttributeNameBytes) {
        why = at(
            kv.first, where + ".attributes",
            "an attribute name must be 1 to " + std::to_string(kMaxAttributeNameBytes) + " bytes");
        return std::nullopt;
      }
      const std::string w = where + ".attributes." + name;
      if (!names.insert(name).second) {
        why = at(kv.first, w, "is given twice");
        return std::nullopt;
      }
      if (!scalar(kv.second, text)) {
        why = at(kv.second, w, "must be a claim name (a string)");
        return std::nullopt;
      }
      auto p = parse_path(text, problem);
      if (!p) {
        why = at(kv.second, w, problem);
        return std::nullopt;
      }
      m.attributes_.emplace_back(name, std::move(*p));
    }
  }
  return m;
}

std::optional<gov::Principal> ClaimsMap::map(const nlohmann::json& claims, std::string& why) const {
  if (!claims.is_object()) {
    why = "token claims are not a json object";
    return std::nullopt;
  }
  gov::Principal p;

  // Who: exactly the configured claim, a string. Numbers are not stringified: `123` and
  // "123" could name different agents at the issuer.
  const auto* id = resolve(claims, id_);
  if (!id) {
    why = "token has no `" + id_.text + "` claim (the agent id)";
    return std::nullopt;
  }
  if (!id->is_string() || !is_valid_agent_id(id->get_ref<const std::string&>())) {
    why = "claim `" + id_.text + "` (the agent id) must be a non-empty string of at most " +
          std::to_string(kMaxAgentIdBytes) + " bytes without control characters";
    return std::nullopt;
  }
  p.id = id->get<std::string>();

  // Which tenant: the fixed one, or the claim, through `tenants` when given.
  if (!tenant_claim_) {
    p.tenant = tenant_value_;
  } else {
    const auto* t = resolve(claims, *tenant_claim_);
    const std::string& name = tenant_claim_->text;
    if (!t) {
      why = "token has no `" + name + "` claim (the tenant)";
      return std::nullopt;
    }
    if (!t->is_string()) {
      why = "claim `" + name + "` (the tenant) must be a string";
      return std::nullopt;
    }
    const auto& value = t->get_ref<const std::string&>();
    if (tenants_) {
      auto it = tenants_->find(value);
      if (it == tenants_->end()) {
        why = "tenant claim `" + name + "` value " + shown(value) + " is not listed in `tenants`";
        return std::nullopt;
      }
      p.tenant = it->second;  // checked at load
    } else {
      if (!is_safe_tenant(value)) {
        why = "tenant claim `" + name + "` value " + shown(value) +
              " is not a tenant id (1 to 64 letters, digits, `.`, `_`, `-`, not starting with "
              "`.`)";
        return std::nullopt;
      }
      p.tenant = value;
    }
  }

  // Roles: absent means none. Anything present that is not a role is refused rather than
  // skipped: a mangled claim must not quietly become fewer (or different) roles.
  if (roles_) {
    const auto* r = resolve(claims, *roles_);
    const std::string& name = roles_->text;
    auto add = [&](std::string_view role) {
      if (role.empty() || role.size() > kMaxRoleBytes) {
        why = "claim `" + name + "` holds a role that is empty or longer than " +
              std::to_string(kMaxRoleBytes) + " bytes";
        return false;
      }
      if (p.roles.size() == kMaxRoles) {
        why = "claim `" + name + "` holds more than " + std::to_string(kMaxRoles) + " roles";
        return false;
      }
      p.roles.emplace_back(role);
      return true;
    };
    if (!r || r->is_null()) {
      // no roles
    } else if (r->is_string()) {
      std::string_view s = r->get_ref<const std::string&>();
      while (!s.empty()) {
        auto sp = s.find(' ');
        auto role = s.substr(0, sp);
        if (!role.empty() && !add(role)) return std::nullopt;
        if (sp == std::string_view::npos) break;
        s.remove_prefix(sp + 1);
      }
    } else if (r->is_array()) {
      for (const auto& e : *r) {
        if (!e.is_string()) {
          why = "claim `" + name + "` must hold strings only; it holds a " +
                std::string(e.type_name());
          return std::nullopt;
        }
        if (!add(e.get_ref<const std::string&>())) return std::nullopt;
      }
    } else {
      why = "claim `" + name + "` (the roles) must be an array of strings or a " +
            "space-separated string, not a " + std::string(r->type_name());
      return std::nullopt;
    }
  }

  for (const auto& [attr, path] : attributes_) {
    const auto* v = resolve(claims, path);
    if (!v) continue;
    // `replace`: a value is only measured here, and must not throw on bad UTF-8.
    auto size = v->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
    if (size > kMaxAttributeBytes) {
      why = "claim `" + path.text + "` (attribute `" + attr + "`) is larger than " +
            std::to_string(kMaxAttributeBytes) + " bytes";
      return std::nullopt;
    }
    p.attributes[attr] = *v;
  }
  return p;
}

}  // namespace gt::auth
