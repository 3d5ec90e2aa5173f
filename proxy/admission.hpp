// What a client may send through GlassTape, decided before anything is judged or forwarded.
//
// Governance judges a message by its method and id; a server acts on its own reading of
// them. Wherever the two readings could differ, the message is refused rather than passed:
//  - a method is matched exactly: bytes outside printable ASCII are refused, and so is a
//    spelling that differs from a known MCP method only in ASCII case (`Tools/Call`), since
//    a lenient server might run it unjudged;
//  - a notification (no `id`) must be a `notifications/...` method: a request method sent
//    without an id (`tools/call` as a notification) is never forwarded, since JSON-RPC lets
//    a server execute a notification;
//  - a request id is a string or an integer within ±(2^53−1), written as such: ids like
//    `1.0`, `1e0`, `-0` or `9007199254740993` name the same request as another id in some
//    parsers (JavaScript's among them), and the audit log records ids exactly as sent.
// Runs on the compact text (transport/compact.hpp) after inspect() found it well formed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "transport/inspect.hpp"

namespace gt::proxy {

struct Refusal {
  int code;             // JSON-RPC error code
  std::string message;  // for the client and the operator's log line
};

// Nothing when the client may send this message; otherwise why not. `ins` is a Request,
// Notification or Response (Invalid messages are refused by the caller).
std::optional<Refusal> admit_client_message(const transport::Inspection& ins,
                                            std::string_view compact);

// True when `text` (the exact JSON text of an id) is an id GlassTape accepts from a client.
bool acceptable_request_id(std::string_view text);

}  // namespace gt::proxy
