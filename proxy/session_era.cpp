// The Session's part in joining the two generations of MCP (2026-07-28 and the initialize
// handshake of 2025-11-25 and earlier): classifying a client's request, and the bridges for a
// client of one generation in front of a server of the other (proxy/era_bridge.hpp holds the
// pure message changes).
#include <algorithm>

#include <spdlog/spdlog.h>

#include "proxy/era_bridge.hpp"
#include "proxy/session.hpp"
#include "proxy/session_log.hpp"
#include "transport/jsonrpc.hpp"
#include "transport/mcp_era.hpp"

namespace gt::proxy {

namespace rpc = gt::transport::rpc_error;
using gt::transport::MessageKind;
using namespace session_log;

bool Session::note_era(std::string_view raw, const transport::Inspection& ins) {
  // MCP 2026-07-28 (transport/mcp_era.hpp): a request whose params._meta names a protocol
  // version is modern. On stdio there are no headers to compare; the envelope and the version
  // are checked here, so an unsupported one is answered with -32022 and the request's id.
  auto span = transport::member_span(raw, {"params", "_meta"});
  if (!span) return true;
  nlohmann::json params = {
      {"_meta", nlohmann::json::parse(span->begin(), span->end(), nullptr, false)}};
  if (params["_meta"].is_discarded()) return true;  // inspect() accepted it: not reached
  auto era = transport::mcp::classify_request(ins.method, params, nullptr);
  if (era.error) {
    client_faults()("session {}: refused a 2026-07-28 request: {}", opts_.session_id,
                    era.error->message);
    to_client_(
        transport::error_response(ins.id, era.error->code, era.error->message, era.error->data));
    return false;
  }
  if (era.era != transport::mcp::Era::Modern) return true;
  const auto& meta = params["_meta"];
  nlohmann::json keep = nlohmann::json::object();
  for (auto key : {transport::mcp::kProtocolVersionKey, transport::mcp::kClientCapabilitiesKey,
                   transport::mcp::kClientInfoKey}) {
    auto it = meta.find(key);
    if (it != meta.end()) keep[std::string(key)] = *it;
  }
  modern_meta_ = std::move(keep);
  return true;
}

void Session::start_modern_bridge(const nlohmann::json& init_id, std::string_view refusal) {
  bridge_init_id_ = init_id;
  bridge_refusal_.assign(refusal);
  envelope_ = era_bridge::envelope_from_initialize(initialize_);
  discover_id_ = "glasstape:discover:" + std::to_string(++list_count_);
  nlohmann::json req = {{"jsonrpc", "2.0"},
                        {"id", discover_id_},
                        {"method", "server/discover"},
                        {"params", {{"_meta", envelope_}}}};
  send_to_server(req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Session::finish_modern_bridge(std::string_view line) {
  discover_id_.clear();
  auto result = transport::member_span(line, {"result"});
  std::string requested;
  if (auto v = transport::member_span(initialize_, {"params", "protocolVersion"})) {
    auto j = nlohmann::json::parse(*v, nullptr, false);
    if (j.is_string()) requested = j.get<std::string>();
  }
  auto init = result ? era_bridge::initialize_result(*result, requested) : std::nullopt;
  if (!init) {
    server_faults()("server `{}` refused initialize and answered server/discover with: {}",
                    opts_.server, shorten(line, 300));
    // The client gets the server's own refusal of its initialize.
    auto refusal = nlohmann::json::parse(bridge_refusal_, nullptr, false);
    if (refusal.is_object()) refusal["id"] = bridge_init_id_;
    to_client_(refusal.is_object() ? refusal.dump() : bridge_refusal_);
    return;
  }
  bridge_modern_ = true;
  modern_meta_ = envelope_;  // the proxy's own tools/list carries it too
  note_protocol_version(R"({"result":)" + *init + "}");
  spdlog::info("server `{}` speaks only MCP 2026-07-28: session {} bridged (the client speaks {})",
               opts_.server, opts_.session_id, protocol_version_);
  to_client_(R"({"jsonrpc":"2.0","id":)" + bridge_init_id_.dump() + R"(,"result":)" + *init + "}");
}

bool Session::bridge_answers(std::string_view raw, const transport::Inspection& ins) {
  auto result = [&](const std::string& r) {
    to_client_(R"({"jsonrpc":"2.0","id":)" + ins.id.dump() + R"(,"result":)" + r + "}");
  };
  if (ins.method == "ping") {  // 2026-07-28 has no ping: the proxy is alive, it answers
    result("{}");
    return true;
  }
  if (ins.method == "logging/setLevel") {
    // 2026-07-28 carries the level in each request's _meta.
    if (auto level = transport::member_span(raw, {"params", "level"})) {
      auto l = nlohmann::json::parse(*level, nullptr, false);
      if (l.is_string()) envelope_["io.modelcontextprotocol/logLevel"] = l;
    }
    result("{}");
    return true;
  }
  if (ins.method == "resources/subscribe" || ins.method == "resources/unsubscribe") {
    refuse(ins.id, rpc::kMethodNotFound,
           "Method not found: `" + ins.method +
               "` is not bridged to a server that speaks only MCP 2026-07-28");
    return true;
  }
  return false;
}

void Session::note_protocol_version(std::string_view line) {
  // Recorded in each call's receipt: a short visible-ASCII string, or nothing.
  auto span = transport::member_span(line, {"result", "protocolVersion"});
  if (!span) return;
  auto v = nlohmann::json::parse(span->begin(), span->end(), nullptr, false);
  if (!v.is_string()) return;
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > 64 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
    return;
  protocol_version_ = s;
}

// ------------------------------------------- input_required, for a 2025-11-25 client

bool Session::ask_client(const std::string& key, const Pending& p, std::string_view response,
                         std::string& why) {
  unsigned round = 1;
  std::string original = p.raw;  // a retry's own text carries the last round's answers
  if (auto r = retry_rounds_.find(key); r != retry_rounds_.end()) {
    round = r->second.round + 1;
    original = r->second.original;
  }
  if (round > kMaxInputRounds) {
    why = "it still asked for input after " + std::to_string(kMaxInputRounds) + " rounds";
    return false;
  }
  if (input_rounds_.size() >= kMaxOpenRounds) {
    why = std::to_string(input_rounds_.size()) +
          " requests of this session already wait for the client's answers";
    return false;
  }
  if (original.empty()) {
    why = "the original request is not known";
    return false;
  }
  auto asked = era_bridge::read_input_required(response, why);
  if (!asked) return false;
  // Only what the client said it can answer: a 2025-11-25 server asks nothing else either.
  const auto caps = envelope_.value(std::string(transport::mcp::kClientCapabilitiesKey),
                                    nlohmann::json::object());
  for (const auto& q : asked->requests) {
    if (!era_bridge::declared(caps, q.method, why)) {
      why = "its input request `" + q.key + "`: " + why;
      return false;
    }
  }
  retry_rounds_.erase(key);
  // This round's answer is the call's result as the server gave it: recorded (and the MRTR
  // link to the retry remembered), never sent; the client sees the questions, then the final
  // answer.
  if (p.call) {
    Response r(response);
    pipeline_->on_result(*p.call, r);
    pipeline_->record_result(*p.call, r);
  }
  InputRound ir;
  ir.request = std::move(original);
  ir.id = p.id;
  ir.method = p.method;
  ir.request_state = asked->request_state;
  ir.outstanding = asked->requests.size();
  ir.round = round;
  input_rounds_.emplace(key, std::move(ir));
  for (auto& q : asked->requests) {
    std::string ask = "glasstape:input:" + std::to_string(++ask_count_);
    asks_[ask] = Ask{key, q.key, q.method};
    nlohmann::json req = {{"jsonrpc", "2.0"}, {"id", ask}, {"method", q.method}};
    if (!q.params.is_null()) req["params"] = std::move(q.params);
    to_client_(req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  if (asked->requests.empty()) retry_with_answers(key);  // requestState only: retry at once
  return true;
}

void Session::on_input_answer(const std::string& ask_id, const transport::Inspection& ins,
                              std::string_view raw) {
  auto node = asks_.extract(ask_id);
  const Ask& ask = node.mapped();
  auto it = input_rounds_.find(ask.request_key);
  if (it == input_rounds_.end()) return;  // the round ended (cancelled, or a question failed)
  auto& round = it->second;
  auto result = ins.has_result ? transport::member_span(raw, {"result"}) : std::nullopt;
  auto value = result ? nlohmann::json::parse(*result, nullptr, false) : nlohmann::json();
  if (!value.is_object()) {
    std::string said = "no result";
    if (auto m = transport::member_span(raw, {"error", "message"})) said = shorten(*m, 300);
    client_faults()("session {}: the client did not answer `{}` for server `{}`: {}",
                    opts_.session_id, ask.method, opts_.server, said);
    auto id = round.id;
    auto method = ask.method;
    drop_round(ask.request_key);
    to_client_(transport::error_response(
        id, rpc::kInternalError,
        "the server needs an answer to `" + method + "`, and the client gave none: " + said));
    return;
  }
  round.responses[ask.input_key] = std::move(value);
  if (--round.outstanding == 0) retry_with_answers(ask.request_key);
}

void Session::retry_with_answers(const std::string& key) {
  auto node = input_rounds_.extract(key);
  if (node.empty()) return;
  const InputRound& r = node.mapped();
  std::string why;
  auto line = era_bridge::retry_request(r.request, r.responses, r.request_state, why);
  if (!line) {
    server_faults()("session {}: cannot retry {} for server `{}`: {}", opts_.session_id,
                    r.id.dump(), opts_.server, why);
    to_client_(transport::error_response(r.id, rpc::kInternalError,
                                         "the server asked for input, and GlassTape cannot "
                                         "send the answers back: " +
                                             why));
    return;
  }
  // The retry is a new request like any other: judged in full (a tools/call's record names the
  // round's first decision through requestState), then forwarded with the envelope.
  retry_rounds_[key] = Retry{r.round, r.request};
  handle_client(*line, transport::inspect(*line, opts_.max_depth));
}

void Session::drop_round(const std::string& key) {
  input_rounds_.erase(key);
  retry_rounds_.erase(key);
  for (auto it = asks_.begin(); it != asks_.end();) {
    it = it->second.request_key == key ? asks_.erase(it) : std::next(it);
  }
}

}  // namespace gt::proxy
