// Benchmark for the stdio proxy (issue 3). In one run, the same client drives:
//   direct:  client ──stdio──► example server
//   proxied: client ──stdio──► glasstape run ──stdio──► example server
// and reports, as ratios against the direct baseline:
//   - latency at one request in flight (tools/call echo): median and p99, and the added µs;
//   - pipelined throughput (many requests in flight);
//   - glasstape's peak RSS (VmHWM).
// Usage: proxy_stdio_bench --glasstape BIN --server BIN [--config FILE] [--calls N] [--pipelined N]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_proc.hpp"

namespace {

using gt::bench::Clock;
using gt::bench::handshake;
using gt::bench::pipelined_rate;
using gt::bench::Proc;

std::string ping(long id) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"ping"})"
         "\n";
}

std::string call(long id) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello from the benchmark"}}})"
         "\n";
}

struct Result {
  double p50_us, p99_us, calls_per_s, pings_per_s;
  double calls_per_cpu_s, pings_per_cpu_s;  // per CPU-second of the measured process
  long rss_kb;
};

Result measure(const std::vector<std::string>& argv, int calls, int pipelined, bool is_proxy,
               int gap_us) {
  Proc p = Proc::spawn(argv);
  handshake(p);
  for (int i = 0; i < 2000; ++i) {  // warm-up
    p.write_all(call(i));
    p.read_line();
  }
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    auto t0 = Clock::now();
    p.write_all(call(100000 + i));
    auto line = p.read_line();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (gap_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
    if (line.find("\"isError\"") != std::string::npos ||
        line.find("hello from") == std::string::npos) {
      std::fprintf(stderr, "bad response: %s\n", line.c_str());
      std::exit(1);
    }
  }
  std::sort(lat.begin(), lat.end());
  // Pipelined: a writer thread keeps the pipe full while we count responses. First
  // tools/call (the whole pipeline, recorder included), then ping (passed through as bytes).
  double c0 = p.cpu_seconds();
  double calls_per_s = pipelined_rate(p, pipelined, call, 1000000);
  double c1 = p.cpu_seconds();
  double pings_per_s = pipelined_rate(p, pipelined, ping, 5000000);
  double c2 = p.cpu_seconds();
  auto per_cpu = [&](double cpu) { return cpu > 0 ? pipelined / cpu : 0.0; };
  long rss = is_proxy ? p.peak_rss_kb() : -1;
  p.close_and_wait();
  return {lat[lat.size() / 2], lat[lat.size() * 99 / 100], calls_per_s, pings_per_s,
          per_cpu(c1 - c0),    per_cpu(c2 - c1),           rss};
}

}  // namespace

int main(int argc, char** argv) {
  std::string glasstape, server, config;
  int calls = 20000, pipelined = 200000, gap_us = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--glasstape")
      glasstape = argv[i + 1];
    else if (a == "--server")
      server = argv[i + 1];
    else if (a == "--config")
      config = argv[i + 1];
    else if (a == "--calls")
      calls = std::atoi(argv[i + 1]);
    else if (a == "--pipelined")
      pipelined = std::atoi(argv[i + 1]);
    else if (a == "--gap-us")
      gap_us = std::atoi(argv[i + 1]);
  }
  if (glasstape.empty() || server.empty()) {
    std::fprintf(stderr,
                 "usage: %s --glasstape BIN --server BIN [--config FILE] [--calls N]\n"
                 "       [--pipelined N] [--gap-us N (pause between sequential calls)]\n",
                 argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  // glasstape's defaults write keys and audit logs under ~/.glasstape: the bench's children
  // get a temporary home, never the user's.
  char home_tpl[] = "/tmp/gt-proxy-bench-XXXXXX";
  const char* home = ::mkdtemp(home_tpl);
  if (!home) {
    std::perror("mkdtemp");
    return 1;
  }
  ::setenv("HOME", home, 1);
  ::unsetenv("GT_KEYS_DIR");
  auto direct = measure({server}, calls, pipelined, false, gap_us);
  std::vector<std::string> proxied = {glasstape, "run", "--log-level", "warn"};
  if (!config.empty()) {
    proxied.push_back("--config");
    proxied.push_back(config);
  }
  proxied.push_back("--");
  proxied.push_back(server);
  auto proxy = measure(proxied, calls, pipelined, true, gap_us);
  std::printf("stdio proxy benchmark (%d sequential calls, %d pipelined)%s\n", calls, pipelined,
              config.empty() ? "" : (" config " + config).c_str());
  std::printf("%-10s %10s %10s %16s %16s\n", "", "p50 µs", "p99 µs", "calls/s piped",
              "pings/s piped");
  std::printf("%-10s %10.1f %10.1f %16.0f %16.0f\n", "direct", direct.p50_us, direct.p99_us,
              direct.calls_per_s, direct.pings_per_s);
  std::printf("%-10s %10.1f %10.1f %16.0f %16.0f\n", "glasstape", proxy.p50_us, proxy.p99_us,
              proxy.calls_per_s, proxy.pings_per_s);
  std::printf("added latency: p50 %+.1f µs, p99 %+.1f µs (target p50 <= 30 µs)\n",
              proxy.p50_us - direct.p50_us, proxy.p99_us - direct.p99_us);
  // Each request and its response both cross the proxy: two messages per call.
  std::printf(
      "throughput tools/call: %.0f calls/s = %.0f messages/s through the proxy, %.2fx direct\n",
      proxy.calls_per_s, 2 * proxy.calls_per_s, proxy.calls_per_s / direct.calls_per_s);
  std::printf(
      "throughput ping:       %.0f pings/s = %.0f messages/s through the proxy, %.2fx direct "
      "(target >= 100000 msg/s)\n",
      proxy.pings_per_s, 2 * proxy.pings_per_s, proxy.pings_per_s / direct.pings_per_s);
  std::printf(
      "per CPU-second of the process (10 ms ticks): glasstape %.0f calls, %.0f pings; direct "
      "server %.0f calls, %.0f pings\n",
      proxy.calls_per_cpu_s, proxy.pings_per_cpu_s, direct.calls_per_cpu_s, direct.pings_per_cpu_s);
  std::printf("glasstape peak RSS: %.1f MB (target <= 15 MB)\n", proxy.rss_kb / 1024.0);
  std::error_code ec;
  std::filesystem::remove_all(home, ec);
  return 0;
}
