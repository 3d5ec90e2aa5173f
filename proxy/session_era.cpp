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

}  // namespace gt::proxy
