// Policy engine benchmarks (targets from issue 5):
//   a decision against a 10-rule policy        ≤ 1 µs median
//   loading a 1,000-policy directory            ≤ 100 ms
//   a decision with a rate limit                ≤ 2 µs median
// Medians are over batches (each batch's mean per call), after a warm-up.
// Usage: policy_bench [--quick]
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "governance/policy/evaluate.hpp"
#include "governance/policy/limits.hpp"
#include "governance/policy/policy.hpp"

using namespace gt::gov::policy;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// Thread CPU time: the machine is shared (other builds run beside the bench), and CPU time
// counts only the work of this thread, not time spent descheduled. Wall time is printed too.
double process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct Timing {
  double cpu_ns = 0;   // median per call, thread CPU time
  double wall_ns = 0;  // median per call, wall clock
};

template <class F>
Timing median_ns(F&& f, int batches, int per_batch) {
  for (int i = 0; i < per_batch; ++i)
    f();  // warm-up
  std::vector<double> cpu, wall;
  for (int b = 0; b < batches; ++b) {
    double c0 = thread_cpu_ns();
    auto t0 = Clock::now();
    for (int i = 0; i < per_batch; ++i)
      f();
    auto t1 = Clock::now();
    double c1 = thread_cpu_ns();
    cpu.push_back((c1 - c0) / per_batch);
    wall.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / per_batch);
  }
  std::sort(cpu.begin(), cpu.end());
  std::sort(wall.begin(), wall.end());
  return {cpu[cpu.size() / 2], wall[wall.size() / 2]};
}

// clang-format off
const char* kTenRules = R"Y(policy_id: bench.payments
version: "1"
tools: [make_payment]
rules:
  deny:
    - {id: d1, condition: "args.amount <= 0", reason: positive}
    - {id: d2, condition: "has(args.currency) && !(args.currency in ['USD', 'EUR', 'CAD'])", reason: currency}
    - {id: d3, condition: "args.amount > 50 && 'analyst' in principal.roles", reason: analyst cap}
    - {id: d4, condition: "args.amount > 500 && !('admin' in principal.roles)", reason: admin cap}
    - {id: d5, condition: "args.recipient.startsWith('blocked-')", reason: blocked}
  allow:
    - {id: a1, condition: "principal.attributes.user_role == 'admin'", reason: admin}
    - {id: a2, condition: "args.recipient in ['acme', 'globex'] && args.amount < 10", reason: vendors}
    - {id: a3, condition: "principal.tenant == 'other'", reason: other}
    - {id: a4, condition: "size(args.recipient) > 100", reason: long}
    - {id: a5, condition: "args.amount <= 50 && size(args.recipient) > 0", reason: small}
)Y";

const char* kRate = R"Y(policy_id: bench.rate
tools: [search]
limits: [{id: rl, type: rate, max: 1000000000, window: 1h, per: principal_tool}]
rules:
  allow: [{id: ok, condition: "args.q != ''"}]
)Y";
// clang-format on

fs::path temp_dir(const char* tag) {
  auto p = fs::temp_directory_path() /
           ("gt-policy-bench-" + std::string(tag) + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::shared_ptr<PolicySet> load_text(const char* text, const char* tag) {
  auto d = temp_dir(tag);
  std::ofstream(d / "p.yaml") << text;
  auto rep = load_policy_dir(d, {});
  fs::remove_all(d);
  if (!rep.set) {
    for (auto& e : rep.errors)
      std::fprintf(stderr, "%s\n", e.str().c_str());
    std::exit(1);
  }
  return rep.set;
}

void report(const char* what, const Timing& t, double target_ns) {
  if (target_ns > 0) {
    std::printf("%-68s cpu %8.0f ns  wall %8.0f ns  (target <= %.0f ns, median)\n", what, t.cpu_ns,
                t.wall_ns, target_ns);
  } else {
    std::printf("%-68s cpu %8.0f ns  wall %8.0f ns  (median)\n", what, t.cpu_ns, t.wall_ns);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  int batches = quick ? 101 : 1001;
  int per = 1000;
  bool ok = true;

  // 1. 10-rule policy
  auto set = load_text(kTenRules, "ten");
  gt::gov::Principal p;
  p.id = "agent-1";
  p.roles = {"manager"};
  p.attributes = {{"user_role", "manager"}};
  gt::gov::ToolRef tool{"example", "make_payment", nlohmann::json::object()};
  nlohmann::json args = {{"amount", 42.5}, {"recipient", "initech"}, {"currency", "USD"}};
  auto now = std::chrono::system_clock::now();
  Result check = evaluate(Request{p, tool, args, now}, *set);
  if (check.effect != Effect::Allow || check.rule_id != "a5") {
    std::fprintf(stderr, "unexpected decision: %s\n", check.reason.c_str());
    return 1;
  }
  Timing ten = median_ns(
      [&] {
        auto r = evaluate(Request{p, tool, args, now}, *set);
        (void)r;
      },
      batches, per);
  report("decision, 10-rule policy (all 10 rules evaluated)", ten, 1000);
  ok = ok && ten.cpu_ns <= 1000;

  // 2. decision with a rate limit: in memory, and with the persistent journal
  auto rset = load_text(kRate, "rate");
  gt::gov::ToolRef stool{"example", "search", nlohmann::json::object()};
  nlohmann::json sargs = {{"q", "mcp"}};
  LimitStore mem;
  Timing rate_mem = median_ns(
      [&] {
        auto r = decide(Request{p, stool, sargs, now}, *rset, &mem);
        (void)r;
      },
      batches, per);
  report("decision with a rate limit (in-memory counters)", rate_mem, 2000);
  ok = ok && rate_mem.cpu_ns <= 2000;
  // The real configuration: counters persisted in a state file shared by processes. The
  // decision path spends a lease in memory; a lease line is written (under flock) once per
  // 1/32 of the limit, ahead of need by a background thread.
  auto sd = temp_dir("state");
  std::string err;
  auto disk = LimitStore::open(sd / "limits.jsonl", err);
  if (!disk) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  Timing rate_disk = median_ns(
      [&] {
        auto r = decide(Request{p, stool, sargs, now}, *rset, disk.get());
        (void)r;
      },
      batches, per);
  report("decision with a rate limit (persisted state file, leased)", rate_disk, 2000);
  std::printf("%-68s %zu\n", "  lease lines written for those calls", disk->lease_writes());
  ok = ok && rate_disk.cpu_ns <= 2000;
  // Limits below 64 lease one call at a time (exact across processes): every allowed call
  // writes a line under the file lock. 40 calls per principal, then the next principal.
  auto small = load_text(R"Y(policy_id: bench.small
tools: [search]
limits: [{id: rl, type: rate, max: 50, window: 1h, per: principal}]
rules:
  allow: [{id: ok, condition: "args.q != ''"}]
)Y",
                         "small");
  gt::gov::Principal sp = p;
  int calls = 0, agent = 0;
  Timing rate_exact = median_ns(
      [&] {
        if (++calls % 40 == 0) sp.id = "agent-" + std::to_string(++agent);
        auto r = decide(Request{sp, stool, sargs, now}, *small, disk.get());
        (void)r;
      },
      quick ? 21 : 101, 200);
  report("decision with a small rate limit (persisted, one lease per call)", rate_exact, 0);
  disk.reset();
  fs::remove_all(sd);

  // 3. 1,000-policy directory
  auto dir = temp_dir("dir");
  for (int i = 0; i < 1000; ++i) {
    std::ofstream(dir / ("policy_" + std::to_string(i) + ".yaml"))
        << "policy_id: team" << i
        << ".tool_policy\nversion: \"1.0\"\ndescription: generated policy " << i
        << "\ntools: [tool_" << i << ", \"srv" << i % 10 << "/op_" << i << "_*\"]\n"
        << "limits:\n  - {id: rate, type: rate, max: 100, window: 1m, per: principal}\n"
        << "rules:\n  deny:\n    - id: deny-big\n      condition: \"args.amount > " << (i + 10)
        << " && !('admin' in principal.roles)\"\n      reason: too big\n"
        << "    - id: deny-host\n      condition: \"has(args.url) && "
           "!args.url.startsWith('https://')\"\n"
        << "  allow:\n    - id: allow-role\n      condition: \"principal.attributes.team == "
           "'team"
        << i << "' || 'ops' in principal.roles\"\n"
        << "    - id: allow-small\n      condition: \"args.amount <= " << (i + 10) << "\"\n";
  }
  std::vector<double> loads, load_cpu;
  for (int k = 0; k < (quick ? 3 : 7); ++k) {
    // The load parses files on several threads: count the CPU time of all of them. On an
    // idle machine the wall time is at most this (less with more than one core).
    double c0 = process_cpu_ns();
    auto t0 = Clock::now();
    auto rep = load_policy_dir(dir, {});
    auto t1 = Clock::now();
    load_cpu.push_back((process_cpu_ns() - c0) / 1e6);
    if (!rep.set || rep.set->policies.size() != 1000) {
      std::fprintf(stderr, "1000-policy load failed\n");
      for (auto& e : rep.errors)
        std::fprintf(stderr, "%s\n", e.str().c_str());
      return 1;
    }
    loads.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(loads.begin(), loads.end());
  std::sort(load_cpu.begin(), load_cpu.end());
  double load_ms = loads[loads.size() / 2];
  double load_cpu_ms = load_cpu[load_cpu.size() / 2];
  std::printf("%-68s cpu %8.1f ms  wall %8.1f ms  (target <= 100 ms)\n",
              "load a 1,000-policy directory (4 rules + 1 limit each)", load_cpu_ms, load_ms);
  ok = ok && load_cpu_ms <= 100;
  // Decision in that big set (index lookup by tool name).
  auto big = load_policy_dir(dir, {}).set;
  gt::gov::ToolRef btool{"srv3", "tool_503", nlohmann::json::object()};
  nlohmann::json bargs = {{"amount", 5}};
  Timing big_ns = median_ns(
      [&] {
        auto r = evaluate(Request{p, btool, bargs, now}, *big);
        (void)r;
      },
      batches, per);
  report("decision in the 1,000-policy set", big_ns, 0);
  fs::remove_all(dir);
  std::printf("%s\n", ok ? "all targets met" : "TARGET MISSED");
  return ok ? 0 : 1;
}
