#include "proxy/client_lines.hpp"

#include "transport/compact.hpp"
#include "transport/jsonrpc.hpp"

namespace gt::proxy {

namespace rpc = gt::transport::rpc_error;

namespace {

std::string batch_too_long(std::size_t n, std::size_t limit) {
  return "Invalid Request: a batch of " + std::to_string(n) + " messages exceeds the limit of " +
         std::to_string(limit) + " (max_batch_messages); nothing of it was forwarded";
}

// One element of a batch whose whole could not be compacted (one element is at fault).
void element(std::string_view e, std::size_t max_depth, const ClientLineHandlers& h) {
  std::string compact;
  if (auto err = transport::compact(e, compact, max_depth)) {
    h.refuse(transport::recover_id(e).value_or(nullptr), rpc::kInvalidRequest,
             "Invalid Request: " + err.message);
    return;
  }
  h.message(compact, transport::inspect(compact, max_depth));
}

}  // namespace

void split_client_line(std::string_view line, std::size_t max_depth, std::size_t max_batch_messages,
                       const ClientLineHandlers& h) {
  // What is judged is what runs: from here on only the compact text is used.
  std::string compact;
  if (auto err = transport::compact(line, compact, max_depth)) {
    auto original = transport::inspect(line, max_depth);
    if (original.shape == transport::Inspection::Shape::Batch) {
      // One element's fault is its own: the others are still handled, each alone.
      auto elements = transport::array_elements(line);
      if (elements.size() > max_batch_messages) {
        h.refuse(nullptr, rpc::kInvalidRequest,
                 batch_too_long(elements.size(), max_batch_messages));
        return;
      }
      for (auto e : elements)
        element(e, max_depth, h);
      return;
    }
    if (original.shape != transport::Inspection::Shape::Malformed) {
      h.refuse(transport::recover_id(line).value_or(nullptr), rpc::kInvalidRequest,
               "Invalid Request: " + err.message);
      return;
    }
    compact.assign(line);  // report the parse error below
  }
  auto ins = transport::inspect(compact, max_depth);
  switch (ins.shape) {
    case transport::Inspection::Shape::Malformed:
      h.refuse(transport::recover_id(line).value_or(nullptr), rpc::kParseError,
               "Parse error: " + ins.error);
      return;
    case transport::Inspection::Shape::Batch: {
      // A JSON-RPC batch (2025-03-26 clients): each element is handled on its own, exactly
      // as if it had come alone, and forwarded as its own (compact) bytes.
      auto elements = transport::array_elements(compact);
      if (elements.empty()) {
        h.refuse(nullptr, rpc::kInvalidRequest, "Invalid Request: empty batch");
        return;
      }
      if (elements.size() > max_batch_messages) {
        h.refuse(nullptr, rpc::kInvalidRequest,
                 batch_too_long(elements.size(), max_batch_messages));
        return;
      }
      for (auto e : elements)
        h.message(e, transport::inspect(e, max_depth));
      return;
    }
    case transport::Inspection::Shape::Other:
    case transport::Inspection::Shape::Object:
      h.message(compact, ins);
      return;
  }
}

}  // namespace gt::proxy
