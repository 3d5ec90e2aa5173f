// A child process the benchmarks talk to over pipes, one JSON-RPC message per line, and what
// /proc says of its CPU time and peak memory. Shared by the stdio benchmarks.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace gt::bench {

using Clock = std::chrono::steady_clock;

struct Proc {
  pid_t pid = -1;
  int in = -1;   // we write
  int out = -1;  // we read
  std::string buf;

  static Proc spawn(const std::vector<std::string>& argv) {
    int a[2], b[2];
    if (::pipe(a) || ::pipe(b)) std::perror("pipe");
    Proc p;
    p.pid = ::fork();
    if (p.pid == 0) {
      ::dup2(a[0], 0);
      ::dup2(b[1], 1);
      ::close(a[1]);
      ::close(b[0]);
      std::vector<char*> args;
      for (auto& s : argv)
        args.push_back(const_cast<char*>(s.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::perror("exec");
      ::_exit(127);
    }
    ::close(a[0]);
    ::close(b[1]);
    p.in = a[1];
    p.out = b[0];
    return p;
  }
  void write_all(const std::string& s) const {
    std::size_t off = 0;
    while (off < s.size()) {
      auto n = ::write(in, s.data() + off, s.size() - off);
      if (n <= 0) {
        std::perror("write");
        std::exit(1);
      }
      off += static_cast<std::size_t>(n);
    }
  }
  std::string read_line() {
    for (;;) {
      auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      char tmp[65536];
      auto n = ::read(out, tmp, sizeof tmp);
      if (n <= 0) {
        std::fprintf(stderr, "unexpected end of stream\n");
        std::exit(1);
      }
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }
  // Counts lines without copying them (throughput mode).
  std::size_t count_lines(std::size_t want) {
    std::size_t got = std::count(buf.begin(), buf.end(), '\n');
    buf.clear();
    char tmp[1 << 16];
    while (got < want) {
      auto n = ::read(out, tmp, sizeof tmp);
      if (n <= 0) break;
      got += static_cast<std::size_t>(std::count(tmp, tmp + n, '\n'));
    }
    return got;
  }
  // User + system CPU seconds the process has used (the host may be shared: wall-clock
  // rates then understate what one core does).
  double cpu_seconds() const {
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
    auto close = all.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(all.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  long peak_rss_kb() const {
    std::ifstream st("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(st, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
    }
    return -1;
  }
  void close_and_wait() {
    ::close(in);
    int st;
    ::waitpid(pid, &st, 0);
    ::close(out);
  }
};

// Reads lines until the answer to `id` (as JSON text: "\"init\"" or "7"); what comes before it
// (an aggregate's notifications/tools/list_changed as each server's list arrives) is skipped.
inline void read_answer(Proc& p, const std::string& id) {
  while (p.read_line().find("\"id\":" + id) == std::string::npos) {
  }
}

// initialize, initialized, and one tools/list, each answer read: after it only answers follow
// (an aggregate answers the first tools/list once every server's list is in).
inline void handshake(Proc& p) {
  p.write_all(
      R"({"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})"
      "\n");
  read_answer(p, "\"init\"");
  p.write_all(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
              "\n");
  p.write_all(R"({"jsonrpc":"2.0","id":"list","method":"tools/list"})"
              "\n");
  read_answer(p, "\"list\"");
}

// Writes `n` requests made by `make` (ids first_id, first_id + 1, ...) from a second thread
// while counting the answers; their rate per second. Exits when answers are lost.
inline double pipelined_rate(Proc& p, int n, const std::function<std::string(long)>& make,
                             long first_id) {
  std::string batch;
  for (int i = 0; i < n; ++i)
    batch += make(first_id + i);
  auto t0 = Clock::now();
  std::thread writer([&] { p.write_all(batch); });
  auto got = p.count_lines(static_cast<std::size_t>(n));
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  writer.join();
  if (got != static_cast<std::size_t>(n)) {
    std::fprintf(stderr, "lost responses: %zu of %d\n", got, n);
    std::exit(1);
  }
  return n / secs;
}

}  // namespace gt::bench
