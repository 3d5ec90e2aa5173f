// The config file is read under the YAML limits every file shares
// (governance/policy/yaml_load.hpp): size, nesting, and alias expansion.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/config.hpp"

using namespace gt::proxy;

namespace {

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out += s;
  return out;
}

std::string config_error(const std::string& text) {
  try {
    parse_config(text, "/base");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("a billion-laughs config is refused before it expands", "[config][yaml]") {
  // identity.attributes is converted to JSON, which expanded every alias: 10^9 strings.
  std::string y = "identity:\n  agent_id: a\n  attributes:\n";
  y += "    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    std::string p = "*l" + std::to_string(i - 1);
    y += "    l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + repeat(p + ", ", 9) + p +
         "]\n";
  }
  std::string e = config_error(y);
  CHECK(e.rfind("line 7, column ", 0) == 0);
  CHECK(e.find("aliases expand the document too much") != std::string::npos);
}

TEST_CASE("a deeply nested config is refused, not recursed into", "[config][yaml]") {
  std::string e =
      config_error("governance: {schema: " + repeat("[", 100'000) + repeat("]", 100'000) + "}\n");
  CHECK(e == "line 1, column 148: nesting deeper than 128 levels");
}

TEST_CASE("a config whose alias refers to a node containing it is refused", "[config][yaml]") {
  // yaml-cpp builds this as a cycle; converting identity.attributes to JSON never ended.
  CHECK(config_error("identity:\n  agent_id: a\n  attributes:\n    l0: &l1 [lol]\n"
                     "    h2: &l1 [*l1, *l1]\n") ==
        "line 5, column 14: alias `l1` refers to a node that contains it");
}

TEST_CASE("aliases used sparingly still work in a config", "[config][yaml]") {
  auto c = parse_config(
      "identity:\n  agent_id: a\n  roles: &r [analyst, ops]\n  attributes: {roles: *r}\n", "/base");
  CHECK(c.tenants[0].principal.roles.size() == 2);
  CHECK(c.tenants[0].principal.attributes["roles"].size() == 2);
}

TEST_CASE("a config file over 1 MiB is refused unread", "[config][yaml]") {
  auto path = std::filesystem::temp_directory_path() /
              ("gt-config-limit-" + std::to_string(::getpid()) + ".yaml");
  {
    std::ofstream out(path);
    out << "log_level: info\n#" << std::string(1 << 20, 'x') << "\n";
  }
  std::string e;
  try {
    load_config(path);
  } catch (const ConfigError& ex) {
    e = ex.what();
  }
  std::filesystem::remove(path);
  CHECK(e == path.string() + ": cannot read the config file: the file is 1048594 bytes, " +
                 "over the limit of 1048576 bytes");
}
