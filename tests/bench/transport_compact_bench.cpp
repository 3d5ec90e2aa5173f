// Benchmark: what compacting every client message (transport/compact.hpp) adds on the hot
// path, against the simdjson inspection (transport/inspect.hpp) every message already had,
// measured in the same run on the same messages.
//
//   transport_compact_bench [--iterations N]
//
// Cases: a small tools/call as SDK clients send it (compact already), the same pretty-printed,
// a 64 KB call with a long string argument, and a 1 MB array of numbers. Prints, per case, the
// median ns per message of inspect() alone and of compact() + inspect(), and their ratio.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "transport/compact.hpp"
#include "transport/inspect.hpp"

using Clock = std::chrono::steady_clock;

namespace {

double median_ns(const std::vector<double>& v) {
  auto c = v;
  std::nth_element(c.begin(), c.begin() + static_cast<long>(c.size() / 2), c.end());
  return c[c.size() / 2];
}

template <class F>
double run(int iterations, std::size_t reps, F&& f) {
  std::vector<double> samples;
  for (int i = 0; i < iterations; ++i) {
    auto t0 = Clock::now();
    for (std::size_t r = 0; r < reps; ++r)
      f();
    samples.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() /
                      static_cast<double>(reps));
  }
  return median_ns(samples);
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 51;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) {
      iterations = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N]\n", argv[0]);
      return 2;
    }
  }
  struct Case {
    const char* name;
    std::string text;
    std::size_t reps;
  };
  std::string pretty =
      "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 42,\n  \"method\": \"tools/call\",\n  \"params\": {\n"
      "    \"name\": \"read_file\",\n    \"arguments\": {\n      \"path\": \"/data/report.txt\",\n"
      "      \"limit\": 100,\n      \"tags\": [\"a\", \"b\"]\n    }\n  }\n}";
  std::string big_string =
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/x","content":")" +
      std::string(64 * 1024, 'x') + "\"}}}";
  std::string numbers =
      R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"sum","arguments":{"v":[)";
  while (numbers.size() < (1u << 20))
    numbers += "12345.678, ";
  numbers += "0]}}}";
  std::vector<Case> cases = {
      {"small tools/call (compact)",
       R"({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/data/report.txt","limit":100,"tags":["a","b"]}}})",
       2000},
      {"small tools/call (pretty)", pretty, 2000},
      {"64 KB string argument", big_string, 50},
      {"1 MB array of numbers", numbers, 3},
  };
  std::printf("%-30s %14s %20s %8s\n", "case", "inspect ns", "compact+inspect ns", "ratio");
  for (const auto& c : cases) {
    std::string out;
    volatile std::size_t sink = 0;
    double base = run(iterations, c.reps, [&] {
      auto ins = gt::transport::inspect(c.text, 512);
      sink = sink + ins.method.size();
    });
    double both = run(iterations, c.reps, [&] {
      if (gt::transport::compact(c.text, out, 512)) std::abort();
      auto ins = gt::transport::inspect(out, 512);
      sink = sink + ins.method.size();
    });
    std::printf("%-30s %14.0f %20.0f %7.2fx\n", c.name, base, both, both / base);
  }
  return 0;
}
