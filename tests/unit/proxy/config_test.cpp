#include "proxy/config.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>

#include "proxy/chain.hpp"
#include "proxy/interceptors/deny_tools.hpp"

using namespace gt::proxy;

TEST_CASE("config parses servers, identity and tenants", "[config]") {
  auto c = parse_config(R"(
servers:
  fs:
    command: [npx, -y, "@modelcontextprotocol/server-filesystem"]
    args: [/data]
    env: {A: b}
    restart: {max: 5, backoff_ms: 50}
identity:
  agent_id: claude-desktop
  roles: [analyst]
  attributes: {user_role: analyst, limit: 50}
governance:
  deny_tools: [delete_file]
tenants:
  acme:
    identity: {agent_id: acme-bot, tenant: acme}
)",
                        "/base");
  REQUIRE(c.servers.size() == 1);
  CHECK(c.servers[0].command.back() == "/data");
  CHECK(c.servers[0].env.at("A") == "b");
  CHECK(c.servers[0].restart_max == 5);
  CHECK(c.servers[0].restart_backoff.count() == 50);
  REQUIRE(c.tenants.size() == 2);
  CHECK(c.tenants[0].principal.id == "claude-desktop");
  CHECK(c.tenants[0].principal.attributes["limit"] == 50);
  CHECK(c.tenants[0].principal.attributes["user_role"] == "analyst");
  CHECK(c.tenant("acme").principal.id == "acme-bot");
  CHECK(c.resolve("policies") == "/base/policies");
  CHECK(c.resolve("/abs") == "/abs");
}

TEST_CASE("config errors name the place and the problem", "[config]") {
  auto msg = [](const char* yaml) {
    try {
      parse_config(yaml, "/");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // Where (line, column) and, for an unknown key, the keys that are known.
  CHECK(msg("servrs: {}") ==
        "line 1, column 1: config: unknown key `servrs` (known keys: admin, aggregate, governance, "
        "http, identity, log_format, log_level, max_batch_messages, max_message_bytes, servers, "
        "shutdown_grace_ms, tenants)");
  CHECK(msg("log_format: xml") == "log_format: must be `text` or `json`");
  CHECK(msg("admin: {listn: x}").find("admin: unknown key `listn`") != std::string::npos);
  CHECK(msg("servers: {a: {command: x, url: http://y}}") ==
        "servers.a: needs exactly one of `command` and `url`");
  CHECK(msg("servers: {a: {command: x, restart: {max: many}}}") ==
        "line 1, column 42: servers.a.restart.max: must be an integer");
  CHECK(msg("identity: {agent_id: ../../etc}").find("must be non-empty and use only") !=
        std::string::npos);
  CHECK(msg("servers: {a: {url: 'http://x', headers: {Authorization: 'Bearer "
            "${GT_SURELY_UNSET_VAR}'}}}") ==
        "servers.a.headers.Authorization: environment variable `GT_SURELY_UNSET_VAR` is not set");
  CHECK(msg("a: [").find("line ") == 0);
  auto c = parse_config("governance: {deny_tool: [x]}", "/");
  InterceptorEnv env{c, c.tenants[0], false};
  CHECK_THROWS_WITH(build_pipeline(env),
                    "tenant `default` governance: unknown section `deny_tool`");
  auto c2 = parse_config("governance: {deny_tools: x}", "/");
  InterceptorEnv env2{c2, c2.tenants[0], false};
  CHECK_THROWS_WITH(build_pipeline(env2), "governance.deny_tools: must be a list of tool names");
}

TEST_CASE("glob_match", "[deny_tools]") {
  CHECK(glob_match("delete_*", "delete_file"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("a?c", "abc"));
  CHECK_FALSE(glob_match("a?c", "ac"));
  CHECK(glob_match("fs/*write*", "fs/write_file"));
  CHECK_FALSE(glob_match("delete_*", "undelete_x"));
  CHECK(glob_match("*a*a*a*a*b", std::string(10000, 'a') + "b"));
  CHECK_FALSE(glob_match("*a*a*a*a*b", std::string(10000, 'a')));
}

TEST_CASE("config: url servers, their headers, transport and TLS settings", "[config]") {
  ::setenv("GT_CONFIG_TEST_TOKEN", "s3cret", 1);
  auto c = parse_config(R"(
servers:
  remote:
    url: https://mcp.example.com:8443/mcp
    headers: {Authorization: "Bearer ${GT_CONFIG_TEST_TOKEN}", X-Team: blue}
    transport: sse
    ca_file: certs/ca.pem
    insecure_skip_verify: false
)",
                        "/base");
  REQUIRE(c.servers.size() == 1);
  const auto& s = c.servers[0];
  CHECK(s.url == "https://mcp.example.com:8443/mcp");
  CHECK(s.headers.at("Authorization") == "Bearer s3cret");
  CHECK(s.headers.at("X-Team") == "blue");
  CHECK(s.transport == "sse");
  CHECK(s.ca_file == "/base/certs/ca.pem");
  CHECK_FALSE(s.insecure_skip_verify);
  CHECK(parse_config("servers: {r: {url: 'http://h/mcp'}}", "/").servers[0].transport == "auto");

  auto msg = [](const char* yaml) {
    try {
      parse_config(yaml, "/");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(msg("servers: {r: {url: 'http://h/', transport: websocket}}") ==
        "servers.r.transport: must be `auto`, `streamable-http` or `sse`, not `websocket`");
  CHECK(msg("servers: {r: {url: 'ftp://h/'}}")
            .rfind("servers.r.url: unsupported URL scheme `ftp`", 0) == 0);
  CHECK(msg("servers: {r: {url: 'http://u:p@h/'}}") ==
        "servers.r.url: credentials in a URL are not supported; configure a header instead");
  CHECK(msg("servers: {r: {command: x, headers: {A: b}}}") ==
        "servers.r.headers: only applies to `url` servers");
  CHECK(msg("servers: {r: {url: 'http://h/', headers: {Mcp-Session-Id: x}}}") ==
        "servers.r.headers.Mcp-Session-Id: is set by the proxy and cannot be configured");
  CHECK(msg("servers: {r: {url: 'http://h/', insecure_skip_verify: maybe}}") ==
        "servers.r.insecure_skip_verify: must be true or false");
}
