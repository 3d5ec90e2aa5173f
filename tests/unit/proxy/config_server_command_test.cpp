// How a server's command is found (README "Configuration"): a first word with a slash is a path
// relative to the config file, a bare name is looked up through PATH, arguments pass as written.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "proxy/config.hpp"

using namespace gt::proxy;
namespace fs = std::filesystem;

namespace {
const ServerConfig& only_server(const Config& c) {
  REQUIRE(c.servers.size() == 1);
  return c.servers[0];
}
}  // namespace

TEST_CASE("a server command with a slash is relative to the config file", "[config]") {
  auto c = parse_config("servers: {s: {command: [../bin/server, ../data, x/y], args: [./z]}}\n",
                        "/etc/glasstape");
  const auto& s = only_server(c);
  REQUIRE(s.command.size() == 4);
  CHECK(s.command[0] == "/etc/bin/server");
  CHECK(s.command[1] == "../data");  // arguments are the server's business
  CHECK(s.command[2] == "x/y");
  CHECK(s.command[3] == "./z");

  CHECK(only_server(parse_config("servers: {s: {command: [./server]}}\n", "/srv/gt")).command[0] ==
        "/srv/gt/server");
  CHECK(
      only_server(parse_config("servers: {s: {command: [bin/server]}}\n", "/srv/gt")).command[0] ==
      "/srv/gt/bin/server");
}

TEST_CASE("a bare server command is left for PATH, an absolute one as written", "[config]") {
  CHECK(only_server(parse_config("servers: {s: {command: [npx, -y, pkg]}}\n", "/etc/glasstape"))
            .command[0] == "npx");
  CHECK(only_server(parse_config("servers: {s: {command: [/usr/bin/env, x]}}\n", "/etc/glasstape"))
            .command[0] == "/usr/bin/env");
}

TEST_CASE("a server command under ~ is under HOME", "[config]") {
  const char* home = std::getenv("HOME");
  if (!home || !*home) return;
  CHECK(only_server(parse_config("servers: {s: {command: [~/bin/server]}}\n", "/etc/glasstape"))
            .command[0] == (fs::path(home) / "bin/server").lexically_normal().string());
}

TEST_CASE("a server's relative cwd is relative to the config file", "[config]") {
  CHECK(only_server(parse_config("servers: {s: {command: [npx], cwd: work}}\n", "/etc/glasstape"))
            .cwd == "/etc/glasstape/work");
  CHECK(only_server(parse_config("servers: {s: {command: [npx], cwd: /srv}}\n", "/etc/glasstape"))
            .cwd == "/srv");
}

TEST_CASE("the default config's example server resolves from any working directory", "[config]") {
  // `make run` serves configs/default.yaml from the repository root; its server command
  // `../build/tests/glasstape-example-server` must name build/ in the repository.
  auto old = fs::current_path();
  fs::current_path(fs::temp_directory_path());
  Config c;
  try {
    c = load_config(fs::path(GT_SOURCE_DIR) / "configs/default.yaml");
  } catch (...) {
    fs::current_path(old);
    throw;
  }
  fs::current_path(old);
  REQUIRE(c.servers.size() == 1);
  CHECK(c.servers[0].command[0] ==
        (fs::path(GT_SOURCE_DIR) / "build/tests/glasstape-example-server").lexically_normal());
}
