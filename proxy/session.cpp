#include "proxy/session.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "governance/tools/pins.hpp"
#include "proxy/admission.hpp"
#include "proxy/client_lines.hpp"
#include "proxy/era_bridge.hpp"
#include "proxy/receipt_meta.hpp"
#include "proxy/session_log.hpp"
#include "transport/inspect.hpp"
#include "transport/jsonrpc.hpp"
#include "transport/mcp_era.hpp"
#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace rpc = gt::transport::rpc_error;
using gt::transport::MessageKind;
using namespace session_log;

namespace {
// The JSON-RPC error code of a denied resources/read or prompts/get (README error catalog):
// in the range JSON-RPC leaves to implementations, apart from the proxy's -32001/-32002.
constexpr int kDeniedByPolicy = -32003;

// What every judged request of a session's client starts from: who asks, of which server, what,
// and when.
std::shared_ptr<CallContext> judged_context(const SessionOptions& o,
                                            const transport::Inspection& ins,
                                            gov::ToolRef::Kind kind) {
  auto ctx = std::make_shared<CallContext>();
  ctx->session_id = o.session_id;
  ctx->server = o.server;
  ctx->request_id = ins.id;
  ctx->principal = o.principal;
  ctx->now = std::chrono::system_clock::now();
  ctx->tool = ins.tool;
  ctx->tool_ref.kind = kind;
  ctx->tool_ref.server = o.server;
  ctx->tool_ref.name = ins.tool;
  return ctx;
}

// Reads params.arguments into `ctx`, judged as parsed from the exact bytes that will be
// forwarded. Anything but an object (null included) would be judged as one thing and read by
// the server as another. Returns "" when read (or absent), else the -32602 message.
std::string read_arguments(std::string_view raw, std::string_view method, CallContext& ctx) {
  auto span = transport::member_span(raw, {"params", "arguments"});
  if (!span) return {};
  if (span->empty() || span->front() != '{')
    return "Invalid params: " + std::string(method) + " `arguments` must be an object";
  ctx.raw_arguments = std::string(*span);
  ctx.arguments = nlohmann::json::parse(span->begin(), span->end(), nullptr, false);
  if (ctx.arguments.is_discarded())  // simdjson accepted what nlohmann does not
    return "Invalid params: " + std::string(method) + " `arguments` cannot be read";
  return {};
}

// The request's MCP version (its own 2026-07-28 claim, else the session's) and its W3C
// traceparent, for the record. True when the request claims 2026-07-28: note_era() let a claim
// through only if it is a valid one, and a claim is the key's presence (member names compared
// by value, as everywhere).
bool read_meta(std::string_view raw, const std::string& session_version, CallContext& ctx) {
  const bool modern =
      transport::member_span(raw, {"params", "_meta", transport::mcp::kProtocolVersionKey})
          .has_value();
  ctx.protocol_version = modern ? std::string(transport::mcp::kModernVersion) : session_version;
  if (auto tp = transport::member_span(raw, {"params", "_meta", "traceparent"})) {
    auto v = nlohmann::json::parse(tp->begin(), tp->end(), nullptr, false);
    if (v.is_string() && transport::mcp::is_traceparent(v.get_ref<const std::string&>()))
      ctx.traceparent = v.get<std::string>();
  }
  return modern;
}
}  // namespace

Session::Session(SessionOptions opts, std::shared_ptr<Pipeline> pipeline, Upstream& upstream,
                 Send to_client, Pipeline::Post post, boost::asio::any_io_executor ex)
    : opts_(std::move(opts)),
      pipeline_(std::move(pipeline)),
      upstream_(upstream),
      to_client_(std::move(to_client)),
      post_(std::move(post)) {
  tools_ = opts_.tools ? opts_.tools : std::make_shared<ToolCatalog>();
  if (ex && opts_.request_timeout.count() > 0) timer_.emplace(ex);
  if (opts_.max_timeout < opts_.request_timeout) opts_.max_timeout = opts_.request_timeout;
}

UpstreamEvents Session::events_for(const std::weak_ptr<Session>& ws) {
  UpstreamEvents ev;
  ev.on_line = [ws](std::string_view l) {
    if (auto s = ws.lock()) s->on_server_line(l);
  };
  ev.on_oversize = [ws](std::string_view p, std::size_t n) {
    if (auto s = ws.lock()) s->on_server_oversize(p, n);
  };
  ev.on_down = [ws](const std::string& why, bool restarting) {
    if (auto s = ws.lock()) s->on_server_down(why, restarting);
  };
  ev.on_restarted = [ws]() {
    if (auto s = ws.lock()) s->on_server_restarted();
  };
  return ev;
}

// ---------------------------------------------------------------- client → server

void Session::on_client_line(std::string_view line) {
  // What is judged is what runs: from here on the session works on the compact text only
  // (transport/compact.hpp). It is what governance parses and what the server receives.
  ClientLineHandlers h;
  h.message = [this](std::string_view compact, const transport::Inspection& ins) {
    handle_client(compact, ins);
  };
  h.refuse = [this](const nlohmann::json& id, int code, const std::string& message) {
    refuse(id, code, message);
  };
  split_client_line(line, opts_.max_depth, opts_.max_batch_messages, h);
}

void Session::on_client_message(std::string_view compact, const transport::Inspection& ins) {
  handle_client(compact, ins);
}

void Session::on_proxy_request(std::string_view compact) {
  handle_client(compact, transport::inspect(compact, opts_.max_depth), true);
}

void Session::refuse(const nlohmann::json& id, int code, const std::string& message) {
  client_faults()("session {}: refused a message from the client: {}", opts_.session_id, message);
  to_client_(transport::error_response(id, code, message));
}

bool Session::in_flight(const std::string& key) const {
  return pending_.count(key) || undecided_.count(key) || expired_.count(key) ||
         input_rounds_.count(key);
}

void Session::on_client_oversize(std::string_view prefix, std::size_t size) {
  auto id = transport::recover_id(prefix).value_or(nullptr);
  client_faults()("session {}: dropped a {}-byte message from the client (limit {} bytes)",
                  opts_.session_id, size, opts_.max_message_bytes);
  to_client_(transport::error_response(id, rpc::kInvalidRequest,
                                       "Invalid Request: message of " + std::to_string(size) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(opts_.max_message_bytes) + " bytes"));
}

void Session::handle_client(std::string_view raw, const transport::Inspection& ins,
                            bool from_proxy) {
  if (ins.kind == MessageKind::Invalid) {
    refuse(ins.id, rpc::kInvalidRequest,
           "Invalid Request: " + (ins.shape == transport::Inspection::Shape::Batch
                                      ? "a batch inside a batch"
                                  : ins.error.empty() ? "not a JSON-RPC message"
                                                      : ins.error));
    return;
  }
  if (auto r = from_proxy ? std::nullopt : admit_client_message(ins, raw)) {
    refuse(ins.kind == MessageKind::Request ? ins.id : nlohmann::json(nullptr), r->code,
           r->message);
    return;
  }
  switch (ins.kind) {
    case MessageKind::Request:
      // One request per id at a time: a second one would be answered with the first one's
      // result, and its result record signed under the first one's decision.
      if (expired_.size() >= kMaxUnanswered) {
        refuse(ins.id, rpc::kInvalidRequest,
               "Invalid Request: the server has not answered " + std::to_string(expired_.size()) +
                   " requests that were cancelled or timed out; GlassTape accepts no new request "
                   "on this session until it does (or restarts)");
        return;
      }
      if (in_flight(ins.id_key)) {
        refuse(ins.id, rpc::kInvalidRequest,
               "Invalid Request: the id " + ins.id.dump() +
                   " is already used by a request in flight; it was not forwarded");
        return;
      }
      if (!note_era(raw, ins)) return;
      if (bridge_modern_ && bridge_answers(raw, ins)) return;
      if (ins.method == "tools/call") {
        undecided_.insert(ins.id_key);
        handle_tools_call(raw, ins);
        return;
      }
      if (ins.method == "resources/read" || ins.method == "prompts/get") {
        const auto kind = ins.method == "resources/read" ? gov::ToolRef::Kind::Resource
                                                         : gov::ToolRef::Kind::Prompt;
        if (pipeline_->governs(kind)) {
          undecided_.insert(ins.id_key);
          handle_governed(raw, ins, kind);
          return;
        }
      }
      if (ins.method == "initialize") initialize_.assign(raw);
      forward_to_server(ins.id_key, ins.id, ins.method, raw);
      return;
    case MessageKind::Notification:
      // 2026-07-28 has no handshake: the server never hears of it.
      if (bridge_modern_ && ins.method == "notifications/initialized") return;
      if (ins.method == "notifications/cancelled") client_cancelled(raw);
      send_to_server(raw);
      return;
    case MessageKind::Response:  // the client answering a server request (sampling, roots…)
      if (!asks_.empty() && ins.id.is_string()) {
        if (auto a = asks_.find(ins.id.get_ref<const std::string&>()); a != asks_.end()) {
          on_input_answer(a->first, ins, raw);  // a question the bridge asked for its server
          return;
        }
      }
      send_to_server(raw);
      return;
    case MessageKind::Invalid:
      return;
  }
}

void Session::handle_tools_call(std::string_view raw, const transport::Inspection& ins) {
  if (ins.tool.empty()) {
    undecided_.erase(ins.id_key);
    to_client_(transport::error_response(ins.id, rpc::kInvalidParams,
                                         "Invalid params: tools/call needs a string `name`"));
    return;
  }
  if (!tools_->listed) {
    // No complete listing since the server said its tools changed (or ever): fetch the list
    // first, so the call is judged against the server's current definition (its schema, its
    // annotations, the tool gate's pin), never the one listed before the change. Calls wait
    // in order meanwhile.
    awaiting_list_.emplace_back(std::string(raw), ins);
    if (list_id_.empty()) request_tools_list(nullptr);
    return;
  }
  auto ctx = judged_context(opts_, ins, gov::ToolRef::Kind::Tool);
  if (auto bad = read_arguments(raw, "tools/call", *ctx); !bad.empty()) {
    undecided_.erase(ins.id_key);
    refuse(ins.id, rpc::kInvalidParams, bad);
    return;
  }
  if (opts_.precheck) {
    if (auto e = opts_.precheck(ins.tool, ctx->arguments, *tools_)) {
      // Refused before any policy runs: nothing is judged, so nothing is recorded.
      undecided_.erase(ins.id_key);
      client_faults()("session {}: refused tools/call `{}`: {}", opts_.session_id, ins.tool,
                      e->message);
      to_client_(transport::error_response(ins.id, e->code, e->message, e->data));
      return;
    }
  }
  const bool modern = read_meta(raw, protocol_version_, *ctx);
  if ((modern || bridge_modern_) && raw.find("requestState") != std::string_view::npos) {
    // An MRTR retry: judged in full like any call, and its record names the first decision.
    if (auto s = transport::member_span(raw, {"params", "requestState"})) {
      auto v = nlohmann::json::parse(*s, nullptr, false);
      if (v.is_string()) ctx->retry_of = pipeline_->retry_of(*ctx, v.get_ref<const std::string&>());
    }
  }
  if (auto t = tools_->annotations.find(ctx->tool); t != tools_->annotations.end()) {
    ctx->tool_ref.annotations = t->second;
  }
  if (auto d = tools_->definitions.find(ctx->tool); d != tools_->definitions.end())
    ctx->definition_sha256 = d->second;
  decide_and_forward(std::move(ctx), raw, ins.id_key, "tools/call");
}

void Session::handle_governed(std::string_view raw, const transport::Inspection& ins,
                              gov::ToolRef::Kind kind) {
  const bool resource = kind == gov::ToolRef::Kind::Resource;
  const std::string method = resource ? "resources/read" : "prompts/get";
  if (ins.tool.empty()) {
    undecided_.erase(ins.id_key);
    refuse(ins.id, rpc::kInvalidParams,
           "Invalid params: " + method + " needs a string `" + (resource ? "uri" : "name") + "`");
    return;
  }
  auto ctx = judged_context(opts_, ins, kind);
  // A prompt's arguments (strings by the spec) are judged as `args`, as a tool's are.
  if (!resource) {
    if (auto bad = read_arguments(raw, method, *ctx); !bad.empty()) {
      undecided_.erase(ins.id_key);
      refuse(ins.id, rpc::kInvalidParams, bad);
      return;
    }
  }
  read_meta(raw, protocol_version_, *ctx);
  decide_and_forward(std::move(ctx), raw, ins.id_key, method);
}

void Session::decide_and_forward(std::shared_ptr<CallContext> ctx, std::string_view raw,
                                 const std::string& key, std::string method) {
  std::string raw_copy(raw);
  std::weak_ptr<Session> weak = weak_from_this();
  ++deciding_;
  pipeline_->decide(std::move(ctx), post_,
                    [weak, raw_copy = std::move(raw_copy), key,
                     method = std::move(method)](std::shared_ptr<CallContext> c) mutable {
                      auto self = weak.lock();
                      if (!self) return;
                      --self->deciding_;
                      self->undecided_.erase(key);
                      if (c->decision.effect == Effect::Deny) {
                        self->answer_denied(*c);
                      } else {
                        auto id = c->request_id;
                        self->forward_to_server(key, id, method, raw_copy, std::move(c));
                      }
                      if (self->decided_listener_) self->decided_listener_();
                    });
}

void Session::request_tools_list(const nlohmann::json& cursor) {
  list_id_ = "glasstape:list:" + std::to_string(++list_count_);
  if (timer_) {
    list_deadline_ = std::chrono::steady_clock::now() + opts_.request_timeout;
    watch_deadlines();
  }
  nlohmann::json req = {{"jsonrpc", "2.0"}, {"id", list_id_}, {"method", "tools/list"}};
  if (!cursor.is_null()) req["params"] = {{"cursor", cursor}};
  // A 2026-07-28 server answers no request without the per-request envelope: the proxy's own
  // list carries the last one a client sent (its version, capabilities and identity).
  if (!modern_meta_.is_null()) req["params"]["_meta"] = modern_meta_;
  send_to_server(req.dump());
}

void Session::remember_tools(const nlohmann::json& result) {
  if (!result.is_object() || !result.contains("tools") || !result["tools"].is_array()) return;
  for (const auto& t : result["tools"]) {
    if (t.is_object() && t.contains("name") && t["name"].is_string()) {
      const auto& name = t["name"].get_ref<const std::string&>();
      tools_->annotations[name] =
          t.contains("annotations") ? t["annotations"] : nlohmann::json::object();
      try {
        tools_->definitions[name] = gov::tools::definition_hash(t);
      } catch (const std::exception&) {
        tools_->definitions[name].clear();  // the tool gate denies what it cannot hash
      }
      // The parameters a 2026-07-28 server wants mirrored in Mcp-Param-* headers.
      std::vector<transport::mcp::HeaderParam> params;
      std::string error;
      tools_->header_params.erase(name);
      tools_->header_errors.erase(name);
      if (t.contains("inputSchema") &&
          !transport::mcp::collect_header_params(t["inputSchema"], params, error)) {
        tools_->header_errors[name] = error;
      } else if (!params.empty()) {
        tools_->header_params[name] = std::move(params);
      }
    }
  }
  // The last page has no (string) nextCursor; the summary line is logged there.
  const bool last = !result.contains("nextCursor") || !result["nextCursor"].is_string();
  pipeline_->on_tools_listed(opts_.server, result["tools"], last);
}

void Session::finish_own_listing() {
  list_id_.clear();
  tools_->listed = true;
  auto waiting = std::move(awaiting_list_);
  awaiting_list_.clear();
  for (auto& [raw, ins] : waiting)
    handle_tools_call(raw, ins);
}

void Session::forward_to_server(const std::string& key, const nlohmann::json& id,
                                std::string_view method, std::string_view raw,
                                std::shared_ptr<CallContext> call) {
  if (upstate_ == Upstate::Down) {
    auto msg = transport::error_response(id, rpc::kUpstreamUnavailable,
                                         "server unavailable: " + down_reason_);
    if (call) {
      answer_call(*call, msg);
    } else {
      to_client_(msg);
    }
    return;
  }
  Pending p{std::string(method), std::move(call), id, {}, {}, {}, {}};
  if (method == "subscriptions/listen") {
    // MCP 2026-07-28: a listen is answered only when its stream ends; it is not timed out.
    p.deadline = p.hard_deadline = std::chrono::steady_clock::time_point::max();
  } else if (timer_) {
    auto now = std::chrono::steady_clock::now();
    p.deadline = now + opts_.request_timeout;
    p.hard_deadline = now + opts_.max_timeout;
    if (raw.find("progressToken") != std::string_view::npos) {
      if (auto t = transport::member_span(raw, {"params", "_meta", "progressToken"})) {
        auto token = nlohmann::json::parse(*t, nullptr, false);
        if (!token.is_discarded()) {
          p.progress_key = transport::id_key(token);
          progress_[p.progress_key] = key;
        }
      }
    }
  }
  if (bridge_modern_) p.raw.assign(raw);  // retried with answers if the server asks for input
  pending_[key] = std::move(p);
  if (bridge_modern_) {
    // Only params._meta gains members: what was judged (name, arguments) is unchanged.
    send_to_server(era_bridge::with_envelope(raw, envelope_));
  } else {
    send_to_server(raw);
  }
  watch_deadlines();
}

void Session::send_to_server(std::string_view raw) {
  switch (upstate_) {
    case Upstate::Up:
      upstream_.send(raw);
      return;
    case Upstate::Restarting:
      held_.emplace_back(raw);
      return;
    case Upstate::Down:
      return;  // notifications and responses for a dead server go nowhere
  }
}

void Session::answer_denied(const CallContext& ctx) {
  const auto& d = ctx.decision;
  // One operator line per denial: the recorder writes it, with the receipt id, for every
  // decision it records (a failing audit log has its own loud line instead). This line is
  // for denials no receipt was made for.
  if (d.receipt_id.empty()) {
    spdlog::warn("deny {} tool `{}` on `{}` by {}{}: {}", ctx.principal.id, ctx.tool, ctx.server,
                 d.decided_by, d.rule_id.empty() ? "" : " (" + d.rule_id + ")", d.reason);
  }
  nlohmann::json meta = {{"decision", "deny"},       {"code", d.code},
                         {"reason", d.reason},       {"decided_by", d.decided_by},
                         {"policy_id", d.policy_id}, {"policy_version", d.policy_version},
                         {"rule_id", d.rule_id},     {"schema", d.schema_outcome},
                         {"mode", d.mode},           {"receipt_id", d.receipt_id}};
  if (!d.details.empty()) meta["details"] = d.details;
  // Next to the decision: where its record is (receipt_id stays above for older clients).
  nlohmann::json receipt =
      pipeline_->receipt_meta() ? receipt_meta::value(d) : nlohmann::json(nullptr);
  if (ctx.tool_ref.kind != gov::ToolRef::Kind::Tool) {
    // A resource read or a prompt has no isError result: the denial is a JSON-RPC error whose
    // `data` carries the same decision as a denied call's `_meta`.
    const bool resource = ctx.tool_ref.kind == gov::ToolRef::Kind::Resource;
    std::string text = "GlassTape denied " + std::string(resource ? "reading `" : "the prompt `") +
                       ctx.tool + "` on server `" + ctx.server + "`: " + d.reason;
    if (!d.receipt_id.empty()) text += " (receipt " + d.receipt_id + ")";
    nlohmann::json data = {{"dev.glasstape/decision", std::move(meta)}};
    if (!receipt.is_null()) data[receipt_meta::kKey] = std::move(receipt);
    to_client_(transport::error_response(ctx.request_id, kDeniedByPolicy, text, data));
    return;
  }
  // The tool as policies name it, `server/tool`, so the text tells the user what to write.
  std::string text =
      "GlassTape denied this call to `" + ctx.server + "/" + ctx.tool + "`: " + d.reason;
  if (!d.receipt_id.empty()) text += " (receipt " + d.receipt_id + ")";
  nlohmann::json msg = {{"jsonrpc", "2.0"},
                        {"id", ctx.request_id},
                        {"result",
                         {{"content", nlohmann::json::array({{{"type", "text"}, {"text", text}}})},
                          {"isError", true},
                          {"_meta", {{"dev.glasstape/decision", std::move(meta)}}}}}};
  if (!receipt.is_null()) msg["result"]["_meta"][receipt_meta::kKey] = std::move(receipt);
  // 2026-07-28 requires resultType on every result; earlier versions do not know it.
  if (ctx.protocol_version == transport::mcp::kModernVersion)
    msg["result"]["resultType"] = "complete";
  to_client_(msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// ---------------------------------------------------------------- server → client

void Session::on_server_line(std::string_view line) {
  auto ins = transport::inspect(line, opts_.max_depth);
  if (ins.shape != transport::Inspection::Shape::Object) {
    server_faults()("server `{}` sent a line that is not a JSON-RPC message ({}): {}", opts_.server,
                    ins.error.empty() ? "not an object" : ins.error, shorten(line));
    return;
  }
  if (ins.kind != MessageKind::Response) {
    if (ins.kind == MessageKind::Invalid) {
      server_faults()("server `{}` sent an invalid message ({}): {}", opts_.server, ins.error,
                      shorten(line));
    }
    if (ins.method == "notifications/tools/list_changed") tools_->listed = false;
    if (ins.method == "notifications/progress" && !progress_.empty()) on_progress(line);
    to_client_(line);  // requests and notifications from the server pass as they are
    return;
  }
  if (!list_id_.empty() && ins.id.is_string() && ins.id.get_ref<const std::string&>() == list_id_) {
    // A page of the proxy's own tools/list: the client never sees it.
    auto body = nlohmann::json::parse(line.begin(), line.end());
    if (!ins.has_result) {
      server_faults()("server `{}` refused tools/list: {}", opts_.server, shorten(line, 300));
      finish_own_listing();
      return;
    }
    remember_tools(body["result"]);
    if (body["result"].is_object() && body["result"].contains("nextCursor") &&
        body["result"]["nextCursor"].is_string()) {
      request_tools_list(body["result"]["nextCursor"]);
    } else {
      finish_own_listing();
    }
    return;
  }
  if (!discover_id_.empty() && ins.id.is_string() &&
      ins.id.get_ref<const std::string&>() == discover_id_) {
    finish_modern_bridge(line);
    return;
  }
  if (!replay_id_.empty() && ins.id.is_string() &&
      ins.id.get_ref<const std::string&>() == replay_id_) {
    // The new server answered the replayed initialize: finish the handshake, then let the
    // held client messages through. The client never sees this exchange.
    replay_id_.clear();
    if (!ins.has_result) {
      spdlog::error("server `{}` rejected the replayed initialize: {}", opts_.server,
                    shorten(line, 500));
    }
    upstream_.send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    upstate_ = Upstate::Up;
    while (!held_.empty()) {
      upstream_.send(held_.front());
      held_.pop_front();
    }
    return;
  }
  auto it = pending_.find(ins.id_key);
  if (it == pending_.end()) {
    if (auto e = expired_.find(ins.id_key); e != expired_.end()) {
      // The proxy already answered it (timeout or cancellation): a second answer for the
      // same id would confuse the client. The id is free for a new request from now on.
      expired_.erase(e);
      spdlog::debug("server `{}` answered {} after the proxy gave up on it; dropped", opts_.server,
                    ins.id.dump());
      return;
    }
    to_client_(line);  // not ours to judge; pass it on
    return;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (!p.progress_key.empty()) progress_.erase(p.progress_key);
  if (p.method == "initialize" && ins.has_result) note_protocol_version(line);
  if (p.method == "initialize" && !ins.has_result && !initialize_.empty() &&
      era_bridge::refuses_legacy(line)) {
    start_modern_bridge(p.id, line);
    return;
  }
  std::string adapted;
  if (bridge_modern_) {
    if (era_bridge::is_input_required(line)) {
      std::string why;
      if (ask_client(ins.id_key, p, line, why)) return;
      server_faults()("session {}: server `{}` asked for input GlassTape cannot pass on: {}",
                      opts_.session_id, opts_.server, why);
      adapted = *era_bridge::refuse_input_required(line, why);
      line = adapted;
    }
    retry_rounds_.erase(ins.id_key);
  }
  if ((p.method == "resources/list" || p.method == "prompts/list") && ins.has_result) {
    // What this principal could never be allowed to read or get leaves the list; reading it
    // anyway is judged and denied all the same.
    const bool res = p.method == "resources/list";
    const auto kind = res ? gov::ToolRef::Kind::Resource : gov::ToolRef::Kind::Prompt;
    const char* member = res ? "resources" : "prompts";
    nlohmann::json body;
    if (!pipeline_->chain().empty()) {
      // The chain reads every listing (the description scan), judged kind or not.
      body = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
      if (body.is_object() && body.contains("result") && body["result"].is_object() &&
          body["result"].contains(member))
        pipeline_->on_entries_listed(kind, opts_.server, body["result"][member]);
    }
    if (pipeline_->governs(kind)) {
      auto& hiding = res ? hiding_resources_ : hiding_prompts_;
      bool filtered = false;
      if (body.is_object() && body.contains("result") && body["result"].is_object() &&
          body["result"].contains(member)) {
        std::vector<std::string> hidden;
        filtered = pipeline_->filter_entries(kind, opts_.server, opts_.principal,
                                             body["result"][member], &hidden);
        for (auto& n : hidden)
          if (hiding.size() < kMaxHiddenTools) hiding.insert(std::move(n));
        // The last page (no string nextCursor) completes the listing the aggregate routes by.
        const auto& r = body["result"];
        if (!r.contains("nextCursor") || !r["nextCursor"].is_string()) {
          (res ? hidden_resources_ : hidden_prompts_) = std::move(hiding);
          hiding.clear();
        }
      }
      shown_list(kind);
      if (filtered) {
        to_client_(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return;
      }
    }
  } else if (p.method == "tools/list" && ins.has_result) {
    auto body = nlohmann::json::parse(line.begin(), line.end());
    remember_tools(body["result"]);
    if (!body["result"].is_object() || !body["result"].contains("nextCursor"))
      tools_->listed = true;
    // What this principal may not see leaves the list (changed or poisoned definitions):
    // the client gets the list without it. Calls to it are denied all the same.
    bool filtered = false;
    if (pipeline_->may_hide() && body["result"].is_object() && body["result"].contains("tools")) {
      std::vector<std::string> hidden;
      filtered =
          pipeline_->filter_tools(opts_.server, opts_.principal, body["result"]["tools"], &hidden);
      for (auto& n : hidden)
        if (hiding_.size() < kMaxHiddenTools) hiding_.insert(std::move(n));
    }
    if (!body["result"].is_object() || !body["result"].contains("nextCursor")) {
      hidden_tools_ = std::move(hiding_);
      hiding_.clear();
    }
    if (pipeline_->may_hide()) shown_list(gov::ToolRef::Kind::Tool);
    if (filtered) {
      to_client_(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
    }
  } else if (p.call) {
    answer_call(*p.call, line);
    return;
  }
  to_client_(line);
}

void Session::shown_list(gov::ToolRef::Kind kind) {
  (kind == gov::ToolRef::Kind::Tool     ? shown_tools_
   : kind == gov::ToolRef::Kind::Prompt ? shown_prompts_
                                        : shown_resources_) = true;
  if (watching_visibility_) return;
  watching_visibility_ = true;
  std::weak_ptr<Session> weak = weak_from_this();
  pipeline_->watch_visibility(weak, post_, [weak] {
    if (auto self = weak.lock()) self->on_visibility_changed();
  });
}

void Session::on_visibility_changed() {
  // The policies were reloaded: what this principal may see can differ from the list its
  // client holds. The client lists again (behind the aggregate, the Aggregator does, and tells
  // its client when the merged list changed).
  if (upstate_ == Upstate::Down) return;
  spdlog::debug("session {}: the policies changed; telling the client to list again",
                opts_.session_id);
  if (shown_tools_) to_client_(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  if (shown_prompts_)
    to_client_(R"({"jsonrpc":"2.0","method":"notifications/prompts/list_changed"})");
  if (shown_resources_)
    to_client_(R"({"jsonrpc":"2.0","method":"notifications/resources/list_changed"})");
}

void Session::answer_call(const CallContext& call, std::string_view answer) {
  Response r(answer);
  pipeline_->on_result(call, r);
  // The receipt goes in after the interceptors looked at the server's answer, and before the
  // result record: that record hashes what the client gets (README, audit).
  nlohmann::json receipt =
      pipeline_->receipt_meta() ? receipt_meta::value(call.decision) : nlohmann::json(nullptr);
  if (r.replaced()) {
    auto message = r.replacement();
    if (receipt_meta::add(message, receipt)) r.replace(std::move(message));
    to_client_(r.replacement().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else if (auto with = receipt_meta::add(answer, receipt, opts_.max_depth)) {
    // The server's bytes with one member spliced in (never re-serialized, see receipt_meta).
    Response sent(*with);
    to_client_(*with);
    pipeline_->record_result(call, sent);
    return;
  } else {
    to_client_(answer);
  }
  pipeline_->record_result(call, r);
}

void Session::on_server_oversize(std::string_view prefix, std::size_t size) {
  auto id = transport::recover_id(prefix);
  server_faults()("server `{}` sent a {}-byte message (limit {} bytes); dropped", opts_.server,
                  size, opts_.max_message_bytes);
  if (!id) return;
  auto it = pending_.find(transport::id_key(*id));
  if (it == pending_.end()) return;
  auto call = it->second.call;
  if (!it->second.progress_key.empty()) progress_.erase(it->second.progress_key);
  pending_.erase(it);
  auto msg = transport::error_response(
      *id, rpc::kInternalError,
      "the server's response of " + std::to_string(size) + " bytes exceeds the proxy's limit");
  if (call) {
    answer_call(*call, msg);
  } else {
    to_client_(msg);
  }
}

void Session::on_server_down(const std::string& why, bool restarting) {
  upstate_ = restarting ? Upstate::Restarting : Upstate::Down;
  down_reason_ = why;
  // That server will answer nothing more: ids it still owed an answer are free again.
  expired_.clear();
  replay_id_.clear();
  fail_pending(why);
  // Calls that waited for the proxy's own tools/list were never sent: they fail too.
  list_id_.clear();
  auto waiting = std::move(awaiting_list_);
  awaiting_list_.clear();
  for (auto& [raw, ins] : waiting) {
    undecided_.erase(ins.id_key);
    to_client_(transport::error_response(ins.id, rpc::kUpstreamUnavailable,
                                         why + " before answering `tools/call`"));
  }
  if (!waiting.empty() && decided_listener_) decided_listener_();
  if (!restarting) {
    held_.clear();
    if (timer_) timer_->cancel();  // nothing is left to time out
  }
}

void Session::fail_pending(const std::string& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  progress_.clear();
  retry_rounds_.clear();
  for (auto& [key, p] : pending) {
    auto msg = transport::error_response(p.id, rpc::kUpstreamUnavailable,
                                         why + " before answering `" + p.method + "`");
    if (p.call) {
      answer_call(*p.call, msg);
    } else {
      to_client_(msg);
    }
  }
}

void Session::on_server_restarted() {
  if (initialize_.empty() || bridge_modern_) {
    // Nothing to replay: the client never initialized, or the server has no handshake.
    upstate_ = Upstate::Up;
    while (!held_.empty()) {
      upstream_.send(held_.front());
      held_.pop_front();
    }
    return;
  }
  replay_initialize();
}

void Session::replay_initialize() {
  std::string err;
  auto init = transport::parse(initialize_, &err, opts_.max_depth);
  replay_id_ = "glasstape:replay:" + std::to_string(++replay_count_);
  init["id"] = replay_id_;
  spdlog::info("replaying the client's initialize to the restarted server `{}`", opts_.server);
  upstream_.send(init.dump());
}

// ---------------------------------------------------------------- timeouts, cancellation

void Session::settle(const std::string& key, Pending& p, std::string_view answer) {
  if (!p.progress_key.empty()) progress_.erase(p.progress_key);
  retry_rounds_.erase(key);
  remember_expired(key);
  if (p.call) {
    answer_call(*p.call, answer);
  } else {
    to_client_(answer);
  }
}

void Session::remember_expired(const std::string& key) {
  // Until the server answers, the id stays in flight: the client may not reuse it, and the
  // late answer is dropped. Never forgotten while the server lives (a forgotten id could be
  // reused and take the old request's late answer); new requests are refused instead once
  // kMaxUnanswered are held (see handle_client).
  expired_.insert(key);
}

void Session::client_cancelled(std::string_view raw) {
  // The client gave up on a request: per MCP the server need not answer it any more, so it
  // leaves the pending map now (a tools/call gets its result record as cancelled).
  auto span = transport::member_span(raw, {"params", "requestId"});
  if (!span) return;
  auto rid = nlohmann::json::parse(*span, nullptr, false);
  if (rid.is_discarded()) return;
  auto key = transport::id_key(rid);
  if (input_rounds_.count(key)) {  // it waits for the client's own answers: nothing to cancel
    drop_round(key);
    return;
  }
  auto it = pending_.find(key);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (!p.progress_key.empty()) progress_.erase(p.progress_key);
  remember_expired(key);
  if (p.call) {
    auto answer =
        transport::error_response(p.id, rpc::kRequestCancelled, "the client cancelled the request");
    Response r(answer);  // nothing is sent: the client gave up on it
    pipeline_->on_result(*p.call, r);
    pipeline_->record_result(*p.call, r);
  }
}

void Session::on_progress(std::string_view line) {
  auto span = transport::member_span(line, {"params", "progressToken"});
  if (!span) return;
  auto token = nlohmann::json::parse(*span, nullptr, false);
  if (token.is_discarded()) return;
  auto t = progress_.find(transport::id_key(token));
  if (t == progress_.end()) return;
  auto it = pending_.find(t->second);
  if (it == pending_.end()) return;
  // Work is being done: the clock restarts, up to the hard limit.
  it->second.deadline =
      std::min(std::chrono::steady_clock::now() + opts_.request_timeout, it->second.hard_deadline);
}

void Session::watch_deadlines() {
  if (!timer_ || timer_armed_) return;
  if (pending_.empty() && list_id_.empty()) return;
  // A coarse tick (a tenth of the timeout, 10 ms to 1 s) rather than a timer per request:
  // requests are many, timeouts are rare.
  auto tick = std::clamp<std::chrono::milliseconds>(
      opts_.request_timeout / 10, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  timer_armed_ = true;
  timer_->expires_after(tick);
  timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self) return;
    self->timer_armed_ = false;
    if (ec) return;
    self->expire(std::chrono::steady_clock::now());
    self->watch_deadlines();
  });
}

void Session::expire(std::chrono::steady_clock::time_point now) {
  std::vector<std::string> late;
  for (const auto& [key, p] : pending_) {
    if (now >= p.deadline) late.push_back(key);
  }
  for (const auto& key : late) {
    auto it = pending_.find(key);
    Pending p = std::move(it->second);
    pending_.erase(it);
    bool hard = now >= p.hard_deadline;
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        hard ? opts_.max_timeout : opts_.request_timeout);
    std::string why = "server `" + opts_.server + "` did not answer `" + p.method + "` within " +
                      std::to_string(waited.count()) + " ms" +
                      (hard ? " (the limit even with progress)" : "");
    timeouts()("session {}: {}; answering {} with an error", opts_.session_id, why, p.id.dump());
    // Tell the server to stop working on it (MCP cancellation).
    nlohmann::json cancel = {{"jsonrpc", "2.0"},
                             {"method", "notifications/cancelled"},
                             {"params", {{"requestId", p.id}, {"reason", why}}}};
    if (p.method != "initialize") send_to_server(cancel.dump());
    settle(key, p, transport::error_response(p.id, rpc::kUpstreamTimeout, why));
  }
  if (!list_id_.empty() && now >= list_deadline_) {
    timeouts()("session {}: server `{}` did not answer the proxy's tools/list in time",
               opts_.session_id, opts_.server);
    remember_expired(transport::id_key(list_id_));
    finish_own_listing();  // the waiting calls are judged without the server's definitions
  }
}

}  // namespace gt::proxy
