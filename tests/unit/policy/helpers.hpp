// Shared helpers for the policy unit tests.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "governance/policy/evaluate.hpp"
#include "governance/policy/program.hpp"

namespace gt_test {

namespace pol = gt::gov::policy;
using nlohmann::json;

// A temporary directory removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("gt-policy-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& rel, const std::string& text) const {
    auto p = path / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  }
};

inline std::chrono::system_clock::time_point at(int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

// Evaluates one expression against args (and an optional principal/tool). Returns the value
// as JSON, or {"error": message} for an evaluation error, or {"compile_error": message}.
inline json run_expr(const std::string& text, const json& args = json::object(),
                     const gt::gov::Principal* principal = nullptr,
                     const gt::gov::ToolRef* tool = nullptr,
                     std::chrono::system_clock::time_point now = at(1736164800),
                     const pol::TimeZone* tz = nullptr) {
  pol::LangError err;
  auto prog = pol::compile(text, pol::Origin{"expr", 1, 1}, pol::CompileEnv{}, err, false);
  if (!prog) return json{{"compile_error", err.str()}};
  pol::Scope scope;
  scope.args = &args;
  scope.principal = principal;
  scope.tool = tool;
  scope.now = now;
  scope.tz = tz;
  pol::Value v = prog->eval(scope);
  if (v.is_error()) return json{{"error", v.err}};
  return v.get();
}

inline std::string compile_error(const std::string& text, bool as_condition = true) {
  pol::LangError err;
  auto prog =
      pol::compile(text, pol::Origin{"p.yaml", 3, 16}, pol::CompileEnv{}, err, as_condition);
  return prog ? std::string() : err.str();
}

}  // namespace gt_test
