// The four policies of the original GlassTape SDK load unchanged (read in place from
// GT_SHARED_DIR) and decide as their rules say.
#include <catch2/catch.hpp>

#include "governance/policy/options.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;
using gt_test::json;

namespace {

std::shared_ptr<PolicySet> seed_set() {
  SetOptions o;
  o.bindings = {
      {ToolPattern::parse("make_payment"), {"finance.payments.v1"}},
      {ToolPattern::parse("lookup_customer"), {"data.customer_lookup.v1"}},
      {ToolPattern::parse("call_api"), {"external.api_call.v1"}},
      {ToolPattern::parse("analytics/*"), {"analytics.data_access.v1"}},
  };
  auto rep = load_policy_dir(std::filesystem::path(GT_SHARED_DIR) / "seed" / "policies", o);
  for (const auto& e : rep.errors)
    FAIL(e.str());
  REQUIRE(rep.set);
  return rep.set;
}

struct Call {
  std::string tool;
  json args;
  std::string role;  // principal attribute user_role ("" = absent)
  std::string server = "srv";
};

Result decide_seed(const PolicySet& set, const Call& c) {
  gt::gov::Principal p;
  p.id = "agent";
  if (!c.role.empty()) p.attributes["user_role"] = c.role;
  gt::gov::ToolRef t;
  t.server = c.server;
  t.name = c.tool;
  return evaluate(Request{p, t, c.args, gt_test::at(1736164800)}, set);
}

}  // namespace

TEST_CASE("seed policies load unchanged", "[seed]") {
  auto set = seed_set();
  REQUIRE(set->policies.size() == 4);
  const Policy* fin = set->find("finance.payments.v1");
  REQUIRE(fin);
  CHECK(fin->version == "1.0");
  CHECK(fin->bindings.size() == 3);
  CHECK(fin->deny.size() == 1);
  CHECK(fin->allow.size() == 2);
  CHECK(fin->sha256.size() == 64);
}

TEST_CASE("finance.payments.v1 decides as its rules say", "[seed]") {
  auto set = seed_set();
  SECTION("analyst over 50 hits the deny rule") {
    auto r = decide_seed(*set, {"make_payment", {{"amount", 60}, {"recipient", "bob"}}, "analyst"});
    CHECK(r.effect == Effect::Deny);
    CHECK(r.code == codes::kDeny);
    CHECK(r.rule_id == "deny-large-payments-for-analysts");
    CHECK(r.reason == "Analysts cannot process payments over $50");
    CHECK(r.policy_id == "finance.payments.v1");
    CHECK(r.policy_version == "1.0");
  }
  SECTION("50 or less is allowed for any role") {
    auto r = decide_seed(*set, {"make_payment", {{"amount", 50}, {"recipient", "bob"}}, "analyst"});
    CHECK(r.effect == Effect::Allow);
    CHECK(r.rule_id == "allow-small-payments");
  }
  SECTION("admins pay any amount") {
    auto r = decide_seed(*set, {"make_payment", {{"amount", 5000}, {"recipient", "bob"}}, "admin"});
    CHECK(r.effect == Effect::Allow);
    CHECK(r.rule_id == "allow-admin-all-payments");
  }
  SECTION("a manager over 50 matches no allow rule") {
    auto r = decide_seed(*set, {"make_payment", {{"amount", 51}, {"recipient", "bob"}}, "manager"});
    CHECK(r.effect == Effect::Deny);
    CHECK(r.code == codes::kNoMatch);
    CHECK(r.reason == "no matching allow rule in policy `finance.payments.v1`");
  }
  SECTION("a missing required value denies (the SDK let it through)") {
    auto r = decide_seed(*set, {"make_payment", {{"amount", 10}}, "analyst"});
    CHECK(r.effect == Effect::Deny);
    CHECK(r.code == codes::kError);
    CHECK(r.reason ==
          "required value `recipient` is missing (binding `input.resource.attr.recipient`)");
    auto r2 = decide_seed(*set, {"make_payment", {{"amount", 10}, {"recipient", "bob"}}, ""});
    CHECK(r2.effect == Effect::Deny);
    CHECK(r2.reason ==
          "required value `user_role` is missing (binding `input.principal.attr.user_role`)");
  }
  SECTION("the model cannot supply the role: context comes from the principal only") {
    auto r = decide_seed(*set, {"make_payment",
                                {{"amount", 5000}, {"recipient", "bob"}, {"user_role", "admin"}},
                                "analyst"});
    CHECK(r.effect == Effect::Deny);
    CHECK(r.rule_id == "deny-large-payments-for-analysts");
  }
  SECTION("a string amount is a type error inside the deny rule: fail closed") {
    auto r =
        decide_seed(*set, {"make_payment", {{"amount", "lots"}, {"recipient", "bob"}}, "analyst"});
    CHECK(r.effect == Effect::Deny);
    CHECK(r.code == codes::kError);
    CHECK(r.rule_id == "deny-large-payments-for-analysts");
    CHECK(r.reason.find("no such overload: `>` on string and int") != std::string::npos);
  }
}

TEST_CASE("data.customer_lookup.v1: in and not in", "[seed]") {
  auto set = seed_set();
  CHECK(decide_seed(*set, {"lookup_customer", {{"customer_id", "c1"}}, "analyst"}).effect ==
        Effect::Allow);
  CHECK(decide_seed(*set, {"lookup_customer", {{"customer_id", "c1"}}, "admin"}).rule_id ==
        "allow-analyst-access");
  auto r = decide_seed(*set, {"lookup_customer", {{"customer_id", "c1"}}, "operator"});
  CHECK(r.effect == Effect::Deny);
  CHECK(r.rule_id == "deny-unauthorized-access");
  CHECK(decide_seed(*set, {"lookup_customer", json::object(), "admin"}).effect == Effect::Deny);
}

TEST_CASE("external.api_call.v1: infix contains", "[seed]") {
  auto set = seed_set();
  CHECK(decide_seed(*set, {"call_api", {{"endpoint", "https://api.example/v1/data"}}, "analyst"})
            .effect == Effect::Allow);
  auto r =
      decide_seed(*set, {"call_api", {{"endpoint", "https://api.example/admin/users"}}, "analyst"});
  CHECK(r.effect == Effect::Deny);
  CHECK(r.rule_id == "deny-sensitive-endpoints");
  CHECK(decide_seed(*set, {"call_api", {{"endpoint", "/internal/x"}}, "admin"}).rule_id ==
        "deny-sensitive-endpoints");
  CHECK(decide_seed(*set, {"call_api", {{"endpoint", "/v1"}}, "operator"}).rule_id ==
        "deny-operator-api-access");
  CHECK(decide_seed(*set, {"call_api", {{"endpoint", "/v1"}}, "manager"}).code == codes::kNoMatch);
}

TEST_CASE("analytics.data_access.v1: the empty condition matches", "[seed]") {
  auto set = seed_set();
  Call c{"query", {{"user_id", "u1"}}, ""};
  c.server = "analytics";
  auto r = decide_seed(*set, c);
  CHECK(r.effect == Effect::Allow);
  CHECK(r.rule_id == "allow-all-monitoring");
  c.args = json::object();
  CHECK(decide_seed(*set, c).effect == Effect::Deny);  // user_id is required
}

TEST_CASE("tools without a policy are denied", "[seed]") {
  auto set = seed_set();
  auto r = decide_seed(*set, {"delete_everything", json::object(), "admin"});
  CHECK(r.effect == Effect::Deny);
  CHECK(r.code == codes::kNone);
  CHECK(r.reason ==
        "no policy for tool `delete_everything` of server `srv` (a policy's `tools:` may name it "
        "`delete_everything` or `srv/delete_everything`)");
}
