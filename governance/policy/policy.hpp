// Policies: the file format, the loaded PolicySet, and which tools each policy governs.
//
// One policy per file (YAML or JSON), e.g.
//   policy_id: payments.spending_limit
//   version: "1.0"
//   tools: [make_payment]            # names or globs, optionally "server/tool"
//   resources: ["file:///srv/*"]     # resources/read: URI globs (with
//   `governance.policies.govern`) prompts: [summarize, "docs/*"]   # prompts/get: names or globs,
//   optionally "server/prompt" mode: enforce                    # or monitor extraction_bindings:
//   {...}       # GlassTape SDK bare names (optional) limits: [...]                    # rate
//   limits and spend budgets (optional) rules:
//     deny:  [{id, condition, reason}]
//     allow: [{id, condition, reason}]
// See the README section "Policies" for the complete reference.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/policy/program.hpp"
#include "governance/policy/timezone.hpp"
#include "governance/policy/yaml_load.hpp"

namespace gt::gov::policy {

enum class Mode { Inherit, Enforce, Monitor };
const char* mode_name(Mode m);

// How evaluation errors are handled. A named choice even with one value (as in Cedar):
// an error in a deny rule denies; an error in an allow rule never allows.
enum class ErrorHandling { FailClosed };

// `*` matches any run of characters, `?` one character.
bool glob_match(std::string_view pattern, std::string_view text);

// "tool", "glob*", "server/tool", "server/*"; server empty = any server.
struct ToolPattern {
  std::string server;
  std::string tool;
  std::string text;  // as written
  bool matches(std::string_view server_name, std::string_view tool_name) const;
  bool exact() const;  // no server, no wildcard in tool
  static ToolPattern parse(const std::string& text);
};

// GlassTape SDK extraction bindings: bare names used by conditions.
struct BindingSource {
  enum class Kind { Arg, Context, Literal };
  Kind kind = Kind::Arg;
  std::string name;  // Arg: argument name (dots descend into objects); Context: attribute name
  json value;        // Literal
};
struct Transform {
  enum class Kind { ToNumber, CurrencyNormalize };
  Kind kind = Kind::ToNumber;
  std::string default_currency = "USD";
};
struct ExtractionBinding {
  std::string name;  // last segment of path: the bare name
  std::string path;
  std::vector<BindingSource> sources;
  std::vector<Transform> transforms;
  bool required = false;
};

struct Rule {
  std::string id;
  std::string reason;
  Program condition;
  SourceLoc loc;
};

struct Limit {
  enum class Kind { Rate, Spend };
  enum class Per { Principal, Tool, PrincipalTool, Global };
  std::string id;
  Kind kind = Kind::Rate;
  double max = 0;               // calls (rate) or total amount (spend) per window
  int64_t window_seconds = 60;  // fixed windows aligned to the unix epoch (UTC)
  std::string window_text;      // as written, e.g. "1m"
  Per per = Per::Principal;
  Program amount;  // spend: the amount expression, e.g. args.amount
  Program when;    // optional: only calls where this holds are limited and counted
  SourceLoc loc;
};
const char* per_name(Limit::Per p);

struct Policy {
  std::string id;
  std::string version;
  std::string description;
  std::string file;    // path relative to the policy directory
  std::string sha256;  // of the file's bytes, hex
  std::vector<ToolPattern> tools;
  std::vector<std::string> resources;  // URI globs (`*` crosses `/`), any server
  std::vector<ToolPattern> prompts;    // like `tools`
  Mode mode = Mode::Inherit;
  std::vector<ExtractionBinding> bindings;
  std::vector<Rule> deny;
  std::vector<Rule> allow;
  std::vector<Limit> limits;
  // Non-empty: the file was rejected (unsigned or altered while signatures are required).
  // Every call this policy would govern is denied with this reason.
  std::string rejected;
};

// Config-side binding of tools to policies.
struct ConfigBinding {
  ToolPattern pattern;
  std::vector<std::string> policies;
};

struct SetOptions {
  std::vector<ConfigBinding> bindings;
  std::string default_policy;  // governs tools that nothing else governs ("" = none: deny)
  Mode mode =
      Mode::Enforce;  // global mode; a policy's own `mode` overrides it unless global is monitor
  std::shared_ptr<const TimeZone> tz = TimeZone::utc();
  bool require_signed = false;
  std::string public_key;  // raw 32-byte Ed25519 public key (required when require_signed)
  // A policy or test file larger than this is refused unread (`max_file_bytes`).
  size_t max_file_bytes = kDefaultMaxYamlBytes;
};

struct Diagnostic {
  std::string file;
  int line = 0;  // 0 = whole file
  int column = 0;
  std::string message;
  std::string str() const;  // "file:line:column: message"
};

class PolicySet {
 public:
  std::vector<std::shared_ptr<const Policy>> policies;  // sorted by file
  SetOptions options;
  std::string dir;
  std::vector<Diagnostic> warnings;
  std::vector<std::string> rejected_files;  // "file: reason"

  const Policy* find(std::string_view id) const;
  // The policies governing server/tool: config bindings first, then policies' own `tools`
  // (deduplicated, in order). Policy ids bound in the config but not loaded go to `missing`.
  // A resource (by URI) or a prompt is governed by the policies whose `resources:` or
  // `prompts:` match it (config bindings name tools only).
  void governing(std::string_view server, std::string_view tool, std::vector<const Policy*>& out,
                 std::vector<std::string>& missing, ToolRef::Kind kind = ToolRef::Kind::Tool) const;
  // Same, memoized per server/tool (the set is immutable once built). The reference stays
  // valid for the set's lifetime.
  struct Governing {
    std::vector<const Policy*> policies;
    std::vector<std::string> missing;
  };
  const Governing& governing_cached(std::string_view server, std::string_view tool,
                                    ToolRef::Kind kind = ToolRef::Kind::Tool) const;
  void build_index();  // after filling `policies`

 private:
  static constexpr size_t kMaxCachedTools = 4096;
  mutable std::shared_mutex cache_mu_;
  mutable std::unordered_map<std::string, std::unique_ptr<Governing>> cache_;
  std::unordered_map<std::string, size_t> by_id_;
  std::unordered_map<std::string, std::vector<size_t>> by_exact_tool_;
  std::vector<std::pair<ToolPattern, size_t>> globbed_;
  std::vector<std::pair<std::string, size_t>> resource_globs_;
  std::vector<std::pair<ToolPattern, size_t>> prompt_patterns_;
};

// Parses one policy file's text. `file` is the label used in diagnostics. Returns null and
// appends to `errors` on any error (up to 100 are reported, then a count). The YAML limits
// of yaml_load.hpp apply, with `max_bytes` as the size limit.
std::shared_ptr<Policy> parse_policy(const std::string& text, const std::string& file,
                                     std::vector<Diagnostic>& errors,
                                     size_t max_bytes = kDefaultMaxYamlBytes);

struct LoadReport {
  std::shared_ptr<PolicySet> set;  // null when any error
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  size_t files = 0;
};

// Is this path (relative to the policy dir) a policy file? (*.yaml|*.yml|*.json, not hidden,
// not a *_test.yaml test file, not the signed manifest).
bool is_policy_file(const std::filesystem::path& rel);
bool is_test_file(const std::filesystem::path& rel);
// Regular files under `dir` (relative paths, sorted) that `want` selects. Hidden entries (a
// name starting with '.') are skipped and hidden directories not entered; symlinked
// directories are not followed. A selected entry whose type cannot be read (a symlink loop, a
// dangling link) is an error naming it, as is an unreadable directory. `policy check`,
// `policy test`, `policy sign` and the proxy all list files through here, so they agree.
std::vector<std::filesystem::path> list_files(const std::filesystem::path& dir,
                                              bool (*want)(const std::filesystem::path&),
                                              std::string& error);
// Policy files under dir, relative, sorted (list_files with is_policy_file).
std::vector<std::filesystem::path> list_policy_files(const std::filesystem::path& dir,
                                                     std::string& error);

// Loads every policy file in `dir`. Any parse/compile error fails the whole load (so a bad
// edit never half-applies). With require_signed, unsigned/altered files are not loaded but
// replaced by denying placeholders (see Policy::rejected).
LoadReport load_policy_dir(const std::filesystem::path& dir, const SetOptions& options);

std::string sha256_hex(std::string_view data);

}  // namespace gt::gov::policy
