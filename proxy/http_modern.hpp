// MCP 2026-07-28 on the HTTP front: no sessions, no handshake. Every request is one POST whose
// params._meta names the protocol version, and it is answered on that POST (JSON, or an SSE
// stream scoped to it when the server sends progress first). The front classifies a POST
// (transport/mcp_era.hpp) before any session lookup; a modern one comes here.
//
//   POST ─► ModernLane::handle ─► removed method? 404 -32601 │ notification? 202
//                               └► Call: a Session of its own (ids, timeouts, the pipeline)
//                                  ─► port of the lane's server (SharedUpstream: ids and
//                                     progress tokens rewritten, so clients never collide)
//   answer ◄─ Call::deliver ◄─ Session ◄─ server
//
// One lane per route, with its own server process or connection, started at the first modern
// request: an SDK server fixes the era of a stdio connection at its first message, so legacy
// sessions and modern requests never share a process. The calls of a lane share one tool
// catalog, so a stateless call is judged against the last tools/list without listing again.
// Before a tools/call is judged, its Mcp-Param-* headers must say what its arguments say
// (-32020): a server that routes on headers never acts on values policy did not see.
//
// The lane's server may speak 2026-07-28 or only 2025-11-25: a LegacyBridge under the shared
// server asks it at the first request and, for a legacy server, holds the server's session,
// answers server/discover, adapts every result and turns the server's own requests into
// input_required results (proxy/legacy_bridge.hpp).
//
// Bounded: a call lives as long as its POST (the front's connection limits bound both);
// a client that drops the POST cancels the call at the server.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/config.hpp"
#include "proxy/legacy_bridge.hpp"
#include "proxy/pipeline.hpp"
#include "proxy/session.hpp"
#include "proxy/shared_upstream.hpp"
#include "transport/http_server.hpp"
#include "transport/inspect.hpp"
#include "transport/mcp_headers.hpp"

namespace gt::proxy {

class ModernLane : public std::enable_shared_from_this<ModernLane> {
 public:
  ModernLane(boost::asio::any_io_executor ex, const Config& config, const ServerConfig& server,
             const TenantConfig& tenant, std::shared_ptr<Pipeline> pipeline);

  // One classified 2026-07-28 message: `body` is its compact text, `ins` its inspection,
  // `headers` the POST's MCP headers; `principal` the authenticated client (http.auth), or
  // nullopt for the tenant's configured identity.
  void handle(std::string body, const transport::Inspection& ins,
              transport::mcp::McpHeaders headers, std::shared_ptr<transport::http::Exchange> ex,
              std::optional<gov::Principal> principal = std::nullopt);
  // SSE keep-alive comments on the calls answering as a stream.
  void keepalive();
  void shutdown();
  std::size_t calls() const { return calls_.size(); }

 private:
  class Call;
  friend class Call;

  bool start_server(std::string& why);
  void finished(Call* call);  // posted: never from inside the call's own stack

  boost::asio::any_io_executor ex_;
  const Config& config_;
  const ServerConfig& server_;
  const TenantConfig& tenant_;
  std::shared_ptr<Pipeline> pipeline_;
  Pipeline::Post post_;                   // recorder completions, batched onto the executor
  std::shared_ptr<LegacyBridge> bridge_;  // joins a 2025-11-25-only server (proxy/legacy_bridge)
  std::shared_ptr<SharedUpstream> mux_;
  std::shared_ptr<ToolCatalog> tools_ = std::make_shared<ToolCatalog>();
  std::unordered_map<Call*, std::shared_ptr<Call>> calls_;
};

}  // namespace gt::proxy
