// Benchmark for one endpoint over many servers (issue 18). In one run, the same client drives
// `glasstape run --config F` (no `--`: with more than one server, all behind one Aggregator):
//   one:   one example server (no aggregate: its session alone), calls to its `echo`;
//   three: three example servers, calls to the first one's echo (`s0__echo`: all three list
//          echo, so each is prefixed);
//   ten:   ten example servers of 30 tools each (300 tools), timing tools/list;
//   list1: one example server with the same 300 tools, for comparison: without an aggregate
//          every tools/list goes to the server and is judged on the way back (schemas compiled,
//          definitions hashed and checked by the tool gate), where the aggregate answers from
//          the lists it keeps.
// The rounds alternate one/three to spread the host's noise over both, and the figures are
// ratios against the baseline of the same run (targets: three ≥ 0.95× one in calls/s;
// tools/list of 300 tools from 10 servers under 5 ms at p50).
// Usage: proxy_aggregate_bench --glasstape BIN --server BIN [--calls N] [--pipelined N]
//        [--lists N] [--rounds N]
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_proc.hpp"

namespace {

using gt::bench::Clock;
using gt::bench::handshake;
using gt::bench::Proc;
namespace fs = std::filesystem;

std::string call(const std::string& tool, long id) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":")" + tool +
         R"(","arguments":{"message":"hello from the benchmark"}}})"
         "\n";
}

std::string list(long id) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/list"})"
         "\n";
}

// A config of `n` example servers s0…s(n-1), each listing `extra` tools more than its ten.
fs::path write_config(const fs::path& dir, const std::string& name, const std::string& server,
                      int n, int extra) {
  auto file = dir / (name + ".yaml");
  std::ofstream out(file);
  out << "servers:\n";
  for (int i = 0; i < n; ++i) {
    out << "  s" << i << ":\n    command: [\"" << server << "\", \"--name\", \"s" << i << "\"";
    if (extra > 0) out << ", \"--extra-tools\", \"" << extra << "\"";
    out << "]\n";
  }
  out << "governance:\n  audit:\n    dir: " << (dir / ("audit-" + name)).string()
      << "\n    fsync: off\n";
  return file;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

struct Calls {
  double p50_us, calls_per_s;
};

Calls measure_calls(const std::vector<std::string>& argv, const std::string& tool, int calls,
                    int pipelined) {
  Proc p = Proc::spawn(argv);
  handshake(p);
  for (int i = 0; i < 1000; ++i) {  // warm-up
    p.write_all(call(tool, i));
    p.read_line();
  }
  std::vector<double> lat;
  for (int i = 0; i < calls; ++i) {
    auto t0 = Clock::now();
    p.write_all(call(tool, 100000 + i));
    auto line = p.read_line();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (line.find("hello from") == std::string::npos ||
        line.find("\"isError\"") != std::string::npos) {
      std::fprintf(stderr, "bad response to %s: %s\n", tool.c_str(), line.c_str());
      std::exit(1);
    }
  }
  double rate = gt::bench::pipelined_rate(
      p, pipelined, [&](long id) { return call(tool, id); }, 1000000);
  p.close_and_wait();
  return {percentile(lat, 0.5), rate};
}

struct Lists {
  double p50_us, p99_us;
  std::size_t tools;
};

Lists measure_lists(const std::vector<std::string>& argv, int lists) {
  Proc p = Proc::spawn(argv);
  handshake(p);
  std::vector<double> lat;
  std::size_t tools = 0;
  for (int i = 0; i < lists; ++i) {
    auto t0 = Clock::now();
    p.write_all(list(10 + i));
    auto line = p.read_line();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    // Every tool carries one inputSchema: count them to check the whole list came back.
    std::size_t n = 0;
    for (auto at = line.find("\"inputSchema\""); at != std::string::npos;
         at = line.find("\"inputSchema\"", at + 1))
      ++n;
    if (i == 0) tools = n;
    if (n != tools || line.find("nextCursor") != std::string::npos) {
      std::fprintf(stderr, "tools/list %d: %zu tools (first had %zu)\n", i, n, tools);
      std::exit(1);
    }
  }
  p.close_and_wait();
  return {percentile(lat, 0.5), percentile(lat, 0.99), tools};
}

}  // namespace

int main(int argc, char** argv) {
  std::string glasstape, server;
  int calls = 5000, pipelined = 50000, lists = 300, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--glasstape")
      glasstape = argv[i + 1];
    else if (a == "--server")
      server = argv[i + 1];
    else if (a == "--calls")
      calls = std::atoi(argv[i + 1]);
    else if (a == "--pipelined")
      pipelined = std::atoi(argv[i + 1]);
    else if (a == "--lists")
      lists = std::atoi(argv[i + 1]);
    else if (a == "--rounds")
      rounds = std::atoi(argv[i + 1]);
  }
  if (glasstape.empty() || server.empty() || calls < 1 || pipelined < 1 || lists < 1 ||
      rounds < 1) {
    std::fprintf(stderr,
                 "usage: %s --glasstape BIN --server BIN [--calls N] [--pipelined N] "
                 "[--lists N] [--rounds N]\n",
                 argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  // The configs live in a temporary directory, and their paths are read from there.
  server = fs::absolute(server).string();
  // glasstape's defaults write keys under ~/.glasstape: the children get a temporary home.
  char home_tpl[] = "/tmp/gt-aggregate-bench-XXXXXX";
  const char* home = ::mkdtemp(home_tpl);
  if (!home) {
    std::perror("mkdtemp");
    return 1;
  }
  ::setenv("HOME", home, 1);
  ::unsetenv("GT_KEYS_DIR");
  const fs::path dir(home);
  auto run = [&](const fs::path& config) {
    return std::vector<std::string>{glasstape, "run",      "--log-level",
                                    "warn",    "--config", config.string()};
  };
  const auto one = run(write_config(dir, "one", server, 1, 0));
  const auto three = run(write_config(dir, "three", server, 3, 0));
  const auto ten = run(write_config(dir, "ten", server, 10, 20));
  const auto list1 = run(write_config(dir, "list1", server, 1, 290));

  std::vector<Calls> r1, r3;
  for (int r = 0; r < rounds; ++r) {
    r1.push_back(measure_calls(one, "echo", calls, pipelined));
    r3.push_back(measure_calls(three, "s0__echo", calls, pipelined));
  }
  auto best = [](const std::vector<Calls>& v) {
    Calls b = v[0];
    for (const auto& c : v) {
      b.p50_us = std::min(b.p50_us, c.p50_us);
      b.calls_per_s = std::max(b.calls_per_s, c.calls_per_s);
    }
    return b;
  };
  const Calls b1 = best(r1), b3 = best(r3);
  const Lists l10 = measure_lists(ten, lists);
  const Lists l1 = measure_lists(list1, lists);

  std::printf("aggregate benchmark (%d rounds of %d sequential and %d pipelined calls; %d lists)\n",
              rounds, calls, pipelined, lists);
  std::printf("%-28s %10s %14s\n", "", "p50 µs", "calls/s piped");
  std::printf("%-28s %10.1f %14.0f\n", "one server", b1.p50_us, b1.calls_per_s);
  std::printf("%-28s %10.1f %14.0f\n", "three servers (to s0)", b3.p50_us, b3.calls_per_s);
  for (int r = 0; r < rounds; ++r)
    std::printf("  round %d: one %.0f calls/s, three %.0f calls/s\n", r + 1, r1[r].calls_per_s,
                r3[r].calls_per_s);
  std::printf("three servers / one server: %.3fx calls/s, p50 %+.1f µs (target >= 0.95x)\n",
              b3.calls_per_s / b1.calls_per_s, b3.p50_us - b1.p50_us);
  std::printf(
      "tools/list, %zu tools from 10 servers: p50 %.2f ms, p99 %.2f ms (target p50 < 5 ms)\n",
      l10.tools, l10.p50_us / 1000, l10.p99_us / 1000);
  std::printf(
      "tools/list, %zu tools from 1 server (each list to the server): p50 %.2f ms, p99 %.2f ms "
      "(%.2fx of 10 servers)\n",
      l1.tools, l1.p50_us / 1000, l1.p99_us / 1000, l10.p50_us / l1.p50_us);
  std::error_code ec;
  fs::remove_all(home, ec);
  return 0;
}
