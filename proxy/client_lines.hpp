// One line from a client, as the messages a session handles: the line is made compact (the
// text that is judged, recorded and forwarded: transport/compact.hpp), a batch is split into
// its elements, each handled on its own, and what cannot be handled is refused with the
// JSON-RPC error the client gets. Shared by the Session (one server) and the Aggregator (many),
// so both read a client's bytes the same way.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "transport/inspect.hpp"

namespace gt::proxy {

struct ClientLineHandlers {
  // One message: its compact text and its inspection (which may still be Invalid).
  std::function<void(std::string_view compact, const transport::Inspection& ins)> message;
  // Refused before it was a message: the error for the client (id may be null) and why.
  std::function<void(const nlohmann::json& id, int code, const std::string& message)> refuse;
};

void split_client_line(std::string_view line, std::size_t max_depth, std::size_t max_batch_messages,
                       const ClientLineHandlers& h);

}  // namespace gt::proxy
