// The glasstape configuration file (YAML), parsed once into an immutable Config.
// Interceptor sections are kept as YAML nodes and parsed by each interceptor's factory
// (proxy/chain.cpp), so a bad section fails at load with that interceptor's exact message.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "governance/principal.hpp"
#include "proxy/aggregate_names.hpp"

namespace gt::proxy {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ServerConfig {
  std::string name;
  // stdio upstream
  std::vector<std::string> command;        // argv; empty for HTTP upstreams
  std::map<std::string, std::string> env;  // extra environment for the child
  // Unset: the child inherits the environment minus every `GT_` variable; set: only these
  // names (`NAME` or `PREFIX*`). See transport/child_process.hpp.
  std::optional<std::vector<std::string>> env_passthrough;
  std::string cwd;
  // HTTP upstream (Streamable HTTP / legacy SSE)
  std::string url;
  std::map<std::string, std::string> headers;  // values may be ${ENV_VAR}
  std::string transport = "auto";     // "auto", "streamable-http" or "sse" (legacy 2024-11-05)
  std::string ca_file;                // extra trusted CA certificates (PEM), absolute
  bool insecure_skip_verify = false;  // https without certificate checks: tests only
  // lifecycle
  int restart_max = 3;                             // restarts after a crash; 0 disables
  std::chrono::milliseconds restart_backoff{200};  // doubles per consecutive restart
  std::string sharing = "isolated";                // HTTP front: "isolated" or "shared"
  std::chrono::milliseconds request_timeout{60000};
  std::chrono::milliseconds max_timeout{600000};  // progress may extend up to this
  // Aggregation (several servers behind one endpoint): the prefix of this server's names
  // (empty: its name) and when it is used (unset: the config's `aggregate.prefix_mode`).
  std::string prefix;
  std::optional<PrefixMode> prefix_mode;
};

// `aggregate:` how the servers' names are merged when several are served behind one endpoint
// (proxy/aggregate_names.hpp).
struct AggregateConfig {
  PrefixMode prefix_mode = PrefixMode::OnCollision;
  std::string separator = "__";
};

// One tenant: its own identity, policy directory and audit log.
struct TenantConfig {
  std::string id = "default";
  gov::Principal principal;
  YAML::Node governance;  // deny_tools, schema, policies, audit sections
};

// Connection and request limits of the HTTP front (`http.*` keys; README "Limits under
// load"). They go to transport::http::Limits.
struct HttpLimits {
  std::size_t max_connections = 4096;
  std::size_t max_connections_per_ip = 1024;        // per IPv4 address or IPv6 /64
  std::size_t body_budget_bytes = 256u << 20;       // request bodies in flight, all connections
  std::chrono::milliseconds header_timeout{10000};  // from a request's first byte
  std::chrono::milliseconds body_timeout{30000};    // from a request's first byte
  std::chrono::milliseconds idle_timeout{120000};   // keep-alive connection with no request
};

struct Config {
  std::filesystem::path file;      // where it was loaded from
  std::filesystem::path base_dir;  // relative paths in the config resolve against this
  std::vector<ServerConfig> servers;
  AggregateConfig aggregate;
  std::vector<TenantConfig> tenants;  // at least one
  YAML::Node http;                    // HTTP front settings (glasstape serve)
  HttpLimits http_limits;             // the limit keys of `http`, parsed
  std::size_t max_message_bytes = 16u << 20;
  std::size_t max_batch_messages = 1024;  // messages in one JSON-RPC batch
  std::chrono::milliseconds shutdown_grace{2000};
  std::string log_level = "info";
  std::string log_format = "text";  // "text" or "json" (one object per line)
  // `admin.listen`: a listener of its own for /healthz, /readyz and /metrics ("" = none).
  std::string admin_listen;

  const TenantConfig& tenant(const std::string& id) const;       // throws ConfigError
  std::filesystem::path resolve(const std::string& path) const;  // against base_dir
};

// Parses a config file. Throws ConfigError with "file: message" on any problem.
Config load_config(const std::filesystem::path& file);
// Parses YAML text (for tests and inline configs); base_dir resolves relative paths.
Config parse_config(const std::string& yaml_text, const std::filesystem::path& base_dir);

// What an interceptor factory gets besides its own config section.
struct InterceptorEnv {
  const Config& config;
  const TenantConfig& tenant;
  bool debug = false;  // --debug: log each evaluation step
};

}  // namespace gt::proxy
