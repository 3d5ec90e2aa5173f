// One client session joined to one upstream server. Transport-agnostic: the front (stdio
// or HTTP) feeds it client lines and gives it a function to answer with; the upstream
// (a child process or a remote server) feeds it server lines and lifecycle events.
//
//   client line ─► compact ─► parse/classify ─► admit? ─► tools/call? ─► Pipeline::decide
//                   │                              │                   ─► forward | isError
//                   │                              └► refused: error ◄─┴► anything else ─►
//                   │                                                      forward
//                   └► the compact text (whitespace between tokens removed, every token kept)
//                      is what is judged, recorded and forwarded: see transport/compact.hpp
//   server line ─► parse/classify ─► response to tools/list? remember the tools
//                                  ├► response to tools/call? Pipeline::on_result, to the
//                                  │  client, then Pipeline::record_result
//                                  └► forward (byte for byte unless replaced)
//
// Everything runs on one executor; the pipeline's recorder may complete later, through
// `post`.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "governance/principal.hpp"
#include "proxy/client_side.hpp"
#include "proxy/pipeline.hpp"
#include "proxy/upstream.hpp"
#include "transport/inspect.hpp"
#include "transport/mcp_era.hpp"
#include "transport/mcp_headers.hpp"

namespace gt::proxy {

// What a session knows of its server's tools, from tools/list results: their annotations (for
// policies) and the parameters a 2026-07-28 server asks to see as Mcp-Param-* headers. The
// stateless requests of one MCP 2026-07-28 lane share one, so a request does not list the
// tools again; a legacy session has its own.
struct ToolCatalog {
  std::unordered_map<std::string, nlohmann::json> annotations;
  // A tool's x-mcp-header declarations, or why they are invalid (the tool may not be called).
  std::unordered_map<std::string, std::vector<transport::mcp::HeaderParam>> header_params;
  std::unordered_map<std::string, std::string> header_errors;
  // The SHA-256 of each tool's definition as last listed (gov::tools::definition_hash; empty
  // when it cannot be canonicalized): what the tool gate judges a call against.
  std::unordered_map<std::string, std::string> definitions;
  bool listed = false;  // a complete tools/list was seen since the last list_changed
};

struct SessionOptions {
  std::string session_id = "stdio";
  std::string server;        // upstream name
  gov::Principal principal;  // from the config: never from the client
  std::size_t max_message_bytes = 16u << 20;
  std::size_t max_depth = 512;            // JSON nesting refused beyond this
  std::size_t max_batch_messages = 1024;  // a longer batch is refused whole
  // A request the server has not answered within `request_timeout` gets a JSON-RPC error
  // (and the server a notifications/cancelled). Progress notifications for the request
  // restart its clock, never beyond `max_timeout` after it was sent. Zero: no timeout.
  std::chrono::milliseconds request_timeout{0};
  std::chrono::milliseconds max_timeout{0};
  // Shared with other sessions of a lane; null: the session keeps its own.
  std::shared_ptr<ToolCatalog> tools;
  // Runs on a tools/call once its tool is known and its arguments are read, before any
  // interceptor: a refusal here is answered (with its code and data) and never judged or
  // recorded. The HTTP front checks a 2026-07-28 call's Mcp-Param-* headers here.
  std::function<std::optional<transport::mcp::EraError>(
      const std::string& tool, const nlohmann::json& arguments, const ToolCatalog& tools)>
      precheck;
};

class Session : public ClientSide, public std::enable_shared_from_this<Session> {
 public:
  using Send = std::function<void(std::string_view line)>;

  // Timeouts need `ex` (the executor everything runs on); without it there are none.
  Session(SessionOptions opts, std::shared_ptr<Pipeline> pipeline, Upstream& upstream,
          Send to_client, Pipeline::Post post, boost::asio::any_io_executor ex = {});

  // Upstream events that reach `session` while it lives: a server (or a shared one's port)
  // may outlive the session it served while it shuts down, so it holds the session weakly.
  static UpstreamEvents events_for(const std::weak_ptr<Session>& session);

  // From the client.
  void on_client_line(std::string_view line) override;
  void on_client_oversize(std::string_view prefix, std::size_t size) override;
  // One message already made compact and inspected (split_client_line): the Aggregator's way
  // in, after it routed the message here.
  void on_client_message(std::string_view compact, const transport::Inspection& ins);
  // A request the proxy itself makes through this session (the Aggregator's initialize and
  // lists), with an id of its own (`glasstape:...`, which a client may not use). Handled like a
  // client's request, its answer included, but not refused for that id.
  void on_proxy_request(std::string_view compact);
  // From the server.
  void on_server_line(std::string_view line);
  void on_server_oversize(std::string_view prefix, std::size_t size);
  void on_server_down(const std::string& why, bool restarting);
  void on_server_restarted();

  std::size_t pending_requests() const { return pending_.size(); }
  // The server's latest complete tools/list had this tool, and this session's client was not
  // shown it (changed, poisoned, or never allowed for this principal). Tools the server no
  // longer lists are not in it.
  bool hides_tool(const std::string& name) const { return hidden_tools_.count(name) > 0; }
  // The same for a prompt (by name) or a resource (by URI) of the latest complete
  // prompts/list or resources/list, when the policies govern their kind.
  bool hides_entry(gov::ToolRef::Kind kind, const std::string& name) const {
    const auto& h = kind == gov::ToolRef::Kind::Resource ? hidden_resources_ : hidden_prompts_;
    return kind == gov::ToolRef::Kind::Tool ? hides_tool(name) : h.count(name) > 0;
  }
  // A request with this id (a transport::id_key) is waiting for its decision, for the
  // server, or for the server's late answer after the proxy answered it (timeout,
  // cancellation): a new request may not use the id yet.
  bool in_flight(const std::string& key) const override;
  // Flow control: tools/call requests read from the client whose decision is not made yet
  // (waiting for the tool list, the chain or the recorder's durable write). A front stops
  // reading from the client above a bound, and resumes from the listener, which runs each
  // time this count drops.
  std::size_t calls_deciding() const override { return deciding_ + awaiting_list_.size(); }
  void set_decided_listener(std::function<void()> f) override { decided_listener_ = std::move(f); }
  const SessionOptions& options() const { return opts_; }

 private:
  struct Pending {
    std::string method;
    std::shared_ptr<CallContext> call;  // tools/call only
    nlohmann::json id;
    std::chrono::steady_clock::time_point deadline;  // extended by progress
    std::chrono::steady_clock::time_point hard_deadline;
    std::string progress_key;  // id_key of its progress token, if it has one
    std::string raw;           // the request as the client sent it (a bridged session only)
  };
  // A 2026-07-28 server answered a 2025 client's request with input_required: its questions
  // are asked of the client as server-to-client requests, then the request is retried with
  // the answers (proxy/session_era.cpp).
  struct InputRound {
    std::string request;  // the original request (compact, without the envelope)
    nlohmann::json id;
    std::string method;
    nlohmann::json request_state;  // to echo, or null
    nlohmann::json responses = nlohmann::json::object();
    std::size_t outstanding = 0;
    unsigned round = 1;
  };
  struct Ask {  // one question of a round, asked of the client
    std::string request_key;
    std::string input_key;
    std::string method;
  };
  static constexpr unsigned kMaxInputRounds = 8;      // per request, as the SDK client's default
  static constexpr std::size_t kMaxOpenRounds = 256;  // rounds waiting for the client at once

  void handle_client(std::string_view raw, const transport::Inspection& ins,
                     bool from_proxy = false);
  // Answers a message that is not forwarded: an error for the client, a line for the operator.
  void refuse(const nlohmann::json& id, int code, const std::string& message);

  void handle_tools_call(std::string_view raw, const transport::Inspection& ins);
  // The client was shown a (filtered) list of this kind: from now on it hears
  // notifications/<kind>/list_changed when the policies reload (on_visibility_changed).
  void shown_list(gov::ToolRef::Kind kind);
  void on_visibility_changed();
  // A resources/read or prompts/get that the policies govern (Pipeline::governs): judged and
  // recorded like a call, answered with a JSON-RPC error when denied.
  void handle_governed(std::string_view raw, const transport::Inspection& ins,
                       gov::ToolRef::Kind kind);
  // Runs the pipeline on `ctx`; forwards `raw` as `method` when allowed, answers when denied.
  void decide_and_forward(std::shared_ptr<CallContext> ctx, std::string_view raw,
                          const std::string& key, std::string method);
  void forward_to_server(const std::string& key, const nlohmann::json& id, std::string_view method,
                         std::string_view raw, std::shared_ptr<CallContext> call = nullptr);
  void send_to_server(std::string_view raw);
  void request_tools_list(const nlohmann::json& cursor);
  void remember_tools(const nlohmann::json& result);
  void finish_own_listing();
  void answer_denied(const CallContext& ctx);
  // The response to an allowed call: interceptors may replace it, the client gets it, then
  // the result record is written.
  void answer_call(const CallContext& call, std::string_view answer);
  void fail_pending(const std::string& why);
  void replay_initialize();
  void note_protocol_version(std::string_view initialize_response);
  // The server refused initialize for speaking only 2026-07-28: asks server/discover instead.
  void start_modern_bridge(const nlohmann::json& init_id, std::string_view refusal);
  void finish_modern_bridge(std::string_view discover_response);
  // input_required for a 2025 client: true when the questions were asked (the response is
  // the round's), false with `why` when they cannot be.
  bool ask_client(const std::string& key, const Pending& p, std::string_view response,
                  std::string& why);
  void on_input_answer(const std::string& ask_id, const transport::Inspection& ins,
                       std::string_view raw);
  void retry_with_answers(const std::string& key);
  void drop_round(const std::string& key);
  // A request the bridge answers itself (ping, logging/setLevel, ...); false to forward it.
  bool bridge_answers(std::string_view raw, const transport::Inspection& ins);
  // Classifies a client request's era; false when it was refused (and answered).
  bool note_era(std::string_view raw, const transport::Inspection& ins);
  void client_cancelled(std::string_view raw);
  void settle(const std::string& key, Pending& p, std::string_view answer);
  void watch_deadlines();
  void expire(std::chrono::steady_clock::time_point now);
  void on_progress(std::string_view line);
  void remember_expired(const std::string& key);

  SessionOptions opts_;
  std::shared_ptr<Pipeline> pipeline_;
  Upstream& upstream_;
  Send to_client_;
  Pipeline::Post post_;
  std::unordered_map<std::string, Pending> pending_;  // by transport::id_key()
  std::shared_ptr<ToolCatalog> tools_;
  // What filter_tools took out of the latest complete listing (hidden_tools_), and of the
  // pages of the listing in progress (hiding_). At most kMaxHiddenTools names each.
  static constexpr std::size_t kMaxHiddenTools = 10000;
  std::unordered_set<std::string> hidden_tools_, hiding_;
  bool watching_visibility_ = false;
  bool shown_tools_ = false, shown_prompts_ = false, shown_resources_ = false;
  std::unordered_set<std::string> hidden_prompts_, hiding_prompts_;
  std::unordered_set<std::string> hidden_resources_, hiding_resources_;
  std::string initialize_;        // the client's initialize request, replayed after a restart
  std::string protocol_version_;  // what the server's initialize result negotiated
  nlohmann::json modern_meta_;    // the envelope of the last 2026-07-28 request (own tools/list)
  std::string replay_id_;         // id of the replayed initialize in flight
  // A server that speaks only MCP 2026-07-28 refused the client's initialize: the session
  // asks server/discover, answers initialize from it, and sends every request with the
  // envelope made from the client's initialize (proxy/era_bridge.hpp).
  bool bridge_modern_ = false;
  nlohmann::json envelope_;
  std::string discover_id_;        // the proxy's server/discover in flight
  nlohmann::json bridge_init_id_;  // the client's initialize it answers
  std::string bridge_refusal_;     // the server's refusal, relayed if discover fails too
  std::unordered_map<std::string, InputRound> input_rounds_;  // by the request's id_key
  std::unordered_map<std::string, Ask> asks_;                 // by the id the client was asked with
  struct Retry {  // a retry in flight: its round, and the request as the client sent it
    unsigned round = 1;
    std::string original;
  };
  std::unordered_map<std::string, Retry> retry_rounds_;  // by the request's id_key
  std::uint64_t ask_count_ = 0;
  std::string list_id_;  // id of the proxy's own tools/list in flight
  unsigned list_count_ = 0;
  std::vector<std::pair<std::string, transport::Inspection>> awaiting_list_;
  std::deque<std::string> held_;  // client lines held while the server restarts
  enum class Upstate { Up, Restarting, Down } upstate_ = Upstate::Up;
  std::string down_reason_;
  unsigned replay_count_ = 0;
  // Timeouts.
  std::optional<boost::asio::steady_timer> timer_;
  bool timer_armed_ = false;
  std::unordered_map<std::string, std::string> progress_;  // token id_key → pending key
  // Answered by the proxy (timeout, cancellation), not yet by the server: late answers are
  // dropped, and the ids stay taken. At most kMaxUnanswered: past it, new requests are refused.
  static constexpr std::size_t kMaxUnanswered = 4096;
  std::unordered_set<std::string> expired_;
  std::unordered_set<std::string> undecided_;  // tools/call ids read but not yet decided
  std::chrono::steady_clock::time_point list_deadline_;
  std::size_t deciding_ = 0;  // calls inside Pipeline::decide()
  std::function<void()> decided_listener_;
};

}  // namespace gt::proxy
