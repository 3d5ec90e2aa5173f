// The metrics registry: the text format, bounded series, histograms, and the pipeline's
// decision and latency metrics.
#include "proxy/admin/metrics.hpp"

#include <catch2/catch.hpp>

#include <sstream>

#include "proxy/pipeline.hpp"

using namespace gt::proxy;
namespace admin = gt::proxy::admin;

namespace {

// The sample lines (not comments) of `text` that start with `prefix`.
std::vector<std::string> lines_of(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

std::string render(const admin::Family& f) {
  std::string out;
  f.render(out);
  return out;
}

}  // namespace

TEST_CASE("a counter renders HELP, TYPE and one line per label set", "[admin][metrics]") {
  admin::CounterFamily c("t_calls_total", "Calls.", {"tool", "decision"});
  c.inc({"read", "allow"});
  c.inc({"read", "allow"});
  c.inc({"write", "deny"}, 3);
  auto text = render(c);
  CHECK(text.find("# HELP t_calls_total Calls.\n# TYPE t_calls_total counter\n") == 0);
  CHECK(lines_of(text, "t_calls_total{") ==
        std::vector<std::string>{R"(t_calls_total{tool="read",decision="allow"} 2)",
                                 R"(t_calls_total{tool="write",decision="deny"} 3)"});
  CHECK(c.value({"read", "allow"}) == 2);
  CHECK(c.value({"nope", "allow"}) == 0);
}

TEST_CASE("label values are escaped and cut at a UTF-8 boundary", "[admin][metrics]") {
  CHECK(admin::label_value("a\"b\\c\nd") == R"(a\"b\\c\nd)");
  std::string long_value(127, 'a');
  long_value += "\xc3\xa9";  // é straddles byte 128
  long_value += std::string(50, 'b');
  CHECK(admin::label_value(long_value) == std::string(127, 'a'));
  CHECK(admin::label_value(std::string(300, 'x')).size() == 128);
}

TEST_CASE("a full family folds new label sets into _other", "[admin][metrics]") {
  SECTION("the client-controlled label is folded, the others kept") {
    admin::CounterFamily c("t_total", "T.", {"server", "tool"}, 3, 1);
    for (int i = 0; i < 10; ++i)
      c.inc({"srv", "tool" + std::to_string(i)});
    c.inc({"srv", "tool0"});  // an existing series still counts on its own
    auto lines = lines_of(render(c), "t_total{");
    REQUIRE(lines.size() == 4);
    CHECK(c.value({"srv", "tool0"}) == 2);
    CHECK(c.value({"srv", "_other"}) == 7);
  }
  SECTION("without an overflow label every label is _other") {
    admin::CounterFamily c("t_total", "T.", {"reason"}, 2);
    c.inc({"a"});
    c.inc({"b"});
    c.inc({"c"});
    c.inc({"d"});
    CHECK(c.value({"_other"}) == 2);
    CHECK(lines_of(render(c), "t_total{").size() == 3);
  }
  SECTION("histograms are bounded too") {
    admin::HistogramFamily h("t_seconds", "T.", {"server"}, {1}, 2, 0);
    for (int i = 0; i < 100; ++i)
      h.observe({"s" + std::to_string(i)}, 0.5);
    CHECK(h.count({"_other"}) == 98);
    CHECK(lines_of(render(h), "t_seconds_count{").size() == 3);
  }
}

TEST_CASE("a histogram's buckets are cumulative and end at +Inf", "[admin][metrics]") {
  admin::HistogramFamily h("t_seconds", "Latency.", {"tenant"}, {0.001, 0.01, 0.1});
  h.observe({"t"}, 0.0005);
  h.observe({"t"}, 0.001);  // on a bound: in that bucket (le)
  h.observe({"t"}, 0.05);
  h.observe({"t"}, 7);
  auto text = render(h);
  CHECK(text.find("# TYPE t_seconds histogram\n") != std::string::npos);
  CHECK(lines_of(text, "t_seconds_bucket{") ==
        std::vector<std::string>{R"(t_seconds_bucket{tenant="t",le="0.001"} 2)",
                                 R"(t_seconds_bucket{tenant="t",le="0.01"} 2)",
                                 R"(t_seconds_bucket{tenant="t",le="0.1"} 3)",
                                 R"(t_seconds_bucket{tenant="t",le="+Inf"} 4)"});
  CHECK(lines_of(text, "t_seconds_count{") ==
        std::vector<std::string>{R"(t_seconds_count{tenant="t"} 4)"});
  CHECK(lines_of(text, "t_seconds_sum{") ==
        std::vector<std::string>{R"(t_seconds_sum{tenant="t"} 7.0515)"});
}

TEST_CASE("sample values", "[admin][metrics]") {
  auto v = [](double d) {
    std::string s;
    admin::append_value(s, d);
    return s;
  };
  CHECK(v(3) == "3");
  CHECK(v(0.25) == "0.25");
  CHECK(v(1796611260.123) == "1796611260.123");
  CHECK(v(std::numeric_limits<double>::infinity()) == "+Inf");
}

TEST_CASE("the registry renders every family and the collected samples", "[admin][metrics]") {
  admin::Registry r;
  auto text = r.render({{"glasstape_policies_loaded", {"acme"}, 4},
                        {"glasstape_audit_records_total", {"acme"}, 2},
                        {"glasstape_audit_records_total", {"acme"}, 3},  // summed
                        {"glasstape_not_declared", {"x"}, 1}});
  for (const char* family :
       {"glasstape_decisions_total", "glasstape_decide_duration_seconds",
        "glasstape_audit_write_duration_seconds", "glasstape_upstream_duration_seconds",
        "glasstape_call_duration_seconds", "glasstape_audit_batch_records",
        "glasstape_audit_sync_duration_seconds", "glasstape_sessions",
        "glasstape_upstream_restarts_total", "glasstape_http_refused_total",
        "glasstape_policy_reloads_total", "glasstape_audit_log_writable",
        "glasstape_upstream_up"}) {
    INFO(family);
    CHECK(text.find(std::string("# TYPE ") + family + " ") != std::string::npos);
  }
  CHECK(lines_of(text, "glasstape_policies_loaded{") ==
        std::vector<std::string>{R"(glasstape_policies_loaded{tenant="acme"} 4)"});
  CHECK(lines_of(text, "glasstape_audit_records_total{") ==
        std::vector<std::string>{R"(glasstape_audit_records_total{tenant="acme"} 5)"});
  CHECK(text.find("glasstape_not_declared") == std::string::npos);
}

namespace {

struct SyncRecorder : Recorder {
  void record_decision(const CallContext&, std::function<void(Outcome)> done) override {
    done(Outcome{true, "", "r-1"});
  }
  void record_result(const CallContext&, const Response&) override {}
};

struct DenyIf : Interceptor {
  std::string denied;
  std::string_view name() const override { return "deny-if"; }
  Verdict on_call(CallContext& ctx) override {
    if (ctx.tool != denied) return Verdict::Continue;
    ctx.decision.code = "GT-TEST";
    return Verdict::Deny;
  }
};

}  // namespace

TEST_CASE("the pipeline counts each decision and times it", "[admin][metrics]") {
  auto& m = admin::metrics();
  std::vector<std::unique_ptr<Interceptor>> chain;
  auto deny = std::make_unique<DenyIf>();
  deny->denied = "drop_table";
  chain.push_back(std::move(deny));
  Pipeline p(std::move(chain), std::make_unique<SyncRecorder>());
  p.set_tenant("metrics-test");
  const admin::Labels allowed{"metrics-test", "db", "tool", "select", "allow", ""};
  const admin::Labels denied{"metrics-test", "db", "tool", "drop_table", "deny", "GT-TEST"};
  const double a0 = m.decisions.value(allowed), d0 = m.decisions.value(denied);
  const auto decide0 = m.decide_seconds.count({"metrics-test"});
  std::shared_ptr<CallContext> last;
  for (const char* tool : {"select", "drop_table", "select"}) {
    auto ctx = std::make_shared<CallContext>();
    ctx->server = "db";
    ctx->tool = tool;
    p.decide(
        ctx, [](std::function<void()> f) { f(); },
        [&](std::shared_ptr<CallContext> c) { last = c; });
  }
  CHECK(m.decisions.value(allowed) == a0 + 2);
  CHECK(m.decisions.value(denied) == d0 + 1);
  CHECK(m.decide_seconds.count({"metrics-test"}) == decide0 + 3);
  CHECK(m.audit_write_seconds.count({"metrics-test"}) >= 3);
  // A result times the upstream and the whole call, from the decision's timestamps.
  REQUIRE(last);
  CHECK(last->decided >= last->received);
  const auto up0 = m.upstream_seconds.count({"metrics-test", "db"});
  Response r(R"({"jsonrpc":"2.0","id":1,"result":{}})");
  p.record_result(*last, r);
  CHECK(m.upstream_seconds.count({"metrics-test", "db"}) == up0 + 1);
  CHECK(m.call_seconds.count({"metrics-test", "db"}) >= 1);
}

TEST_CASE("a resource read is counted without its URI", "[admin][metrics]") {
  auto& m = admin::metrics();
  Pipeline p({}, std::make_unique<SyncRecorder>());
  p.set_tenant("metrics-uri");
  auto ctx = std::make_shared<CallContext>();
  ctx->server = "files";
  ctx->tool = "file:///secret?token=abc";
  ctx->tool_ref.kind = gt::gov::ToolRef::Kind::Resource;
  p.decide(
      ctx, [](std::function<void()> f) { f(); }, [](std::shared_ptr<CallContext>) {});
  CHECK(m.decisions.value({"metrics-uri", "files", "resource", "", "allow", ""}) == 1);
  CHECK(m.render().find("token=abc") == std::string::npos);
}
