// servers.<name>.env and env_passthrough: no GlassTape secret can be configured into a
// server's environment or a remote server's headers.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "governance/audit/keys.hpp"
#include "proxy/config.hpp"
#include "transport/child_process.hpp"

using namespace gt::proxy;

namespace {
std::string msg(const char* yaml) {
  try {
    parse_config(yaml, "/");
  } catch (const ConfigError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}
}  // namespace

TEST_CASE("config: env_passthrough", "[config][env]") {
  auto c = parse_config(R"(
servers:
  clean: {command: x, env_passthrough: [PATH, "LC_*", GT_KEYS_DIR], env: {A: b}}
  one: {command: x, env_passthrough: HOME}
  none: {command: x, env_passthrough: []}
  default: {command: x}
)",
                        "/");
  REQUIRE(c.servers.size() == 4);
  CHECK(c.servers[0].env_passthrough == std::vector<std::string>{"PATH", "LC_*", "GT_KEYS_DIR"});
  CHECK(c.servers[1].env_passthrough == std::vector<std::string>{"HOME"});
  CHECK(c.servers[2].env_passthrough == std::vector<std::string>{});
  CHECK_FALSE(c.servers[3].env_passthrough.has_value());

  CHECK(msg("servers: {a: {command: x, env_passthrough: [PATH, GT_ED25519_PRIVATE_KEY]}}") ==
        "servers.a.env_passthrough[1]: `GT_ED25519_PRIVATE_KEY` holds a GlassTape secret and is "
        "never given to a server");
  CHECK(msg("servers: {a: {command: x, env_passthrough: ['GT_*']}}")
            .rfind("servers.a.env_passthrough[0]: `GT_*` would match GlassTape's own", 0) == 0);
  CHECK(msg("servers: {a: {command: x, env_passthrough: ['A B']}}") ==
        "servers.a.env_passthrough[0]: `A B` is not a variable name (letters, digits, `_`), "
        "optionally ending in `*`");
  CHECK(msg("servers: {a: {command: x, env_passthrough: {A: b}}}") ==
        "servers.a.env_passthrough: must be a list of strings");
  CHECK(msg("servers: {a: {url: 'http://h/', env_passthrough: [PATH]}}") ==
        "servers.a.env_passthrough: only applies to `command` servers");
}

TEST_CASE("config: a GlassTape secret cannot be configured for a server", "[config][env]") {
  // The secret is the one the audit log signs with.
  CHECK(gt::transport::is_secret_env_var(gt::gov::audit::kKeyEnvVar));
  ::setenv("GT_ED25519_PRIVATE_KEY", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw==", 1);
  CHECK(msg("servers: {a: {command: x, env: {KEY: '${GT_ED25519_PRIVATE_KEY}'}}}") ==
        "servers.a.env.KEY: `${GT_ED25519_PRIVATE_KEY}` is a GlassTape secret and is never "
        "given to a server");
  CHECK(msg("servers: {a: {url: 'http://h/', headers: {Authorization: 'Bearer "
            "${GT_ED25519_PRIVATE_KEY}'}}}") ==
        "servers.a.headers.Authorization: `${GT_ED25519_PRIVATE_KEY}` is a GlassTape secret and "
        "is never given to a server");
  CHECK(msg("servers: {a: {command: x, env: {GT_ED25519_PRIVATE_KEY: literal}}}") ==
        "servers.a.env.GT_ED25519_PRIVATE_KEY: is a GlassTape secret and is never given to a "
        "server");
  ::unsetenv("GT_ED25519_PRIVATE_KEY");
  // Other GT_ variables may be passed on by name.
  ::setenv("GT_CONFIG_ENV_TEST_DIR", "/keys", 1);
  auto c = parse_config("servers: {a: {command: x, env: {D: '${GT_CONFIG_ENV_TEST_DIR}'}}}", "/");
  CHECK(c.servers[0].env.at("D") == "/keys");
  ::unsetenv("GT_CONFIG_ENV_TEST_DIR");
}
