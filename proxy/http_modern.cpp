#include "proxy/http_modern.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "proxy/batched_post.hpp"
#include "proxy/legacy_bridge.hpp"
#include "proxy/upstream.hpp"
#include "transport/jsonrpc.hpp"
#include "transport/mcp_era.hpp"
#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace web = gt::transport::http;
namespace mcp = gt::transport::mcp;
using transport::MessageKind;

namespace {

transport::RateLimitedLog& lane_events() {
  static transport::RateLimitedLog log(spdlog::level::info);
  return log;
}

// Methods MCP 2026-07-28 removed: a modern request for one gets the specification's answer
// (-32601, HTTP 404) from the proxy itself, and never reaches a server.
bool removed_method(std::string_view m) {
  return m == "initialize" || m == "ping" || m == "logging/setLevel" ||
         m == "resources/subscribe" || m == "resources/unsubscribe";
}

// The HTTP status of an answer sent as a whole (not yet streaming), by its JSON-RPC error:
// the specification's ladder errors are 400, an unknown method 404, anything else is in-band.
unsigned status_of(std::string_view answer) {
  auto code = transport::member_span(answer, {"error", "code"});
  if (!code) return 200;
  if (*code == "-32020" || *code == "-32021" || *code == "-32022") return 400;
  if (*code == "-32601") return 404;
  return 200;
}

void answer(const std::shared_ptr<web::Exchange>& ex, unsigned status, const nlohmann::json& id,
            int code, const std::string& message) {
  ex->respond(status, transport::error_response(id, code, message), "application/json");
}

}  // namespace

// One 2026-07-28 request: a Session of its own on a port of the lane's server, answered on
// its POST. It ends when the answer is sent or the client drops the POST.
class ModernLane::Call : public std::enable_shared_from_this<Call> {
 public:
  Call(ModernLane& lane, std::shared_ptr<web::Exchange> ex, const transport::Inspection& ins)
      : lane_(lane), ex_(std::move(ex)), id_(ins.id), key_(ins.id_key), method_(ins.method) {}

  void start(std::string body, mcp::McpHeaders headers, gov::Principal principal) {
    link_ = lane_.mux_->attach();
    SessionOptions so;
    so.session_id = "";  // MCP 2026-07-28 has no sessions: receipts say so with ""
    so.server = lane_.server_.name;
    so.principal = std::move(principal);
    so.max_message_bytes = lane_.config_.max_message_bytes;
    so.max_batch_messages = lane_.config_.max_batch_messages;
    so.request_timeout = lane_.server_.request_timeout;
    so.max_timeout = lane_.server_.max_timeout;
    so.tools = lane_.tools_;
    so.precheck = [headers = std::move(headers)](
                      const std::string& tool, const nlohmann::json& arguments,
                      const ToolCatalog& tools) -> std::optional<mcp::EraError> {
      if (auto bad = tools.header_errors.find(tool); bad != tools.header_errors.end()) {
        // The specification has clients drop such a tool; a call to it cannot be checked.
        return mcp::EraError{mcp::kInvalidParams, 400,
                             "Invalid params: the tool `" + tool +
                                 "` declares invalid x-mcp-header parameters (" + bad->second +
                                 "); GlassTape does not forward calls to it",
                             nullptr};
      }
      static const std::vector<mcp::HeaderParam> none;
      auto it = tools.header_params.find(tool);
      if (auto why = mcp::check_param_headers(it == tools.header_params.end() ? none : it->second,
                                              arguments, headers)) {
        return mcp::EraError{mcp::kHeaderMismatch, 400, "Header mismatch: " + *why, nullptr};
      }
      return std::nullopt;
    };
    session_ = std::make_shared<Session>(
        std::move(so), lane_.pipeline_, *link_, [this](std::string_view l) { deliver(l); },
        lane_.post_, lane_.ex_);
    link_->start(Session::events_for(session_));
    ex_->on_close([w = weak_from_this()]() {
      // The client dropped the POST: in 2026-07-28 that is how a request is cancelled.
      if (auto c = w.lock()) c->end();
    });
    session_->on_client_line(body);
  }

  void keepalive() {
    if (ex_->streaming() && !ex_->done()) ex_->comment("keep-alive");
  }

  // Stops the call: the port detaches, which cancels at the server whatever is in flight.
  void end() {
    if (ended_) return;
    ended_ = true;
    if (ex_->streaming() && !ex_->done()) ex_->end_stream();
    if (link_) link_->shutdown();
    lane_.finished(this);
  }

 private:
  void deliver(std::string_view line) {
    if (ended_) return;
    auto ins = transport::inspect(line, 512);
    if (ins.kind == MessageKind::Response && ins.id_key == key_) {
      if (ex_->streaming()) {
        ex_->event("", line);
      } else {
        ex_->respond(status_of(line), std::string(line), "application/json");
      }
      end();
      return;
    }
    // Only progress belongs to this request for sure (its token was rewritten for it); a
    // server's other messages on a shared process cannot be told apart, and would leak one
    // client's notifications to another.
    // A notification on a subscriptions/listen stream names its listen in _meta; the lane's
    // server routes those to this call only (SharedUpstream).
    const bool listen =
        line.find("io.modelcontextprotocol/subscriptionId") != std::string_view::npos;
    if (ins.method != "notifications/progress" && !listen) {
      lane_events()(
          "server `{}` sent `{}` outside a request's answer (MCP 2026-07-28 lane); "
          "dropped",
          lane_.server_.name, ins.method.empty() ? "a response" : ins.method);
      return;
    }
    if (ex_->closed()) return;
    if (!ex_->streaming()) ex_->start_stream();
    ex_->event("", line);  // no event ids: 2026-07-28 has no resumption
  }

  ModernLane& lane_;
  std::shared_ptr<web::Exchange> ex_;
  nlohmann::json id_;
  std::string key_;
  std::string method_;
  std::shared_ptr<UpstreamLink> link_;
  std::shared_ptr<Session> session_;
  bool ended_ = false;
};

ModernLane::ModernLane(boost::asio::any_io_executor ex, const Config& config,
                       const ServerConfig& server, const TenantConfig& tenant,
                       std::shared_ptr<Pipeline> pipeline)
    : ex_(ex),
      config_(config),
      server_(server),
      tenant_(tenant),
      pipeline_(std::move(pipeline)),
      post_(std::make_shared<BatchedPost>(ex)->poster()) {}

bool ModernLane::start_server(std::string& why) {
  if (mux_) return true;
  try {
    auto link = make_upstream(ex_, server_, config_.max_message_bytes, config_.shutdown_grace);
    // A server that speaks only 2025-11-25 is bridged below the requests' ports.
    auto wait = server_.request_timeout.count() > 0 ? server_.request_timeout
                                                    : std::chrono::milliseconds(10000);
    bridge_ = std::make_shared<LegacyBridge>(ex_, link, server_.name, wait);
    auto mux = std::make_shared<SharedUpstream>(ex_, bridge_, server_.name);
    mux->start();
    mux_ = std::move(mux);
    spdlog::info("server `{}`: started for MCP 2026-07-28 requests (one process for all of them)",
                 server_.name);
    return true;
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
}

void ModernLane::handle(std::string body, const transport::Inspection& ins, mcp::McpHeaders headers,
                        std::shared_ptr<web::Exchange> ex,
                        std::optional<gov::Principal> principal) {
  if (ins.kind == MessageKind::Notification) {
    // 2026-07-28 defines no client notification over HTTP (a request is cancelled by closing
    // its stream): accepted, and not forwarded.
    ex->respond(202, "", "");
    return;
  }
  if (removed_method(ins.method)) {
    answer(ex, 404, ins.id, transport::rpc_error::kMethodNotFound,
           "Method not found: `" + ins.method + "` is not part of MCP 2026-07-28");
    return;
  }
  std::string why;
  if (!start_server(why)) {
    static transport::RateLimitedLog start_errors(spdlog::level::err);
    start_errors("http: cannot start server `{}`: {}", server_.name, why);
    answer(ex, 502, ins.id, transport::rpc_error::kUpstreamUnavailable,
           "cannot start the server: " + why);
    return;
  }
  if (ex->closed() || ex->done()) return;
  auto call = std::make_shared<Call>(*this, ex, ins);
  calls_[call.get()] = call;
  call->start(std::move(body), std::move(headers),
              principal ? std::move(*principal) : tenant_.principal);
}

void ModernLane::finished(Call* call) {
  // Posted: the call's session may be on the stack that got here.
  boost::asio::post(ex_, [w = weak_from_this(), call] {
    if (auto lane = w.lock()) lane->calls_.erase(call);
  });
}

void ModernLane::keepalive() {
  for (auto& [p, c] : calls_)
    c->keepalive();
}

void ModernLane::shutdown() {
  auto calls = calls_;
  for (auto& [p, c] : calls)
    c->end();
  if (mux_) mux_->shutdown([] {});
}

}  // namespace gt::proxy
