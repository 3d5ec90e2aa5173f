// Runs the official JSON-Schema-Test-Suite (required tests of draft2020-12 and draft7) from
// ../shared/json-schema-test-suite against gt_schema. Remote references
// (http://localhost:1234/...) are served from the suite's remotes/ directory on disk through
// a SchemaStore: nothing touches a network.
//
// Exit status is non-zero when a test fails that is not on the skip list, or when a test
// listed in the baseline (tests that passed before) fails.
//
//   json_schema_suite [--suite DIR] [--skip FILE] [--baseline FILE] [--update-baseline] [-v]
//
// Skip list format (json_schema_suite_skip.txt): one test per line,
//   <dialect>/<file> | <group description> | <test description> | <reason>
// Baseline format (json_schema_suite_baseline.txt): one passing test id per line,
//   <dialect>/<file> | <group description> | <test description>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/schema/validator.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
namespace gs = gt::gov::schema;

namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::vector<std::string> split_bar(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto bar = line.find(" | ", start);
    out.push_back(
        trim(line.substr(start, bar == std::string::npos ? std::string::npos : bar - start)));
    if (bar == std::string::npos) break;
    start = bar + 3;
  }
  return out;
}

json read_json(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return json::parse(in);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path suite = fs::path(GT_SHARED_DIR) / "json-schema-test-suite";
  fs::path here = fs::path(GT_SOURCE_DIR) / "tests" / "conformance";
  fs::path skip_file = here / "json_schema_suite_skip.txt";
  fs::path baseline_file = here / "json_schema_suite_baseline.txt";
  bool update = false, verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--suite" && i + 1 < argc) {
      suite = argv[++i];
    } else if (a == "--skip" && i + 1 < argc) {
      skip_file = argv[++i];
    } else if (a == "--baseline" && i + 1 < argc) {
      baseline_file = argv[++i];
    } else if (a == "--update-baseline") {
      update = true;
    } else if (a == "-v") {
      verbose = true;
    } else {
      std::cerr << "usage: json_schema_suite [--suite DIR] [--skip FILE] [--baseline FILE] "
                   "[--update-baseline] [-v]\n";
      return 2;
    }
  }
  if (!fs::is_directory(suite / "tests")) {
    std::cerr << "json_schema_suite: no test suite at `" << suite.string() << "`\n";
    return 2;
  }

  std::map<std::string, std::string> skips;  // id -> reason
  {
    std::ifstream in(skip_file);
    std::string line;
    while (std::getline(in, line)) {
      if (trim(line).empty() || trim(line)[0] == '#') continue;
      auto parts = split_bar(line);
      if (parts.size() != 4 || parts[3].empty()) {
        std::cerr << "json_schema_suite: bad skip line (need 4 fields and a reason): " << line
                  << "\n";
        return 2;
      }
      skips[parts[0] + " | " + parts[1] + " | " + parts[2]] = parts[3];
    }
  }
  std::set<std::string> baseline;
  {
    std::ifstream in(baseline_file);
    std::string line;
    while (std::getline(in, line)) {
      if (!trim(line).empty() && trim(line)[0] != '#') baseline.insert(trim(line));
    }
  }

  // Remotes, served from disk under the URI the suite expects.
  auto store = std::make_shared<gs::SchemaStore>();
  for (auto& e : fs::recursive_directory_iterator(suite / "remotes")) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    std::string rel = fs::relative(e.path(), suite / "remotes").generic_string();
    store->add("http://localhost:1234/" + rel, read_json(e.path()));
  }

  struct Dialect {
    const char* dir;
    const char* name;
  };
  const Dialect dialects[] = {{"draft2020-12", "2020-12"}, {"draft7", "draft-07"}};
  std::vector<std::string> passing;
  std::size_t total_pass = 0, total_fail = 0, total_skip = 0, regressions = 0, stale_skips = 0;
  for (const auto& d : dialects) {
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(suite / "tests" / d.dir)) {
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::size_t pass = 0, fail = 0, skip = 0;
    for (const auto& file : files) {
      json groups = read_json(file);
      std::string fname = std::string(d.dir) + "/" + file.filename().string();
      for (const auto& g : groups) {
        gs::Options opts;
        opts.store = store;
        opts.default_dialect = d.name;
        auto compiled = gs::compile(g["schema"], opts);
        for (const auto& t : g["tests"]) {
          std::string id = fname + " | " + g["description"].get<std::string>() + " | " +
                           t["description"].get<std::string>();
          bool expected = t["valid"].get<bool>();
          bool ok;
          std::string detail;
          if (!compiled.error.empty()) {
            ok = false;
            detail = "compile error: " + compiled.error;
          } else {
            auto r = compiled.validator->validate(t["data"]);
            bool quick = compiled.validator->is_valid(t["data"]);
            ok = r.valid == expected && quick == expected;
            if (!ok) {
              detail = "expected " + std::string(expected ? "valid" : "invalid") +
                       ", validate() said " + (r.valid ? "valid" : "invalid: " + gs::summarize(r)) +
                       ", is_valid() said " + (quick ? "valid" : "invalid");
            }
          }
          auto sk = skips.find(id);
          if (sk != skips.end()) {
            ++skip;
            if (ok) {
              ++stale_skips;
              std::cout << "NOTE skipped test passes now, remove it from the skip list: " << id
                        << "\n";
            }
            continue;
          }
          if (ok) {
            ++pass;
            passing.push_back(id);
            if (verbose) std::cout << "ok   " << id << "\n";
          } else {
            ++fail;
            bool regressed = baseline.count(id) > 0;
            regressions += regressed;
            std::cout << (regressed ? "REGRESSION " : "FAIL ") << id << "\n     " << detail << "\n";
          }
        }
      }
    }
    std::cout << d.dir << ": " << pass << " passed, " << fail << " failed, " << skip
              << " skipped\n";
    total_pass += pass;
    total_fail += fail;
    total_skip += skip;
  }
  if (update) {
    std::ofstream out(baseline_file);
    out << "# Tests of the JSON-Schema-Test-Suite that passed; json_schema_suite fails if one "
           "stops\n"
           "# passing. Regenerate with: json_schema_suite --update-baseline\n";
    for (const auto& id : passing)
      out << id << "\n";
    std::cout << "baseline written: " << passing.size() << " tests\n";
  }
  if (regressions) std::cout << regressions << " regressions against the baseline\n";
  std::cout << "json_schema_suite: " << total_pass << " passed, " << total_fail << " failed, "
            << total_skip << " skipped\n";
  (void)stale_skips;
  return total_fail == 0 && regressions == 0 ? 0 : 1;
}
