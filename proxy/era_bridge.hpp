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

// A result a legacy client cannot take: `input_required` (the server asks the user for input,
// which 2025-11-25 does as server-to-client requests) becomes a JSON-RPC error naming what
// was asked. nullopt when the response is anything else.
std::optional<std::string> refuse_input_required(std::string_view response);

}  // namespace gt::proxy::era_bridge
