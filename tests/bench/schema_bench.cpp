// Benchmark: gt_schema against valijson 1.0 (Debian libvalijson-dev, header-only, used here
// and nowhere else) on the same draft-07 schemas and instances, in the same run.
//
// Cases: one typical tool schema (10 properties, a nested object, an enum, a pattern,
// numeric bounds) and the real tools/list schemas of server-filesystem and
// server-everything (tests/bench/schema_tools_*.json, arguments in
// schema_bench_arguments.json). Both validators are compiled once and reused.
//
//   schema_bench [--iterations N]
//
// Prints, per case, the median ns per call of gt_schema (validate() with the full result,
// and is_valid()) and of valijson, and the ratio. Exits non-zero if the validators
// disagree on validity, or if a target is missed: gt validate() >= 2x faster than valijson
// on every case, and the typical call <= 2 us median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "governance/schema/validator.hpp"

using nlohmann::json;
namespace gs = gt::gov::schema;
using Clock = std::chrono::steady_clock;

namespace {

const char* kTypicalSchema = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "path": {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": "^/[A-Za-z0-9._/-]*$"},
    "mode": {"type": "string", "enum": ["read", "write", "append"]},
    "encoding": {"type": "string", "enum": ["utf-8", "base64"]},
    "offset": {"type": "integer", "minimum": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": 10000},
    "timeout_ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 600000},
    "recursive": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 16, "uniqueItems": true},
    "owner": {
      "type": "object",
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "email": {"type": "string"},
        "uid": {"type": "integer", "minimum": 0, "maximum": 65535}
      },
      "required": ["name"],
      "additionalProperties": false
    },
    "comment": {"type": ["string", "null"], "maxLength": 1000}
  },
  "required": ["path", "mode"],
  "additionalProperties": false
})";

const char* kTypicalArguments = R"({
  "path": "/srv/data/reports/2025/q3.csv",
  "mode": "read",
  "encoding": "utf-8",
  "offset": 0,
  "limit": 500,
  "timeout_ms": 2500,
  "recursive": false,
  "tags": ["finance", "q3"],
  "owner": {"name": "analyst", "uid": 1001},
  "comment": null
})";

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "schema_bench: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  return json::parse(in);
}

// Median ns per call over `batches` batches of `per_batch` calls.
template <class F>
double median_ns(F&& f, int batches, int per_batch) {
  std::vector<double> samples;
  samples.reserve(batches);
  for (int b = 0; b < batches; ++b) {
    auto t0 = Clock::now();
    for (int i = 0; i < per_batch; ++i)
      f();
    auto t1 = Clock::now();
    samples.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / per_batch);
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

// Median of single calls, each timed alone (the "typical call" latency).
template <class F>
double median_single_ns(F&& f, int n) {
  std::vector<double> samples;
  samples.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    f();
    auto t1 = Clock::now();
    samples.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

struct Case {
  std::string name;
  json schema;
  json instance;
};

volatile bool g_sink;

}  // namespace

int main(int argc, char** argv) {
  int batches = 51, per_batch = 2000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) {
      per_batch = std::max(1, std::atoi(argv[++i]) / batches);
    }
  }
  std::string dir = std::string(GT_SOURCE_DIR) + "/tests/bench/";
  std::vector<Case> cases;
  cases.push_back({"typical tool (10 props, nested, enum, pattern, bounds)",
                   json::parse(kTypicalSchema), json::parse(kTypicalArguments)});
  json args = read_json(dir + "schema_bench_arguments.json");
  for (const char* server : {"filesystem", "everything"}) {
    json tools = read_json(dir + "schema_tools_" + server + ".json")["tools"];
    for (const auto& t : tools) {
      std::string key = std::string(server) + "/" + t["name"].get<std::string>();
      if (!args.contains(key)) {
        std::fprintf(stderr, "schema_bench: no arguments for %s\n", key.c_str());
        return 2;
      }
      cases.push_back({key, t["inputSchema"], args[key]});
    }
  }

  std::printf("%-58s %10s %10s %10s %8s\n", "case", "gt ns", "gt-bool ns", "valijson", "ratio");
  bool ok = true;
  double worst_ratio = 1e9, typical_single = 0, sum_gt = 0, sum_vj = 0;
  std::vector<double> real_ratios;
  for (const auto& c : cases) {
    auto compiled = gs::compile(c.schema, {});
    if (!compiled.validator) {
      std::printf("%s: gt compile error: %s\n", c.name.c_str(), compiled.error.c_str());
      return 1;
    }
    const gs::Validator& v = *compiled.validator;

    valijson::Schema vschema;
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter schema_adapter(c.schema);
    parser.populateSchema(schema_adapter, vschema);
    valijson::Validator vvalidator;

    bool gt_valid = v.validate(c.instance).valid;
    valijson::adapters::NlohmannJsonAdapter probe(c.instance);
    bool vj_valid = vvalidator.validate(vschema, probe, nullptr);
    if (gt_valid != vj_valid || !gt_valid) {
      std::printf("%s: validity disagrees or the instance is invalid (gt %d, valijson %d)\n",
                  c.name.c_str(), gt_valid, vj_valid);
      ok = false;
    }

    double gt = median_ns([&] { g_sink = v.validate(c.instance).valid; }, batches, per_batch);
    double gtb = median_ns([&] { g_sink = v.is_valid(c.instance); }, batches, per_batch);
    double vj = median_ns(
        [&] {
          valijson::adapters::NlohmannJsonAdapter a(c.instance);
          g_sink = vvalidator.validate(vschema, a, nullptr);
        },
        batches, per_batch);
    double ratio = vj / gt;
    worst_ratio = std::min(worst_ratio, ratio);
    sum_gt += gt;
    sum_vj += vj;
    if (&c == &cases.front()) {
      typical_single = median_single_ns([&] { g_sink = v.validate(c.instance).valid; }, 20001);
    } else {
      real_ratios.push_back(ratio);
    }
    std::printf("%-58s %10.0f %10.0f %10.0f %7.1fx\n", c.name.c_str(), gt, gtb, vj, ratio);
  }
  std::sort(real_ratios.begin(), real_ratios.end());
  std::printf("\ntypical call, validate() timed alone: %.0f ns median (target <= 2000 ns)\n",
              typical_single);
  std::printf("real server schemas: %zu cases, ratio vs valijson min %.1fx, median %.1fx\n",
              real_ratios.size(), real_ratios.front(), real_ratios[real_ratios.size() / 2]);
  std::printf("all cases: worst ratio %.1fx, total %.0f ns vs %.0f ns (%.1fx) (target >= 2x)\n",
              worst_ratio, sum_gt, sum_vj, sum_vj / sum_gt);
  bool met = typical_single <= 2000 && worst_ratio >= 2.0;
  std::printf("targets: %s\n", met ? "met" : "MISSED");
  return ok && met ? 0 : 1;
}
