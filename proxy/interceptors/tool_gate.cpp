#include "proxy/interceptors/tool_gate.hpp"

#include <spdlog/spdlog.h>

#include "governance/audit/jcs.hpp"
#include "governance/audit/sha256.hpp"
#include "governance/audit/time.hpp"
#include "governance/tools/description_scan.hpp"
#include "governance/tools/pin_store.hpp"
#include "proxy/config_section.hpp"
#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace tools = gov::tools;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxNames = 10000;  // tool names remembered for the scan's references
constexpr std::size_t kMaxReported = 100000;
constexpr std::size_t kMaxBlocks = 100000;  // blocked definitions per server
constexpr std::size_t kMaxEvents = 10000;   // records waiting to be written
constexpr std::size_t kMaxRecordedFindings = 8;

// A scan report as a record's `findings` (the first kMaxRecordedFindings) and as one line for
// the log and a denial's reason (about 300 bytes).
std::pair<nlohmann::json, std::string> describe_findings(const tools::ScanReport& report) {
  std::string summary;
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : report.findings) {
    if (findings.size() < kMaxRecordedFindings) {
      findings.push_back(
          {{"kind", tools::to_string(f.kind)}, {"where", f.where}, {"excerpt", f.excerpt}});
    }
    if (summary.size() < 300)
      summary += (summary.empty() ? "" : "; ") + std::string(tools::to_string(f.kind)) + " at " +
                 (f.where.empty() ? "/" : f.where) + " (" + f.excerpt + ")";
  }
  return {std::move(findings), std::move(summary)};
}

// What a finding leads to, as the records and the log say it.
const char* action_name(ScanAction a) {
  return a == ScanAction::Hide ? "hidden" : a == ScanAction::Deny ? "denied" : "logged";
}

// The `tool-finding` record of one scanned definition: `findings` as describe_findings made
// them, `entry` "prompt" or "resource" for an entry of those lists (null for a tool).
nlohmann::json finding_record(const std::string& server, const std::string& name,
                              const std::string& hash, ScanAction a,
                              const tools::ScanReport& report, nlohmann::json findings,
                              const char* entry = nullptr) {
  const std::size_t more = report.findings.size() + report.more - findings.size();
  nlohmann::json e = {{"kind", "tool-finding"},
                      {"server", server},
                      {"tool", name},
                      {"sha256", hash},
                      {"action", action_name(a)},
                      {"findings", std::move(findings)},
                      {"more", more}};
  if (entry) e["entry"] = entry;
  return e;
}

// One log per kind of line, each at most kLogBurst per 10 s (then one line with the count):
// a server that changes a hundred tools at once cannot hide a scan finding or a failed save.
constexpr std::size_t kLogBurst = 20;
enum class LogKind { Changed, Scan, Files, Count };
transport::RateLimitedLog& gate_log(LogKind k) {
  using L = transport::RateLimitedLog;
  static L logs[] = {L{spdlog::level::warn, L::kDefaultInterval, kLogBurst},
                     L{spdlog::level::warn, L::kDefaultInterval, kLogBurst},
                     L{spdlog::level::warn, L::kDefaultInterval, kLogBurst}};
  static_assert(std::size(logs) == static_cast<std::size_t>(LogKind::Count));
  return logs[static_cast<std::size_t>(k)];
}

std::string block_key(const std::string& tool, const std::string& sha256) {
  return tool + '\n' + sha256;
}

std::string short_hash(const std::string& h) {
  return h.substr(0, 12);
}

}  // namespace

ToolGateSettings parse_tool_gate_settings(const InterceptorEnv& env, const YAML::Node& section) {
  const std::string where = "tenant `" + env.tenant.id + "` governance.tools";
  ToolGateSettings s;
  s.pins_dir = env.config.resolve("~/.glasstape/pins/" + env.tenant.id);
  if (!section || section.IsNull()) return s;
  if (!section.IsMap()) section::fail(where, "must be a mapping");
  for (const auto& kv : section) {
    auto key = kv.first.as<std::string>();
    if (key != "pins" && key != "pins_dir" && key != "scan")
      section::fail(where, "unknown key `" + key + "` (known keys: pins, pins_dir, scan)");
    if (!kv.second.IsScalar()) section::fail(where + "." + key, "must be a single value");
  }
  if (auto n = section["pins"]) {
    auto m = tools::parse_pin_mode(n.Scalar());
    if (!m)
      section::fail(where + ".pins",
                    "must be off, warn, enforce or approve-new, not `" + n.Scalar() + "`");
    s.pins = *m;
  }
  if (auto n = section["pins_dir"]) {
    if (n.Scalar().empty()) section::fail(where + ".pins_dir", "must not be empty");
    s.pins_dir = env.config.resolve(n.Scalar());
  }
  if (auto n = section["scan"]) {
    const auto& v = n.Scalar();
    if (v == "off")
      s.scan = ScanAction::Off;
    else if (v == "log")
      s.scan = ScanAction::Log;
    else if (v == "hide")
      s.scan = ScanAction::Hide;
    else if (v == "deny")
      s.scan = ScanAction::Deny;
    else
      section::fail(where + ".scan", "must be off, log, hide or deny, not `" + v + "`");
  }
  return s;
}

ToolGate::ToolGate(ToolGateSettings s) : s_(std::move(s)) {}

ToolGate::~ToolGate() {
  stop_watching();
}

void ToolGate::stop_watching() {
  {
    std::lock_guard<std::mutex> g(watch_mu_);
    stop_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::map<std::string, fs::file_time_type> ToolGate::changed_pin_files() const {
  std::map<std::string, fs::file_time_type> out;
  std::lock_guard<std::mutex> g(mu_);  // a stat per server seen: a few, once a second
  for (const auto& [name, st] : servers_) {
    if (!st.loaded) continue;
    std::error_code ec;
    auto mtime = fs::last_write_time(tools::pins_file(s_.pins_dir, name), ec);
    if (!ec && mtime != st.mtime) out.emplace(name, mtime);
  }
  return out;
}

void ToolGate::set_visibility_listener(std::function<void()> changed) {
  const bool watch = changed != nullptr;
  {
    std::lock_guard<std::mutex> g(listener_mu_);
    listener_ = std::move(changed);
  }
  // Only a gate that hides blocked definitions changes what a client sees on an approval.
  if (!watch || watcher_.joinable() ||
      (s_.pins != tools::PinMode::Enforce && s_.pins != tools::PinMode::ApproveNew))
    return;
  watcher_ = std::thread([this] {
    // A pin file whose time differs from the one the gate last read or wrote was changed by
    // someone else (`glasstape tools approve`, an edit): told once per change. The gate reads
    // it at the next listing, which the clients now make.
    std::map<std::string, fs::file_time_type> told;
    std::unique_lock<std::mutex> lk(watch_mu_);
    while (!stop_) {
      watch_cv_.wait_for(lk, std::chrono::seconds(1), [this] { return stop_; });
      if (stop_) break;
      lk.unlock();
      auto changed = changed_pin_files();
      bool news = false;
      for (const auto& [name, mtime] : changed) {
        auto t = told.find(name);
        if (t == told.end() || t->second != mtime) news = true;
      }
      told = std::move(changed);
      if (news) {
        spdlog::info("tools: a pin file changed on disk; clients are told to list again");
        std::lock_guard<std::mutex> g(listener_mu_);
        if (listener_) {
          try {
            listener_();
          } catch (const std::exception& e) {
            spdlog::error("tools: after a change of the pin files: {}", e.what());
          }
        }
      }
      lk.lock();
    }
  });
}

bool ToolGate::may_hide() const {
  return s_.pins == tools::PinMode::Enforce || s_.pins == tools::PinMode::ApproveNew ||
         s_.scan == ScanAction::Hide;
}

void ToolGate::event(nlohmann::json e) {
  if (events_.size() < kMaxEvents) {
    events_.push_back(std::move(e));
    return;
  }
  // The recorder takes the events after every listing, so this needs one listing with more
  // changes than kMaxEvents; the block itself (hiding, denying) does not depend on the record.
  static transport::RateLimitedLog dropped(spdlog::level::err);
  dropped(
      "tools: more than {} tool-change/tool-finding records wait to be written; the record "
      "for `{}/{}` is lost",
      kMaxEvents, e.value("server", ""), e.value("tool", ""));
}

void ToolGate::take_events(std::vector<nlohmann::json>& out) {
  std::lock_guard lk(mu_);
  for (auto& e : events_)
    out.push_back(std::move(e));
  events_.clear();
}

ToolGate::Server& ToolGate::server(const std::string& name) {
  auto& st = servers_[name];
  if (s_.pins == tools::PinMode::Off) return st;
  std::error_code ec;
  // The pending file is the operator's too (they may edit or restore it): read again when it
  // changed on disk, so what waits for approval is written back if it went missing.
  auto pending_file = tools::pending_file(s_.pins_dir, name);
  // Its size too: an edit right after the proxy's own write may keep the (coarse) mtime.
  auto pending_mtime = fs::last_write_time(pending_file, ec);
  if (ec) pending_mtime = {};
  auto pending_size = fs::file_size(pending_file, ec);
  if (ec) pending_size = 0;
  if (!st.pending_read || pending_mtime != st.pending_mtime || pending_size != st.pending_size) {
    std::string why;
    auto pending = tools::load_pins(pending_file, name, why);
    st.pending = pending ? std::move(*pending) : tools::PinSet(name);
    st.pending_mtime = pending_mtime;
    st.pending_size = pending_size;
    st.pending_read = true;
  }
  auto file = tools::pins_file(s_.pins_dir, name);
  auto mtime = fs::last_write_time(file, ec);
  if (ec) mtime = {};
  if (st.loaded && mtime == st.mtime) return st;
  std::string why;
  auto pins = tools::load_pins(file, name, why);
  st.loaded = true;
  st.mtime = mtime;
  if (!pins) {
    st.load_error = why;
    spdlog::error(
        "tools: cannot use the pins of server `{}`: {}{}", name, why,
        s_.pins == tools::PinMode::Warn ? "" : "; its tools are denied until it is fixed");
    return st;
  }
  if (st.pins.size() > 0 || !st.load_error.empty())
    spdlog::info("tools: pins of server `{}` read again from `{}`", name, file.string());
  st.load_error.clear();
  st.pins = std::move(*pins);
  return st;
}

void ToolGate::on_tools_listed(std::string_view server_name, const nlohmann::json& list) {
  if (!list.is_array()) return;
  if (s_.pins == tools::PinMode::Off && s_.scan == ScanAction::Off) return;
  const std::string sname(server_name);
  std::lock_guard lk(mu_);
  Server& st = server(sname);
  std::vector<std::string> names;
  for (const auto& t : list) {
    if (t.is_object() && t.contains("name") && t["name"].is_string()) {
      names.push_back(t["name"].get<std::string>());
      if (all_names_.size() < kMaxNames) all_names_.insert(names.back());
    }
  }
  bool pins_dirty = false, pending_dirty = false;
  std::optional<tools::ToolNames> names_index;  // built at the first definition to scan
  for (const auto& t : list) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) continue;
    const auto& name = t["name"].get_ref<const std::string&>();
    std::string hash;
    try {
      hash = tools::definition_hash(t);
    } catch (const std::exception& e) {
      // A definition that cannot be canonicalized cannot be pinned or trusted (a session
      // holding it has an empty definition hash, the key of this block).
      block(st, st.pin_blocks, block_key(name, ""),
            {"GT-TOOL-CHANGED",
             "the definition of tool `" + name + "` of server `" + sname +
                 "` cannot be read as canonical JSON (" + e.what() + ")",
             true});
      continue;
    }
    if (s_.pins != tools::PinMode::Off)
      review_pin(sname, st, t, name, hash, pins_dirty, pending_dirty);
    if (s_.scan != ScanAction::Off) {
      review_scan(sname, st, t, name, hash, names_index);
    }
  }
  std::string why;
  if (pins_dirty) {
    auto file = tools::pins_file(s_.pins_dir, sname);
    if (!tools::save_pins(file, st.pins, why)) {
      gate_log(LogKind::Files)("tools: {}; the pins of server `{}` are kept in memory only", why,
                               sname);
    } else {
      std::error_code ec;
      st.mtime = fs::last_write_time(file, ec);
    }
  }
  if (pending_dirty) {
    auto file = tools::pending_file(s_.pins_dir, sname);
    if (!tools::save_pins(file, st.pending, why)) {
      gate_log(LogKind::Files)("tools: {}", why);
    } else {
      std::error_code ec;
      st.pending_mtime = fs::last_write_time(file, ec);
      st.pending_size = fs::file_size(file, ec);
    }
  }
}

void ToolGate::block(Server& st, std::map<std::string, Block>& blocks, const std::string& key,
                     Block b) {
  if (blocks.size() >= kMaxBlocks && !blocks.count(key)) {
    // Fails closed: a server that shows more distinct bad definitions than can be remembered
    // has all its calls denied.
    if (!st.saturated)
      spdlog::error(
          "tools: a server showed more than {} blocked tool definitions; every call "
          "to it is denied (GT-TOOL-PINS)",
          kMaxBlocks);
    st.saturated = true;
    return;
  }
  blocks[key] = std::move(b);
}

const ToolGate::Block* ToolGate::find_block(const Server& st, const std::string& tool,
                                            const std::string& sha256) const {
  const auto key = block_key(tool, sha256);
  if (auto p = st.pin_blocks.find(key); p != st.pin_blocks.end()) return &p->second;
  if (auto s = st.scan_blocks.find(key); s != st.scan_blocks.end()) return &s->second;
  return nullptr;
}

void ToolGate::review_pin(const std::string& sname, Server& st, const nlohmann::json& t,
                          const std::string& name, const std::string& hash, bool& pins_dirty,
                          bool& pending_dirty) {
  const bool strict = s_.pins != tools::PinMode::Warn;
  const std::string key = block_key(name, hash);
  if (!st.load_error.empty()) {
    if (strict)
      block(st, st.pin_blocks, key,
            {"GT-TOOL-PINS",
             "tool `" + name + "` of server `" + sname +
                 "` cannot be checked: the pins of that server cannot be read, so no definition "
                 "of it can be trusted (" +
                 st.load_error + ")",
             true});
    return;
  }
  // A pin file that could not be read before and can now: its blocks go, and the definition
  // is judged against the pins as they are.
  if (auto b = st.pin_blocks.find(key);
      b != st.pin_blocks.end() && b->second.code == "GT-TOOL-PINS")
    st.pin_blocks.erase(b);
  auto status = st.pins.check(name, hash);  // the hash on_tools_listed computed
  auto now = std::chrono::system_clock::now();
  if (status == tools::PinStatus::Same) {
    st.pin_blocks.erase(key);
    if (st.pending.remove(name)) pending_dirty = true;
    // A newly approved definition: any definition that differs from it is news again (also
    // one reported before the approval, as when a server goes back to an older definition).
    auto a = st.approved.find(name);
    if (a == st.approved.end() || a->second != hash) {
      const std::string prefix = name + '\n';
      for (auto r = st.reported.lower_bound(prefix);
           r != st.reported.end() && r->compare(0, prefix.size(), prefix) == 0;)
        r = st.reported.erase(r);
      if (a != st.approved.end())
        a->second = hash;
      else if (st.approved.size() < kMaxReported)
        st.approved.emplace(name, hash);
    }
    return;
  }
  if (status == tools::PinStatus::New && s_.pins != tools::PinMode::ApproveNew) {
    if (!st.pins.pin(t, now)) {
      if (strict)
        block(st, st.pin_blocks, key,
              {"GT-TOOL-PINS",
               "tool `" + name + "` of server `" + sname +
                   "` cannot be pinned: the server has more tools than can be pinned (" +
                   std::to_string(tools::kMaxPinnedTools) + ")",
               true});
      return;
    }
    pins_dirty = true;
    event({{"kind", "tool-change"},
           {"server", sname},
           {"tool", name},
           {"change", "new"},
           {"sha256", hash},
           {"action", "pinned"},
           {"pins", tools::to_string(s_.pins)}});
    return;
  }
  // Changed, or new and not approved: blocked (strict), and always waiting in the pending file
  // for an operator; logged and recorded once per definition.
  const tools::Pin* old = st.pins.find(name);
  std::string action =
      strict ? (status == tools::PinStatus::New ? "awaiting-approval" : "hidden") : "warned";
  if (strict) {
    std::string reason =
        status == tools::PinStatus::New
            ? "tool `" + name + "` of server `" + sname +
                  "` is new and not approved (pins: approve-new); an operator approves it with "
                  "`glasstape tools approve`"
            : "the definition of tool `" + name + "` of server `" + sname +
                  "` changed since it was pinned (sha256 " + short_hash(old->sha256) + "… → " +
                  short_hash(hash) +
                  "…); see `glasstape tools diff`, and approve it with `glasstape tools approve`";
    block(
        st, st.pin_blocks, key,
        {status == tools::PinStatus::New ? "GT-TOOL-UNAPPROVED" : "GT-TOOL-CHANGED", reason, true});
  }
  const tools::Pin* waiting = st.pending.find(name);
  if (!waiting || waiting->sha256 != hash) {
    st.pending.pin(t, now);
    pending_dirty = true;
  }
  const bool fresh =
      st.reported.size() < kMaxReported ? st.reported.insert(key).second : !st.reported.count(key);
  if (!fresh) return;
  if (status == tools::PinStatus::Changed) {
    gate_log(LogKind::Changed)(
        "tools: the definition of `{}/{}` changed since it was pinned ({} → {}): {}", sname, name,
        short_hash(old->sha256), short_hash(hash),
        strict ? "hidden, and its calls denied (GT-TOOL-CHANGED)" : "allowed (pins: warn)");
  } else {
    gate_log(LogKind::Changed)("tools: `{}/{}` is new and waits for approval (pins: approve-new)",
                               sname, name);
  }
  nlohmann::json e = {{"kind", "tool-change"},
                      {"server", sname},
                      {"tool", name},
                      {"change", status == tools::PinStatus::New ? "new" : "changed"},
                      {"sha256", hash},
                      {"action", action},
                      {"pins", tools::to_string(s_.pins)}};
  if (old) e["previous_sha256"] = old->sha256;
  event(std::move(e));
}

void ToolGate::review_scan(const std::string& sname, Server& st, const nlohmann::json& t,
                           const std::string& name, const std::string& hash,
                           std::optional<tools::ToolNames>& names) {
  const std::string key = block_key(name, hash);
  if (st.scanned.count(key)) return;  // this definition was scanned (its block, if any, stays)
  if (st.scanned.size() < kMaxReported) st.scanned.insert(key);
  // Every name seen, indexed once per listing and only when a definition is scanned.
  if (!names) names.emplace(all_names_.begin(), all_names_.end());
  auto report = tools::scan_definition(t, *names, name);
  if (report.clean()) return;
  auto [findings, summary] = describe_findings(report);
  const char* action = action_name(s_.scan);
  gate_log(LogKind::Scan)("tools: `{}/{}` has {} suspicious finding(s) in its definition: {}; {}",
                          sname, name, report.findings.size() + report.more, summary, action);
  if (s_.scan == ScanAction::Hide || s_.scan == ScanAction::Deny) {
    block(st, st.scan_blocks, key,
          {"GT-TOOL-POISONED",
           "the definition of tool `" + name + "` of server `" + sname +
               "` looks poisoned: " + summary,
           s_.scan == ScanAction::Hide});
  }
  event(finding_record(sname, name, hash, s_.scan, report, std::move(findings)));
}

bool ToolGate::governs(gov::ToolRef::Kind kind) const {
  // Prompts and resources: only when a poisoned one is hidden or denied.
  return kind == gov::ToolRef::Kind::Tool || s_.scan == ScanAction::Hide ||
         s_.scan == ScanAction::Deny;
}

namespace {
std::string entry_key(gov::ToolRef::Kind kind, const std::string& name) {
  return (kind == gov::ToolRef::Kind::Resource ? "r\n" : "p\n") + name;
}
}  // namespace

void ToolGate::on_entries_listed(gov::ToolRef::Kind kind, std::string_view server_name,
                                 const nlohmann::json& list) {
  if (!list.is_array() || s_.scan == ScanAction::Off || kind == gov::ToolRef::Kind::Tool) return;
  const bool resource = kind == gov::ToolRef::Kind::Resource;
  const char* id_member = resource ? "uri" : "name";
  const std::string sname(server_name);
  std::lock_guard lk(mu_);
  Server& st = servers_[sname];
  std::optional<tools::ToolNames> names;  // the tools seen: references to them are findings
  for (const auto& e : list) {
    if (!e.is_object() || !e.contains(id_member) || !e[id_member].is_string()) continue;
    const auto& name = e[id_member].get_ref<const std::string&>();
    const std::string key = entry_key(kind, name);
    std::string hash;
    try {
      hash = gov::audit::sha256_hex(gov::audit::canonicalize(e));
    } catch (const std::exception&) {
      hash.clear();  // scanned all the same; re-scanned at every listing
    }
    auto found = st.entries.find(key);
    if (found != st.entries.end() && !hash.empty() && found->second.hash == hash) continue;
    if (found == st.entries.end() && st.entries.size() >= kMaxBlocks) {
      st.saturated = true;  // as for tools: the server's calls are denied, nothing is missed
      continue;
    }
    auto& entry = st.entries[key];
    entry.hash = hash;
    entry.block.reset();
    if (!names) names.emplace(all_names_.begin(), all_names_.end());
    auto report = tools::scan_definition(e, *names);
    if (report.clean()) continue;
    auto [findings, summary] = describe_findings(report);
    const char* action = action_name(s_.scan);
    const char* what = resource ? "resource" : "prompt";
    gate_log(LogKind::Scan)("tools: {} `{}` of server `{}` has {} suspicious finding(s): {}; {}",
                            what, name, sname, report.findings.size() + report.more, summary,
                            action);
    if (s_.scan == ScanAction::Hide || s_.scan == ScanAction::Deny) {
      entry.block = Block{"GT-TOOL-POISONED",
                          std::string("the ") + what + " `" + name + "` of server `" + sname +
                              "` looks poisoned: " + summary,
                          s_.scan == ScanAction::Hide};
    }
    event(finding_record(sname, name, hash, s_.scan, report, std::move(findings), what));
  }
}

bool ToolGate::hides_entry(const gov::ToolRef& ref, const gov::Principal&) const {
  std::lock_guard lk(mu_);
  auto it = servers_.find(ref.server);
  if (it == servers_.end()) return false;
  auto e = it->second.entries.find(entry_key(ref.kind, ref.name));
  return e != it->second.entries.end() && e->second.block && e->second.block->hidden;
}

Verdict ToolGate::on_call(CallContext& ctx) {
  std::lock_guard lk(mu_);
  auto it = servers_.find(ctx.server);
  if (it == servers_.end()) return Verdict::Continue;
  const Server& st = it->second;
  if (ctx.tool_ref.kind != gov::ToolRef::Kind::Tool) {
    // A prompt or a resource: denied when its latest listed entry looks poisoned.
    auto e = st.entries.find(entry_key(ctx.tool_ref.kind, ctx.tool));
    if ((e == st.entries.end() || !e->second.block) && st.saturated) {
      ctx.decision.effect = Effect::Deny;
      ctx.decision.code = "GT-TOOL-PINS";
      ctx.decision.reason = std::string(gov::kind_name(ctx.tool_ref.kind)) + " `" + ctx.tool +
                            "` of server `" + ctx.server +
                            "` cannot be checked: the server listed more entries than GlassTape "
                            "remembers (" +
                            std::to_string(kMaxBlocks) + ")";
      return Verdict::Deny;
    }
    if (e == st.entries.end() || !e->second.block) return Verdict::Continue;
    ctx.decision.effect = Effect::Deny;
    ctx.decision.code = e->second.block->code;
    ctx.decision.reason = e->second.block->reason;
    return Verdict::Deny;
  }
  Block saturated;
  const Block* b = find_block(st, ctx.tool, ctx.definition_sha256);
  if (!b && st.saturated) {
    saturated = {"GT-TOOL-PINS",
                 "tool `" + ctx.tool + "` of server `" + ctx.server +
                     "` cannot be checked: the server showed more blocked tool definitions than "
                     "GlassTape remembers (" +
                     std::to_string(kMaxBlocks) + ")",
                 true};
    b = &saturated;
  }
  if (!b) return Verdict::Continue;
  ctx.decision.effect = Effect::Deny;
  ctx.decision.code = b->code;
  ctx.decision.reason = b->reason;
  ctx.decision.decided_by = "tools";
  return Verdict::Deny;
}

bool ToolGate::hides(std::string_view server, const std::string& tool, const nlohmann::json& def,
                     const gov::Principal&) const {
  std::lock_guard lk(mu_);
  auto it = servers_.find(server);
  if (it == servers_.end()) return false;
  std::string hash;
  try {
    hash = tools::definition_hash(def);
  } catch (const std::exception&) {
    // blocked under the empty hash by on_tools_listed
  }
  const Block* b = find_block(it->second, tool, hash);
  return (b && b->hidden) || it->second.saturated;
}

std::unique_ptr<Interceptor> make_tool_gate(const InterceptorEnv& env, const YAML::Node& section) {
  return std::make_unique<ToolGate>(parse_tool_gate_settings(env, section));
}

}  // namespace gt::proxy
