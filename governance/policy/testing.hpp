// `glasstape policy test`: YAML test cases beside the policies (files named *_test.yaml),
// in the same format users write (like `opa test`):
//
//   # optional options, as in the config's governance.policies section
//   bindings: {make_payment: finance.payments.v1}
//   timezone: Europe/Berlin
//   tests:
//     - name: analysts cannot pay more than 50
//       tool: make_payment                 # server: defaults to "test"
//       args: {amount: 60, recipient: bob}
//       principal: {id: agent-1, roles: [analyst], attributes: {user_role: analyst}}
//       now: "2025-01-06T10:00:00Z"        # optional, default 2025-01-06T12:00:00Z
//       repeat: 3                          # optional: the same call is made 3 times first
//       expect: deny                       # allow | deny
//       rule: deny-large-payments-for-analysts   # optional checks:
//       policy: finance.payments.v1        #   deciding policy
//       code: GT-POLICY-DENY               #   decision code
//       reason_contains: "over $50"        #   substring of the reason
//       would_deny: false                  #   monitor mode would-deny flag
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "governance/policy/policy.hpp"

namespace gt::gov::policy {

struct TestOutcome {
  std::string file;
  std::string name;
  bool passed = false;
  std::string message;  // why it failed, or a short summary of the decision
};

struct TestReport {
  std::vector<TestOutcome> results;
  std::vector<Diagnostic> errors;  // test files or policies that failed to load
  size_t passed = 0;
  size_t failed = 0;
  size_t files = 0;
  bool ok() const { return errors.empty() && failed == 0; }
};

// A test file may make at most this many calls in all (each case is one call plus `repeat`).
inline constexpr int64_t kMaxCallsPerTestFile = 1'000'000;

// Runs every *_test.yaml under `dir` against the policies in `dir`. `base` supplies default
// options (e.g. from --timezone); a test file's own keys override them. Test files are read
// under the same limits as policy files (base.max_file_bytes and yaml_load.hpp).
TestReport run_policy_tests(const std::filesystem::path& dir, const SetOptions& base = {});

}  // namespace gt::gov::policy
