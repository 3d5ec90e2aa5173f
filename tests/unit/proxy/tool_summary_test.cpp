// The startup summary: how each listed tool of a server is governed (summarize_tools), and
// the pipeline logging it once per server when the tool list is first known.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "governance/policy/policy.hpp"
#include "proxy/interceptors/deny_tools.hpp"
#include "proxy/pipeline.hpp"

using namespace gt::proxy;
namespace pol = gt::gov::policy;
using nlohmann::json;

namespace {

std::shared_ptr<pol::Policy> policy(const std::string& id, const std::string& tools,
                                    const std::string& mode = "") {
  std::vector<pol::Diagnostic> errors;
  auto p = pol::parse_policy("policy_id: " + id + "\ntools: " + tools + "\n" +
                                 (mode.empty() ? "" : "mode: " + mode + "\n") +
                                 "rules: {allow: [{id: any, condition: \"\"}]}\n",
                             id + ".yaml", errors);
  for (const auto& e : errors)
    UNSCOPED_INFO(e.str());
  REQUIRE(p);
  return p;
}

std::shared_ptr<pol::PolicySet> set_of(std::vector<std::shared_ptr<pol::Policy>> ps,
                                       pol::SetOptions options = {}) {
  auto s = std::make_shared<pol::PolicySet>();
  for (auto& p : ps)
    s->policies.push_back(std::move(p));
  s->options = std::move(options);
  s->build_index();
  return s;
}

std::vector<std::string> names(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(prefix + std::to_string(i));
  return out;
}

// Captures what spdlog writes while alive.
struct LogCapture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
  LogCapture() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    sink->set_pattern("%v");
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(saved); }
  std::vector<std::string> lines_with(const std::string& needle) const {
    std::vector<std::string> v;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);)
      if (l.find(needle) != std::string::npos) v.push_back(l);
    return v;
  }
};

json tools_json(const std::vector<std::string>& ns) {
  json a = json::array();
  for (const auto& n : ns)
    a.push_back({{"name", n}, {"inputSchema", {{"type", "object"}}}});
  return a;
}

}  // namespace

TEST_CASE("summary: tools governed by a policy, by deny_tools, and with none", "[summary]") {
  GovernanceView v;
  v.policies = true;
  v.deny_tools = {"delete_*", "other/get_sum"};
  v.policy_set = set_of({policy("reads", "[\"read_*\", \"example/get_sum\"]")});
  std::vector<std::string> tools = names("read_", 10);
  tools.push_back("get_sum");
  tools.push_back("delete_file");
  tools.push_back("delete_dir");
  tools.push_back("rm");
  tools.push_back("rm");  // listed twice: one tool
  auto s = summarize_tools("example", tools, v);
  CHECK(s.tools == 14);
  CHECK(s.policy == 11);
  CHECK(s.deny_tools == 2);
  CHECK(s.no_policy == 1);
  CHECK(s.line ==
        "server example: 14 tools: 11 governed by a policy, 2 denied by deny_tools [delete_dir, "
        "delete_file], 1 with no policy (denied) [rm]");
  // Server-qualified patterns apply to their server only.
  auto o = summarize_tools("other", {"get_sum", "read_x"}, v);
  CHECK(o.line ==
        "server other: 2 tools: 1 governed by a policy, 1 denied by deny_tools [get_sum]");
  // deny_tools comes first: a tool a policy governs is still counted as denied.
  v.deny_tools = {"read_*"};
  auto d = summarize_tools("example", {"read_a", "get_sum"}, v);
  CHECK(d.deny_tools == 1);
  CHECK(d.policy == 1);
}

TEST_CASE("summary: default policy, missing bindings, rejected files", "[summary]") {
  GovernanceView v;
  v.policies = true;
  pol::SetOptions o;
  o.default_policy = "fallback";
  pol::ConfigBinding b;
  b.pattern = pol::ToolPattern::parse("bound");
  b.policies = {"not_loaded"};
  o.bindings.push_back(b);
  auto rejected = policy("signed_only", "[secret]");
  rejected->rejected = "unsigned";
  v.policy_set = set_of({policy("fallback", "[]"), policy("p", "[mine]"), rejected}, o);
  auto s = summarize_tools("srv", {"mine", "anything", "else", "bound", "secret"}, v);
  CHECK(s.policy == 1);
  CHECK(s.default_policy == 2);
  CHECK(s.no_policy == 1);
  CHECK(s.rejected == 1);
  CHECK(s.line ==
        "server srv: 5 tools: 1 governed by a policy, 2 governed by the default policy "
        "`fallback`, 1 denied (rejected policy file) [secret], 1 with no policy (denied) [bound]");
  // A default policy that is not loaded governs nothing: those tools have no policy.
  pol::SetOptions gone;
  gone.default_policy = "gone";
  v.policy_set = set_of({policy("p", "[mine]")}, gone);
  auto g = summarize_tools("srv", {"anything"}, v);
  CHECK(g.no_policy == 1);
}

TEST_CASE("summary: monitor mode, passthrough, no policies, nothing loaded", "[summary]") {
  GovernanceView v;
  v.policies = true;
  pol::SetOptions monitor;
  monitor.mode = pol::Mode::Monitor;
  v.policy_set = set_of({policy("p", "[a, b]")}, monitor);
  auto m = summarize_tools("srv", {"a", "b", "c"}, v);
  CHECK(m.monitor);
  CHECK(m.line ==
        "server srv: 3 tools: 2 governed by a policy, 1 with no policy (forwarded: monitor mode) "
        "[c]; monitor mode: policy denials are recorded, the calls forwarded");
  // A policy of its own in monitor mode, the rest enforcing.
  v.policy_set = set_of({policy("p", "[a]", "monitor"), policy("q", "[b]")});
  auto own = summarize_tools("srv", {"a", "b"}, v);
  CHECK(own.policy_monitor == 1);
  CHECK(own.line == "server srv: 2 tools: 2 governed by a policy (1 in monitor mode)");

  GovernanceView pass;
  pass.passthrough = true;
  CHECK(summarize_tools("srv", {"a"}, pass).line ==
        "server srv: 1 tool: passthrough: forwarded without schema checks, policies or receipts");

  GovernanceView none;  // no governance.policies section
  none.deny_tools = {"b"};
  CHECK(summarize_tools("srv", {"a", "b"}, none).line ==
        "server srv: 2 tools: 1 denied by deny_tools [b], 1 with no policy check (no "
        "governance.policies section)");

  GovernanceView failed;  // configured, but no load has succeeded
  failed.policies = true;
  CHECK(summarize_tools("srv", {"a"}, failed).line ==
        "server srv: 1 tool: 1 denied (no policy set is loaded)");

  CHECK(summarize_tools("srv", {}, failed).line == "server srv: 0 tools");
  // Long lists name ten tools and count the rest.
  none.deny_tools = {"t*"};
  auto many = summarize_tools("srv", names("t", 25), none);
  CHECK(many.line ==
        "server srv: 25 tools: 25 denied by deny_tools [t0, t1, t10, t11, t12, t13, t14, t15, "
        "t16, t17, and 15 more]");
}

TEST_CASE("the pipeline logs the summary once per server, again only for new tools", "[summary]") {
  std::vector<std::unique_ptr<Interceptor>> chain;
  chain.push_back(std::make_unique<DenyToolsInterceptor>(std::vector<std::string>{"delete_*"}));
  Pipeline p(std::move(chain), nullptr);
  LogCapture log;
  p.on_tools_listed("fs", tools_json({"read_file", "delete_file"}));
  p.on_tools_listed("fs", tools_json({"read_file", "delete_file"}));  // another session
  p.on_tools_listed("web", tools_json({"fetch"}));
  p.on_tools_listed("fs", tools_json({"write_file"}));  // a later page adds a tool
  p.on_tools_listed("fs", tools_json({"write_file"}));
  auto fs = log.lines_with("server fs:");
  REQUIRE(fs.size() == 2);
  CHECK(fs[0] ==
        "server fs: 2 tools: 1 denied by deny_tools [delete_file], 1 with no policy check (no "
        "governance.policies section)");
  CHECK(fs[1].rfind("server fs: 3 tools: 1 denied by deny_tools [delete_file], 2 with", 0) == 0);
  CHECK(log.lines_with("server web:").size() == 1);
  // An empty list is summarized once too.
  p.on_tools_listed("empty", json::array());
  p.on_tools_listed("empty", json::array());
  CHECK(log.lines_with("server empty: 0 tools").size() == 1);
  // A paginated list: one line, at its last page, naming the tools of every page.
  p.on_tools_listed("paged", tools_json({"a1", "a2"}), false);
  p.on_tools_listed("paged", tools_json({"b1"}), false);
  CHECK(log.lines_with("server paged:").empty());
  p.on_tools_listed("paged", tools_json({"c1"}), true);
  auto paged = log.lines_with("server paged:");
  REQUIRE(paged.size() == 1);
  CHECK(paged[0].rfind("server paged: 4 tools", 0) == 0);
  p.on_tools_listed("paged", tools_json({"a1", "a2"}), false);  // listed again: nothing new
  p.on_tools_listed("paged", tools_json({"c1"}), true);
  CHECK(log.lines_with("server paged:").size() == 1);
  // A pipeline without chain or recorder is passthrough.
  Pipeline pass({}, nullptr);
  pass.on_tools_listed("fs", tools_json({"a"}));
  CHECK(log.lines_with("passthrough").size() == 1);
}
