// The interception pipeline: every tools/call (and, when the policies govern them, every
// resources/read and prompts/get) passes through an ordered chain of interceptors, then one
// recorder, before it is forwarded or answered.
//
//   tools/call ──► [deny_tools] ──► [schema] ──► [policy] ──► recorder ──► forward / block
//                     each: Continue or Deny(reason)        (signs + logs the final decision)
//
// Life cycle of one call, written once here (Envoy's filter-chain model):
//  1. The session builds a CallContext from the request and calls Pipeline::decide().
//  2. Interceptors run in config order. Continue passes the call on; Deny fills
//     ctx.decision and stops the chain. An exception inside an interceptor is a Deny
//     (fail closed) with the exception text as the reason.
//  3. The recorder runs for every call, allowed or denied. It may complete later (group
//     commit waits for fsync). If it cannot record, the call becomes a Deny.
//  4. The completion handler gets the final context: the session forwards an allowed
//     call, or answers a denied one with an isError result.
//  4b. Pipeline then calls on_decided() on every interceptor with the final outcome (after
//      the recorder): held resources (limit reservations) are committed when the call is
//      forwarded, released when it was denied at any stage (including by the recorder).
//  5. When an allowed call's response comes back, Pipeline::on_result() lets
//     interceptors inspect or replace it (output schema checks). The session sends the
//     client what they leave, then Pipeline::record_result() lets the recorder write the
//     result record: nobody waits for that record, so the response does not wait for it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/principal.hpp"

namespace gt::gov::policy {
class PolicySet;
}
namespace gt::proxy::admin {
struct Report;
}

namespace gt::proxy {

enum class Effect { Allow, Deny };

// Where a written decision record sits in the audit log, as the recorder reports it. The client
// gets it in `_meta["dev.glasstape/receipt"]` (proxy/receipt_meta.hpp), so that it can find
// exactly that record (`seq`) and check it is that line (`leaf_hash`), not just trust an id.
struct RecordRef {
  std::uint64_t seq = 0;
  std::array<std::uint8_t, 32> leaf_hash{};  // RFC 6962 leaf hash: SHA-256(0x00 || line)
  std::string log_id{};                      // the log's id; empty when the log has none
};

// What the pipeline decided, and why. Interceptors fill in their parts.
struct Decision {
  Effect effect = Effect::Allow;
  std::string reason;      // human-readable, shown to the model on deny
  std::string code;        // stable error id, e.g. "GT-DENY-TOOL" (see README catalog)
  std::string decided_by;  // interceptor name that denied, or "" when allowed
  std::string policy_id;   // deciding policy, if any
  std::string policy_version;
  std::string policy_sha256;
  std::string rule_id;                     // deciding rule, if any
  std::string schema_outcome = "skipped";  // "valid", "invalid", "unsupported", "skipped"
  std::string mode = "enforce";            // "enforce" or "monitor"
  bool would_deny = false;  // monitor mode: a policy would have denied; the call is forwarded
  std::string receipt_id;   // set by the recorder
  // Set by the recorder once the record is written (never for a record that failed, even when
  // it has a receipt id: a failed denial is written later, at a place not known now).
  std::optional<RecordRef> record;
  nlohmann::json details =
      nlohmann::json::object();  // extra structured detail (violations, limits)
};

// Everything an interceptor may look at for one judged request. Inputs are read-only.
struct CallContext {
  std::string session_id;
  std::string server;  // upstream name
  // tools/call: params.name; resources/read: params.uri; prompts/get: params.name. The kind is
  // tool_ref.kind.
  std::string tool;
  nlohmann::json request_id;                            // the client's JSON-RPC id
  nlohmann::json arguments = nlohmann::json::object();  // params.arguments, {} when absent
  std::string raw_arguments = "{}";  // the exact bytes of params.arguments as received
  gov::Principal principal;
  gov::ToolRef tool_ref;
  std::chrono::system_clock::time_point now;
  std::string protocol_version;  // MCP version of the call, recorded in the receipt when known
  std::string traceparent;       // params._meta.traceparent when it is a valid W3C value
  // An MCP 2026-07-28 retry (a call carrying the requestState of an earlier input_required
  // result): the receipt id of the exchange's first decision (proxy/mrtr_links.hpp).
  std::string retry_of;
  // The SHA-256 of the tool's definition as this session's server last listed it (empty:
  // unknown, or not canonicalizable). The tool gate judges the call against this definition,
  // not against whatever another session's listing of the same server said.
  std::string definition_sha256;
  Decision decision;
  // Set by the pipeline, for the latency metrics: when decide() began, and when the decision
  // was final (the call is forwarded then, if allowed).
  std::chrono::steady_clock::time_point received{};
  std::chrono::steady_clock::time_point decided{};
  // Held from the start of decide() until the context goes with the call: counts it in
  // calls_in_flight().
  std::shared_ptr<void> in_flight;
};

// Calls being judged, forwarded or answered, in the whole process. The recorder lets the only
// one write its own decision record on its thread (AuditLog::append's caller_idle): with
// others in flight, the thread they share must not wait for the disk.
std::size_t calls_in_flight();

// The server's response to an allowed call. It is parsed only when someone asks: most
// responses go back to the client as the exact bytes the server sent.
class Response {
 public:
  explicit Response(std::string_view raw) : raw_(raw) {}
  std::string_view raw() const { return raw_; }
  // The whole message, parsed on first use. Throws std::runtime_error if it is not JSON.
  const nlohmann::json& json() const;
  // An interceptor substitutes the whole message (e.g. an isError result).
  void replace(nlohmann::json message) {
    replacement_ = std::move(message);
    replaced_ = true;
  }
  bool replaced() const { return replaced_; }
  const nlohmann::json& replacement() const { return replacement_; }

 private:
  std::string_view raw_;
  mutable nlohmann::json parsed_;
  mutable bool parsed_ok_ = false;
  nlohmann::json replacement_;
  bool replaced_ = false;
};

// What a tenant's chain does with a tool, for the startup summary (summarize_tools). Each
// interceptor fills in its part (Interceptor::describe); the pipeline sets `passthrough`.
struct GovernanceView {
  bool passthrough = false;             // no chain, no recorder: calls go through unchecked
  std::vector<std::string> deny_tools;  // deny_tools patterns (`tool` or `server/tool` globs)
  bool policies = false;                // a governance.policies section is configured
  // The loaded policy set; null with `policies` when no load has succeeded (all denied).
  std::shared_ptr<const gov::policy::PolicySet> policy_set;
};

// How the tools of one server are governed, counted in the chain's order (deny_tools first).
struct ToolSummary {
  size_t tools = 0;
  size_t deny_tools = 0;      // denied by deny_tools
  size_t policy = 0;          // governed by a policy of their own (`tools:` or a config binding)
  size_t policy_monitor = 0;  // ... of which every governing policy is in monitor mode
  size_t rejected = 0;        // governed only by rejected (unsigned/altered) policy files: denied
  size_t default_policy = 0;  // governed by the default policy
  size_t no_policy = 0;       // no policy (or a bound/default policy that is not loaded)
  size_t unloaded = 0;        // policies configured but no set loaded: denied
  size_t ungoverned = 0;      // no governance.policies section: allowed after the schema check
  bool monitor = false;       // global monitor mode: policy denials are forwarded
  std::string line;           // "server example: 14 tools: 11 governed by a policy, ..."
};

// How one tool of `server` is governed, in the chain's order (what summarize_tools counts).
enum class ToolGoverned {
  Passthrough,    // no chain, no recorder
  DenyTools,      // denied by deny_tools
  Ungoverned,     // no governance.policies section
  Unloaded,       // policies configured, no set loaded: denied
  NoPolicy,       // no policy (or a bound policy not loaded): denied, forwarded in monitor mode
  Rejected,       // a rejected (unsigned or altered) policy file governs it: denied
  Policy,         // governed by a policy of its own
  PolicyMonitor,  // ... every governing policy in monitor mode
  DefaultPolicy,  // governed by the default policy
};
ToolGoverned classify_tool(std::string_view server, const std::string& tool,
                           const GovernanceView& view);

// Pure: counts how the listed tools of `server` are governed and writes the log line. Names
// are sorted and deduplicated; a category other than "governed by a policy" lists its tools
// (up to 10).
ToolSummary summarize_tools(std::string_view server, std::vector<std::string> tools,
                            const GovernanceView& view);

enum class Verdict {
  Continue,  // pass the call to the next interceptor
  Deny,      // ctx.decision is filled in; stop the chain, never forward the call
};

class Interceptor {
 public:
  virtual ~Interceptor() = default;
  virtual std::string_view name() const = 0;
  // The kinds of request this interceptor judges: the pipeline runs a resources/read or a
  // prompts/get only through the interceptors that govern its kind.
  virtual bool governs(gov::ToolRef::Kind kind) const { return kind == gov::ToolRef::Kind::Tool; }
  // A page of a tools/list result from `server` ("tools" array). Called for every page,
  // and again when tools change. Interceptors compile what they need here.
  virtual void on_tools_listed(std::string_view /*server*/, const nlohmann::json& /*tools*/) {}
  // A page of a prompts/list or resources/list result from `server` (its `prompts` or
  // `resources` array; `kind` says which), whether or not any interceptor governs the kind: the
  // description scan reads them.
  virtual void on_entries_listed(gov::ToolRef::Kind /*kind*/, std::string_view /*server*/,
                                 const nlohmann::json& /*entries*/) {}
  // Its part of the tenant's governance, for the startup summary.
  virtual void describe(GovernanceView& /*view*/) const {}
  // True when `who` must not see this tool in a tools/list result (a changed or poisoned
  // definition, a tool no policy would let this principal call). Hiding is never the only
  // control: on_call() denies what is hidden.
  // `tool` is its definition as listed (its annotations, for policies).
  virtual bool hides(std::string_view /*server*/, const std::string& /*name*/,
                     const nlohmann::json& /*tool*/, const gov::Principal& /*who*/) const {
    return false;
  }
  virtual bool may_hide() const { return false; }  // hides() can ever be true
  // The same for a resource or a prompt of a resources/list or prompts/list result (`ref.kind`
  // is never Tool). Only interceptors that govern the kind are asked.
  virtual bool hides_entry(const gov::ToolRef& /*ref*/, const gov::Principal& /*who*/) const {
    return false;
  }
  // `changed` is to be called (on any thread) when what hides() may say has changed outside a
  // listing (a policy reload); null stops the calls. Replacing it waits for a call in progress.
  virtual void set_visibility_listener(std::function<void()> /*changed*/) {}
  // Records the interceptor wants in the audit log (e.g. a tool-change), taken after each
  // on_tools_listed(): objects with a `kind` and the members of that record.
  virtual void take_events(std::vector<nlohmann::json>& /*out*/) {}
  // Decide one call. Must not block on I/O.
  virtual Verdict on_call(CallContext& ctx) = 0;
  // The final outcome of a call this chain saw, after the recorder: `forwarded` is true when
  // the decision was recorded and the call goes to the server (allowed, or monitor mode).
  // Called exactly once per decide(), for every interceptor that judged the kind, before
  // `done`.
  virtual void on_decided(const CallContext& /*ctx*/, bool /*forwarded*/) {}
  // The JSON-RPC response to an allowed call, before the client sees it. An interceptor
  // may inspect it (response.json()) or replace it (response.replace(...)).
  virtual void on_result(const CallContext& /*ctx*/, Response& /*response*/) {}
  // Readiness checks and metric samples of what it owns (a policy store), for /readyz and
  // /metrics. Called on a front's executor, concurrently with calls.
  virtual void report(admin::Report& /*out*/, const std::string& /*tenant*/) const {}
};

// Where a recorder writes, for reading decisions back (empty strings when nowhere).
struct AuditSource {
  std::string dir;      // the audit log's directory
  std::string keyring;  // the keyring that verifies its records
};

// The last stage: makes the final decision durable (signed receipt in the audit log).
class Recorder {
 public:
  struct Outcome {
    bool ok = true;
    std::string error;       // why the record could not be written (the call is then denied)
    std::string receipt_id;  // the id of the decision record
    std::optional<RecordRef> record{};  // when ok: where the record was written
  };
  virtual ~Recorder() = default;
  // Record the decision. `done` may run before this returns (a record written on the calling
  // thread) or later on another thread; the pipeline posts it to the session's executor.
  virtual void record_decision(const CallContext& ctx, std::function<void(Outcome)> done) = 0;
  // Record what came back for an allowed (or monitor-forwarded) call: the response as the
  // client will get it (response.replaced() tells whether an interceptor replaced it).
  virtual void record_result(const CallContext& ctx, const Response& response) = 0;
  // Something the proxy observed that is not a call (take_events()): a signed record of its
  // own kind. Nobody waits for it.
  virtual void record_event(const nlohmann::json& /*event*/) {}
  // Readiness and metric samples of the audit log (see Interceptor::report).
  virtual void report(admin::Report& /*out*/, const std::string& /*tenant*/) const {}
  virtual AuditSource source() const { return {}; }
  // The operator wants clients to get each record's place (`dev.glasstape/receipt`).
  virtual bool receipt_meta() const { return false; }
};

class MrtrLinks;

class Pipeline {
 public:
  using Post = std::function<void(std::function<void()>)>;  // run on the session's executor
  using Done = std::function<void(std::shared_ptr<CallContext>)>;

  Pipeline(std::vector<std::unique_ptr<Interceptor>> chain, std::unique_ptr<Recorder> recorder);
  ~Pipeline();

  // Passes a page of a tools/list result to the chain. The first time a server's tools are
  // known (and again when a later list adds tools) logs how each is governed: once per list,
  // at its last page (`last_page`: the result has no nextCursor).
  void on_tools_listed(std::string_view server, const nlohmann::json& tools, bool last_page = true);
  // Passes a page of a prompts/list or resources/list result to the chain (and records the
  // events it yields).
  void on_entries_listed(gov::ToolRef::Kind kind, std::string_view server,
                         const nlohmann::json& entries);
  // Removes from a tools/list page's `tools` what some interceptor hides from `who`. True
  // when one was removed; the names removed are appended to `hidden` when it is given.
  bool filter_tools(std::string_view server, const gov::Principal& who, nlohmann::json& tools,
                    std::vector<std::string>* hidden = nullptr) const;
  // Removes from a resources/list or prompts/list page's `resources` or `prompts` what the
  // interceptors governing `kind` hide from `who` (entries named by `uri` or `name`).
  // The names (URIs) removed are appended to `hidden` when it is given.
  bool filter_entries(gov::ToolRef::Kind kind, std::string_view server, const gov::Principal& who,
                      nlohmann::json& entries, std::vector<std::string>* hidden = nullptr) const;
  // `changed` runs through `post` whenever what a principal may see can have changed (a policy
  // reload), while `alive` lives: a session that showed its client a list tells the client to
  // list again. Thread-safe; expired watchers are dropped as new ones come.
  void watch_visibility(std::weak_ptr<void> alive, Post post, std::function<void()> changed);
  // Tells every live watcher (any thread).
  void visibility_changed();
  // Some interceptor may hide tools (else filter_tools is never needed).
  bool may_hide() const { return may_hide_; }
  // Some interceptor judges requests of this kind: a resources/read or prompts/get goes through
  // decide() only then (tools/call always does).
  bool governs(gov::ToolRef::Kind kind) const;
  // Runs the chain, then the recorder, then `done` (through `post` when the recorder
  // completes asynchronously). `ctx` must stay alive until `done` runs.
  void decide(std::shared_ptr<CallContext> ctx, const Post& post, Done done);
  void on_result(const CallContext& ctx, Response& response);
  // Records the result, and remembers an input_required result's requestState for retry_of.
  void record_result(const CallContext& ctx, const Response& response);
  // The first decision of the MRTR exchange a call with this requestState continues, or "".
  std::string retry_of(const CallContext& ctx, std::string_view request_state);
  const std::vector<std::unique_ptr<Interceptor>>& chain() const { return chain_; }
  // The tenant this pipeline serves: the `tenant` label of its metrics.
  void set_tenant(std::string tenant) { tenant_ = std::move(tenant); }
  const std::string& tenant() const { return tenant_; }
  // Every interceptor's and the recorder's checks and samples (/readyz, /metrics).
  void report(admin::Report& out) const;
  // What every interceptor says of its governance (for summarize_tools, classify_tool).
  GovernanceView governance_view() const;
  // How each tool listed so far is governed, per server (the decisions page): "policy",
  // "policy (monitor mode)", "default policy", "deny_tools", "rejected policy file",
  // "no policy: denied", "no policy: forwarded (monitor mode)", "no policy set loaded: denied",
  // "no policy check", "passthrough". At most kMaxSummaryTools per server.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> tool_governance() const;
  // Where the recorder writes (empty when there is none).
  AuditSource audit_source() const;
  // Answers carry `_meta["dev.glasstape/receipt"]` (governance.audit.receipt_meta).
  bool receipt_meta() const { return receipt_meta_; }

 private:
  void decided(const CallContext& ctx);

  std::vector<std::unique_ptr<Interceptor>> chain_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<MrtrLinks> links_;
  std::string tenant_ = "default";
  bool may_hide_ = false;
  bool receipt_meta_ = false;
  struct Watcher {
    std::weak_ptr<void> alive;
    Post post;
    std::function<void()> changed;
  };
  std::mutex watch_mu_;
  std::vector<Watcher> watchers_;
  std::size_t watchers_pruned_ = 0;  // size after the last pruning
  // Tool names seen per server, for the summary (sessions may list concurrently).
  mutable std::mutex listed_mu_;
  struct Listed {
    std::set<std::string> names;
    bool unsummarized = true;  // names were added since the last summary line
  };
  std::map<std::string, Listed, std::less<>> listed_;
};

}  // namespace gt::proxy
