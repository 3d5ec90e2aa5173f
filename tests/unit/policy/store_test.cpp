// Hot reload: changes take effect; a bad version never replaces the last good one.
#include <catch2/catch.hpp>

#include <thread>

#include "governance/policy/store.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;
using gt_test::json;
using gt_test::TempDir;

namespace {

const char* kV1 =
    "policy_id: p\nversion: '1'\ntools: [t]\nrules: {allow: [{id: v1, condition: 'args.n < 5'}]}\n";
const char* kV2 =
    "policy_id: p\nversion: '2'\ntools: [t]\nrules: {allow: [{id: v2, condition: 'args.n < "
    "50'}]}\n";

Result call(const PolicyStore& s, int n) {
  auto set = s.current();
  REQUIRE(set);
  gt::gov::Principal p;
  gt::gov::ToolRef t{"srv", "t", json::object()};
  json args = {{"n", n}};
  return evaluate(Request{p, t, args, gt_test::at(0)}, *set);
}

}  // namespace

TEST_CASE("reload installs a good version and keeps it over a bad one", "[store]") {
  TempDir d;
  d.write("p.yaml", kV1);
  PolicyStore store(d.path, {});
  REQUIRE(store.reload());
  CHECK(call(store, 10).effect == Effect::Deny);
  d.write("p.yaml", kV2);
  REQUIRE(store.reload());
  CHECK(call(store, 10).effect == Effect::Allow);
  CHECK(call(store, 10).policy_version == "2");
  d.write("p.yaml", "policy_id: p\nrules: {allow: [{id: v3, condition: 'args.n <'}]}\n");
  CHECK_FALSE(store.reload());
  CHECK(call(store, 10).rule_id == "v2");  // still the last good version
  auto st = store.status();
  CHECK(st.loaded);
  CHECK(st.reloads == 2);
  CHECK(st.last_error == "p.yaml:2:46: parse error: unexpected end of expression");
  CHECK(st.last_error_time.time_since_epoch().count() > 0);
}

TEST_CASE("a store that never loaded has no set and says why", "[store]") {
  TempDir d;
  PolicyStore store(d.path / "missing", {});
  CHECK_FALSE(store.reload());
  CHECK_FALSE(store.current());
  CHECK(store.status().last_error.find("does not exist") != std::string::npos);
}

TEST_CASE("the watcher reloads on change", "[store]") {
  TempDir d;
  d.write("p.yaml", kV1);
  PolicyStore store(d.path, {});
  REQUIRE(store.reload());
  store.start_watching(std::chrono::milliseconds(20));
  d.write("p.yaml", kV2);
  bool changed = false;
  for (int i = 0; i < 200 && !changed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    changed = call(store, 10).effect == Effect::Allow;
  }
  store.stop_watching();
  CHECK(changed);
}
