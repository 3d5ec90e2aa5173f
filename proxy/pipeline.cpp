#include "proxy/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "governance/policy/policy.hpp"
#include "proxy/admin/health.hpp"
#include "proxy/admin/metrics.hpp"
#include "proxy/mrtr_links.hpp"

namespace gt::proxy {

namespace {

namespace pol = gov::policy;

// The most tool names remembered per server for the summary.
constexpr size_t kMaxSummaryTools = 10'000;

bool denied_by(const std::vector<std::string>& patterns, std::string_view server,
               const std::string& tool) {
  // As DenyToolsInterceptor matches: a pattern with a `/` names server/tool.
  const std::string qualified = std::string(server) + "/" + tool;
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return p.find('/') != std::string::npos ? pol::glob_match(p, qualified)
                                            : pol::glob_match(p, tool);
  });
}

bool monitored(const pol::Policy& p, const pol::SetOptions& o) {
  if (o.mode == pol::Mode::Monitor) return true;
  return (p.mode == pol::Mode::Inherit ? o.mode : p.mode) == pol::Mode::Monitor;
}

}  // namespace

ToolGoverned classify_tool(std::string_view server, const std::string& t,
                           const GovernanceView& view) {
  if (view.passthrough) return ToolGoverned::Passthrough;
  if (denied_by(view.deny_tools, server, t)) return ToolGoverned::DenyTools;
  if (!view.policies) return ToolGoverned::Ungoverned;
  const pol::PolicySet* set = view.policy_set.get();
  if (!set) return ToolGoverned::Unloaded;
  std::vector<const pol::Policy*> governing;
  std::vector<std::string> missing;
  set->governing(server, t, governing, missing);
  // A config binding that names a policy that is not loaded: denied.
  if (!missing.empty()) return ToolGoverned::NoPolicy;
  if (!governing.empty()) {
    // A rejected file denies every call it governs, whatever the others say.
    if (std::any_of(governing.begin(), governing.end(),
                    [](const pol::Policy* p) { return !p->rejected.empty(); }))
      return ToolGoverned::Rejected;
    return std::all_of(governing.begin(), governing.end(),
                       [&](const pol::Policy* p) { return monitored(*p, set->options); })
               ? ToolGoverned::PolicyMonitor
               : ToolGoverned::Policy;
  }
  if (!set->options.default_policy.empty() && set->find(set->options.default_policy) != nullptr)
    return ToolGoverned::DefaultPolicy;
  return ToolGoverned::NoPolicy;
}

ToolSummary summarize_tools(std::string_view server, std::vector<std::string> tools,
                            const GovernanceView& view) {
  std::sort(tools.begin(), tools.end());
  tools.erase(std::unique(tools.begin(), tools.end()), tools.end());
  ToolSummary s;
  s.tools = tools.size();
  const pol::PolicySet* set = view.policy_set.get();
  s.monitor = set && set->options.mode == pol::Mode::Monitor;
  std::vector<std::string> deny_names, rejected_names, no_policy_names;
  for (const auto& t : tools) {
    switch (classify_tool(server, t, view)) {
      case ToolGoverned::Passthrough:
        break;
      case ToolGoverned::DenyTools:
        ++s.deny_tools;
        deny_names.push_back(t);
        break;
      case ToolGoverned::Ungoverned:
        ++s.ungoverned;
        break;
      case ToolGoverned::Unloaded:
        ++s.unloaded;
        break;
      case ToolGoverned::NoPolicy:
        ++s.no_policy;
        no_policy_names.push_back(t);
        break;
      case ToolGoverned::Rejected:
        ++s.rejected;
        rejected_names.push_back(t);
        break;
      case ToolGoverned::PolicyMonitor:
        ++s.policy_monitor;
        [[fallthrough]];
      case ToolGoverned::Policy:
        ++s.policy;
        break;
      case ToolGoverned::DefaultPolicy:
        ++s.default_policy;
        break;
    }
  }
  auto names = [](const std::vector<std::string>& v) {
    std::string out = " [";
    for (size_t i = 0; i < v.size() && i < 10; ++i)
      out += (i ? ", " : "") + v[i];
    if (v.size() > 10) out += ", and " + std::to_string(v.size() - 10) + " more";
    return out + "]";
  };
  std::string line = "server " + std::string(server) + ": " + std::to_string(s.tools) + " tool" +
                     (s.tools == 1 ? "" : "s");
  if (view.passthrough) {
    s.line = line + ": passthrough: forwarded without schema checks, policies or receipts";
    return s;
  }
  std::vector<std::string> parts;
  if (s.policy > 0) {
    std::string p = std::to_string(s.policy) + " governed by a policy";
    if (s.policy_monitor > 0 && !s.monitor)
      p += " (" + std::to_string(s.policy_monitor) + " in monitor mode)";
    parts.push_back(std::move(p));
  }
  if (s.default_policy > 0) {
    parts.push_back(std::to_string(s.default_policy) + " governed by the default policy `" +
                    set->options.default_policy + "`");
  }
  if (s.deny_tools > 0)
    parts.push_back(std::to_string(s.deny_tools) + " denied by deny_tools" + names(deny_names));
  if (s.rejected > 0) {
    parts.push_back(std::to_string(s.rejected) + " denied (rejected policy file)" +
                    names(rejected_names));
  }
  if (s.no_policy > 0) {
    parts.push_back(std::to_string(s.no_policy) + " with no policy (" +
                    (s.monitor ? "forwarded: monitor mode" : "denied") + ")" +
                    names(no_policy_names));
  }
  if (s.unloaded > 0)
    parts.push_back(std::to_string(s.unloaded) + " denied (no policy set is loaded)");
  if (s.ungoverned > 0) {
    parts.push_back(std::to_string(s.ungoverned) +
                    " with no policy check (no governance.policies section)");
  }
  if (!parts.empty()) line += ": ";
  for (size_t i = 0; i < parts.size(); ++i)
    line += (i ? ", " : "") + parts[i];
  if (s.monitor) line += "; monitor mode: policy denials are recorded, the calls forwarded";
  s.line = std::move(line);
  return s;
}

Pipeline::Pipeline(std::vector<std::unique_ptr<Interceptor>> chain,
                   std::unique_ptr<Recorder> recorder)
    : chain_(std::move(chain)),
      recorder_(std::move(recorder)),
      links_(std::make_unique<MrtrLinks>()),
      receipt_meta_(recorder_ && recorder_->receipt_meta()) {
  for (const auto& i : chain_) {
    may_hide_ |= i->may_hide();
    i->set_visibility_listener([this] { visibility_changed(); });
  }
}

Pipeline::~Pipeline() {
  // No interceptor thread may call into a pipeline being destroyed.
  for (const auto& i : chain_)
    i->set_visibility_listener(nullptr);
}

void Pipeline::watch_visibility(std::weak_ptr<void> alive, Post post,
                                std::function<void()> changed) {
  std::lock_guard<std::mutex> g(watch_mu_);
  // Bounded by the live sessions: the dead are dropped whenever the list has doubled.
  if (watchers_.size() >= 2 * watchers_pruned_ + 16) {
    watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                   [](const Watcher& w) { return w.alive.expired(); }),
                    watchers_.end());
    watchers_pruned_ = watchers_.size();
  }
  watchers_.push_back(Watcher{std::move(alive), std::move(post), std::move(changed)});
}

void Pipeline::visibility_changed() {
  std::lock_guard<std::mutex> g(watch_mu_);
  for (const auto& w : watchers_) {
    if (w.alive.expired()) continue;
    auto alive = w.alive;
    w.post([alive, f = w.changed] {
      if (alive.lock()) f();
    });
  }
}

void Pipeline::on_tools_listed(std::string_view server, const nlohmann::json& tools,
                               bool last_page) {
  // The startup summary: once per server, when its tools are first known (again only when a
  // later page, or a changed list, adds tools; other sessions listing the same tools log
  // nothing).
  std::vector<std::string> all;
  bool summarize = false;
  {
    std::lock_guard<std::mutex> g(listed_mu_);
    auto it = listed_.find(server);
    if (it == listed_.end()) it = listed_.emplace(std::string(server), Listed{}).first;
    auto& names = it->second.names;
    if (tools.is_array()) {
      for (const auto& t : tools) {
        if (names.size() >= kMaxSummaryTools) break;  // bounded, whatever a server lists
        if (t.is_object() && t.contains("name") && t["name"].is_string())
          it->second.unsummarized |= names.insert(t["name"].get<std::string>()).second;
      }
    }
    summarize = last_page && it->second.unsummarized;
    if (summarize) {
      it->second.unsummarized = false;
      all.assign(names.begin(), names.end());
    }
  }
  if (summarize)
    spdlog::info("{}", summarize_tools(server, std::move(all), governance_view()).line);
  for (auto& i : chain_) {
    try {
      i->on_tools_listed(server, tools);
    } catch (const std::exception& e) {
      // The interceptor keeps no state for these tools, so their calls will be denied.
      spdlog::error("{}: cannot process tools/list from `{}`: {}", i->name(), server, e.what());
    }
    std::vector<nlohmann::json> events;
    i->take_events(events);
    if (recorder_) {
      for (const auto& e : events)
        recorder_->record_event(e);
    }
  }
}

void Pipeline::on_entries_listed(gov::ToolRef::Kind kind, std::string_view server,
                                 const nlohmann::json& entries) {
  for (auto& i : chain_) {
    try {
      i->on_entries_listed(kind, server, entries);
    } catch (const std::exception& e) {
      spdlog::error("{}: cannot process the {}s listed by `{}`: {}", i->name(),
                    gov::kind_name(kind), server, e.what());
    }
    std::vector<nlohmann::json> events;
    i->take_events(events);
    if (recorder_) {
      for (const auto& e : events)
        recorder_->record_event(e);
    }
  }
}

bool Pipeline::filter_tools(std::string_view server, const gov::Principal& who,
                            nlohmann::json& tools, std::vector<std::string>* hidden_names) const {
  if (!may_hide_ || !tools.is_array()) return false;
  auto before = tools.size();
  nlohmann::json kept = nlohmann::json::array();
  for (auto& t : tools) {
    bool hidden = false;
    auto name = t.is_object() ? t.find("name") : t.end();
    if (t.is_object() && name != t.end() && name->is_string()) {
      for (const auto& i : chain_) {
        if (i->hides(server, name->get_ref<const std::string&>(), t, who)) {
          hidden = true;
          if (hidden_names) hidden_names->push_back(name->get<std::string>());
          break;
        }
      }
    }
    if (!hidden) kept.push_back(std::move(t));
  }
  tools = std::move(kept);
  return tools.size() != before;
}

bool Pipeline::governs(gov::ToolRef::Kind kind) const {
  if (kind == gov::ToolRef::Kind::Tool) return true;
  return std::any_of(chain_.begin(), chain_.end(),
                     [&](const std::unique_ptr<Interceptor>& i) { return i->governs(kind); });
}

bool Pipeline::filter_entries(gov::ToolRef::Kind kind, std::string_view server,
                              const gov::Principal& who, nlohmann::json& entries,
                              std::vector<std::string>* hidden_names) const {
  if (!entries.is_array() || kind == gov::ToolRef::Kind::Tool) return false;
  const char* key = kind == gov::ToolRef::Kind::Resource ? "uri" : "name";
  auto before = entries.size();
  nlohmann::json kept = nlohmann::json::array();
  gov::ToolRef ref;
  ref.kind = kind;
  ref.server = std::string(server);
  for (auto& e : entries) {
    bool hidden = false;
    auto name = e.is_object() ? e.find(key) : e.end();
    if (e.is_object() && name != e.end() && name->is_string()) {
      ref.name = name->get<std::string>();
      for (const auto& i : chain_) {
        if (i->governs(kind) && i->hides_entry(ref, who)) {
          hidden = true;
          if (hidden_names) hidden_names->push_back(ref.name);
          break;
        }
      }
    }
    if (!hidden) kept.push_back(std::move(e));
  }
  entries = std::move(kept);
  return entries.size() != before;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t,
                     std::chrono::steady_clock::time_point now) {
  return std::chrono::duration<double>(now - t).count();
}

}  // namespace

namespace {
std::atomic<std::size_t> g_calls_in_flight{0};
struct InFlight {
  InFlight() { g_calls_in_flight.fetch_add(1, std::memory_order_relaxed); }
  ~InFlight() { g_calls_in_flight.fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
};
}  // namespace

std::size_t calls_in_flight() {
  return g_calls_in_flight.load(std::memory_order_relaxed);
}

void Pipeline::decide(std::shared_ptr<CallContext> ctx, const Post& post, Done done) {
  ctx->in_flight = std::make_shared<InFlight>();
  // 1-2. The chain: the first Deny stops it. An exception is a Deny (fail closed). A resource
  // read or a prompt passes only through the interceptors that judge its kind.
  const auto kind = ctx->tool_ref.kind;
  ctx->received = std::chrono::steady_clock::now();
  for (auto& i : chain_) {
    if (kind != gov::ToolRef::Kind::Tool && !i->governs(kind)) continue;
    Verdict v;
    try {
      v = i->on_call(*ctx);
    } catch (const std::exception& e) {
      ctx->decision.effect = Effect::Deny;
      ctx->decision.code = "GT-INTERNAL";
      ctx->decision.reason = std::string(i->name()) + " failed: " + e.what();
      v = Verdict::Deny;
    }
    if (v == Verdict::Deny) {
      ctx->decision.effect = Effect::Deny;
      if (ctx->decision.decided_by.empty()) ctx->decision.decided_by = std::string(i->name());
      if (ctx->decision.reason.empty())
        ctx->decision.reason = "denied by " + std::string(i->name());
      break;
    }
  }
  const auto judged = std::chrono::steady_clock::now();
  admin::metrics().decide_seconds.observe({tenant_}, seconds_since(ctx->received, judged));
  // 3. The recorder: every decision is made durable before anything else happens.
  if (!recorder_) {
    ctx->decided = judged;
    decided(*ctx);
    done(std::move(ctx));
    return;
  }
  auto finish = [this, ctx, judged, done = std::move(done)](Recorder::Outcome out) mutable {
    ctx->decided = std::chrono::steady_clock::now();
    admin::metrics().audit_write_seconds.observe({tenant_}, seconds_since(judged, ctx->decided));
    if (!out.receipt_id.empty()) ctx->decision.receipt_id = out.receipt_id;
    if (out.ok) ctx->decision.record = std::move(out.record);
    if (!out.ok) {
      // Fail closed: a decision that cannot be recorded is not acted on.
      ctx->decision.effect = Effect::Deny;
      ctx->decision.code = "GT-AUDIT-WRITE";
      ctx->decision.decided_by = "audit";
      ctx->decision.reason = "the audit log cannot be written: " + out.error;
    }
    decided(*ctx);
    done(std::move(ctx));
  };
  try {
    recorder_->record_decision(*ctx,
                               [post, finish = std::move(finish)](Recorder::Outcome out) mutable {
                                 post([finish = std::move(finish), out = std::move(out)]() mutable {
                                   finish(std::move(out));
                                 });
                               });
  } catch (const std::exception& e) {
    finish(Recorder::Outcome{false, e.what(), {}});
  }
}

void Pipeline::decided(const CallContext& ctx) {
  const bool forwarded = ctx.decision.effect == Effect::Allow;
  // A resource's URI is not a label: URIs are unbounded and may carry tokens in their query.
  admin::metrics().decisions.inc(
      {tenant_, ctx.server, gov::kind_name(ctx.tool_ref.kind),
       ctx.tool_ref.kind == gov::ToolRef::Kind::Resource ? std::string() : ctx.tool,
       !forwarded ? "deny" : (ctx.decision.would_deny ? "would_deny" : "allow"),
       ctx.decision.code});
  for (auto& i : chain_) {
    if (ctx.tool_ref.kind != gov::ToolRef::Kind::Tool && !i->governs(ctx.tool_ref.kind)) continue;
    try {
      i->on_decided(ctx, forwarded);
    } catch (const std::exception& e) {
      spdlog::error("{}: on_decided for `{}` failed: {}", i->name(), ctx.tool, e.what());
    }
  }
}

const nlohmann::json& Response::json() const {
  if (!parsed_ok_) {
    parsed_ = nlohmann::json::parse(raw_.begin(), raw_.end());
    parsed_ok_ = true;
  }
  return parsed_;
}

void Pipeline::on_result(const CallContext& ctx, Response& response) {
  for (auto& i : chain_) {
    if (ctx.tool_ref.kind != gov::ToolRef::Kind::Tool && !i->governs(ctx.tool_ref.kind)) continue;
    try {
      i->on_result(ctx, response);
    } catch (const std::exception& e) {
      spdlog::error("{}: cannot process the result of `{}`: {}", i->name(), ctx.tool, e.what());
    }
  }
}

std::map<std::string, std::vector<std::pair<std::string, std::string>>> Pipeline::tool_governance()
    const {
  std::map<std::string, std::vector<std::string>> listed;
  {
    std::lock_guard lk(listed_mu_);
    for (const auto& [server, l] : listed_)
      listed[server].assign(l.names.begin(), l.names.end());
  }
  const GovernanceView view = governance_view();
  const bool monitor = view.policy_set && view.policy_set->options.mode == pol::Mode::Monitor;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> out;
  for (const auto& [server, names] : listed) {
    auto& tools = out[server];
    for (const auto& name : names) {
      const char* how = "";
      switch (classify_tool(server, name, view)) {
        case ToolGoverned::Passthrough:
          how = "passthrough";
          break;
        case ToolGoverned::DenyTools:
          how = "deny_tools";
          break;
        case ToolGoverned::Rejected:
          how = "rejected policy file";
          break;
        case ToolGoverned::PolicyMonitor:
          how = "policy (monitor mode)";
          break;
        case ToolGoverned::Policy:
          how = "policy";
          break;
        case ToolGoverned::DefaultPolicy:
          how = "default policy";
          break;
        case ToolGoverned::Unloaded:
          how = "no policy set loaded: denied";
          break;
        case ToolGoverned::Ungoverned:
          how = "no policy check";
          break;
        case ToolGoverned::NoPolicy:
          how = monitor ? "no policy: forwarded (monitor mode)" : "no policy: denied";
          break;
      }
      tools.emplace_back(name, how);
    }
  }
  return out;
}

GovernanceView Pipeline::governance_view() const {
  GovernanceView view;
  view.passthrough = chain_.empty() && !recorder_;
  for (const auto& i : chain_) {
    try {
      i->describe(view);
    } catch (const std::exception& e) {
      spdlog::error("{}: cannot describe its governance: {}", i->name(), e.what());
    }
  }
  return view;
}

AuditSource Pipeline::audit_source() const {
  return recorder_ ? recorder_->source() : AuditSource{};
}

void Pipeline::report(admin::Report& out) const {
  for (const auto& i : chain_)
    i->report(out, tenant_);
  if (recorder_) recorder_->report(out, tenant_);
}

void Pipeline::record_result(const CallContext& ctx, const Response& response) {
  if (ctx.decided != std::chrono::steady_clock::time_point{}) {
    auto now = std::chrono::steady_clock::now();
    admin::metrics().upstream_seconds.observe({tenant_, ctx.server},
                                              seconds_since(ctx.decided, now));
    admin::metrics().call_seconds.observe({tenant_, ctx.server}, seconds_since(ctx.received, now));
  }
  links_->remember(
      ctx, response.replaced() ? std::string_view(response.replacement().dump()) : response.raw());
  if (recorder_) {
    try {
      recorder_->record_result(ctx, response);
    } catch (const std::exception& e) {
      spdlog::error("audit: cannot record the result of `{}`: {}", ctx.tool, e.what());
    }
  }
}

std::string Pipeline::retry_of(const CallContext& ctx, std::string_view request_state) {
  return links_->link(ctx, request_state);
}

}  // namespace gt::proxy
