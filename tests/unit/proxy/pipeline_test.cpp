// The pipeline's on_decided hook, and the policy interceptor's use of it: limit quota is
// consumed only by calls that are recorded and forwarded.
#include "proxy/pipeline.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "proxy/interceptors/policy_interceptor.hpp"

using namespace gt::proxy;
using nlohmann::json;

namespace {

// Records decisions synchronously; can be told to fail.
struct FakeRecorder : Recorder {
  bool fail = false;
  int decisions = 0;
  void record_decision(const CallContext&, std::function<void(Outcome)> done) override {
    ++decisions;
    done(Outcome{!fail, fail ? "disk full" : "", "r-" + std::to_string(decisions)});
  }
  void record_result(const CallContext&, const Response&) override {}
};

// Continues or denies as told, and remembers what on_decided said.
struct Probe : Interceptor {
  bool deny = false;
  std::vector<std::pair<std::string, bool>> decided;
  std::string_view name() const override { return "probe"; }
  Verdict on_call(CallContext& ctx) override {
    if (!deny) return Verdict::Continue;
    ctx.decision.reason = "probe says no";
    return Verdict::Deny;
  }
  void on_decided(const CallContext& ctx, bool forwarded) override {
    decided.emplace_back(ctx.tool, forwarded);
  }
};

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("gt-pipeline-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const Pipeline::Post kInline = [](std::function<void()> f) { f(); };

std::shared_ptr<CallContext> call(const std::string& tool) {
  auto ctx = std::make_shared<CallContext>();
  ctx->server = "srv";
  ctx->tool = tool;
  ctx->principal.id = "agent-1";
  ctx->now = std::chrono::system_clock::now();
  return ctx;
}

Decision run(Pipeline& p, const std::string& tool) {
  Decision out;
  bool done = false;
  p.decide(call(tool), kInline, [&](std::shared_ptr<CallContext> c) {
    out = c->decision;
    done = true;
  });
  REQUIRE(done);
  return out;
}

}  // namespace

TEST_CASE("on_decided: called once per call with the final outcome", "[pipeline]") {
  std::vector<std::unique_ptr<Interceptor>> chain;
  auto probe = std::make_unique<Probe>();
  Probe* pr = probe.get();
  chain.push_back(std::move(probe));
  auto rec = std::make_unique<FakeRecorder>();
  FakeRecorder* r = rec.get();
  Pipeline p(std::move(chain), std::move(rec));

  CHECK(run(p, "a").effect == Effect::Allow);
  pr->deny = true;
  CHECK(run(p, "b").effect == Effect::Deny);
  pr->deny = false;
  r->fail = true;
  Decision d = run(p, "c");
  CHECK(d.effect == Effect::Deny);
  CHECK(d.code == "GT-AUDIT-WRITE");
  REQUIRE(pr->decided.size() == 3);
  CHECK(pr->decided[0] == std::make_pair(std::string("a"), true));
  CHECK(pr->decided[1] == std::make_pair(std::string("b"), false));
  CHECK(pr->decided[2] == std::make_pair(std::string("c"), false));  // the recorder denied it

  SECTION("without a recorder too") {
    std::vector<std::unique_ptr<Interceptor>> c2;
    auto p2 = std::make_unique<Probe>();
    Probe* pr2 = p2.get();
    c2.push_back(std::move(p2));
    Pipeline bare(std::move(c2), nullptr);
    CHECK(run(bare, "x").effect == Effect::Allow);
    REQUIRE(pr2->decided.size() == 1);
    CHECK(pr2->decided[0].second);
  }
}

TEST_CASE("limits: a call the recorder cannot record consumes no quota", "[pipeline][limits]") {
  TempDir d;
  std::filesystem::create_directories(d.path / "policies");
  std::ofstream(d.path / "policies" / "rl.yaml") << R"(policy_id: rl
tools: [echo]
limits: [{id: two, type: rate, max: 2, window: 1h, per: principal}]
rules: {allow: [{id: ok, condition: "true"}]}
)";
  PolicyInterceptorConfig cfg;
  cfg.dir = d.path / "policies";
  cfg.state_dir = d.path / "state";
  cfg.reload = false;
  std::vector<std::unique_ptr<Interceptor>> chain;
  chain.push_back(std::make_unique<PolicyInterceptor>(cfg));
  auto rec = std::make_unique<FakeRecorder>();
  FakeRecorder* r = rec.get();
  Pipeline p(std::move(chain), std::move(rec));

  r->fail = true;
  for (int i = 0; i < 5; ++i) {
    Decision x = run(p, "echo");
    CHECK(x.effect == Effect::Deny);
    CHECK(x.code == "GT-AUDIT-WRITE");
  }
  r->fail = false;
  CHECK(run(p, "echo").effect == Effect::Allow);
  CHECK(run(p, "echo").effect == Effect::Allow);
  Decision third = run(p, "echo");
  CHECK(third.effect == Effect::Deny);
  CHECK(third.code == "GT-LIMIT");
  CHECK(third.reason.find("rate limit `two` of policy `rl` exceeded") != std::string::npos);

  SECTION("the forwarded calls survive a restart; the failed ones were never counted") {
    std::vector<std::unique_ptr<Interceptor>> c2;
    c2.push_back(std::make_unique<PolicyInterceptor>(cfg));
    Pipeline p2(std::move(c2), std::make_unique<FakeRecorder>());
    CHECK(run(p2, "echo").code == "GT-LIMIT");
  }
}

TEST_CASE("limits: a held reservation blocks the last slot until the outcome is known",
          "[pipeline][limits]") {
  TempDir d;
  std::filesystem::create_directories(d.path / "policies");
  std::ofstream(d.path / "policies" / "rl.yaml") << R"(policy_id: rl
tools: [echo]
limits: [{id: one, type: rate, max: 1, window: 1h, per: principal}]
rules: {allow: [{id: ok, condition: "true"}]}
)";
  PolicyInterceptorConfig cfg;
  cfg.dir = d.path / "policies";
  cfg.state_dir = d.path / "state";
  cfg.reload = false;
  PolicyInterceptor pi(cfg);
  auto a = call("echo");
  auto b = call("echo");
  CHECK(pi.on_call(*a) == Verdict::Continue);
  CHECK(pi.on_call(*b) == Verdict::Deny);  // the slot is held by `a`
  CHECK(b->decision.code == "GT-LIMIT");
  pi.on_decided(*b, false);  // nothing held: no effect
  pi.on_decided(*a, false);  // `a` was denied later: the slot is free again
  auto c = call("echo");
  CHECK(pi.on_call(*c) == Verdict::Continue);
  pi.on_decided(*c, true);
  auto e = call("echo");
  CHECK(pi.on_call(*e) == Verdict::Deny);
}
