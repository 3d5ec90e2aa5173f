#include "proxy/shared_upstream.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "transport/inspect.hpp"
#include "transport/jsonrpc.hpp"
#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

using transport::MessageKind;

namespace {

// Lines a server can repeat at will go through a RateLimitedLog: at most 20 per 10 s, then
// one with the count suppressed (transport/rate_limited_log.hpp).
transport::RateLimitedLog& server_faults() {
  static transport::RateLimitedLog log(spdlog::level::warn,
                                       transport::RateLimitedLog::kDefaultInterval, 20);
  return log;
}

constexpr std::size_t kMaxDepth = 512;

// Replaces spans of `raw` (each a view into it) with new text: ids and tokens are swapped
// in the exact bytes, everything else is forwarded untouched.
struct Splice {
  std::string_view at;
  std::string with;
};

std::string splice(std::string_view raw, std::vector<Splice> edits) {
  std::sort(edits.begin(), edits.end(),
            [](const Splice& a, const Splice& b) { return a.at.data() < b.at.data(); });
  std::string out;
  out.reserve(raw.size() + 16);
  const char* pos = raw.data();
  for (const auto& e : edits) {
    out.append(pos, e.at.data());
    out += e.with;
    pos = e.at.data() + e.at.size();
  }
  out.append(pos, raw.data() + raw.size());
  return out;
}

std::string key(std::uint64_t port, const std::string& id_key) {
  return std::to_string(port) + "|" + id_key;
}

// The id_key of the JSON value whose text is `span` (a request id or token).
std::string key_of(std::string_view span) {
  auto j = nlohmann::json::parse(span, nullptr, false);
  return j.is_discarded() ? std::string() : transport::id_key(j);
}

constexpr std::string_view kSubscriptionIdKey = "io.modelcontextprotocol/subscriptionId";

std::optional<std::int64_t> our_number(std::string_view span) {
  auto j = nlohmann::json::parse(span, nullptr, false);
  if (!j.is_number_integer()) return std::nullopt;
  return j.get<std::int64_t>();
}

std::string uri_of(std::string_view line) {
  auto span = transport::member_span(line, {"params", "uri"});
  if (!span) return {};
  auto j = nlohmann::json::parse(*span, nullptr, false);
  return j.is_string() ? j.get<std::string>() : std::string();
}

}  // namespace

// ---------------------------------------------------------------- one session's end

class SharedUpstream::Port : public UpstreamLink {
 public:
  Port(std::shared_ptr<SharedUpstream> mux, PortId id) : mux_(std::move(mux)), id_(id) {}
  ~Port() override {
    if (!detached_) mux_->detach(id_);
  }
  void start(Events events) override { ev_ = std::move(events); }
  void send(std::string_view line) override {
    if (!detached_) mux_->from_port(id_, line);
  }
  bool up() const override { return !detached_ && mux_->link_->up(); }
  void shutdown() override {
    if (!detached_) {
      detached_ = true;
      mux_->detach(id_);
    }
    if (ev_.on_stopped) ev_.on_stopped();
  }
  // The shared server is read for everyone: one session cannot pause it.
  std::size_t queued_bytes() const override { return mux_->link_->queued_bytes(); }

  Events ev_;

 private:
  std::shared_ptr<SharedUpstream> mux_;
  PortId id_;
  bool detached_ = false;
};

// ---------------------------------------------------------------- the shared server

SharedUpstream::SharedUpstream(boost::asio::any_io_executor ex, std::shared_ptr<UpstreamLink> link,
                               std::string server_name)
    : ex_(std::move(ex)), link_(std::move(link)), name_(std::move(server_name)) {}

SharedUpstream::~SharedUpstream() = default;

void SharedUpstream::start() {
  std::weak_ptr<SharedUpstream> weak = shared_from_this();
  UpstreamEvents ev;
  ev.on_line = [weak](std::string_view line) {
    if (auto s = weak.lock()) s->from_server(line);
  };
  ev.on_oversize = [weak](std::string_view prefix, std::size_t size) {
    auto s = weak.lock();
    if (!s) return;
    // Route the failure to the session whose request it answered, with its own id.
    auto id = transport::recover_id(prefix);
    if (!id || !id->is_number_integer()) {
      server_faults()("server `{}` sent a {}-byte message that no session can take; dropped",
                      s->name_, size);
      return;
    }
    auto it = s->requests_.find(id->get<std::int64_t>());
    if (it == s->requests_.end()) return;
    Route r = it->second;
    std::string stub = R"({"id":)" + r.id + "}";
    if (auto* p = s->find(r.port); p && p->ev_.on_oversize) p->ev_.on_oversize(stub, size);
  };
  ev.on_down = [weak](const std::string& why, bool restarting) {
    auto s = weak.lock();
    if (!s) return;
    // Every session fails its own pending requests; nothing in flight survives.
    s->init_ = Init::None;
    s->init_result_.clear();
    s->init_waiters_.clear();
    s->requests_.clear();
    s->by_session_.clear();
    s->tokens_.clear();
    s->server_reqs_.clear();
    s->server_req_by_key_.clear();
    s->subscribers_.clear();
    s->each_port([&](Port& p) {
      if (p.ev_.on_down) p.ev_.on_down(why, restarting);
    });
  };
  ev.on_restarted = [weak]() {
    auto s = weak.lock();
    if (!s) return;
    s->each_port([](Port& p) {
      if (p.ev_.on_restarted) p.ev_.on_restarted();
    });
  };
  ev.on_drain = [weak]() {
    auto s = weak.lock();
    if (!s) return;
    s->each_port([](Port& p) {
      if (p.ev_.on_drain) p.ev_.on_drain();
    });
  };
  ev.on_stopped = [weak]() {
    auto s = weak.lock();
    if (s && s->stopped_) s->stopped_();
  };
  link_->start(std::move(ev));
}

std::shared_ptr<UpstreamLink> SharedUpstream::attach() {
  auto port = std::make_shared<Port>(shared_from_this(), next_port_);
  ports_[next_port_++] = port.get();
  return port;
}

void SharedUpstream::shutdown(std::function<void()> done) {
  stopped_ = std::move(done);
  link_->shutdown();
}

void SharedUpstream::each_port(const std::function<void(Port&)>& f) {
  // A handler may end sessions (detach): walk a snapshot of the ids, skipping the gone.
  std::vector<PortId> ids;
  ids.reserve(ports_.size());
  for (auto& [id, p] : ports_)
    ids.push_back(id);
  for (auto id : ids) {
    if (auto* p = find(id)) f(*p);
  }
}

SharedUpstream::Port* SharedUpstream::find(PortId port) const {
  auto it = ports_.find(port);
  return it == ports_.end() ? nullptr : it->second;
}

void SharedUpstream::deliver(PortId port, std::string line) {
  // Answers made while a session is sending (a cached initialize) arrive on the next turn
  // of the loop, as a server's answer would: the session never sees a re-entrant call.
  boost::asio::post(ex_, [weak = weak_from_this(), port, line = std::move(line)]() {
    auto s = weak.lock();
    if (!s) return;
    if (auto* p = s->find(port); p && p->ev_.on_line) p->ev_.on_line(line);
  });
}

void SharedUpstream::answer_initialize(PortId port, const std::string& id) {
  deliver(port, R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":)" + init_result_ + "}");
}

// ---------------------------------------------------------------- session → server

void SharedUpstream::from_port(PortId port, std::string_view line) {
  auto ins = transport::inspect(line, kMaxDepth);
  if (ins.shape != transport::Inspection::Shape::Object) return;  // the session checked it
  switch (ins.kind) {
    case MessageKind::Request: {
      auto id_span = transport::member_span(line, {"id"});
      if (!id_span) return;
      last_port_ = port;
      if (ins.method == "initialize") {
        if (init_ == Init::Ready) {
          answer_initialize(port, std::string(*id_span));
          return;
        }
        init_waiters_.emplace_back(port, std::string(*id_span));
        if (init_ == Init::Pending) return;  // answered with the first one's result
        init_ = Init::Pending;
      }
      std::int64_t lid = next_id_++;
      Route r{port, std::string(*id_span), ins.method, 0, key(port, ins.id_key)};
      std::vector<Splice> edits{{*id_span, std::to_string(lid)}};
      if (line.find("progressToken") != std::string_view::npos) {
        if (auto t = transport::member_span(line, {"params", "_meta", "progressToken"})) {
          r.token = next_id_++;
          tokens_[r.token] = TokenRoute{port, std::string(*t)};
          edits.push_back({*t, std::to_string(r.token)});
        }
      }
      if (ins.method == "resources/subscribe") {
        if (auto uri = uri_of(line); !uri.empty()) subscribers_[uri].insert(port);
      } else if (ins.method == "resources/unsubscribe") {
        if (auto uri = uri_of(line); !uri.empty()) subscribers_[uri].erase(port);
      }
      by_session_[r.session_key] = lid;
      requests_[lid] = std::move(r);
      link_->send(splice(line, std::move(edits)));
      return;
    }
    case MessageKind::Notification: {
      if (ins.method == "notifications/initialized") return;  // sent once, by the proxy
      if (ins.method == "notifications/cancelled") {
        auto span = transport::member_span(line, {"params", "requestId"});
        if (!span) return;
        auto it = by_session_.find(key(port, key_of(*span)));
        if (it == by_session_.end()) return;  // already answered
        link_->send(splice(line, {{*span, std::to_string(it->second)}}));
        return;
      }
      link_->send(line);
      return;
    }
    case MessageKind::Response: {  // the session answers a server request
      auto span = transport::member_span(line, {"id"});
      auto ours = span ? our_number(*span) : std::nullopt;
      auto it = ours ? server_reqs_.find(*ours) : server_reqs_.end();
      if (it == server_reqs_.end() || it->second.port != port) {
        spdlog::debug("shared `{}`: dropped an answer to an unknown server request", name_);
        return;
      }
      std::string server_id = std::move(it->second.id);
      server_reqs_.erase(it);
      server_req_by_key_.erase(key_of(server_id));
      link_->send(splice(line, {{*span, server_id}}));
      return;
    }
    case MessageKind::Invalid:
      return;
  }
}

void SharedUpstream::detach(PortId port) {
  ports_.erase(port);
  // Its requests still on the server are cancelled, so the server stops working for a
  // session that is gone; answers that still come are dropped.
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (it->second.port != port) {
      ++it;
      continue;
    }
    if (it->second.method != "initialize") {
      nlohmann::json cancel = {
          {"jsonrpc", "2.0"},
          {"method", "notifications/cancelled"},
          {"params", {{"requestId", it->first}, {"reason", "the client session ended"}}}};
      link_->send(cancel.dump());
    }
    tokens_.erase(it->second.token);
    it = requests_.erase(it);
  }
  std::string prefix = std::to_string(port) + "|";
  std::erase_if(by_session_, [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.port == port; });
  for (auto it = server_reqs_.begin(); it != server_reqs_.end();) {
    if (it->second.port != port) {
      ++it;
      continue;
    }
    link_->send(R"({"jsonrpc":"2.0","id":)" + it->second.id +
                R"(,"error":{"code":-32001,"message":"the client session that was asked ended"}})");
    server_req_by_key_.erase(key_of(it->second.id));
    it = server_reqs_.erase(it);
  }
  for (auto& [uri, ports] : subscribers_)
    ports.erase(port);
  std::erase_if(init_waiters_, [&](const auto& w) { return w.first == port; });
  if (last_port_ == port) last_port_ = 0;
}

// ---------------------------------------------------------------- server → session

SharedUpstream::PortId SharedUpstream::route_server_request() const {
  // The session with the newest request in flight: the call that is making the server ask.
  std::int64_t newest = 0;
  PortId port = 0;
  for (const auto& [lid, r] : requests_) {
    if (lid > newest && ports_.count(r.port)) {
      newest = lid;
      port = r.port;
    }
  }
  if (port == 0 && ports_.count(last_port_)) port = last_port_;
  return port;
}

void SharedUpstream::from_server(std::string_view line) {
  auto ins = transport::inspect(line, kMaxDepth);
  if (ins.shape != transport::Inspection::Shape::Object || ins.kind == MessageKind::Invalid) {
    server_faults()("server `{}` sent a line that is not a JSON-RPC message; dropped", name_);
    return;
  }
  auto deliver_now = [this](PortId port, std::string_view text) {
    if (auto* p = find(port); p && p->ev_.on_line) p->ev_.on_line(text);
  };
  switch (ins.kind) {
    case MessageKind::Response: {
      auto span = transport::member_span(line, {"id"});
      auto lid = span ? our_number(*span) : std::nullopt;
      auto it = lid ? requests_.find(*lid) : requests_.end();
      if (it == requests_.end()) {
        spdlog::debug("shared `{}`: an answer for no session in flight; dropped", name_);
        return;
      }
      Route r = std::move(it->second);
      requests_.erase(it);
      tokens_.erase(r.token);
      by_session_.erase(r.session_key);
      if (r.method == "initialize") {
        auto waiters = std::move(init_waiters_);
        init_waiters_.clear();
        if (ins.has_result) {
          init_result_ = std::string(*transport::member_span(line, {"result"}));
          init_ = Init::Ready;
          link_->send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
          for (auto& [port, id] : waiters)
            answer_initialize(port, id);
        } else {
          init_ = Init::None;
          for (auto& [port, id] : waiters)
            deliver(port, splice(line, {{*span, id}}));
        }
        return;
      }
      deliver_now(r.port, splice(line, {{*span, r.id}}));
      return;
    }
    case MessageKind::Request: {
      auto span = transport::member_span(line, {"id"});
      if (!span) return;
      if (ins.method == "ping") {
        link_->send(R"({"jsonrpc":"2.0","id":)" + std::string(*span) + R"(,"result":{}})");
        return;
      }
      PortId port = route_server_request();
      if (port == 0) {
        link_->send(transport::error_response(
            ins.id, transport::rpc_error::kUpstreamUnavailable,
            "no client session is connected to answer `" + ins.method + "`"));
        return;
      }
      std::int64_t ours = next_id_++;
      server_reqs_[ours] = ServerRequest{port, std::string(*span)};
      server_req_by_key_[ins.id_key] = ours;
      deliver_now(port, splice(line, {{*span, std::to_string(ours)}}));
      return;
    }
    case MessageKind::Notification: {
      if (ins.method == "notifications/progress") {
        auto span = transport::member_span(line, {"params", "progressToken"});
        auto token = span ? our_number(*span) : std::nullopt;
        auto it = token ? tokens_.find(*token) : tokens_.end();
        if (it == tokens_.end()) return;  // its request is over
        deliver_now(it->second.port, splice(line, {{*span, it->second.token}}));
        return;
      }
      if (ins.method == "notifications/cancelled") {  // the server gives up on its request
        auto span = transport::member_span(line, {"params", "requestId"});
        if (!span) return;
        auto k = server_req_by_key_.find(key_of(*span));
        if (k == server_req_by_key_.end()) return;
        auto it = server_reqs_.find(k->second);
        server_req_by_key_.erase(k);
        if (it == server_reqs_.end()) return;
        PortId port = it->second.port;
        std::string ours = std::to_string(it->first);
        server_reqs_.erase(it);
        deliver_now(port, splice(line, {{*span, ours}}));
        return;
      }
      if (ins.method == "notifications/resources/updated") {
        auto it = subscribers_.find(uri_of(line));
        if (it == subscribers_.end()) return;
        std::vector<PortId> to(it->second.begin(), it->second.end());
        for (auto port : to)
          deliver_now(port, line);
        return;
      }
      if (line.find(kSubscriptionIdKey) != std::string_view::npos) {
        // MCP 2026-07-28: a notification on a subscriptions/listen stream names the listen
        // request (by its id on this link) in _meta: it goes to that session alone, with the
        // session's own id.
        auto span =
            transport::member_span(line, {"params", "_meta", std::string(kSubscriptionIdKey)});
        auto lid = span ? our_number(*span) : std::nullopt;
        auto it = lid ? requests_.find(*lid) : requests_.end();
        if (it == requests_.end()) return;  // its listen is over
        deliver_now(it->second.port, splice(line, {{*span, it->second.id}}));
        return;
      }
      // Logging and list_changed concern everyone on this server.
      each_port([&](Port& p) {
        if (p.ev_.on_line) p.ev_.on_line(line);
      });
      return;
    }
    case MessageKind::Invalid:
      return;
  }
}

}  // namespace gt::proxy
