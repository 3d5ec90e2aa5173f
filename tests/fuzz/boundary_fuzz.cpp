// Fuzzes the boundary between a client and the server (issue 13, "what is judged is what
// runs"): the input is a script of client lines and server events (see run_fuzz_input() in
// tests/support/boundary_harness.hpp) played against one in-process Session whose server
// is a spy. Aborts when the spy received anything the rules forbid: a raw LF/CR, a repeated
// member name at any depth, a near-miss method, a request method sent as a notification, an
// id reused while in flight, or a tools/call without exactly one allow decision recorded
// for its id with byte-equal arguments.
//
//   cmake -S . -B build-cfuzz -DGT_LIBFUZZER=ON -DCMAKE_CXX_COMPILER=clang++
//   cmake --build build-cfuzz --target boundary_fuzz
//   mkdir -p /tmp/bcorpus && build-cfuzz/tests/boundary_fuzz -max_total_time=300
//       -dict=tests/fuzz/boundary.dict /tmp/bcorpus tests/fuzz/corpus/boundary_fuzz
//
// GT_BOUNDARY_IGNORE=args,in-flight (violation classes, without brackets) lets a run go on
// past classes already known, to look for others.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "tests/support/boundary_harness.hpp"

namespace {

bool ignored(const std::string& violation) {
  static const std::string list = [] {
    const char* e = std::getenv("GT_BOUNDARY_IGNORE");
    return e ? "," + std::string(e) + "," : std::string();
  }();
  auto close = violation.find(']');
  if (list.empty() || violation.empty() || violation[0] != '[' || close == std::string::npos)
    return false;
  return list.find("," + violation.substr(1, close - 1) + ",") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  gt::test::boundary::Harness h;
  gt::test::boundary::run_fuzz_input(h,
                                     std::string_view(reinterpret_cast<const char*>(data), size));
  for (const auto& v : h.violations) {
    if (ignored(v)) continue;
    std::fprintf(stderr, "%s", h.report().c_str());
    std::abort();
  }
  return 0;
}
