// What a 2026-07-28 client needs from a server that speaks only 2025-11-25 (or earlier), as
// pure functions over JSON text: the server/discover answer made from the server's initialize
// result, and each of the server's results made into a 2026-07-28 result. The lane that holds
// the server's session uses them (proxy/http_modern.hpp).
//
// What a legacy server cannot give a 2026-07-28 client is documented in the README (MCP
// versions): its own requests (sampling, elicitation, roots) are refused for now, and its
// notifications other than progress are not delivered.
#pragma once

#include <optional>
#include <string>
#include <string_view>

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

}  // namespace gt::proxy::era_bridge
