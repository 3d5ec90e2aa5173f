// Which generation of MCP a request speaks, decided per request as MCP 2026-07-28 says
// (basic/versioning: "a dual-era server selects its behavior from how the client opens"):
// a request whose params._meta claims a protocol version is modern (2026-07-28, no session);
// anything else is legacy (the initialize handshake of 2025-11-25 and earlier). Over HTTP the
// standard headers must agree with the body, or the request is refused (-32020) before any
// policy runs: a server that routes on headers must never act on values policy did not see.
//
// The checks run in the order of the reference SDK's inbound ladder, which the conformance
// suite encodes (a header/body mismatch wins over an unsupported version, for example).
// Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "transport/mcp_headers.hpp"

namespace gt::transport::mcp {

inline constexpr std::string_view kModernVersion = "2026-07-28";
inline constexpr std::string_view kProtocolVersionKey = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view kClientCapabilitiesKey =
    "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view kClientInfoKey = "io.modelcontextprotocol/clientInfo";

// JSON-RPC error codes of MCP 2026-07-28 (schema.ts).
inline constexpr int kHeaderMismatch = -32020;
inline constexpr int kUnsupportedProtocolVersion = -32022;
inline constexpr int kInvalidParams = -32602;

enum class Era { Legacy, Modern };

// A refusal, with the HTTP status the specification gives it (400 for every one of these).
struct EraError {
  int code = 0;
  int http_status = 400;
  std::string message;
  nlohmann::json data;  // null when there is none
};

struct RequestEra {
  Era era = Era::Legacy;
  std::string version;  // Modern: the version the request claims
  std::optional<EraError> error;
};

// A W3C Trace Context `traceparent` (version-traceid-parentid-flags, lower-case hex, 55
// characters), with a version other than ff and ids that are not all zeros.
bool is_traceparent(std::string_view v);

// The methods whose `Mcp-Name` header mirrors a body member, and that member (tools/call and
// prompts/get: name; resources/read: uri; tasks/get, tasks/update, tasks/cancel: taskId).
std::optional<std::string_view> name_member(std::string_view method);

// Classifies one JSON-RPC request or notification. `params` is the message's params (null
// when absent). `headers` is null on stdio (no header checks); over HTTP it holds the
// request's MCP headers. Checks, in order: the MCP-Protocol-Version and Mcp-Method headers
// against the body (-32020); the envelope of a modern claim (_meta with a string version and
// client capabilities; -32602); the version (only 2026-07-28 is modern; -32022 with
// `supported` and `requested`); over HTTP, a modern request's standard headers present and
// `Mcp-Name` equal to the body's name or uri (-32020). Mcp-Param-* headers need the tool's
// declarations: check_param_headers().
// `notification`: a message without an id (the specification defines no header
// requirements for those, so only a header that is sent is compared).
RequestEra classify_request(std::string_view method, const nlohmann::json& params,
                            const McpHeaders* headers, bool notification = false);

}  // namespace gt::transport::mcp
