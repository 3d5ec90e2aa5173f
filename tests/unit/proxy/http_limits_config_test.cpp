// The HTTP front's connection and request limits (`http.*`), parsed by load_config.
#include <catch2/catch.hpp>

#include "proxy/config.hpp"

using gt::proxy::ConfigError;
using gt::proxy::parse_config;
using namespace std::chrono_literals;

TEST_CASE("http limits have documented defaults") {
  auto c = parse_config("servers: {a: {command: [x]}}\n", ".");
  CHECK(c.http_limits.max_connections == 4096);
  CHECK(c.http_limits.max_connections_per_ip == 1024);
  CHECK(c.http_limits.body_budget_bytes == 256u << 20);
  CHECK(c.http_limits.header_timeout == 10s);
  CHECK(c.http_limits.body_timeout == 30s);
  CHECK(c.http_limits.idle_timeout == 120s);
}

TEST_CASE("http limits are read from the http section") {
  auto c = parse_config(
      "max_message_bytes: 1048576\n"
      "http:\n  max_connections: 100\n  max_connections_per_ip: 10\n"
      "  body_budget_bytes: 8388608\n  header_timeout_ms: 2000\n  body_timeout_ms: 5000\n"
      "  idle_timeout_ms: 60000\n",
      ".");
  CHECK(c.http_limits.max_connections == 100);
  CHECK(c.http_limits.max_connections_per_ip == 10);
  CHECK(c.http_limits.body_budget_bytes == 8u << 20);
  CHECK(c.http_limits.header_timeout == 2s);
  CHECK(c.http_limits.body_timeout == 5s);
  CHECK(c.http_limits.idle_timeout == 60s);
}

TEST_CASE("bad http limits are config errors") {
  auto bad = [](const std::string& yaml) { CHECK_THROWS_AS(parse_config(yaml, "."), ConfigError); };
  bad("http: {max_connections: 0}\n");
  bad("http: {max_connections_per_ip: -1}\n");
  bad("http: {header_timeout_ms: many}\n");
  bad("http: {header_timeout_ms: 5000, body_timeout_ms: 1000}\n");
  bad("http: {body_budget_bytes: 1048576}\n");  // below max_message_bytes (16 MiB)
}
