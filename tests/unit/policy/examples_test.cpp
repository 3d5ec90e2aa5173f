// The shipped example policies (policies/) load cleanly and pass their own test files, the
// same check `glasstape policy test policies` runs.
#include <catch2/catch.hpp>

#include <fstream>

#include "governance/policy/testing.hpp"

using namespace gt::gov::policy;

TEST_CASE("shipped example policies pass their tests", "[examples]") {
  auto dir = std::filesystem::path(GT_SOURCE_DIR) / "policies";
  TestReport rep = run_policy_tests(dir);
  for (const auto& e : rep.errors)
    FAIL(e.str());
  for (const auto& r : rep.results) {
    INFO(r.file << ": " << r.name << ": " << r.message);
    CHECK(r.passed);
  }
  CHECK(rep.files >= 6);
  CHECK(rep.passed >= 35);
  CHECK(rep.failed == 0);
}

TEST_CASE("a failing expectation is reported as a failure", "[examples]") {
  auto tmp = std::filesystem::temp_directory_path() / "gt-policy-examples-fail";
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp);
  std::ofstream(tmp / "p.yaml")
      << "policy_id: p\ntools: [t]\nrules: {allow: [{id: ok, condition: 'args.n < 3'}]}\n";
  std::ofstream(tmp / "p_test.yaml")
      << "tests:\n  - {name: wrong, tool: t, args: {n: 5}, expect: allow}\n"
         "  - {name: right, tool: t, args: {n: 1}, expect: allow, rule: ok}\n";
  TestReport rep = run_policy_tests(tmp);
  std::filesystem::remove_all(tmp);
  REQUIRE(rep.results.size() == 2);
  CHECK_FALSE(rep.results[0].passed);
  CHECK(rep.results[0].message ==
        "p_test.yaml:2: expected allow, got deny GT-POLICY-NOMATCH by p: no matching allow rule in "
        "policy `p`");
  CHECK(rep.results[1].passed);
  CHECK_FALSE(rep.ok());
}
