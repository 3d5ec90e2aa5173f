// Joining the two generations of MCP, as pure functions over JSON text.
//
// A 2026-07-28 client in front of a server that speaks only 2025-11-25 (or earlier): the
// server/discover answer made from the server's initialize result, and each of the server's
// results made into a 2026-07-28 result. The lane that holds the server's session uses them
// (proxy/http_modern.hpp).
//
// A 2025-11-25 client in front of a server that speaks only 2026-07-28: the session notices
// the server's refusal of initialize, asks server/discover instead, answers the client's
// initialize from it, and sends every request with the 2026-07-28 envelope made from the
// client's initialize (proxy/session.cpp).
//
// What cannot be bridged yet is documented in the README (MCP versions).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::proxy::era_bridge {

// The methods whose 2026-07-28 results are cacheable: they carry ttlMs and cacheScope.
bool cacheable(std::string_view method);

// The result of server/discover for a server whose initialize returned `init_result` (JSON
// text of the `result` member): 2026-07-28 as the only supported version, its capabilities
// and instructions, its serverInfo in _meta, ttlMs 0 and cacheScope "private" (GlassTape
// cannot promise how long the server's answer holds). nullopt when `init_result` is not an
// object.
std::optional<std::string> discover_result(std::string_view init_result);

// A legacy server's response, as a 2026-07-28 client must get it: a result gets
// `resultType: "complete"` (when it has none) and, for a cacheable method, `ttlMs: 0` and
// `cacheScope: "private"` (when absent); the legacy "resource not found" error -32002 becomes
// -32602, as 2026-07-28 says. Anything else is returned unchanged.
std::string adapt_response(std::string_view line, std::string_view method);

// ---- a 2025-11-25 client, a 2026-07-28 server

// True when `response` (to initialize) says the server speaks only 2026-07-28: error -32022
// whose data.supported names it.
bool refuses_legacy(std::string_view response);

// The per-request envelope of a legacy session, from the client's initialize request: version
// 2026-07-28, the client's capabilities (`{}` when absent) and its clientInfo.
nlohmann::json envelope_from_initialize(std::string_view initialize_request);

// A compact JSON-RPC message with the envelope's members in params._meta (created when absent;
// a member the message already has is kept). Everything else stays byte for byte.
std::string with_envelope(std::string_view line, const nlohmann::json& envelope);

// The initialize result a legacy client gets, from the server's server/discover result: the
// version the client asked for when GlassTape speaks it (else 2025-11-25), the server's
// capabilities, serverInfo and instructions. nullopt when `discover_result` is not an object.
std::optional<std::string> initialize_result(std::string_view discover_result,
                                             std::string_view requested_version);

// ---- input_required, for a 2025-11-25 client
//
// A 2026-07-28 server asks for the user's input by returning `resultType: "input_required"`
// with `inputRequests` (key → {method, params}) and an opaque `requestState`; 2025-11-25 asks
// with server-to-client requests. The session sends each input request to the client as such a
// request, collects the answers, and retries the original request with `inputResponses` (key
// → the bare result) and the `requestState` echoed (proxy/session_era.cpp).

// The server-to-client requests a 2025-11-25 client can be asked.
bool askable(std::string_view method);
// True when `client_capabilities` (an initialize's or an envelope's) declares the capability
// an askable `method` needs; else false, with `why` naming the capability.
bool declared(const nlohmann::json& client_capabilities, std::string_view method, std::string& why);

struct InputRequest {
  std::string key;     // the server's key for it in inputRequests / inputResponses
  std::string method;  // elicitation/create, sampling/createMessage or roots/list
  nlohmann::json params;
};
struct InputRequired {
  std::vector<InputRequest> requests;
  nlohmann::json request_state;  // the string to echo, or null when the server sent none
};
constexpr std::size_t kMaxInputRequests = 16;  // per round

// True when `response` is an input_required result.
bool is_input_required(std::string_view response);
// What an input_required result asks, or nullopt with `why` when a 2025-11-25 client cannot be
// asked it (an unknown method, more than kMaxInputRequests, a malformed entry, neither
// inputRequests nor requestState).
std::optional<InputRequired> read_input_required(std::string_view response, std::string& why);
// The retry of `original` (a compact request): its params with `inputResponses` (when not
// empty) and `requestState` (when not null) added; everything else byte for byte. nullopt with
// `why` when the request already carries either member or has no params object.
std::optional<std::string> retry_request(std::string_view original, const nlohmann::json& responses,
                                         const nlohmann::json& request_state, std::string& why);

// An input_required result that cannot be bridged becomes a JSON-RPC error naming what was
// asked and `why`. nullopt when the response is not an input_required result.
std::optional<std::string> refuse_input_required(std::string_view response, const std::string& why);

}  // namespace gt::proxy::era_bridge
