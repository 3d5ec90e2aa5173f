// Claims to principal (governance/auth/claims_map.hpp): the config is refused at load when it
// cannot name one tenant, and a token is refused whenever its claims do not name one agent of
// one safe tenant.
#include <string>

#include <catch2/catch.hpp>

#include "governance/auth/claims_map.hpp"

using gt::auth::ClaimsMap;
using nlohmann::json;

namespace {

ClaimsMap config(const std::string& yaml) {
  std::string why;
  auto m = ClaimsMap::from_yaml(YAML::Load(yaml), why);
  INFO(why);
  REQUIRE(m);
  return *m;
}

std::string config_error(const std::string& yaml) {
  std::string why;
  auto m = ClaimsMap::from_yaml(YAML::Load(yaml), why);
  if (m) return "accepted";
  return why;
}

// The refusal for `claims`, or "accepted".
std::string refusal(const ClaimsMap& m, const json& claims) {
  std::string why;
  auto p = m.map(claims, why);
  if (p) return "accepted";
  return why;
}

}  // namespace

TEST_CASE("claims map: safe tenant ids and agent ids", "[claims]") {
  for (const char* ok : {"acme", "a", "ACME_corp-1.eu", "a..b"})
    CHECK(gt::auth::is_safe_tenant(ok));
  for (const char* bad : {"", ".", "..", "../x", ".hidden", "a/b", "a b", "x\n", "é"})
    CHECK_FALSE(gt::auth::is_safe_tenant(bad));
  CHECK(gt::auth::is_safe_tenant(std::string(64, 'a')));
  CHECK_FALSE(gt::auth::is_safe_tenant(std::string(65, 'a')));

  CHECK(gt::auth::is_valid_agent_id("auth0|5f3a"));
  CHECK(gt::auth::is_valid_agent_id("bot@example.com"));
  CHECK(gt::auth::is_valid_agent_id(std::string(256, 'a')));
  CHECK_FALSE(gt::auth::is_valid_agent_id(std::string(257, 'a')));
  CHECK_FALSE(gt::auth::is_valid_agent_id(""));
  CHECK_FALSE(gt::auth::is_valid_agent_id("bot\nforged log line"));
  CHECK_FALSE(gt::auth::is_valid_agent_id(std::string("a\0b", 3)));
}

TEST_CASE("claims map: config", "[claims][config]") {
  SECTION("the id claim defaults to `sub`") {
    auto m = config("tenant_value: acme");
    std::string why;
    auto p = m.map(json{{"sub", "agent-7"}}, why);
    REQUIRE(p);
    CHECK(p->id == "agent-7");
    CHECK(p->tenant == "acme");
    CHECK(p->roles.empty());
    CHECK(p->attributes == json::object());
  }
  SECTION("exactly one of tenant / tenant_value") {
    CHECK_THAT(config_error("id: sub"), Catch::Contains("needs `tenant` (a claim) or "
                                                        "`tenant_value`"));
    CHECK_THAT(config_error("{tenant: org, tenant_value: acme}"),
               Catch::Contains("either `tenant` (a claim) or `tenant_value`") &&
                   Catch::Contains("not both"));
  }
  SECTION("an absent section has no tenant") {
    CHECK_THAT(config_error("~"), Catch::Contains("needs `tenant`"));
    std::string why;
    CHECK_FALSE(ClaimsMap::from_yaml(YAML::Node(), why));
    CHECK_THAT(why, Catch::Contains("needs `tenant`"));
  }
  SECTION("unknown keys are refused, with their line") {
    CHECK(config_error("tenant_value: acme\nrole: roles") ==
          "line 2, column 1: claims: unknown key `role` (known keys: attributes, id, roles, "
          "tenant, tenant_value, tenants)");
    CHECK_THAT(config_error("[a, b]"), Catch::Contains("claims: must be a mapping"));
  }
  SECTION("a fixed tenant must be a safe name") {
    CHECK_THAT(config_error("tenant_value: ../x"),
               Catch::Contains("line 1, column 15: claims.tenant_value: must be a tenant id"));
    CHECK_THAT(config_error("tenant_value: [a]"), Catch::Contains("must be a tenant id"));
  }
  SECTION("`tenants` goes with a tenant claim, and maps to safe names") {
    CHECK_THAT(config_error("{tenant_value: acme, tenants: {x: acme}}"),
               Catch::Contains("claims.tenants: maps the `tenant` claim's values"));
    CHECK_THAT(config_error("{tenant: org, tenants: [acme]}"),
               Catch::Contains("must be a mapping of claim value to tenant id"));
    CHECK_THAT(config_error("{tenant: org, tenants: {\"0f3a\": ../etc}}"),
               Catch::Contains("claims.tenants.0f3a: must be a tenant id"));
    CHECK_THAT(config_error("{tenant: org, tenants: {x: acme, x: globex}}"),
               Catch::Contains("claims.tenants.x: is given twice"));
  }
  SECTION("claim paths: no empty step, at most 8 steps") {
    CHECK(config_error("{tenant_value: acme, id: a.b.c.d.e.f.g.h}") == "accepted");
    CHECK_THAT(config_error("{tenant_value: acme, id: a.b.c.d.e.f.g.h.i}"),
               Catch::Contains("claims.id: claim path `a.b.c.d.e.f.g.h.i` has more than 8 steps"));
    for (const char* bad : {"a..b", ".a", "a."}) {
      CHECK_THAT(
          config_error(std::string("{tenant_value: acme, roles: \"") + bad + "\"}"),
          Catch::Contains("claims.roles: claim path `" + std::string(bad) + "` has an empty step"));
    }
    CHECK_THAT(config_error("{tenant_value: acme, attributes: {env: x..y}}"),
               Catch::Contains("claims.attributes.env: claim path `x..y` has an empty step"));
    CHECK_THAT(config_error("{tenant_value: acme, id: [sub]}"),
               Catch::Contains("claims.id: must be a claim name"));
    CHECK_THAT(config_error("{tenant_value: acme, attributes: [team]}"),
               Catch::Contains("claims.attributes: must be a mapping of attribute name"));
  }
}

TEST_CASE("claims map: the agent id", "[claims]") {
  auto m = config("{id: sub, tenant_value: acme}");
  CHECK(refusal(m, json{{"sub", "a"}}) == "accepted");
  SECTION("missing: no fallback to another claim") {
    CHECK(refusal(m, json{{"client_id", "bot"}}) == "token has no `sub` claim (the agent id)");
  }
  SECTION("not a non-empty string: numbers are not stringified") {
    for (const auto& bad : {json(123), json(""), json(nullptr), json::array({"a"}), json(true)}) {
      CHECK_THAT(refusal(m, json{{"sub", bad}}),
                 Catch::Contains("claim `sub` (the agent id) must be a non-empty string"));
    }
    CHECK_THAT(refusal(m, json{{"sub", "a\nb"}}), Catch::Contains("without control characters"));
    CHECK_THAT(refusal(m, json{{"sub", std::string(257, 'a')}}),
               Catch::Contains("at most 256 bytes"));
  }
  SECTION("a nested claim") {
    auto n = config("{id: ext.agent, tenant_value: acme}");
    std::string why;
    auto p = n.map(json{{"sub", "user"}, {"ext", {{"agent", "ci-bot"}}}}, why);
    REQUIRE(p);
    CHECK(p->id == "ci-bot");
    CHECK(refusal(n, json{{"ext", "flat"}}) == "token has no `ext.agent` claim (the agent id)");
    CHECK(refusal(n, json{{"ext.agent", "x"}}) == "token has no `ext.agent` claim (the agent id)");
  }
  SECTION("claims that are not an object") {
    CHECK(refusal(m, json::array()) == "token claims are not a json object");
  }
}

TEST_CASE("claims map: the tenant", "[claims]") {
  SECTION("from a claim") {
    auto m = config("tenant: org_id");
    std::string why;
    auto p = m.map(json{{"sub", "a"}, {"org_id", "acme"}}, why);
    REQUIRE(p);
    CHECK(p->tenant == "acme");
    CHECK(refusal(m, json{{"sub", "a"}}) == "token has no `org_id` claim (the tenant)");
    CHECK(refusal(m, json{{"sub", "a"}, {"org_id", 42}}) ==
          "claim `org_id` (the tenant) must be a string");
  }
  SECTION("path traversal and other unsafe names are refused") {
    auto m = config("tenant: org_id");
    for (const char* bad : {"../x", "..", ".", "a/b", "", ".ssh", "x\ny"}) {
      CHECK_THAT(refusal(m, json{{"sub", "a"}, {"org_id", bad}}),
                 Catch::StartsWith("tenant claim `org_id` value `") &&
                     Catch::Contains("is not a tenant id"));
    }
    CHECK(refusal(m, json{{"sub", "a"}, {"org_id", std::string(65, 't')}}) != "accepted");
    // The value is shown, but never whole nor with line breaks.
    auto why = refusal(m, json{{"sub", "a"}, {"org_id", "../x\n" + std::string(100, 'z')}});
    CHECK_THAT(why, Catch::Contains("`../x?zzz") && Catch::Contains("...`"));
    CHECK(why.find('\n') == std::string::npos);
    CHECK(why.find(std::string(70, 'z')) == std::string::npos);
  }
  SECTION("through `tenants`: a hit maps, a miss is refused") {
    auto m = config(R"({tenant: org.uuid, tenants: {"0f3a": acme, "77b1": globex}})");
    std::string why;
    auto p = m.map(json{{"sub", "a"}, {"org", {{"uuid", "77b1"}}}}, why);
    REQUIRE(p);
    CHECK(p->tenant == "globex");
    CHECK(refusal(m, json{{"sub", "a"}, {"org", {{"uuid", "acme"}}}}) ==
          "tenant claim `org.uuid` value `acme` is not listed in `tenants`");
    // Listed values need not be safe names themselves: only what they map to.
    auto n = config(R"({tenant: org, tenants: {"../x": acme}})");
    p = n.map(json{{"sub", "a"}, {"org", "../x"}}, why);
    REQUIRE(p);
    CHECK(p->tenant == "acme");
  }
  SECTION("a fixed tenant ignores the claims") {
    auto m = config("tenant_value: acme");
    std::string why;
    auto p = m.map(json{{"sub", "a"}, {"tenant", "../evil"}}, why);
    REQUIRE(p);
    CHECK(p->tenant == "acme");
  }
}

TEST_CASE("claims map: roles", "[claims]") {
  auto m = config("{tenant_value: acme, roles: roles}");
  auto roles = [&](const json& v) {
    std::string why;
    auto p = m.map(json{{"sub", "a"}, {"roles", v}}, why);
    INFO(why);
    REQUIRE(p);
    return p->roles;
  };
  using V = std::vector<std::string>;
  CHECK(roles(json::array({"analyst", "deployer"})) == V{"analyst", "deployer"});
  CHECK(roles("read  write admin ") == V{"read", "write", "admin"});
  CHECK(roles("") == V{});
  CHECK(roles(nullptr) == V{});
  CHECK(roles(json::array()) == V{});
  SECTION("a missing claim is no roles") {
    std::string why;
    auto p = m.map(json{{"sub", "a"}}, why);
    REQUIRE(p);
    CHECK(p->roles.empty());
  }
  SECTION("anything else is refused, not skipped") {
    CHECK(refusal(m, json{{"sub", "a"}, {"roles", json::array({"ok", 1})}}) ==
          "claim `roles` must hold strings only; it holds a number");
    CHECK_THAT(refusal(m, json{{"sub", "a"}, {"roles", json::object()}}),
               Catch::Contains("must be an array of strings or a space-separated string, not a "
                               "object"));
    CHECK_THAT(refusal(m, json{{"sub", "a"}, {"roles", json::array({""})}}),
               Catch::Contains("a role that is empty"));
  }
  SECTION("bounds: 64 roles of 256 bytes") {
    json many = json::array();
    for (int i = 0; i < 64; ++i)
      many.push_back("r" + std::to_string(i));
    CHECK(roles(many).size() == 64);
    many.push_back("one-more");
    CHECK(refusal(m, json{{"sub", "a"}, {"roles", many}}) ==
          "claim `roles` holds more than 64 roles");
    std::string spaced;
    for (int i = 0; i < 65; ++i)
      spaced += "s" + std::to_string(i) + " ";
    CHECK(refusal(m, json{{"sub", "a"}, {"roles", spaced}}) ==
          "claim `roles` holds more than 64 roles");
    CHECK(roles(json::array({std::string(256, 'r')})).size() == 1);
    CHECK_THAT(refusal(m, json{{"sub", "a"}, {"roles", json::array({std::string(257, 'r')})}}),
               Catch::Contains("longer than 256 bytes"));
  }
}

TEST_CASE("claims map: attributes", "[claims]") {
  auto m = config("{tenant_value: acme, attributes: {team: team, env: ext.env, org: ext.org}}");
  json claims = {{"sub", "a"},
                 {"team", "infra"},
                 {"ext", {{"env", "prod"}, {"org", {{"id", 7}, {"tags", {"x", "y"}}}}}}};
  std::string why;
  auto p = m.map(claims, why);
  REQUIRE(p);
  CHECK(p->attributes ==
        json{{"team", "infra"}, {"env", "prod"}, {"org", {{"id", 7}, {"tags", {"x", "y"}}}}});

  SECTION("a missing claim is simply absent") {
    p = m.map(json{{"sub", "a"}, {"ext", "not an object"}}, why);
    REQUIRE(p);
    CHECK(p->attributes == json::object());
  }
  SECTION("at most 4 KiB serialized each") {
    claims["team"] = std::string(4094, 'x');  // 4,096 bytes with its quotes
    CHECK(refusal(m, claims) == "accepted");
    claims["team"] = std::string(4095, 'x');
    CHECK(refusal(m, claims) == "claim `team` (attribute `team`) is larger than 4096 bytes");
  }
}
