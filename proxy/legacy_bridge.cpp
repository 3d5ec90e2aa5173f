#include "proxy/legacy_bridge.hpp"

#include <algorithm>

#include <sodium.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "proxy/era_bridge.hpp"
#include "transport/inspect.hpp"
#include "transport/jsonrpc.hpp"
#include "transport/mcp_era.hpp"
#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace mcp = gt::transport::mcp;
namespace rpc = gt::transport::rpc_error;
using transport::MessageKind;

namespace {

constexpr std::string_view kDiscoverId = R"("glasstape:discover")";
constexpr std::string_view kInitId = R"("glasstape:initialize")";

// One rate-limited line per kind of event (a flood of one kind never hides another).
transport::RateLimitedLog& retry_faults() {
  static transport::RateLimitedLog log(spdlog::level::warn);
  return log;
}
transport::RateLimitedLog& refused_asks() {
  static transport::RateLimitedLog log(spdlog::level::warn);
  return log;
}
transport::RateLimitedLog& undeclared_asks() {  // its own: it must not hide the others
  static transport::RateLimitedLog log(spdlog::level::warn);
  return log;
}
transport::RateLimitedLog& expiries() {
  static transport::RateLimitedLog log(spdlog::level::warn);
  return log;
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `line` with the value `span` (a view into it) replaced by `text`.
std::string replace_at(std::string_view line, std::string_view span, std::string_view text) {
  const auto at = static_cast<std::size_t>(span.data() - line.data());
  std::string out(line.substr(0, at));
  out += text;
  out.append(line.substr(at + span.size()));
  return out;
}

// `line` with its top-level id replaced by `id` (JSON text).
std::string with_id(std::string_view line, std::string_view id) {
  auto span = transport::member_span(line, {"id"});
  return span ? replace_at(line, *span, id) : std::string(line);
}

std::string key_of(std::string_view id_text) {
  return transport::id_key(nlohmann::json::parse(id_text, nullptr, false));
}

// A tools/call's name and arguments as canonical JSON: a retry must carry the same.
std::string call_of(const nlohmann::json& params) {
  if (!params.is_object()) return {};
  nlohmann::json c = {{"name", params.value("name", nlohmann::json())},
                      {"arguments", params.value("arguments", nlohmann::json::object())}};
  return dump(c);
}

std::string new_token() {
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  static constexpr char hex[] = "0123456789abcdef";
  std::string t = "glasstape-mrtr-";
  for (unsigned char c : b) {
    t += hex[c >> 4];
    t += hex[c & 15];
  }
  return t;
}

}  // namespace

LegacyBridge::LegacyBridge(boost::asio::any_io_executor ex, std::shared_ptr<UpstreamLink> inner,
                           std::string server, std::chrono::milliseconds probe_wait)
    : ex_(ex),
      inner_(std::move(inner)),
      server_(std::move(server)),
      probe_wait_(probe_wait),
      probe_timer_(ex),
      hold_timer_(ex) {}

void LegacyBridge::start(Events events) {
  ev_ = std::move(events);
  std::weak_ptr<LegacyBridge> w = weak_from_this();
  Events ev = ev_;
  ev.on_line = [w](std::string_view l) {
    if (auto b = w.lock()) b->from_server(l);
  };
  ev.on_down = [w](const std::string& why, bool restarting) {
    auto b = w.lock();
    if (!b) return;
    // Held calls and answers in flight die with the server.
    b->held_.clear();
    b->in_flight_.clear();
    b->resumed_.clear();
    std::string reason = why;
    if (b->era_ == Era::Probing) {
      reason = b->with_discover_refusal(why);
      // Some legacy servers exit on a request before initialize: the next probe skips it.
      if (restarting) b->skip_discover_ = true;
      if (!restarting) b->probed(Era::Undecided, reason);
    }
    if (b->ev_.on_down) b->ev_.on_down(reason, restarting);
  };
  ev.on_restarted = [w]() {
    auto b = w.lock();
    if (!b) return;
    // A new process: a legacy one is asked (and initialized) again before anything reaches it.
    if (b->era_ == Era::Legacy || b->era_ == Era::Probing) b->probe();
    if (b->ev_.on_restarted) b->ev_.on_restarted();
  };
  inner_->start(std::move(ev));
}

void LegacyBridge::shutdown() {
  probe_timer_.cancel();
  hold_timer_.cancel();
  inner_->shutdown();
}

// ------------------------------------------------------------------ toward the server

void LegacyBridge::send(std::string_view line) {
  switch (era_) {
    case Era::Transparent:
      inner_->send(line);
      return;
    case Era::Legacy:
      legacy_request(line);
      return;
    case Era::Probing:
      if (queue_.size() >= kMaxQueued) {
        auto ins = transport::inspect(line, 64);
        if (ins.kind == MessageKind::Request)
          up_error(dump(ins.id), -32000,
                   "Service Unavailable: " + std::to_string(queue_.size()) +
                       " requests are waiting for server `" + server_ + "` to start");
        return;
      }
      queue_.emplace_back(line);
      return;
    case Era::Undecided: {
      auto ins = transport::inspect(line, 64);
      if (ins.kind != MessageKind::Request) {
        inner_->send(line);
        return;
      }
      if (!transport::member_span(line, {"params", "_meta", mcp::kProtocolVersionKey})) {
        era_ = Era::Transparent;  // a 2025-era client: nothing to bridge
        inner_->send(line);
        return;
      }
      queue_.emplace_back(line);
      probe();
      return;
    }
  }
}

void LegacyBridge::legacy_request(std::string_view line) {
  auto ins = transport::inspect(line, 512);
  if (ins.kind == MessageKind::Notification && ins.method == "notifications/cancelled") {
    // A retry's cancellation names the retry's id; the server knows the held call's.
    if (auto span = transport::member_span(line, {"params", "requestId"})) {
      auto r = resumed_.find(key_of(*span));
      if (r != resumed_.end()) {
        auto it = in_flight_.find(r->second);
        if (it != in_flight_.end()) {
          inner_->send(replace_at(line, *span, it->second.server_id));
          return;
        }
      }
    }
    inner_->send(line);
    return;
  }
  if (ins.kind != MessageKind::Request) {
    inner_->send(line);
    return;
  }
  const std::string id = dump(ins.id);
  if (ins.method == "server/discover") {
    // The server has no server/discover: GlassTape answers from its initialize result.
    auto result = era_bridge::discover_result(init_result_).value_or("{}");
    up_line(R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":)" + result + "}");
    return;
  }
  nlohmann::json params;
  if (auto p = transport::member_span(line, {"params"}))
    params = nlohmann::json::parse(*p, nullptr, false);
  if (params.is_object() && params.contains("requestState")) {
    const auto& st = params["requestState"];
    auto it = st.is_string() ? held_.find(st.get<std::string>()) : held_.end();
    if (it == held_.end()) {
      retry_faults()("server `{}`: a retry named a requestState GlassTape does not hold", server_);
      up_error(id, rpc::kInvalidParams,
               "Invalid params: requestState is unknown or expired (GlassTape holds a call for "
               "at most " +
                   std::to_string(kHoldFor.count()) +
                   " minutes, and none across a server restart); send the request again "
                   "without it");
      return;
    }
    resume(it->first, line, params, id);
    return;
  }
  InFlight f{id, id, ins.method, ins.method == "tools/call" ? call_of(params) : std::string(), {}};
  if (params.is_object() && params.contains("_meta") && params["_meta"].is_object())
    f.capabilities =
        params["_meta"].value(std::string(mcp::kClientCapabilitiesKey), nlohmann::json::object());
  in_flight_[ins.id_key] = std::move(f);
  inner_->send(line);
}

void LegacyBridge::resume(const std::string& token, std::string_view line,
                          const nlohmann::json& params, const std::string& id) {
  Held& h = held_.at(token);
  auto ins = transport::inspect(line, 512);
  if (ins.method != h.request.method ||
      (h.request.method == "tools/call" && call_of(params) != h.request.call)) {
    retry_faults()("server `{}`: a retry changed the held call; refused", server_);
    up_error(id, rpc::kInvalidParams,
             "Invalid params: a retry must carry the request it continues unchanged (method, "
             "tool and arguments): the server is still running the call it started");
    return;
  }
  Held held = std::move(h);
  held_.erase(token);
  // The server's questions get the client's answers; one left unanswered gets an error.
  nlohmann::json responses = params.value("inputResponses", nlohmann::json::object());
  for (const auto& a : held.asks) {
    auto r = responses.is_object() ? responses.find(a.input_key) : responses.end();
    if (r != responses.end() && r->is_object()) {
      inner_->send(R"({"jsonrpc":"2.0","id":)" + a.server_id + R"(,"result":)" + dump(*r) + "}");
    } else {
      inner_->send(R"({"jsonrpc":"2.0","id":)" + a.server_id +
                   R"(,"error":{"code":-32603,"message":"the client gave no answer"}})");
    }
  }
  InFlight f = held.request;
  f.answer_id = id;
  const std::string server_key = key_of(f.server_id);
  resumed_[ins.id_key] = server_key;
  if (!held.later.empty()) {  // the server asked more meanwhile: another round at once
    hold(std::move(f), std::move(held.later), std::move(held.questions), std::move(held.answer));
    return;
  }
  if (held.answer) {
    resumed_.erase(ins.id_key);
    up_line(with_id(era_bridge::adapt_response(*held.answer, f.method), id));
    return;
  }
  in_flight_[server_key] = std::move(f);
}

// ------------------------------------------------------------------ from the server

void LegacyBridge::from_server(std::string_view line) {
  if (era_ == Era::Probing) {
    auto ins = transport::inspect(line, 512);
    if (ins.kind == MessageKind::Response) {
      auto id = dump(ins.id);
      if (id == kDiscoverId || id == kInitId) {
        on_probe_answer(line, id, ins.has_result);
        return;
      }
    }
    if (ins.kind == MessageKind::Request) {  // nobody to ask yet
      inner_->send(transport::error_response(ins.id, rpc::kMethodNotFound,
                                             "no client to answer `" + ins.method + "`"));
      return;
    }
  }
  if (era_ != Era::Legacy) {
    if (ev_.on_line) ev_.on_line(line);
    return;
  }
  auto ins = transport::inspect(line, 512);
  if (ins.kind == MessageKind::Request && ins.method != "ping") {
    server_request(line);
    return;
  }
  if (ins.kind != MessageKind::Response) {
    if (ev_.on_line) ev_.on_line(line);
    return;
  }
  auto it = in_flight_.find(ins.id_key);
  if (it == in_flight_.end()) {
    // A held call answered before its retry came: kept for the retry.
    for (auto& [token, h] : held_) {
      if (key_of(h.request.server_id) == ins.id_key) {
        h.answer.emplace(line);
        return;
      }
    }
    if (ev_.on_line) ev_.on_line(line);
    return;
  }
  InFlight f = std::move(it->second);
  in_flight_.erase(it);
  std::string out = era_bridge::adapt_response(line, f.method);
  if (f.answer_id != f.server_id) {
    resumed_.erase(key_of(f.answer_id));
    out = with_id(out, f.answer_id);
  }
  if (ev_.on_line) ev_.on_line(out);
}

void LegacyBridge::server_request(std::string_view line) {
  auto ins = transport::inspect(line, 512);
  auto refuse = [&](int code, const std::string& why) {
    refused_asks()("server `{}` asked `{}`: refused: {}", server_, ins.method, why);
    inner_->send(transport::error_response(ins.id, code, why));
  };
  if (!era_bridge::askable(ins.method)) {
    refuse(rpc::kMethodNotFound,
           "Method not found: `" + ins.method + "` cannot be passed to an MCP 2026-07-28 client");
    return;
  }
  nlohmann::json q = {{"method", ins.method}};
  if (auto p = transport::member_span(line, {"params"})) {
    auto params = nlohmann::json::parse(*p, nullptr, false);
    if (params.is_object()) q["params"] = std::move(params);
  }
  Ask ask{dump(ins.id), ""};
  // A question the asking call's client cannot answer is refused, as the client would.
  auto undeclared = [&](const InFlight& f) {
    std::string why;
    if (era_bridge::declared(f.capabilities, ins.method, why)) return false;
    undeclared_asks()("server `{}` asked `{}`: refused: {}", server_, ins.method, why);
    inner_->send(
        transport::error_response(ins.id, rpc::kMethodNotFound, "Method not found: " + why));
    return true;
  };
  if (in_flight_.size() == 1) {
    if (undeclared(in_flight_.begin()->second)) return;
    InFlight f = std::move(in_flight_.begin()->second);
    in_flight_.clear();
    if (held_.size() >= kMaxHeld) {
      in_flight_[key_of(f.server_id)] = std::move(f);
      refuse(rpc::kInternalError,
             std::to_string(held_.size()) + " calls already wait for their clients' answers");
      return;
    }
    ask.input_key = "q1";
    hold(std::move(f), {ask}, {dump(q)});
    return;
  }
  if (in_flight_.empty() && held_.size() == 1) {
    Held& h = held_.begin()->second;
    if (undeclared(h.request)) return;
    if (h.asks.size() + h.later.size() >= kMaxAsks) {
      refuse(rpc::kInternalError, "too many questions for one call");
      return;
    }
    ask.input_key = "q" + std::to_string(h.asks.size() + h.later.size() + 1);
    h.later.push_back(ask);
    h.questions.push_back(dump(q));
    return;
  }
  refuse(rpc::kInternalError,
         "GlassTape cannot tell which of the " + std::to_string(in_flight_.size() + held_.size()) +
             " requests in flight on this server asked this (MCP 2026-07-28 clients share one "
             "server process, and a 2025 server's request names none); it was not passed on");
}

void LegacyBridge::hold(InFlight request, std::vector<Ask> asks, std::vector<std::string> questions,
                        std::optional<std::string> answer) {
  // `questions` holds the JSON text of each ask's {method, params}, in the same order.
  std::string requests;
  for (std::size_t i = 0; i < asks.size() && i < questions.size(); ++i) {
    if (!requests.empty()) requests += ',';
    requests += dump(nlohmann::json(asks[i].input_key)) + ":" + questions[i];
  }
  std::string token = new_token();
  const std::string answer_id = request.answer_id;
  Held h;
  h.request = std::move(request);
  h.asks = std::move(asks);
  h.answer = std::move(answer);
  h.expires = std::chrono::steady_clock::now() + kHoldFor;
  held_.emplace(token, std::move(h));
  up_line(R"({"jsonrpc":"2.0","id":)" + answer_id +
          R"(,"result":{"resultType":"input_required","inputRequests":{)" + requests +
          R"(},"requestState":)" + dump(nlohmann::json(token)) + "}}");
  if (!hold_armed_) arm_sweep(std::chrono::steady_clock::now() + kHoldFor);
}

void LegacyBridge::arm_sweep(std::chrono::steady_clock::time_point at) {
  hold_armed_ = true;
  hold_timer_.expires_at(at);
  hold_timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    if (auto b = w.lock()) {
      b->hold_armed_ = false;
      if (!ec) b->sweep();
    }
  });
}

void LegacyBridge::sweep() {
  auto now = std::chrono::steady_clock::now();
  auto next = std::chrono::steady_clock::time_point::max();
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.expires <= now) {
      expiries()("server `{}`: a held call waited {} minutes for its retry; cancelled", server_,
                 kHoldFor.count());
      nlohmann::json cancel = {
          {"jsonrpc", "2.0"},
          {"method", "notifications/cancelled"},
          {"params",
           {{"requestId", nlohmann::json::parse(it->second.request.server_id, nullptr, false)},
            {"reason", "the client did not retry in time"}}}};
      inner_->send(dump(cancel));
      it = held_.erase(it);
    } else {
      next = std::min(next, it->second.expires);
      ++it;
    }
  }
  if (next != std::chrono::steady_clock::time_point::max()) arm_sweep(next);
}

void LegacyBridge::up_line(std::string line) {
  boost::asio::post(ex_, [w = weak_from_this(), line = std::move(line)] {
    if (auto b = w.lock(); b && b->ev_.on_line) b->ev_.on_line(line);
  });
}

void LegacyBridge::up_error(const std::string& id, int code, const std::string& message) {
  up_line(transport::error_response(nlohmann::json::parse(id, nullptr, false), code, message));
}

// ------------------------------------------------------------ which era the server speaks

void LegacyBridge::probe() {
  era_ = Era::Probing;
  probe_timer_.expires_after(probe_wait_);
  probe_timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    auto b = w.lock();
    if (ec || !b || b->era_ != Era::Probing) return;
    if (b->skip_discover_) {
      b->probed(Era::Undecided, "no answer to initialize");
      return;
    }
    // No answer to server/discover: a legacy server, as the specification says.
    b->skip_discover_ = true;
    b->probe();
  });
  if (skip_discover_) {
    nlohmann::json req = {{"jsonrpc", "2.0"},
                          {"id", "glasstape:initialize"},
                          {"method", "initialize"},
                          {"params",
                           {{"protocolVersion", "2025-11-25"},
                            {"capabilities",
                             // The questions GlassTape can pass on as input_required.
                             {{"elicitation", nlohmann::json::object()},
                              {"sampling", nlohmann::json::object()},
                              {"roots", nlohmann::json::object()}}},
                            {"clientInfo", {{"name", "glasstape"}, {"version", "1"}}}}}};
    inner_->send(dump(req));
    return;
  }
  nlohmann::json req = {
      {"jsonrpc", "2.0"},
      {"id", "glasstape:discover"},
      {"method", "server/discover"},
      {"params",
       {{"_meta",
         {{std::string(mcp::kProtocolVersionKey), mcp::kModernVersion},
          {std::string(mcp::kClientCapabilitiesKey), nlohmann::json::object()},
          {std::string(mcp::kClientInfoKey), {{"name", "glasstape"}, {"version", "1"}}}}}}}};
  inner_->send(dump(req));
}

void LegacyBridge::on_probe_answer(std::string_view line, const std::string& id, bool has_result) {
  if (id == kDiscoverId) {
    bool modern = false;
    if (has_result) {
      auto versions = transport::member_span(line, {"result", "supportedVersions"});
      auto v = versions ? nlohmann::json::parse(*versions, nullptr, false) : nlohmann::json();
      modern = v.is_array() && std::find(v.begin(), v.end(), mcp::kModernVersion) != v.end();
    }
    if (modern) {
      probed(Era::Transparent);
    } else {
      discover_refusal_.clear();
      if (auto m = transport::member_span(line, {"error", "message"})) {
        auto j = nlohmann::json::parse(*m, nullptr, false);
        if (j.is_string()) discover_refusal_ = j.get<std::string>().substr(0, 300);
      }
      skip_discover_ = true;
      probe();  // initialize
    }
    return;
  }
  auto result = transport::member_span(line, {"result"});
  if (!has_result || !result) {
    probed(Era::Undecided,
           with_discover_refusal("it refused initialize: " + std::string(line.substr(0, 300))));
    return;
  }
  init_result_.assign(*result);
  inner_->send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  probed(Era::Legacy);
}

std::string LegacyBridge::with_discover_refusal(const std::string& why) const {
  // What the server said to server/discover is often the real cause (a wrong URL: 404).
  if (discover_refusal_.empty()) return why;
  return why + " (before that, it answered server/discover with: " + discover_refusal_ + ")";
}

void LegacyBridge::probed(Era era, const std::string& why) {
  probe_timer_.cancel();
  era_ = era;
  discover_refusal_.clear();
  auto queue = std::move(queue_);
  queue_.clear();
  if (era == Era::Undecided) {
    spdlog::error("server `{}`: cannot serve MCP 2026-07-28 requests: {}", server_, why);
    for (const auto& q : queue) {
      auto ins = transport::inspect(q, 64);
      if (ins.kind == MessageKind::Request)
        up_error(dump(ins.id), rpc::kUpstreamUnavailable,
                 "server `" + server_ + "` is unavailable: " + why);
    }
    return;
  }
  if (era == Era::Transparent) {
    spdlog::info("server `{}` speaks MCP 2026-07-28", server_);
  } else {
    spdlog::info(
        "server `{}` speaks MCP 2025-11-25 or earlier only: GlassTape holds its session and "
        "bridges MCP 2026-07-28 requests to it",
        server_);
  }
  for (const auto& q : queue)
    send(q);
}

}  // namespace gt::proxy
