#include "proxy/interceptors/audit_recorder.hpp"

#include <unistd.h>

#include "proxy/admin/health.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "governance/audit/fsutil.hpp"
#include "governance/audit/key_store.hpp"
#include "governance/audit/receipt.hpp"
#include "proxy/config_section.hpp"

namespace gt::proxy {

namespace audit = gov::audit;
namespace fs = std::filesystem;

namespace {

using section::fail;
using section::integer;

std::string scalar(const YAML::Node& n, const std::string& where) {
  if (!n.IsScalar()) fail(where, "must be a string");
  return n.as<std::string>();
}

// One writer per directory in the process: pipelines of the same tenant share it.
struct Registry {
  std::mutex mu;
  std::map<std::string, std::pair<std::string, std::weak_ptr<audit::AuditLog>>>
      logs;  // dir → tenant, log
};

Registry& registry() {
  static Registry r;
  return r;
}

// A result record even when the response cannot be hashed (not JSON, too deep): the record
// says why instead of carrying the hash.
audit::PayloadBuilder result_payload_or_note(audit::ResultInput& r) {
  try {
    return audit::result_payload(r);
  } catch (const std::exception& e) {
    r.response = nullptr;
    r.response_text = {};
    audit::PayloadBuilder p = audit::result_payload(r);
    p.set_string("result_note", std::string("result not hashed: ") + e.what());
    return p;
  }
}

// Responses up to this size are hashed on the session's thread when fsync is off; larger ones
// on the log's writer thread, so one big result does not hold up the other sessions.
constexpr std::size_t kInlineResultBytes = 16 * 1024;

}  // namespace

namespace {

WitnessOptions parse_witness(const InterceptorEnv& env, const YAML::Node& w,
                             const std::string& where) {
  WitnessOptions o;
  if (!w.IsMap()) fail(where, "must be a mapping with `dir` and/or `command`");
  static const std::set<std::string> known = {"dir", "command", "interval_ms", "timeout_ms"};
  for (const auto& kv : w) {
    auto key = kv.first.as<std::string>();
    if (!known.count(key)) fail(where, "unknown key `" + key + "`");
  }
  if (auto n = w["dir"]) o.dir = env.config.resolve(scalar(n, where + ".dir"));
  if (auto n = w["command"]) {
    if (!n.IsSequence() || n.size() == 0)
      fail(where + ".command",
           "must be a non-empty list: the program and its arguments (no shell)");
    for (std::size_t i = 0; i < n.size(); ++i)
      o.command.push_back(scalar(n[i], where + ".command[" + std::to_string(i) + "]"));
  }
  if (!o.enabled()) fail(where, "needs `dir`, `command`, or both");
  if (auto n = w["interval_ms"])
    o.interval = std::chrono::milliseconds(integer(n, where + ".interval_ms", 100, 86400000));
  if (auto n = w["timeout_ms"])
    o.timeout = std::chrono::milliseconds(integer(n, where + ".timeout_ms", 100, 600000));
  return o;
}

}  // namespace

AuditSettings parse_audit_settings(const InterceptorEnv& env, const YAML::Node& section) {
  const std::string where = "tenant `" + env.tenant.id + "` governance.audit";
  AuditSettings s;
  s.log.tenant = env.tenant.id;
  s.log.dir = env.config.resolve("~/.glasstape/audit/" + env.tenant.id);
  s.keys_dir = audit::default_keys_root();
  if (!section || section.IsNull()) return s;
  if (!section.IsMap()) fail(where, "must be a mapping");
  static const std::set<std::string> known = {
      "dir",           "fsync",        "group_ms",     "group_records", "checkpoint_every",
      "checkpoint_ms", "rotate_bytes", "record_args",  "redact",        "keys_dir",
      "backlog_max",   "nonce_pool",   "receipt_meta", "witness",       "seal_ms"};
  for (const auto& kv : section) {
    auto key = kv.first.as<std::string>();
    if (!known.count(key)) fail(where, "unknown key `" + key + "`");
  }
  if (auto n = section["dir"]) s.log.dir = env.config.resolve(scalar(n, where + ".dir"));
  if (auto n = section["fsync"]) {
    auto v = scalar(n, where + ".fsync");
    auto m = audit::parse_fsync_mode(v);
    if (!m) fail(where + ".fsync", "must be `always`, `group` or `off`, not `" + v + "`");
    s.log.fsync = *m;
  }
  if (auto n = section["group_ms"]) {
    s.log.group_window = std::chrono::milliseconds(integer(n, where + ".group_ms", 0, 1000));
  }
  if (auto n = section["group_records"]) {
    s.log.group_records = static_cast<std::size_t>(integer(n, where + ".group_records", 1, 100000));
  }
  if (auto n = section["checkpoint_every"]) {
    s.log.checkpoint_every =
        static_cast<std::uint64_t>(integer(n, where + ".checkpoint_every", 0, 1ll << 40));
  }
  if (auto n = section["checkpoint_ms"]) {
    s.log.checkpoint_interval =
        std::chrono::milliseconds(integer(n, where + ".checkpoint_ms", 0, 86400000));
  }
  if (s.log.checkpoint_every == 0 && s.log.checkpoint_interval.count() == 0) {
    fail(where, "`checkpoint_every` and `checkpoint_ms` cannot both be 0");
  }
  if (auto n = section["rotate_bytes"]) {
    s.log.rotate_bytes =
        static_cast<std::uint64_t>(integer(n, where + ".rotate_bytes", 0, 1ll << 50));
    if (s.log.rotate_bytes != 0 && s.log.rotate_bytes < 4096) {
      fail(where + ".rotate_bytes", "must be 0 (never) or at least 4096");
    }
  }
  if (auto n = section["record_args"]) {
    auto v = scalar(n, where + ".record_args");
    auto m = audit::parse_args_mode(v);
    if (!m)
      fail(where + ".record_args", "must be `full`, `redact` or `hash-only`, not `" + v + "`");
    s.record_args = *m;
  }
  if (auto n = section["redact"]) {
    if (!n.IsSequence()) fail(where + ".redact", "must be a list of member names or JSON Pointers");
    for (std::size_t i = 0; i < n.size(); ++i) {
      auto f = scalar(n[i], where + ".redact[" + std::to_string(i) + "]");
      if (f.empty()) fail(where + ".redact[" + std::to_string(i) + "]", "must not be empty");
      s.redact.push_back(f);
    }
  }
  if (s.record_args == audit::ArgsMode::Redact && s.redact.empty()) {
    fail(where, "`record_args: redact` needs a non-empty `redact` list");
  }
  if (s.record_args != audit::ArgsMode::Redact && !s.redact.empty()) {
    fail(where, "`redact` is only used with `record_args: redact`");
  }
  if (auto n = section["keys_dir"]) s.keys_dir = env.config.resolve(scalar(n, where + ".keys_dir"));
  if (auto n = section["seal_ms"]) {
    s.log.seal_window = std::chrono::milliseconds(integer(n, where + ".seal_ms", 1, 10000));
  }
  if (auto n = section["backlog_max"]) {
    s.log.backlog_max = static_cast<std::size_t>(integer(n, where + ".backlog_max", 0, 10000000));
  }
  if (auto n = section["nonce_pool"]) {
    s.log.nonce_pool = static_cast<std::size_t>(integer(n, where + ".nonce_pool", 0, 1000000));
  }
  if (auto n = section["receipt_meta"]) {
    // YAML's other spellings of a boolean (yes, on, True) are refused: one way to say it.
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
      fail(where + ".receipt_meta", "must be true or false");
    s.receipt_meta = n.Scalar() == "true";
  }
  if (auto n = section["witness"]) {
    s.witness = parse_witness(env, n, where + ".witness");
    // Inside the log's directory a copy is no witness: whoever can cut the log can replace it.
    std::error_code ec;
    const auto w = fs::weakly_canonical(s.witness.dir, ec).string() + "/";
    const auto l = fs::weakly_canonical(s.log.dir, ec).string() + "/";
    if (!s.witness.dir.empty() && w.compare(0, l.size(), l) == 0)
      fail(where + ".witness.dir", "must be outside the log's directory `" + l + "`");
  }
  return s;
}

AuditRecorder::AuditRecorder(std::shared_ptr<audit::AuditLog> log, AuditSettings settings,
                             std::string tenant, std::string default_agent)
    : log_(std::move(log)),
      settings_(std::move(settings)),
      tenant_(std::move(tenant)),
      default_agent_(std::move(default_agent)) {}

void AuditRecorder::record_decision(const CallContext& ctx, std::function<void(Outcome)> done) {
  const Decision& d = ctx.decision;
  std::string agent = ctx.principal.id.empty() ? default_agent_ : ctx.principal.id;
  std::string id = audit::new_receipt_id();
  if (!ctx.principal.tenant.empty() && ctx.principal.tenant != tenant_) {
    // A call judged as another tenant must never land in this tenant's log (nor be forwarded).
    done(Outcome{false,
                 "the call's tenant `" + ctx.principal.tenant + "` is not this log's tenant `" +
                     tenant_ + "`",
                 {}});
    return;
  }
  audit::DecisionInput in;
  in.receipt_id = id;
  in.ts = ctx.now.time_since_epoch().count() == 0 ? audit::Clock::now() : ctx.now;
  in.tenant = tenant_;
  in.agent = agent;
  in.session = ctx.session_id;
  in.server = ctx.server;
  in.tool = ctx.tool;
  in.request_id = ctx.request_id;
  in.raw_arguments = ctx.raw_arguments;
  in.arguments = &ctx.arguments;
  in.args_mode = settings_.record_args;
  in.redact = &settings_.redact;
  in.allowed = d.effect == Effect::Allow;
  in.would_deny = d.would_deny;
  in.mode = d.mode;
  in.reason = d.reason;
  in.code = d.code;
  in.decided_by = d.decided_by;
  in.policy_id = d.policy_id;
  in.policy_version = d.policy_version;
  in.policy_sha256 = d.policy_sha256;
  in.rule_id = d.rule_id;
  in.schema_outcome = d.schema_outcome;
  in.protocol_version = ctx.protocol_version;
  in.traceparent = ctx.traceparent;
  in.retry_of = ctx.retry_of;
  if (ctx.tool_ref.kind == gov::ToolRef::Kind::Resource) in.method = "resources/read";
  if (ctx.tool_ref.kind == gov::ToolRef::Kind::Prompt) in.method = "prompts/get";
  in.auth_method = ctx.principal.credential.method;
  in.auth_issuer = ctx.principal.credential.issuer;
  in.auth_id = ctx.principal.credential.id;
  audit::FrozenPayload payload = audit::decision_frozen(in);
  // The proxy's own log: one line per denial (and per monitor-mode would-deny).
  if (!in.allowed) {
    spdlog::warn("deny {}/{} {}/{} {}{}: {} (receipt {})", tenant_, agent, ctx.server, ctx.tool,
                 d.code.empty() ? "-" : d.code, d.rule_id.empty() ? "" : " rule " + d.rule_id,
                 d.reason, id);
  } else if (d.would_deny) {
    spdlog::warn("monitor mode: would deny {}/{} {}/{} {}{}: {} (receipt {})", tenant_, agent,
                 ctx.server, ctx.tool, d.code.empty() ? "-" : d.code,
                 d.rule_id.empty() ? "" : " rule " + d.rule_id, d.reason, id);
  }
  // The only call in flight: this thread has nothing else to do until the record is durable,
  // so it may write, seal and sync the record itself (no hand-off to the writer and back).
  const bool alone = calls_in_flight() <= 1;
  log_->append(
      agent, std::move(payload), audit::AuditLog::Kind::Decision,
      [done = std::move(done), id](const audit::AppendResult& r) {
        Outcome out{r.ok, r.error, id};
        if (r.ok) out.record = RecordRef{r.seq, r.leaf_hash, r.log_id};
        done(std::move(out));
      },
      alone);
}

void AuditRecorder::record_result(const CallContext& ctx, const Response& response) {
  audit::ResultInput r;
  r.receipt_id = audit::new_receipt_id();
  r.decision_id = ctx.decision.receipt_id;
  r.ts = audit::Clock::now();
  r.tenant = tenant_;
  r.agent = ctx.principal.id.empty() ? default_agent_ : ctx.principal.id;
  r.session = ctx.session_id;
  r.server = ctx.server;
  r.tool = ctx.tool;
  std::string agent = r.agent;
  const auto fsync = settings_.log.fsync;
  if ((fsync == audit::FsyncMode::Off ||
       (fsync == audit::FsyncMode::Group && calls_in_flight() <= 1)) &&
      !response.replaced() && response.raw().size() <= kInlineResultBytes) {
    // With fsync off, or in group mode (where nobody waits for a result's sync) when no other
    // call needs this thread, the log writes a record on the calling thread when it can (no
    // hand-off to the writer thread, see AuditLog::append): the client already has the
    // response, and hashing a small one costs a few microseconds.
    r.response_text = response.raw();
    log_->append(std::move(agent), result_payload_or_note(r), audit::AuditLog::Kind::Result,
                 nullptr);
    return;
  }
  // What the client gets: the replacement when an interceptor replaced the response. The
  // payload (parsing the response, JCS and SHA-256 of its result) is built on the log's writer
  // thread: nobody waits for a result record, so the response goes out without that work.
  std::optional<nlohmann::json> replacement;
  std::string raw;
  if (response.replaced()) {
    replacement = response.replacement();
  } else {
    raw.assign(response.raw());
  }
  log_->append(
      std::move(agent),
      [r = std::move(r), raw = std::move(raw),
       replacement = std::move(replacement)]() mutable -> audit::PayloadBuilder {
        if (replacement) {
          r.response = &*replacement;
        } else {
          r.response_text = raw;  // read straight from the bytes (simdjson), no JSON tree
        }
        return result_payload_or_note(r);
      },
      audit::AuditLog::Kind::Result, nullptr);
}

void AuditRecorder::record_event(const nlohmann::json& event) {
  // A record of the proxy's own observation (a tool-change, a tool-finding): signed by the
  // tenant's agent key like a decision, chained like every record.
  if (!event.is_object() || !event.contains("kind") || !event["kind"].is_string()) return;
  audit::PayloadBuilder p;
  try {
    for (auto it = event.begin(); it != event.end(); ++it)
      p.set(it.key(), it.value());
  } catch (const std::exception& e) {
    spdlog::error("audit: cannot record a `{}` event: {}", event["kind"].get<std::string>(),
                  e.what());
    return;
  }
  p.set_string("format", audit::kReceiptFormat);
  p.set_string("id", audit::new_receipt_id());
  p.set_string("ts", audit::rfc3339_utc(audit::Clock::now()));
  p.set_string("tenant", tenant_);
  p.set_string("agent", default_agent_);
  log_->append(default_agent_, std::move(p), audit::AuditLog::Kind::Result, nullptr);
}

std::unique_ptr<Recorder> make_audit_recorder(const InterceptorEnv& env,
                                              const YAML::Node& section) {
  AuditSettings s = parse_audit_settings(env, section);
  // Every session of a front runs on its one thread: that thread may write its records itself
  // (with fsync off) instead of handing them to the writer and waiting for them to come back.
  s.log.caller_writes = true;
  const std::string where = "tenant `" + env.tenant.id + "` governance.audit";
  std::string agent = env.tenant.principal.id.empty() ? "glasstape-agent" : env.tenant.principal.id;
  std::string dir = fs::weakly_canonical(s.log.dir).string();
  std::shared_ptr<audit::AuditLog> log;
  {
    auto& reg = registry();
    std::lock_guard lk(reg.mu);
    auto it = reg.logs.find(dir);
    if (it != reg.logs.end()) {
      if (it->second.first != env.tenant.id) {
        fail(where + ".dir", "`" + dir + "` is already the audit log of tenant `" +
                                 it->second.first + "`; each tenant needs its own");
      }
      log = it->second.second.lock();
    }
    if (!log) {
      try {
        auto keys = std::make_shared<audit::AgentKeyStore>(s.keys_dir, env.tenant.id);
        auto options = s.log;
        options.on_batch = [tenant = env.tenant.id](std::size_t records,
                                                    std::chrono::nanoseconds sync) {
          auto& m = admin::metrics();
          m.audit_batch_records.observe({tenant}, static_cast<double>(records));
          if (sync.count() > 0)
            m.audit_sync_seconds.observe({tenant}, std::chrono::duration<double>(sync).count());
        };
        std::shared_ptr<Witness> witness;
        if (s.witness.enabled()) {
          // Owned by the log's observer: destroyed with the log, after its final checkpoint,
          // which it then pushes.
          witness = std::make_shared<Witness>(s.witness, env.tenant.id);
          options.on_checkpoint = [witness](const std::string& id, const std::string& note) {
            witness->offer(id, note);
          };
        }
        log = std::make_shared<audit::AuditLog>(std::move(options), keys, agent);
        if (witness) {
          // What the directory holds now: pushed at the first interval even if no new
          // checkpoint is written by then.
          std::error_code ec;
          const auto cp = s.log.dir / audit::kCheckpointFileName;
          if (fs::exists(cp, ec)) witness->offer(log->log_id(), audit::fsutil::read_file(cp));
        }
      } catch (const std::exception& e) {
        fail(where, e.what());
      }
      reg.logs[dir] = {env.tenant.id, log};
      spdlog::info("audit: tenant `{}` logs to `{}` (fsync {}, arguments {})", env.tenant.id, dir,
                   audit::to_string(s.log.fsync), audit::to_string(s.record_args));
    }
  }
  return std::make_unique<AuditRecorder>(std::move(log), std::move(s), env.tenant.id, agent);
}

AuditSource AuditRecorder::source() const {
  return {log_->options().dir.string(),
          gov::audit::keyring_path(settings_.keys_dir, tenant_).string()};
}

void AuditRecorder::report(admin::Report& out, const std::string& tenant) const {
  auto st = log_->stats();
  const auto dir = log_->options().dir;
  admin::Check c{"audit[" + tenant + "]", true, ""};
  if (st.failing) {
    c.ok = false;
    c.detail = "the audit log in `" + dir.string() + "` cannot be written; calls are denied";
  } else if (::access(dir.c_str(), W_OK) != 0) {
    c.ok = false;
    c.detail = "the audit log directory `" + dir.string() + "` is not writable";
  } else {
    c.detail = "writable (`" + dir.string() + "`, next seq " + std::to_string(st.next_seq) + ")";
  }
  out.checks.push_back(std::move(c));
  out.samples.push_back(
      {"glasstape_audit_records_total", {tenant}, static_cast<double>(st.records)});
  out.samples.push_back(
      {"glasstape_audit_write_failures_total", {tenant}, static_cast<double>(st.failed_batches)});
  out.samples.push_back(
      {"glasstape_audit_log_writable", {tenant}, out.checks.back().ok ? 1.0 : 0.0});
}

}  // namespace gt::proxy
