// Merged names of several servers behind one endpoint (proxy/aggregate_names.hpp): prefix
// modes, and every collision the configuration leaves is an error naming both servers.
#include <catch2/catch.hpp>

#include "proxy/aggregate_names.hpp"

using gt::proxy::merge_names;
using gt::proxy::PrefixMode;
using gt::proxy::ServerNames;

TEST_CASE("aggregate: prefixes only where names collide, by default", "[aggregate]") {
  auto m = merge_names({{"fs", "", PrefixMode::OnCollision, {"read_file", "search"}},
                        {"web", "", PrefixMode::OnCollision, {"fetch", "search"}}});
  REQUIRE(m.ok());
  CHECK(m.routes.size() == 4);
  CHECK(m.routes.at("read_file").server == "fs");
  CHECK(m.routes.at("fetch").server == "web");
  CHECK(m.routes.at("fs__search").name == "search");
  CHECK(m.routes.at("web__search").server == "web");
  CHECK_FALSE(m.routes.count("search"));
}

TEST_CASE("aggregate: always and never, custom prefix and separator", "[aggregate]") {
  auto m = merge_names({{"filesystem", "fs", PrefixMode::Always, {"read_file"}},
                        {"memory", "", PrefixMode::Never, {"read_graph"}}},
                       ".");
  REQUIRE(m.ok());
  CHECK(m.routes.at("fs.read_file").server == "filesystem");
  CHECK(m.routes.at("read_graph").server == "memory");
}

TEST_CASE("aggregate: a collision the config does not resolve is an error, never shadowing",
          "[aggregate]") {
  auto m = merge_names(
      {{"a", "", PrefixMode::Never, {"search", "x"}}, {"b", "", PrefixMode::Never, {"search"}}});
  REQUIRE(m.errors.size() == 1);
  CHECK(m.errors[0] ==
        "`search` is exposed by both server `a` (`search`) and server `b` (`search`); give one "
        "of them a prefix (prefix_mode: always)");
  CHECK_FALSE(m.routes.count("search"));  // neither wins
  CHECK(m.routes.count("x"));
  // A prefixed name that meets another server's plain name.
  auto p =
      merge_names({{"a", "", PrefixMode::Always, {"b"}}, {"x", "", PrefixMode::Never, {"a__b"}}});
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].find("`a__b` is exposed by both") != std::string::npos);
  // A server that lists a name twice; a name too long once prefixed.
  // Neither copy is routed (which one the server runs is its own secret); others are.
  auto d = merge_names({{"a", "", PrefixMode::Never, {"t", "u", "t", "t"}}});
  CHECK(d.errors ==
        std::vector<std::string>{"server `a` lists `t` more than once; it is neither shown nor "
                                 "routed"});
  CHECK_FALSE(d.routes.count("t"));
  CHECK(d.routes.count("u"));
  auto l = merge_names({{"a", std::string(120, 'p'), PrefixMode::Always, {"tool_name"}}});
  REQUIRE(l.errors.size() == 1);
  CHECK(l.errors[0].find("longer than 128 bytes") != std::string::npos);
}

TEST_CASE("aggregate: prefix modes parse", "[aggregate]") {
  CHECK(gt::proxy::parse_prefix_mode("always") == PrefixMode::Always);
  CHECK(gt::proxy::parse_prefix_mode("on-collision") == PrefixMode::OnCollision);
  CHECK(gt::proxy::parse_prefix_mode("never") == PrefixMode::Never);
  CHECK_FALSE(gt::proxy::parse_prefix_mode("sometimes"));
}
