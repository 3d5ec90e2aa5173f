#include "governance/policy/options.hpp"

#include "governance/policy/manifest.hpp"
#include "governance/policy/yaml_json.hpp"

namespace gt::gov::policy {

namespace {

bool string_list(const YAML::Node& n, std::vector<std::string>& out) {
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return !n.Scalar().empty();
  }
  if (!n.IsSequence()) return false;
  for (const auto& e : n) {
    if (!e.IsScalar() || e.Scalar().empty()) return false;
    out.push_back(e.Scalar());
  }
  return !out.empty();
}

}  // namespace

bool parse_config_bindings(const YAML::Node& node, std::vector<ConfigBinding>& out,
                           std::string& error) {
  if (!node || node.IsNull()) return true;
  if (node.IsMap()) {
    for (const auto& kv : node) {
      ConfigBinding b;
      b.pattern = ToolPattern::parse(kv.first.Scalar());
      if (!string_list(kv.second, b.policies)) {
        error = "bindings: `" + kv.first.Scalar() + "` must name a policy id or a list of ids";
        return false;
      }
      out.push_back(std::move(b));
    }
    return true;
  }
  if (!node.IsSequence()) {
    error =
        "bindings must be a list of {tools, server, policies} or a mapping of tool pattern to "
        "policy ids";
    return false;
  }
  for (const auto& e : node) {
    if (!e.IsMap()) {
      error = "bindings: every entry must be a mapping with `tools` and `policies`";
      return false;
    }
    for (const auto& kv : e) {
      std::string k = kv.first.Scalar();
      if (k != "tools" && k != "tool" && k != "server" && k != "policies" && k != "policy") {
        error = "bindings: unknown key `" + k + "` (use tools, server, policies)";
        return false;
      }
    }
    std::vector<std::string> tools, pols;
    const auto t = e["tools"] ? e["tools"] : e["tool"];
    const auto p = e["policies"] ? e["policies"] : e["policy"];
    if (!t || !string_list(t, tools)) {
      error = "bindings: an entry needs `tools` (a tool name, glob or list)";
      return false;
    }
    if (!p || !string_list(p, pols)) {
      error = "bindings: an entry needs `policies` (a policy id or list)";
      return false;
    }
    std::string server = e["server"] && e["server"].IsScalar() ? e["server"].Scalar() : "";
    for (const auto& tool : tools) {
      ConfigBinding b;
      b.pattern = ToolPattern::parse(tool);
      if (!server.empty() && server != "*") {
        b.pattern.server = server;
        b.pattern.text = server + "/" + b.pattern.tool;
      }
      b.policies = pols;
      out.push_back(std::move(b));
    }
  }
  return true;
}

bool parse_set_options(const YAML::Node& node, SetOptions& out, std::string& error,
                       const std::function<std::string(const std::string&)>& resolve) {
  if (!node || node.IsNull()) return true;
  if (!node.IsMap()) {
    error = "must be a mapping";
    return false;
  }
  if (node["bindings"] && !parse_config_bindings(node["bindings"], out.bindings, error))
    return false;
  if (const auto d = node["default_policy"]) {
    if (!d.IsScalar()) {
      error = "default_policy must be a policy id";
      return false;
    }
    out.default_policy = d.Scalar();
  }
  if (const auto m = node["mode"]) {
    std::string s = m.IsScalar() ? m.Scalar() : "";
    if (s == "enforce") {
      out.mode = Mode::Enforce;
    } else if (s == "monitor") {
      out.mode = Mode::Monitor;
    } else {
      error = "mode must be `enforce` or `monitor`, not `" + s + "`";
      return false;
    }
  }
  if (const auto tz = node["timezone"]) {
    std::string terr;
    auto z = TimeZone::load(tz.IsScalar() ? tz.Scalar() : "", terr);
    if (!z) {
      error = terr;
      return false;
    }
    out.tz = std::move(z);
  }
  for (const char* key : {"require_signed", "require_signed_policies"}) {
    if (const auto r = node[key]) {
      auto j = yaml_to_json(r);
      if (!j.is_boolean()) {
        error = std::string(key) + " must be true or false";
        return false;
      }
      out.require_signed = j.get<bool>();
    }
  }
  if (const auto k = node["public_key"]) {
    if (!k.IsScalar()) {
      error = "public_key must be a base64 key or a key file path";
      return false;
    }
    std::string text = k.Scalar();
    PublicKey pk;
    std::string kerr;
    if (!parse_public_key(text, pk, kerr)) {
      std::string resolved = resolve ? resolve(text) : text;
      if (resolved == text || !parse_public_key(resolved, pk, kerr)) {
        error = kerr;
        return false;
      }
    }
    out.public_key.assign(reinterpret_cast<const char*>(pk.data()), pk.size());
  }
  if (const auto m = node["max_file_bytes"]) {
    auto j = yaml_to_json(m);
    if (!j.is_number_integer() || j.get<int64_t>() < 1024 ||
        j.get<int64_t>() > (int64_t{1} << 30)) {
      error = "max_file_bytes must be a whole number of bytes from 1024 to 1073741824";
      return false;
    }
    out.max_file_bytes = static_cast<size_t>(j.get<int64_t>());
  }
  if (out.require_signed && out.public_key.size() != 32) {
    error = "require_signed is true but no public_key is configured";
    return false;
  }
  return true;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& s) {
  int y, mo, d, h, mi, se;
  if (s.size() < 19 || std::sscanf(s.c_str(), "%4d-%2d-%2d", &y, &mo, &d) != 3 ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      std::sscanf(s.c_str() + 11, "%2d:%2d:%2d", &h, &mi, &se) != 3 || s[4] != '-' || s[7] != '-' ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  size_t i = 19;
  int64_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int64_t scale = 100000000;
    size_t b = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      nanos += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == b) return std::nullopt;
  }
  int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  int64_t t = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
              h * 3600 + mi * 60 + se - offset;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(t) + std::chrono::nanoseconds(nanos)));
}

}  // namespace gt::gov::policy
