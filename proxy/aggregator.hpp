// One endpoint for many servers (issue 18): a client session in front of one Session per
// server. Each Session judges, records and forwards its own server's traffic exactly as it
// does alone; the Aggregator only decides which Session a message goes to, and renames.
//
//   client line ─► split_client_line ─► admit? ─► initialize      ─► every server; results merged
//                                               ├► */list         ─► answered from the catalog
//                                               ├► tools/call, prompts/get ─► by name: rename,
//                                               │  resources/*, completion ─► by URI or ref
//                                               │  to that server's Session (judged there)
//                                               ├► notifications  ─► their server, or all
//                                               └► responses      ─► the server that asked
//   Session ─► sink(i) ─► own request's answer? (initialize, lists) ─► catalog
//                      ├► server request? its id made unique across servers, then the client
//                      ├► list_changed? list again, and tell the client if what it sees changed
//                      └► anything else ─► the client, as it is
//
// A server that is down keeps its names (no other server's names shift), its items leave the
// lists (the client is told), and calls to them get -32001; it rejoins when it restarts.
// Bounded: lists per server (kMaxItemsPerServer), requests waiting for lists, and server
// requests waiting for the client's answer (the oldest is forgotten first).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy/aggregate_catalog.hpp"
#include "proxy/client_side.hpp"
#include "proxy/session.hpp"
#include "proxy/upstream.hpp"
#include "transport/inspect.hpp"

namespace gt::proxy {

struct AggregateOptions {
  std::string session_id = "stdio";
  std::string separator = "__";
  std::size_t max_depth = 512;
  std::size_t max_batch_messages = 1024;
  std::size_t page_size = 1000;  // items per list page the client gets
};

struct AggregateMember {
  std::string server;
  std::string prefix;  // empty: the server's name
  PrefixMode mode = PrefixMode::OnCollision;
  std::shared_ptr<Session> session;  // null: the server could not be started (`down_reason`)
  std::string down_reason;
};

class Aggregator : public ClientSide, public std::enable_shared_from_this<Aggregator> {
 public:
  using Send = std::function<void(std::string_view line)>;
  static constexpr std::size_t kMaxWaiting = 1024;         // requests waiting for lists
  static constexpr std::size_t kMaxServerRequests = 4096;  // unanswered server requests
  static constexpr std::size_t kMaxPagesPerList = 100;     // pages fetched of one list

  Aggregator(AggregateOptions opts, Send to_client);

  // What member `i`'s Session answers its client with (the front passes it as `to_client`).
  Session::Send sink(std::size_t i);
  // Member `i`'s upstream events: to its Session, then to the Aggregator.
  UpstreamEvents events_for(std::size_t i);
  // Members are added in order (their index is their order), before the first client line.
  void add(AggregateMember m);
  std::size_t members() const { return members_.size(); }

  void on_client_line(std::string_view line) override;
  void on_client_oversize(std::string_view prefix, std::size_t size) override;
  bool in_flight(const std::string& key) const override;
  std::size_t calls_deciding() const override;
  void set_decided_listener(std::function<void()> f) override;

 private:
  enum class State { Waiting, Up, Restarting, Down };
  enum class Purpose { Init, List, Fire };
  struct Member {
    AggregateMember spec;
    State state = State::Waiting;
    bool initialized = false;
    nlohmann::json init_result;
    std::string down_reason;
    std::array<std::vector<nlohmann::json>, kListKinds> items, partial;
    std::array<bool, kListKinds> fresh{};
    std::array<std::string, kListKinds> fetching;  // own id of the page in flight
    std::array<std::size_t, kListKinds> pages{};
  };
  struct Own {
    std::size_t member;
    Purpose purpose;
    ListKind kind = ListKind::Tools;
  };
  struct Waiter {  // a client request that needs fresh lists first
    std::string key;
    ListKind kind;
    std::function<void()> run;
  };
  struct ServerRequest {
    std::size_t member;
    nlohmann::json id;  // as the server sent it
  };

  void handle(std::string_view raw, const transport::Inspection& ins);
  void handle_request(std::string_view raw, const transport::Inspection& ins);
  void refuse(const nlohmann::json& id, int code, const std::string& message);
  void initialize(std::string_view raw, const transport::Inspection& ins);
  void join(std::size_t i);  // sends the client's initialize to one server
  void finish_initialize();
  void answer_list(const nlohmann::json& id, ListKind k, std::string_view raw);
  void route_named(std::string_view raw, const transport::Inspection& ins, ListKind k,
                   std::initializer_list<std::string_view> path);
  // A tool or prompt the client was not shown (see aggregator.cpp).
  std::optional<CatalogRoute> hidden_named(ListKind k, const std::string& name) const;
  // The one server whose latest resources/list had this URI and hid it, if exactly one did.
  std::optional<std::size_t> hidden_uri(const std::string& uri) const;
  void route_uri(std::string_view raw, const transport::Inspection& ins,
                 std::initializer_list<std::string_view> path);
  void send_to(std::size_t i, const std::string& key, std::string_view raw);
  void send_own(std::size_t i, std::string_view raw);  // a request with an own id
  void broadcast(std::string_view raw);
  void after_lists(const std::string& key, ListKind k, std::function<void()> run);
  bool lists_fresh(ListKind k) const;
  void fetch(std::size_t i, ListKind k, const nlohmann::json& cursor = nullptr);
  void fetch_all(std::size_t i);
  std::string own_id(std::size_t i, Purpose p, ListKind k = ListKind::Tools);
  void rebuild(std::size_t changed_member = SIZE_MAX);
  void run_waiters();

  void from_member(std::size_t i, std::string_view line);
  void on_own_response(const Own& own, std::string_view line, const transport::Inspection& ins);
  void member_down(std::size_t i, const std::string& why, bool restarting);
  void member_restarted(std::size_t i);
  void server_request(std::size_t i, std::string_view line, const transport::Inspection& ins);
  void client_response(std::string_view raw, const transport::Inspection& ins);
  void client_cancelled(std::string_view raw);

  AggregateOptions opts_;
  Send to_client_;
  std::vector<Member> members_;
  AggregateCatalog catalog_;
  std::unordered_map<std::string, Own> own_;             // by the own request's id
  std::unordered_map<std::string, std::size_t> routed_;  // client request key → member
  std::deque<Waiter> waiters_;
  std::uint64_t own_count_ = 0;
  // The client's initialize: replayed to a server that joins late.
  std::string init_raw_;
  nlohmann::json init_id_;
  std::string init_key_;
  std::size_t init_outstanding_ = 0;
  bool answered_init_ = false;
  bool client_initialized_ = false;  // notifications/initialized seen
  // Server-to-client requests, by the id the client was given.
  std::unordered_map<std::string, ServerRequest> server_requests_;
  std::map<std::pair<std::size_t, std::string>, std::string> server_request_ids_;  // reverse
  std::deque<std::string> server_request_order_;
  std::uint64_t server_request_count_ = 0;
};

}  // namespace gt::proxy
