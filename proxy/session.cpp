#include "proxy/session.hpp"

#include <spdlog/spdlog.h>

#include "transport/jsonrpc.hpp"

namespace gt::proxy {

namespace rpc = gt::transport::rpc_error;
using gt::transport::MessageKind;

namespace {

std::string key_of(const nlohmann::json& id) {
  return id.dump();
}

std::string shorten(std::string_view s, std::size_t n = 120) {
  return s.size() <= n ? std::string(s) : std::string(s.substr(0, n)) + "…";
}

}  // namespace

Session::Session(SessionOptions opts, std::shared_ptr<Pipeline> pipeline, Upstream& upstream,
                 Send to_client, Pipeline::Post post)
    : opts_(std::move(opts)),
      pipeline_(std::move(pipeline)),
      upstream_(upstream),
      to_client_(std::move(to_client)),
      post_(std::move(post)) {}

// ---------------------------------------------------------------- client → server

void Session::on_client_line(std::string_view line) {
  std::string err;
  auto body = transport::parse(line, &err, opts_.max_depth);
  if (body.is_discarded()) {
    auto id = transport::recover_id(line).value_or(nullptr);
    spdlog::warn("session {}: malformed JSON from the client ({}): {}", opts_.session_id, err,
                 shorten(line));
    to_client_(transport::error_response(id, rpc::kParseError, "Parse error: " + err));
    return;
  }
  if (body.is_array()) {
    // A JSON-RPC batch (2025-03-26 clients): each element is handled on its own.
    if (body.empty()) {
      to_client_(
          transport::error_response(nullptr, rpc::kInvalidRequest, "Invalid Request: empty batch"));
      return;
    }
    for (auto& element : body) {
      std::string raw = element.dump();
      handle_client(std::move(element), raw);
    }
    return;
  }
  handle_client(std::move(body), line);
}

void Session::on_client_oversize(std::string_view prefix, std::size_t size) {
  auto id = transport::recover_id(prefix).value_or(nullptr);
  spdlog::warn("session {}: dropped a {}-byte message from the client (limit {} bytes)",
               opts_.session_id, size, opts_.max_message_bytes);
  to_client_(transport::error_response(id, rpc::kInvalidRequest,
                                       "Invalid Request: message of " + std::to_string(size) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(opts_.max_message_bytes) + " bytes"));
}

void Session::handle_client(nlohmann::json body, std::string_view raw) {
  auto m = transport::classify(std::move(body));
  switch (m.kind) {
    case MessageKind::Invalid:
      spdlog::warn("session {}: invalid JSON-RPC message from the client: {}", opts_.session_id,
                   m.invalid_reason);
      to_client_(transport::error_response(m.id, rpc::kInvalidRequest,
                                           "Invalid Request: " + m.invalid_reason));
      return;
    case MessageKind::Request:
      if (m.method == "tools/call") {
        handle_tools_call(std::move(m.body), m.id, raw);
        return;
      }
      if (m.method == "initialize") initialize_.assign(raw);
      forward_to_server(m.id, m.method, raw);
      return;
    case MessageKind::Notification:
    case MessageKind::Response:  // the client answering a server request (sampling, roots…)
      send_to_server(raw);
      return;
  }
}

void Session::handle_tools_call(nlohmann::json body, const nlohmann::json& id,
                                std::string_view raw) {
  auto ctx = std::make_shared<CallContext>();
  ctx->session_id = opts_.session_id;
  ctx->server = opts_.server;
  ctx->request_id = id;
  ctx->principal = opts_.principal;
  ctx->now = std::chrono::system_clock::now();
  const auto& params = body.contains("params") ? body["params"] : nlohmann::json();
  auto name = params.is_object() ? params.find("name") : params.end();
  if (!params.is_object() || name == params.end() || !name->is_string()) {
    to_client_(transport::error_response(id, rpc::kInvalidParams,
                                         "Invalid params: tools/call needs a string `name`"));
    return;
  }
  ctx->tool = name->get<std::string>();
  if (auto a = params.find("arguments"); a != params.end() && !a->is_null()) {
    ctx->arguments = *a;
    auto span = transport::member_span(raw, {"params", "arguments"});
    ctx->raw_arguments = span ? std::string(*span) : a->dump();
  }
  ctx->tool_ref.server = opts_.server;
  ctx->tool_ref.name = ctx->tool;
  if (auto t = tool_annotations_.find(ctx->tool); t != tool_annotations_.end()) {
    ctx->tool_ref.annotations = t->second;
  }
  std::string raw_copy(raw);
  std::weak_ptr<Session> weak = weak_from_this();
  pipeline_->decide(std::move(ctx), post_,
                    [weak, raw_copy = std::move(raw_copy)](std::shared_ptr<CallContext> c) {
                      auto self = weak.lock();
                      if (!self) return;
                      if (c->decision.effect == Effect::Deny) {
                        self->answer_denied(*c);
                      } else {
                        auto id = c->request_id;
                        self->forward_to_server(id, "tools/call", raw_copy, std::move(c));
                      }
                    });
}

void Session::forward_to_server(const nlohmann::json& id, const std::string& method,
                                std::string_view raw, std::shared_ptr<CallContext> call) {
  if (upstate_ == Upstate::Down) {
    to_client_(transport::error_response(id, rpc::kUpstreamUnavailable,
                                         "server unavailable: " + down_reason_));
    if (call) {
      auto err = nlohmann::json::parse(
          transport::error_response(id, rpc::kUpstreamUnavailable, "server unavailable"));
      pipeline_->on_result(*call, err);
    }
    return;
  }
  pending_[key_of(id)] = Pending{method, std::move(call)};
  send_to_server(raw);
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
  spdlog::warn("deny {} tool `{}` on `{}` by {}{}: {}", ctx.principal.id, ctx.tool, ctx.server,
               d.decided_by, d.rule_id.empty() ? "" : " (" + d.rule_id + ")", d.reason);
  nlohmann::json meta = {{"decision", "deny"},       {"code", d.code},
                         {"reason", d.reason},       {"decided_by", d.decided_by},
                         {"policy_id", d.policy_id}, {"policy_version", d.policy_version},
                         {"rule_id", d.rule_id},     {"schema", d.schema_outcome},
                         {"mode", d.mode},           {"receipt_id", d.receipt_id}};
  if (!d.details.empty()) meta["details"] = d.details;
  std::string text = "GlassTape denied this call to `" + ctx.tool + "`: " + d.reason;
  if (!d.receipt_id.empty()) text += " (receipt " + d.receipt_id + ")";
  nlohmann::json msg = {{"jsonrpc", "2.0"},
                        {"id", ctx.request_id},
                        {"result",
                         {{"content", nlohmann::json::array({{{"type", "text"}, {"text", text}}})},
                          {"isError", true},
                          {"_meta", {{"dev.glasstape/decision", std::move(meta)}}}}}};
  to_client_(msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// ---------------------------------------------------------------- server → client

void Session::on_server_line(std::string_view line) {
  std::string err;
  auto body = transport::parse(line, &err, opts_.max_depth);
  if (body.is_discarded() || !body.is_object()) {
    spdlog::warn("server `{}` sent a line that is not a JSON-RPC message ({}): {}", opts_.server,
                 err.empty() ? "not an object" : err, shorten(line));
    return;
  }
  auto m = transport::classify(std::move(body));
  if (m.kind != MessageKind::Response) {
    if (m.kind == MessageKind::Invalid) {
      spdlog::warn("server `{}` sent an invalid message ({}): {}", opts_.server, m.invalid_reason,
                   shorten(line));
    }
    to_client_(line);  // requests and notifications from the server pass as they are
    return;
  }
  auto key = key_of(m.id);
  if (!replay_id_.empty() && m.id.is_string() && m.id.get_ref<const std::string&>() == replay_id_) {
    // The new server answered the replayed initialize: finish the handshake, then let the
    // held client messages through. The client never sees this exchange.
    replay_id_.clear();
    if (m.body.contains("error")) {
      spdlog::error("server `{}` rejected the replayed initialize: {}", opts_.server,
                    m.body["error"].dump());
    }
    upstream_.send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    upstate_ = Upstate::Up;
    while (!held_.empty()) {
      upstream_.send(held_.front());
      held_.pop_front();
    }
    return;
  }
  auto it = pending_.find(key);
  if (it == pending_.end()) {
    to_client_(line);  // not ours to judge (e.g. a late answer); pass it on
    return;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (p.method == "tools/list") {
    const auto& result = m.body["result"];
    if (result.is_object() && result.contains("tools") && result["tools"].is_array()) {
      for (const auto& t : result["tools"]) {
        if (t.is_object() && t.contains("name") && t["name"].is_string()) {
          tool_annotations_[t["name"].get<std::string>()] =
              t.contains("annotations") ? t["annotations"] : nlohmann::json::object();
        }
      }
      pipeline_->on_tools_listed(opts_.server, result["tools"]);
    }
  } else if (p.call) {
    if (pipeline_->on_result(*p.call, m.body)) {
      to_client_(m.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
    }
  }
  to_client_(line);
}

void Session::on_server_oversize(std::string_view prefix, std::size_t size) {
  auto id = transport::recover_id(prefix);
  spdlog::error("server `{}` sent a {}-byte message (limit {} bytes); dropped", opts_.server, size,
                opts_.max_message_bytes);
  if (!id) return;
  auto it = pending_.find(key_of(*id));
  if (it == pending_.end()) return;
  auto call = it->second.call;
  pending_.erase(it);
  auto msg = transport::error_response(
      *id, rpc::kInternalError,
      "the server's response of " + std::to_string(size) + " bytes exceeds the proxy's limit");
  if (call) {
    auto j = nlohmann::json::parse(msg);
    pipeline_->on_result(*call, j);
  }
  to_client_(msg);
}

void Session::on_server_down(const std::string& why, bool restarting) {
  upstate_ = restarting ? Upstate::Restarting : Upstate::Down;
  down_reason_ = why;
  replay_id_.clear();
  fail_pending(why);
  if (!restarting) held_.clear();
}

void Session::fail_pending(const std::string& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [key, p] : pending) {
    auto id = nlohmann::json::parse(key);
    auto msg = transport::error_response(id, rpc::kUpstreamUnavailable,
                                         why + " before answering `" + p.method + "`");
    if (p.call) {
      auto j = nlohmann::json::parse(msg);
      pipeline_->on_result(*p.call, j);
    }
    to_client_(msg);
  }
}

void Session::on_server_restarted() {
  if (initialize_.empty()) {
    // The client never initialized: nothing to replay.
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

}  // namespace gt::proxy
