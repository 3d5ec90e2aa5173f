// `sharing: shared`: one upstream server for many client sessions.
//
//   Session A ─► Port A ─┐                      ┌─► Port A ─► Session A
//   Session B ─► Port B ─┼─► SharedUpstream ─► link (one server) ─► SharedUpstream ─┤
//   Session C ─► Port C ─┘   rewrite ids/tokens        route back by id/token ─────┘
//
// Every session sees the protocol as if it had the server to itself:
//  - request ids are rewritten to ids unique on the shared link, and restored on the way
//    back, so responses never reach the wrong session whatever ids the clients choose;
//  - progress tokens (params._meta.progressToken) are rewritten the same way, and
//    notifications/progress go back to the session whose request asked for them;
//  - notifications/cancelled from a session is translated to the link's id of its request;
//  - server-to-client requests (sampling, elicitation, roots/list) go to the session with
//    the newest request in flight (the one whose call caused them; stdio carries no better
//    link), with an id of the proxy's own so the answer can be routed back; server pings
//    are answered by the proxy;
//  - the server is initialized once: the first session's initialize goes through, later
//    ones are answered from the cached result, and the proxy sends notifications/initialized
//    itself;
//  - resources/updated goes to the sessions that subscribed to that uri; other
//    notifications (logging, list_changed) go to every session.
// A session that ends has its requests cancelled upstream and its pending server requests
// answered with an error. A server crash or restart is passed to every session, which
// fails its own pending requests and replays initialize as with a private server.
//
// Everything runs on the executor given at construction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "proxy/upstream.hpp"

namespace gt::proxy {

class SharedUpstream : public std::enable_shared_from_this<SharedUpstream> {
 public:
  SharedUpstream(boost::asio::any_io_executor ex, std::shared_ptr<UpstreamLink> link,
                 std::string server_name);
  ~SharedUpstream();

  // Starts the shared server; throws as UpstreamLink::start does.
  void start();
  // A link for one client session. It behaves like a private server of its own.
  std::shared_ptr<UpstreamLink> attach();
  // Stops the shared server; `done` runs when it has stopped.
  void shutdown(std::function<void()> done);

  std::size_t sessions() const { return ports_.size(); }
  std::size_t in_flight() const { return requests_.size(); }

 private:
  class Port;
  friend class Port;
  using PortId = std::uint64_t;

  struct Route {  // a session's request in flight on the link
    PortId port;
    std::string id;  // the session's original id, as JSON text
    std::string method;
    std::int64_t token = 0;   // our progress token for it, 0 when none
    std::string session_key;  // its key in by_session_
  };
  struct TokenRoute {
    PortId port;
    std::string token;  // the session's original token, as JSON text
  };
  struct ServerRequest {  // a server-to-client request routed to a session
    PortId port;
    std::string id;  // the server's id, as JSON text
  };

  void from_port(PortId port, std::string_view line);
  void from_server(std::string_view line);
  void detach(PortId port);
  void deliver(PortId port, std::string line);  // posted: never re-entrant
  void answer_initialize(PortId port, const std::string& id);
  PortId route_server_request() const;
  Port* find(PortId port) const;
  void each_port(const std::function<void(Port&)>& f);  // every session, detach-safe

  boost::asio::any_io_executor ex_;
  std::shared_ptr<UpstreamLink> link_;
  std::string name_;
  std::unordered_map<PortId, Port*> ports_;
  PortId next_port_ = 1;
  PortId last_port_ = 0;  // the session that sent the latest request

  std::int64_t next_id_ = 1;  // ids and tokens on the link, and server request ids to sessions
  std::unordered_map<std::int64_t, Route> requests_;                 // by link id
  std::unordered_map<std::string, std::int64_t> by_session_;         // "port|id_key" → link id
  std::unordered_map<std::int64_t, TokenRoute> tokens_;              // by link token
  std::unordered_map<std::int64_t, ServerRequest> server_reqs_;      // by our id to the session
  std::unordered_map<std::string, std::int64_t> server_req_by_key_;  // server id_key → ours
  std::unordered_map<std::string, std::set<PortId>> subscribers_;    // resource uri → sessions

  enum class Init { None, Pending, Ready } init_ = Init::None;
  std::string init_result_;  // the `result` of the server's initialize, as JSON text
  std::vector<std::pair<PortId, std::string>> init_waiters_;
  std::function<void()> stopped_;
};

}  // namespace gt::proxy
