#include "proxy/config.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "governance/policy/yaml_load.hpp"
#include "transport/child_process.hpp"
#include "transport/url.hpp"

namespace gt::proxy {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
  throw ConfigError(where + ": " + msg);
}

// As fail(), led by the node's "line L, column C" when it came from the file (as YAML syntax
// errors are), so an error points into the file.
[[noreturn]] void fail_at(const YAML::Node& n, const std::string& where, const std::string& msg) {
  auto m = n.Mark();
  if (m.is_null() || m.line < 0) fail(where, msg);
  throw ConfigError("line " + std::to_string(m.line + 1) + ", column " +
                    std::to_string(m.column + 1) + ": " + where + ": " + msg);
}

void check_keys(const YAML::Node& node, const std::string& where,
                const std::set<std::string>& allowed) {
  if (!node.IsMap()) fail_at(node, where, "must be a mapping");
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      std::string known;
      for (const auto& k : allowed)
        known += (known.empty() ? "" : ", ") + k;
      fail_at(kv.first, where, "unknown key `" + key + "` (known keys: " + known + ")");
    }
  }
}

// Expands ${VAR} from the environment. An unset variable is a config error: a header such
// as `Authorization: Bearer ${TOKEN}` must never be sent half-filled.
std::string expand_env(const std::string& s, const std::string& where) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      auto end = s.find('}', i + 2);
      if (end == std::string::npos) fail(where, "unterminated `${` in `" + s + "`");
      std::string name = s.substr(i + 2, end - i - 2);
      if (transport::is_secret_env_var(name)) {
        fail(where, "`${" + name + "}` is a GlassTape secret and is never given to a server");
      }
      const char* v = std::getenv(name.c_str());
      if (!v) fail(where, "environment variable `" + name + "` is not set");
      out += v;
      i = end;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string scalar(const YAML::Node& n, const std::string& where) {
  if (!n.IsScalar()) fail_at(n, where, "must be a scalar");
  return n.as<std::string>();
}

long long integer(const YAML::Node& n, const std::string& where, long long lo, long long hi) {
  try {
    auto v = n.as<long long>();
    if (v < lo || v > hi) {
      fail_at(n, where, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    return v;
  } catch (const YAML::Exception&) {
    fail_at(n, where, "must be an integer");
  }
}

std::vector<std::string> string_list(const YAML::Node& n, const std::string& where) {
  std::vector<std::string> out;
  if (n.IsScalar()) {
    out.push_back(n.as<std::string>());
    return out;
  }
  if (!n.IsSequence()) fail(where, "must be a list of strings");
  for (std::size_t i = 0; i < n.size(); ++i)
    out.push_back(scalar(n[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

nlohmann::json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      auto o = nlohmann::json::object();
      for (const auto& kv : n)
        o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      auto a = nlohmann::json::array();
      for (const auto& v : n)
        a.push_back(to_json(v));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const auto& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      try {
        std::size_t pos = 0;
        long long v = std::stoll(s, &pos);
        if (pos == s.size()) return v;
        double d = std::stod(s, &pos);
        if (pos == s.size()) return d;
      } catch (...) {
      }
      return s;
    }
    default:
      return nullptr;
  }
}

gov::Principal parse_identity(const YAML::Node& n, const std::string& where,
                              const std::string& tenant) {
  gov::Principal p;
  p.tenant = tenant;
  p.id = "glasstape-agent";
  if (!n) return p;
  check_keys(n, where, {"agent_id", "tenant", "roles", "attributes"});
  if (n["agent_id"]) p.id = scalar(n["agent_id"], where + ".agent_id");
  if (n["tenant"]) p.tenant = scalar(n["tenant"], where + ".tenant");
  if (n["roles"]) p.roles = string_list(n["roles"], where + ".roles");
  if (n["attributes"]) {
    if (!n["attributes"].IsMap()) fail(where + ".attributes", "must be a mapping");
    p.attributes = to_json(n["attributes"]);
  }
  // Key and log paths are built from these names: keep them to a safe alphabet.
  for (const auto* s : {&p.id, &p.tenant}) {
    if (s->empty() ||
        s->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789._-") != std::string::npos ||
        *s == "." || *s == "..") {
      fail(where, "`" + *s + "` must be non-empty and use only letters, digits, `.`, `_`, `-`");
    }
  }
  return p;
}

// Characters an MCP tool name may hold (SEP-986): a prefix becomes part of every name.
bool valid_name_part(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

PrefixMode prefix_mode(const YAML::Node& n, const std::string& where) {
  auto v = scalar(n, where);
  auto m = parse_prefix_mode(v);
  if (!m) fail(where, "must be `always`, `on-collision` or `never`, not `" + v + "`");
  return *m;
}

ServerConfig parse_server(const std::string& name, const YAML::Node& n) {
  std::string where = "servers." + name;
  ServerConfig s;
  s.name = name;
  check_keys(n, where,
             {"command", "args", "env", "env_passthrough", "cwd", "url", "headers", "transport",
              "ca_file", "insecure_skip_verify", "restart", "sharing", "timeout_ms",
              "max_timeout_ms", "prefix", "prefix_mode"});
  if (n["command"]) {
    s.command = string_list(n["command"], where + ".command");
    if (n["args"]) {
      for (auto& a : string_list(n["args"], where + ".args"))
        s.command.push_back(a);
    }
  }
  if (n["url"]) s.url = expand_env(scalar(n["url"], where + ".url"), where + ".url");
  if (s.command.empty() == s.url.empty()) fail(where, "needs exactly one of `command` and `url`");
  if (!s.url.empty()) {
    std::string err;
    if (!transport::Url::parse(s.url, &err)) fail(where + ".url", err);
  }
  for (const char* k : {"headers", "transport", "ca_file", "insecure_skip_verify"}) {
    if (n[k] && s.url.empty()) fail(where + "." + k, "only applies to `url` servers");
  }
  if (n["transport"]) {
    s.transport = scalar(n["transport"], where + ".transport");
    if (s.transport != "auto" && s.transport != "streamable-http" && s.transport != "sse") {
      fail(where + ".transport",
           "must be `auto`, `streamable-http` or `sse`, not `" + s.transport + "`");
    }
  }
  if (n["ca_file"]) s.ca_file = scalar(n["ca_file"], where + ".ca_file");
  if (n["insecure_skip_verify"]) {
    auto v = scalar(n["insecure_skip_verify"], where + ".insecure_skip_verify");
    if (v != "true" && v != "false") fail(where + ".insecure_skip_verify", "must be true or false");
    s.insecure_skip_verify = v == "true";
  }
  if (n["env"]) {
    if (!n["env"].IsMap()) fail(where + ".env", "must be a mapping");
    for (const auto& kv : n["env"]) {
      auto k = kv.first.as<std::string>();
      if (transport::is_secret_env_var(k)) {
        fail(where + ".env." + k, "is a GlassTape secret and is never given to a server");
      }
      s.env[k] = expand_env(scalar(kv.second, where + ".env." + k), where + ".env." + k);
    }
  }
  if (n["env_passthrough"]) {
    if (s.command.empty()) fail(where + ".env_passthrough", "only applies to `command` servers");
    s.env_passthrough = string_list(n["env_passthrough"], where + ".env_passthrough");
    for (std::size_t i = 0; i < s.env_passthrough->size(); ++i) {
      auto err = transport::env_pattern_error((*s.env_passthrough)[i]);
      if (!err.empty()) fail(where + ".env_passthrough[" + std::to_string(i) + "]", err);
    }
  }
  if (n["cwd"]) s.cwd = scalar(n["cwd"], where + ".cwd");
  if (n["headers"]) {
    if (!n["headers"].IsMap()) fail(where + ".headers", "must be a mapping");
    for (const auto& kv : n["headers"]) {
      auto k = kv.first.as<std::string>();
      // The proxy sets these itself; a configured value would break the protocol.
      std::string lk = k;
      for (auto& ch : lk)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (lk == "host" || lk == "content-length" || lk == "transfer-encoding" ||
          lk == "connection" || lk == "mcp-session-id" || lk == "mcp-protocol-version" ||
          lk == "content-type" || lk == "accept" || lk == "last-event-id") {
        fail(where + ".headers." + k, "is set by the proxy and cannot be configured");
      }
      if (k.empty() || k.find_first_of(" :\r\n\t") != std::string::npos) {
        fail(where + ".headers", "bad header name `" + k + "`");
      }
      s.headers[k] =
          expand_env(scalar(kv.second, where + ".headers." + k), where + ".headers." + k);
      if (s.headers[k].find_first_of("\r\n") != std::string::npos) {
        fail(where + ".headers." + k, "the value has a line break");
      }
    }
  }
  if (auto r = n["restart"]) {
    check_keys(r, where + ".restart", {"max", "backoff_ms"});
    if (r["max"])
      s.restart_max = static_cast<int>(integer(r["max"], where + ".restart.max", 0, 1000));
    if (r["backoff_ms"]) {
      s.restart_backoff = std::chrono::milliseconds(
          integer(r["backoff_ms"], where + ".restart.backoff_ms", 0, 600000));
    }
  }
  if (n["sharing"]) {
    s.sharing = scalar(n["sharing"], where + ".sharing");
    if (s.sharing != "isolated" && s.sharing != "shared") {
      fail(where + ".sharing", "must be `isolated` or `shared`, not `" + s.sharing + "`");
    }
  }
  if (n["timeout_ms"]) {
    s.request_timeout =
        std::chrono::milliseconds(integer(n["timeout_ms"], where + ".timeout_ms", 1, 86400000));
  }
  if (n["max_timeout_ms"]) {
    s.max_timeout = std::chrono::milliseconds(
        integer(n["max_timeout_ms"], where + ".max_timeout_ms", 1, 86400000));
  }
  if (n["prefix"]) {
    s.prefix = scalar(n["prefix"], where + ".prefix");
    if (!valid_name_part(s.prefix))
      fail(where + ".prefix", "must be 1 to 64 letters, digits, `_`, `-` or `.`");
  }
  if (n["prefix_mode"]) s.prefix_mode = prefix_mode(n["prefix_mode"], where + ".prefix_mode");
  return s;
}

}  // namespace

const TenantConfig& Config::tenant(const std::string& id) const {
  for (const auto& t : tenants)
    if (t.id == id) return t;
  throw ConfigError("no tenant `" + id + "` in the config");
}

std::filesystem::path Config::resolve(const std::string& path) const {
  std::filesystem::path p(path);
  if (!path.empty() && path[0] == '~') {
    const char* home = std::getenv("HOME");
    p = std::filesystem::path(home ? home : "/") / path.substr(path.size() > 1 ? 2 : 1);
  }
  return p.is_absolute() ? p : base_dir / p;
}

// A server command's first word that contains a slash is a path, relative to the config file
// (`../build/tests/glasstape-example-server`, `~/bin/server`, `/usr/bin/server`); a bare name
// (`npx`) is looked up through glasstape's PATH when the server starts. `cwd` is relative to
// the config file too. Arguments are passed as written.
static void resolve_server_command(const Config& c, ServerConfig& s) {
  if (!s.command.empty() && s.command[0].find('/') != std::string::npos)
    s.command[0] = c.resolve(s.command[0]).lexically_normal().string();
  if (!s.cwd.empty()) s.cwd = c.resolve(s.cwd).lexically_normal().string();
}

Config parse_config(const std::string& yaml_text, const std::filesystem::path& base_dir) {
  // The YAML limits every file shares (size, depth, aliases: governance/policy/yaml_load.hpp).
  YAML::Node root;
  gov::policy::YamlError yerr;
  if (!gov::policy::load_yaml(yaml_text, gov::policy::YamlLimits{}, root, yerr)) {
    if (yerr.line == 0) throw ConfigError(yerr.message);
    throw ConfigError("line " + std::to_string(yerr.line) + ", column " +
                      std::to_string(yerr.column) + ": " + yerr.message);
  }
  Config c;
  c.base_dir = base_dir;
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  check_keys(
      root, "config",
      {"servers", "aggregate", "identity", "governance", "tenants", "http", "max_message_bytes",
       "max_batch_messages", "shutdown_grace_ms", "log_level", "log_format", "admin"});
  if (auto s = root["servers"]) {
    if (!s.IsMap()) fail("servers", "must be a mapping of server name to settings");
    for (const auto& kv : s) {
      c.servers.push_back(parse_server(kv.first.as<std::string>(), kv.second));
      auto& ca = c.servers.back().ca_file;
      if (!ca.empty()) ca = c.resolve(ca).string();
      resolve_server_command(c, c.servers.back());
    }
  }
  if (auto a = root["aggregate"]) {
    check_keys(a, "aggregate", {"prefix_mode", "separator"});
    if (a["prefix_mode"])
      c.aggregate.prefix_mode = prefix_mode(a["prefix_mode"], "aggregate.prefix_mode");
    if (a["separator"]) {
      c.aggregate.separator = scalar(a["separator"], "aggregate.separator");
      if (!valid_name_part(c.aggregate.separator) || c.aggregate.separator.size() > 8)
        fail("aggregate.separator", "must be 1 to 8 of `_`, `-`, `.`, letters or digits");
    }
  }
  if (root["max_batch_messages"]) {
    c.max_batch_messages = static_cast<std::size_t>(
        integer(root["max_batch_messages"], "max_batch_messages", 1, 1 << 20));
  }
  if (root["max_message_bytes"]) {
    c.max_message_bytes = static_cast<std::size_t>(
        integer(root["max_message_bytes"], "max_message_bytes", 1024, 1ll << 30));
  }
  if (root["shutdown_grace_ms"]) {
    c.shutdown_grace = std::chrono::milliseconds(
        integer(root["shutdown_grace_ms"], "shutdown_grace_ms", 0, 600000));
  }
  if (root["log_level"]) c.log_level = scalar(root["log_level"], "log_level");
  if (root["log_format"]) {
    c.log_format = scalar(root["log_format"], "log_format");
    if (c.log_format != "text" && c.log_format != "json")
      fail("log_format", "must be `text` or `json`");
  }
  if (auto a = root["admin"]) {
    check_keys(a, "admin", {"listen"});
    if (a["listen"]) c.admin_listen = scalar(a["listen"], "admin.listen");
  }
  c.http = root["http"] ? root["http"] : YAML::Node(YAML::NodeType::Map);
  if (c.http.IsMap()) {
    auto& l = c.http_limits;
    auto ms = [&](const char* key, std::chrono::milliseconds& out) {
      if (c.http[key])
        out =
            std::chrono::milliseconds(integer(c.http[key], std::string("http.") + key, 1, 3600000));
    };
    if (c.http["max_connections"])
      l.max_connections = static_cast<std::size_t>(
          integer(c.http["max_connections"], "http.max_connections", 1, 1000000));
    if (c.http["max_connections_per_ip"])
      l.max_connections_per_ip = static_cast<std::size_t>(
          integer(c.http["max_connections_per_ip"], "http.max_connections_per_ip", 1, 1000000));
    if (c.http["body_budget_bytes"])
      l.body_budget_bytes = static_cast<std::size_t>(
          integer(c.http["body_budget_bytes"], "http.body_budget_bytes", 1024, 1ll << 40));
    ms("header_timeout_ms", l.header_timeout);
    ms("body_timeout_ms", l.body_timeout);
    ms("idle_timeout_ms", l.idle_timeout);
    if (l.body_timeout < l.header_timeout)
      fail("http.body_timeout_ms", "must not be less than http.header_timeout_ms");
    if (l.body_budget_bytes < c.max_message_bytes)
      fail("http.body_budget_bytes", "must be at least max_message_bytes");
  }

  // The default tenant is the top-level identity + governance; `tenants` adds more, each
  // with its own identity, policies and audit log.
  TenantConfig def;
  def.principal = parse_identity(root["identity"], "identity", "default");
  def.id = def.principal.tenant;
  def.governance = root["governance"] ? root["governance"] : YAML::Node(YAML::NodeType::Map);
  c.tenants.push_back(def);
  if (auto ts = root["tenants"]) {
    if (!ts.IsMap()) fail("tenants", "must be a mapping of tenant id to settings");
    for (const auto& kv : ts) {
      TenantConfig t;
      t.id = kv.first.as<std::string>();
      std::string where = "tenants." + t.id;
      check_keys(kv.second, where, {"identity", "governance"});
      t.principal = parse_identity(kv.second["identity"], where + ".identity", t.id);
      if (t.principal.tenant != t.id) fail(where + ".identity.tenant", "must match the tenant id");
      t.governance =
          kv.second["governance"] ? kv.second["governance"] : YAML::Node(YAML::NodeType::Map);
      for (const auto& other : c.tenants) {
        if (other.id == t.id) fail(where, "tenant `" + t.id + "` is defined twice");
      }
      c.tenants.push_back(t);
    }
  }
  for (const auto& t : c.tenants) {
    if (!t.governance.IsMap()) fail("tenant `" + t.id + "` governance", "must be a mapping");
  }
  return c;
}

Config load_config(const std::filesystem::path& file) {
  std::string text, rerr;
  if (!gov::policy::read_text_file(file, gov::policy::kDefaultMaxYamlBytes, text, rerr))
    throw ConfigError(file.string() + ": cannot read the config file: " + rerr);
  try {
    Config c = parse_config(text, std::filesystem::absolute(file).parent_path());
    c.file = file;
    return c;
  } catch (const ConfigError& e) {
    throw ConfigError(file.string() + ": " + e.what());
  }
}

}  // namespace gt::proxy
