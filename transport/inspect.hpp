// A fast, complete look at one JSON-RPC line, without building it as a nlohmann::json.
// simdjson (Debian's libsimdjson-dev) validates the whole text at GB/s and gives the
// top-level members; the proxy forwards most messages on this alone, byte for byte.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "transport/jsonrpc.hpp"

namespace gt::transport {

struct Inspection {
  enum class Shape { Object, Batch, Other, Malformed } shape = Shape::Malformed;
  std::string error;                        // Malformed: why; Invalid kind: what is wrong
  MessageKind kind = MessageKind::Invalid;  // for Shape::Object
  nlohmann::json id;                        // null unless present and valid
  std::string id_key;                       // the pending-map key of `id` (see id_key())
  std::string method;                       // Request / Notification, unescaped
  // tools/call and prompts/get: params.name; resources/read: params.uri (what is judged).
  std::string tool;
  bool has_result = false;  // Response: "result" (else "error")
};

// Validates `line` (no deeper than max_depth) and classifies it with the same rules as
// classify(). Objects with a repeated top-level member (or, for tools/call and prompts/get, a
// repeated params.name/arguments/_meta; for resources/read, params.uri/_meta) are Invalid:
// parsers disagree on which copy wins, and the proxy forwards the bytes it judged.
Inspection inspect(std::string_view line, std::size_t max_depth);

// A key that identifies a JSON-RPC id by type and value ("s:abc", "i:42", "d:1.5").
std::string id_key(const nlohmann::json& id);

}  // namespace gt::transport
