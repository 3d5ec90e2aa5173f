// JSON-RPC 2.0 framing helpers: classify a message, build error responses, and find the
// exact bytes of a member without re-serializing. Knows nothing of MCP policy.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::transport {

// The value of a JSON string, given the text between its quotes ("caf\u00e9" → "café").
// An escape that is not valid JSON is kept as written (such text fails validation anyway).
// Member names are compared through it: "\u0061rguments" is the member `arguments`.
std::string unescape_json(std::string_view body);

// JSON-RPC error codes used by the proxy.
namespace rpc_error {
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kUpstreamUnavailable = -32001;  // the server exited or cannot be reached
inline constexpr int kUpstreamTimeout = -32002;      // the server did not answer in time
inline constexpr int kRequestCancelled = -32800;     // LSP convention, used by MCP SDKs
}  // namespace rpc_error

enum class MessageKind { Request, Notification, Response, Invalid };

struct Message {
  MessageKind kind = MessageKind::Invalid;
  nlohmann::json id;           // null unless Request/Response (or recovered for Invalid)
  std::string method;          // Request/Notification
  nlohmann::json body;         // the parsed message
  std::string invalid_reason;  // Invalid: why
};

// Classifies one parsed JSON value that is not an array. A value that is not a well-formed
// JSON-RPC 2.0 object is Invalid, with the id recovered when it has a usable one.
Message classify(nlohmann::json body);

// A JSON-RPC error response. `id` null when it could not be recovered.
std::string error_response(const nlohmann::json& id, int code, std::string_view message,
                           const nlohmann::json& data = nullptr);

// Best effort: finds a top-level "id" member (number or string) in bytes that may be
// truncated or malformed, so an error can still be addressed. Scans at most `limit` bytes.
std::optional<nlohmann::json> recover_id(std::string_view bytes, std::size_t limit = 64 * 1024);

// Returns the exact bytes of the value at `path` (object member names, outermost first)
// inside a syntactically valid JSON text, or nullopt when a member is absent.
// Example: member_span(line, {"params", "arguments"}).
std::optional<std::string_view> member_span(std::string_view json,
                                            std::initializer_list<std::string_view> path);

// The top-level members of a JSON object that routing needs, found without building the
// object. It does not validate: callers check the text with nlohmann::json::accept() first.
// `duplicate` is set when one of these members occurs twice: such a message is ambiguous
// (parsers disagree on which value wins), so callers treat it as invalid.
struct Peek {
  bool object = false;
  bool duplicate = false;
  std::optional<std::string_view> jsonrpc, id, method, params, result, error;
};
Peek peek(std::string_view json);

// The exact bytes of each element of a JSON array (already validated), in order.
std::vector<std::string_view> array_elements(std::string_view json);

// False when the object `json` has any of `names` more than once (or is not an object).
bool unique_members(std::string_view json, std::initializer_list<std::string_view> names);

// Parses without throwing. Returns discarded on error; `error` gets nlohmann's message.
// Nesting deeper than `max_depth` is rejected before nlohmann's recursive parser sees it.
nlohmann::json parse(std::string_view text, std::string* error, std::size_t max_depth = 512);

}  // namespace gt::transport
