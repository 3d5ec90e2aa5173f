// Stateful limits: rate limits and spend budgets — counting, windows, concurrency,
// persistence across restarts, and monitor mode.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "governance/policy/limits.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;
using gt_test::at;
using gt_test::json;
using gt_test::TempDir;

namespace {

const char* kRate = R"(policy_id: rl
tools: [search, fetch]
limits:
  - {id: per-agent, type: rate, max: 3, window: 1m, per: principal}
rules:
  allow: [{id: ok, condition: "args.q != 'bad'"}]
)";

const char* kSpend = R"(policy_id: budget
version: "1"
tools: [make_payment]
limits:
  - id: daily
    type: spend
    amount: args.amount
    max: 100
    window: 1d
    per: principal
    when: "args.currency == 'USD'"
rules:
  allow: [{id: ok, condition: "args.amount > 0"}]
)";

std::shared_ptr<PolicySet> load(const TempDir& d) {
  auto rep = load_policy_dir(d.path, {});
  for (auto& e : rep.errors)
    FAIL(e.str());
  REQUIRE(rep.set);
  return rep.set;
}

Result run(const PolicySet& set, LimitStore* store, const std::string& tool, json args, int64_t t,
           const std::string& agent = "a1") {
  gt::gov::Principal p;
  p.id = agent;
  gt::gov::ToolRef tr{"srv", tool, json::object()};
  return decide(Request{p, tr, args, at(t)}, set, store);
}

}  // namespace

TEST_CASE("rate limit: N calls per window per principal", "[limits]") {
  TempDir d;
  d.write("rl.yaml", kRate);
  auto set = load(d);
  LimitStore store;
  const int64_t t0 = 1736164800;  // a minute boundary
  for (int i = 0; i < 3; ++i)
    CHECK(run(*set, &store, "search", {{"q", "x"}}, t0 + i).effect == Effect::Allow);
  auto r = run(*set, &store, "fetch", {{"q", "x"}}, t0 + 10);  // per principal: across tools
  CHECK(r.effect == Effect::Deny);
  CHECK(r.code == codes::kLimit);
  CHECK(r.rule_id == "per-agent");
  CHECK(r.policy_id == "rl");
  CHECK(r.reason ==
        "rate limit `per-agent` of policy `rl` exceeded: 3 calls per 1m per principal; resets at "
        "2025-01-06T12:01:00Z (in 50s)");
  CHECK(run(*set, &store, "search", {{"q", "x"}}, t0 + 10, "a2").effect ==
        Effect::Allow);  // other principal
  CHECK(run(*set, &store, "search", {{"q", "x"}}, t0 + 60).effect == Effect::Allow);  // next window
  SECTION("denied calls do not count") {
    LimitStore s2;
    for (int i = 0; i < 5; ++i)
      CHECK(run(*set, &s2, "search", {{"q", "bad"}}, t0).effect == Effect::Deny);
    for (int i = 0; i < 3; ++i)
      CHECK(run(*set, &s2, "search", {{"q", "x"}}, t0).effect == Effect::Allow);
  }
}

TEST_CASE("rate limit scopes: tool, principal_tool, global", "[limits]") {
  TempDir d;
  d.write("p.yaml", R"(policy_id: p
tools: [a, b]
limits:
  - {id: t, type: rate, max: 2, window: 10s, per: tool}
  - {id: g, type: rate, max: 3, window: 10s, per: global}
rules: {allow: [{id: ok, condition: ""}]}
)");
  auto set = load(d);
  LimitStore store;
  CHECK(run(*set, &store, "a", {}, 100, "x").effect == Effect::Allow);
  CHECK(run(*set, &store, "a", {}, 100, "y").effect == Effect::Allow);
  auto r = run(*set, &store, "a", {}, 100, "z");
  CHECK(r.rule_id == "t");  // per tool, whoever calls
  CHECK(run(*set, &store, "b", {}, 101, "x").effect == Effect::Allow);
  auto g = run(*set, &store, "b", {}, 101, "x");
  CHECK(g.rule_id == "g");  // the global limit: a+a+b = 3
  // The failed call reserved nothing: `t` for b still has room after the window.
  CHECK(store.used("p|t|tool=srv/b", 10, at(101)) == 1);
}

TEST_CASE("spend budget: sum of an argument expression", "[limits]") {
  TempDir d;
  d.write("b.yaml", kSpend);
  auto set = load(d);
  LimitStore store;
  const int64_t t0 = 1736164800;
  CHECK(run(*set, &store, "make_payment", {{"amount", 60}, {"currency", "USD"}}, t0).effect ==
        Effect::Allow);
  CHECK(run(*set, &store, "make_payment", {{"amount", 30.5}, {"currency", "USD"}}, t0).effect ==
        Effect::Allow);
  auto r = run(*set, &store, "make_payment", {{"amount", 10}, {"currency", "USD"}}, t0 + 3600);
  CHECK(r.effect == Effect::Deny);
  CHECK(r.code == codes::kLimit);
  CHECK(r.reason ==
        "spend budget `daily` of policy `budget` exceeded: 90.5 used + 10 requested > 100 per 1d "
        "per principal; "
        "resets at 2025-01-07T00:00:00Z (in 11h)");
  CHECK(run(*set, &store, "make_payment", {{"amount", 9.5}, {"currency", "USD"}}, t0).effect ==
        Effect::Allow);
  CHECK(run(*set, &store, "make_payment", {{"amount", 500}, {"currency", "EUR"}}, t0).effect ==
        Effect::Allow);  // `when`
  CHECK(
      run(*set, &store, "make_payment", {{"amount", 1}, {"currency", "USD"}}, t0 + 86400).effect ==
      Effect::Allow);
  SECTION("a non-numeric amount fails closed") {
    auto bad = run(*set, &store, "make_payment", {{"amount", "1e9"}, {"currency", "USD"}}, t0);
    CHECK(bad.effect == Effect::Deny);
    CHECK(bad.code == codes::kError);
  }
}

TEST_CASE("reservations: exact under concurrency, released on a later deny", "[limits]") {
  TempDir d;
  d.write("rl.yaml", R"(policy_id: rl
tools: [t]
limits: [{id: cap, type: rate, max: 1000, window: 1h, per: global}]
rules: {allow: [{id: ok, condition: ""}]}
)");
  auto set = load(d);
  LimitStore store;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (run(*set, &store, "t", {}, 3600 * 10).effect == Effect::Allow) ++allowed;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(allowed.load() == 1000);
  CHECK(store.used("rl|cap|global", 3600, at(3600 * 10)) == 1000);
  SECTION("two-phase: a held reservation counts, a released one frees the slot") {
    LimitStore s;
    gt::gov::Principal p;
    gt::gov::ToolRef tr{"srv", "t", json::object()};
    json args = json::object();
    auto r = evaluate(Request{p, tr, args, at(0)}, *set);
    REQUIRE(r.charges.size() == 1);
    std::vector<Charge> one = r.charges;
    one[0].max = 1;
    LimitStore::Reservation a, b;
    CHECK(s.try_reserve(one, at(0), a).ok);
    CHECK_FALSE(s.try_reserve(one, at(0), b).ok);  // the slot is held
    s.release(a);
    CHECK(s.try_reserve(one, at(0), b).ok);
    s.commit(b);
    CHECK(s.used(one[0].key, 3600, at(0)) == 1);
  }
}

TEST_CASE("limits survive a restart (state file)", "[limits][persistence]") {
  TempDir d;
  d.write("policies/rl.yaml", kRate);
  auto rep = load_policy_dir(d.path / "policies", {});
  REQUIRE(rep.set);
  auto file = d.path / "state" / "limits.jsonl";
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t t0 = now - now % 60;
  {
    std::string err;
    auto store = LimitStore::open(file, err);
    REQUIRE(store);
    CHECK(run(*rep.set, store.get(), "search", {{"q", "x"}}, t0).effect == Effect::Allow);
    CHECK(run(*rep.set, store.get(), "search", {{"q", "x"}}, t0).effect == Effect::Allow);
    SECTION("a second process shares the same state: the limit holds across both") {
      std::string err2;
      auto other = LimitStore::open(file, err2);
      REQUIRE(other);
      CHECK(run(*rep.set, other.get(), "search", {{"q", "x"}}, t0).effect == Effect::Allow);
      auto r = run(*rep.set, other.get(), "search", {{"q", "x"}}, t0);
      CHECK(r.code == codes::kLimit);  // 2 here + 1 there = 3
      CHECK(run(*rep.set, store.get(), "search", {{"q", "x"}}, t0).code == codes::kLimit);
      return;
    }
  }
  // A torn trailing line (crash mid-write) is ignored.
  { std::ofstream(file, std::ios::app) << "{\"k\":\"rl|per-agent|princ"; }
  std::string err;
  auto store = LimitStore::open(file, err);
  REQUIRE(store);
  CHECK(run(*rep.set, store.get(), "search", {{"q", "x"}}, t0 + 1).effect == Effect::Allow);
  auto r = run(*rep.set, store.get(), "search", {{"q", "x"}}, t0 + 2);
  CHECK(r.effect == Effect::Deny);
  CHECK(r.code == codes::kLimit);
}

TEST_CASE("limits in monitor mode count but only record would-deny", "[limits][mode]") {
  TempDir d;
  std::string text = kRate;
  text.insert(text.find("tools:"), "mode: monitor\n");
  d.write("rl.yaml", text);
  auto set = load(d);
  LimitStore store;
  for (int i = 0; i < 3; ++i)
    CHECK_FALSE(run(*set, &store, "search", {{"q", "x"}}, 60).would_deny);
  auto r = run(*set, &store, "search", {{"q", "x"}}, 60);
  CHECK(r.effect == Effect::Allow);
  CHECK(r.would_deny);
  CHECK(r.would_deny_code == codes::kLimit);
  CHECK(r.would_deny_rule == "per-agent");
  CHECK(store.used("rl|per-agent|principal=default/a1", 60, at(60)) == 4);
}

TEST_CASE("limit declarations are validated", "[limits][errors]") {
  TempDir d;
  d.write("p.yaml", R"(policy_id: p
limits:
  - {id: a, type: rate, max: 1.5, window: 1m}
  - {id: b, type: spend, max: 10, window: 1m}
  - {id: c, type: rate, max: 1, window: 1y}
  - {id: d, type: spend, max: 1, window: 1m, amount: "args.x.size() > 1"}
rules: {allow: [{id: ok, condition: ''}]}
)");
  auto rep = load_policy_dir(d.path, {});
  REQUIRE(rep.errors.size() == 4);
  CHECK(rep.errors[0].message == "a rate limit's `max` must be a whole number of calls");
  CHECK(rep.errors[1].message ==
        "spend limit `b` needs an `amount` expression such as `args.amount`");
  CHECK(rep.errors[2].message ==
        "invalid window `1y` (e.g. `30s`, `1m`, `1h`, `24h`, `7d`; at most 366d)");
  CHECK(rep.errors[3].message == "a spend amount must be a number, got bool");
}

namespace {

const char* kShared = R"(policy_id: sh
tools: [t]
limits: [{id: cap, type: rate, max: MAX, window: 1h, per: global}]
rules: {allow: [{id: ok, condition: ""}]}
)";

std::shared_ptr<PolicySet> load_cap(const TempDir& d, int max) {
  std::string text = kShared;
  text.replace(text.find("MAX"), 3, std::to_string(max));
  d.write("p/sh.yaml", text);
  auto rep = load_policy_dir(d.path / "p", {});
  REQUIRE(rep.set);
  return rep.set;
}

int64_t hour_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("persisted limits: two processes sharing a state file never exceed the limit",
          "[limits][persistence][shared]") {
  TempDir d;
  auto file = d.path / "state" / "limits.jsonl";
  const int64_t now = hour_now();
  // Below 64 a lease is one call: exact across processes. Above, a process may hold one
  // unused lease (max/32) that the other cannot use: never over, at most that much under.
  auto [max, slack] = GENERATE(std::make_pair(50, 0), std::make_pair(3200, 2 * 100));
  auto set = load_cap(d, max);
  std::string err;
  auto a = LimitStore::open(file, err);
  auto b = LimitStore::open(file, err);
  REQUIRE(a);
  REQUIRE(b);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      LimitStore* s = k % 2 ? a.get() : b.get();
      for (int i = 0; i < max; ++i)
        if (run(*set, s, "t", {}, now).effect == Effect::Allow) ++allowed;
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(allowed.load() <= max);
  CHECK(allowed.load() >= max - slack);
  CHECK(a->used("sh|cap|global", 3600, at(now)) + b->used("sh|cap|global", 3600, at(now)) ==
        allowed.load());
  // A clean shutdown gives back unused leases: a third process sees the exact usage.
  a.reset();
  b.reset();
  auto c = LimitStore::open(file, err);
  REQUIRE(c);
  CHECK(c->others("sh|cap|global", 3600, at(now)) == allowed.load());
}

TEST_CASE("persisted limits: the decision path writes once per lease, not per call",
          "[limits][persistence]") {
  TempDir d;
  auto set = load_cap(d, 3200000);
  std::string err;
  auto s = LimitStore::open(d.path / "limits.jsonl", err);
  REQUIRE(s);
  const int64_t now = hour_now();
  for (int i = 0; i < 20000; ++i)
    REQUIRE(run(*set, s.get(), "t", {}, now).effect == Effect::Allow);
  CHECK(s->lease_writes() >= 1);
  CHECK(s->lease_writes() <= 3);  // 20000 calls, leases of 100000
}

TEST_CASE("persisted limits: a crash never under-counts", "[limits][persistence][crash]") {
  TempDir d;
  auto set = load_cap(d, 640);  // leases of 20 calls
  auto file = d.path / "limits.jsonl";
  const int64_t now = hour_now();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string err;
    auto s = LimitStore::open(file, err);
    int ok = 0;
    for (int i = 0; s && i < 33; ++i)
      ok += run(*set, s.get(), "t", {}, now).effect == Effect::Allow;
    s.release();  // no destructor: the process dies holding its leases (kill -9)
    ::_exit(ok == 33 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  std::string err;
  auto s = LimitStore::open(file, err);
  REQUIRE(s);
  double counted = s->others("sh|cap|global", 3600, at(now));
  CHECK(counted >= 33);       // everything the dead process allowed
  CHECK(counted <= 33 + 20);  // plus at most one unused lease
  int allowed = 0;
  for (int i = 0; i < 700; ++i)
    allowed += run(*set, s.get(), "t", {}, now).effect == Effect::Allow;
  CHECK(allowed == 640 - static_cast<int>(counted));
}

TEST_CASE("persisted limits: a compaction by another process is noticed",
          "[limits][persistence][shared]") {
  TempDir d;
  auto set = load_cap(d, 40);
  auto file = d.path / "limits.jsonl";
  const int64_t now = hour_now();
  std::string err;
  auto a = LimitStore::open(file, err);
  REQUIRE(a);
  for (int i = 0; i < 10; ++i)
    REQUIRE(run(*set, a.get(), "t", {}, now).effect == Effect::Allow);
  auto b = LimitStore::open(file, err);  // compacts: the journal is a new file now
  REQUIRE(b);
  CHECK(b->others("sh|cap|global", 3600, at(now)) == 10);
  // A torn line left by a crashed writer does not swallow the next lease line.
  { std::ofstream(file, std::ios::app) << R"({"k":"sh|cap|global","w":)"; }
  int allowed = 0;
  for (int i = 0; i < 40; ++i) {
    allowed += run(*set, a.get(), "t", {}, now).effect == Effect::Allow;
    allowed += run(*set, b.get(), "t", {}, now).effect == Effect::Allow;
  }
  CHECK(allowed == 30);
  a.reset();
  auto c = LimitStore::open(file, err);
  REQUIRE(c);
  CHECK(c->others("sh|cap|global", 3600, at(now)) == 40);
}
