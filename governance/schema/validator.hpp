// JSON Schema validation for MCP tool arguments (2020-12 by default, draft-07 on request).
//
// A tool's schema is compiled once into an immutable Validator: every $ref is resolved to
// a pointer, every regex is compiled by RE2, and keywords become typed fields, so that
// validate() does no string dispatch and no allocation on the happy path.
//
//   auto c = gt::gov::schema::compile(tool["inputSchema"], opts);
//   if (!c.error.empty()) -> the tool is unsupported (fail closed)
//   auto r = c.validator->validate(arguments);   // r.valid, r.aborted, r.violations
//
// Safety: schemas come from servers and instances from a model, so both are hostile.
//  - Regexes run on RE2 with bounded memory; a pattern RE2 cannot take is a compile error.
//  - Nothing is fetched from a network: a $ref to a document that is neither inside the
//    schema nor in the local SchemaStore (schema_dir) is a compile error.
//  - The instance is measured iteratively before validation (depth, nodes, string bytes,
//    total bytes), and evaluation counts its work; a limit hit aborts with a clear reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::gov::schema {

// Limits applied to one validate() call. Defaults suit tool arguments of up to 16 MiB.
struct Limits {
  std::size_t max_depth = 128;                 // nesting of arrays/objects in the instance
  std::size_t max_nodes = 1'000'000;           // values in the instance
  std::size_t max_string_bytes = 16u << 20;    // one string or property name
  std::size_t max_instance_bytes = 32u << 20;  // strings + keys + 8 bytes per value, summed
  std::uint64_t max_steps = 10'000'000;        // evaluation work units (keywords, items, compares)
  std::size_t max_eval_depth = 512;            // nested schema applications ($ref cycles)
  std::size_t max_violations = 32;             // violations listed; the rest are counted
};

// Limits applied when compiling a schema (it comes from a server: hostile too).
struct CompileLimits {
  std::size_t max_schema_depth = 256;      // nesting of subschemas
  std::size_t max_schema_nodes = 100'000;  // compiled subschemas
  std::size_t max_patterns = 1'000;        // distinct regexes
  std::int64_t regex_max_mem = 2 << 20;    // RE2::Options::max_mem per regex, bytes
  std::size_t max_enum_values = 100'000;   // entries of one enum
};

// Schema documents known locally, keyed by absolute URI (without fragment). A $ref that
// leaves the compiled schema is looked up here and nowhere else.
class SchemaStore {
 public:
  // Adds `doc` under `uri` (fragment and trailing '#' ignored). Replaces an existing entry.
  void add(std::string uri, nlohmann::json doc);
  const nlohmann::json* find(std::string_view uri) const;
  std::size_t size() const { return docs_.size(); }

  // Loads every *.json file under `dir` (recursively) whose top level has a string `$id`.
  // Files that do not parse or have no `$id` are reported in `errors`, one line each.
  static SchemaStore load_dir(const std::filesystem::path& dir, std::vector<std::string>* errors);

 private:
  std::map<std::string, nlohmann::json, std::less<>> docs_;
};

struct Options {
  // `format` asserts (date-time, date, time, email, hostname, ipv4, ipv6, uri, uuid)
  // instead of being an annotation. Unknown formats stay annotations.
  bool format_assertion = false;
  // Dialect of a root schema without `$schema`: "2020-12" (MCP 2025-11-25) or "draft-07".
  std::string default_dialect = "2020-12";
  // Local schema directory, used when `store` is null (loaded on each compile; the proxy
  // loads it once into `store` instead).
  std::filesystem::path schema_dir;
  std::shared_ptr<const SchemaStore> store;
  Limits limits;
  CompileLimits compile_limits;
};

struct Violation {
  std::string instance_pointer;  // JSON Pointer into the instance ("" = the whole instance)
  std::string keyword;           // e.g. "type", "required", "limit"
  std::string schema_pointer;    // where the keyword is, e.g. "#/properties/path/type"
  std::string message;           // lowercase, one line; user input in backticks, truncated
};

struct Schema;  // compiled form, private to the library
struct Program;

class Validator {
 public:
  struct Result {
    bool valid = true;
    bool aborted = false;  // a limit was hit: the instance is rejected, not fully checked
    std::vector<Violation> violations;
    std::size_t omitted = 0;  // violations beyond Limits::max_violations
  };
  explicit Validator(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  Result validate(const nlohmann::json& instance) const;
  // Only whether the instance is valid (stops at the first violation).
  bool is_valid(const nlohmann::json& instance) const;
  // "2020-12" or "draft-07": the dialect of the root schema.
  std::string_view dialect() const;

 private:
  std::shared_ptr<const Program> program_;
};

struct Compiled {
  std::shared_ptr<const Validator> validator;  // null when error is set
  std::string error;  // non-empty: the schema is unsupported or invalid (one line)
};

Compiled compile(const nlohmann::json& schema, const Options& opts);

// One line per violation, "`/path` keyword: message", joined by "; ".
std::string summarize(const Validator::Result& r, std::size_t max_chars = 2000);

}  // namespace gt::gov::schema
