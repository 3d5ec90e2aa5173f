#include "proxy/http_front.hpp"

#include <openssl/rand.h>
#include <signal.h>

#include <charconv>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/admin/admin_server.hpp"
#include "proxy/admin/decisions_page.hpp"
#include "proxy/admin/endpoints.hpp"
#include "proxy/admin/health.hpp"
#include "proxy/admin/metrics.hpp"
#include "proxy/admission.hpp"
#include "proxy/aggregator.hpp"
#include "proxy/auth/authenticator.hpp"
#include "proxy/batched_post.hpp"
#include "proxy/chain.hpp"
#include "proxy/http_modern.hpp"
#include "proxy/session.hpp"
#include "proxy/shared_upstream.hpp"
#include "proxy/upstream.hpp"
#include "transport/child_process.hpp"
#include "transport/compact.hpp"
#include "transport/http_server.hpp"
#include "transport/inspect.hpp"
#include "transport/jsonrpc.hpp"
#include "transport/mcp_era.hpp"
#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace asio = boost::asio;
namespace web = gt::transport::http;
using transport::MessageKind;

namespace {

// Lines any client can repeat at will (refused requests, sessions opened and evicted) go
// through a RateLimitedLog: per kind, at most kLogBurst per 10 s, then one with the count.
constexpr std::size_t kLogBurst = 20;
transport::RateLimitedLog& refusals() {
  static transport::RateLimitedLog log(spdlog::level::warn,
                                       transport::RateLimitedLog::kDefaultInterval, kLogBurst);
  return log;
}
transport::RateLimitedLog& session_events() {
  static transport::RateLimitedLog log(spdlog::level::info,
                                       transport::RateLimitedLog::kDefaultInterval, kLogBurst);
  return log;
}
transport::RateLimitedLog& evictions() {
  static transport::RateLimitedLog log(spdlog::level::warn,
                                       transport::RateLimitedLog::kDefaultInterval, kLogBurst);
  return log;
}

std::string shorten_header(std::string_view v) {
  return v.size() <= 100 ? std::string(v) : std::string(v.substr(0, 100)) + "…";
}

const std::set<std::string> kProtocolVersions = {"2024-11-05", "2025-03-26", "2025-06-18",
                                                 "2025-11-25"};

// The `reason` label of glasstape_http_refused_total: a small fixed set, from the status and
// the start of the message (every refusal goes through HttpFront::reject).
std::string refusal_reason(unsigned status, std::string_view msg) {
  auto starts = [&](std::string_view p) { return msg.substr(0, p.size()) == p; };
  switch (status) {
    case 400:
      return starts("Parse error") ? "parse_error" : "invalid_request";
    case 401:
      return "unauthenticated";
    case 403:
      return msg.find("host not allowed") != std::string_view::npos     ? "host"
             : msg.find("origin not allowed") != std::string_view::npos ? "origin"
                                                                        : "forbidden";
    case 404:
      return "session_not_found";
    case 405:
      return "method_not_allowed";
    case 406:
      return "not_acceptable";
    case 409:
      return "conflict";
    case 415:
      return "unsupported_media_type";
    case 429:
      return "rate_limited";
    case 502:
      return "server_start_failed";
    case 503:
      return starts("Service Unavailable: too many sessions") ? "too_many_sessions" : "unavailable";
    default:
      return "other";
  }
}

struct HttpSettings {
  std::string host = "127.0.0.1";
  unsigned short port = 8787;
  std::string path = "/mcp";
  std::vector<std::string> allowed_hosts;    // empty: loopback names when bound to loopback
  std::vector<std::string> allowed_origins;  // empty: loopback origins
  std::chrono::seconds session_idle{600};
  std::chrono::seconds keepalive{15};
  std::size_t replay_events = 256;
  std::size_t replay_bytes = 1u << 20;         // per session: replay buffer and unsent queue
  std::size_t replay_total_bytes = 64u << 20;  // every session's replay buffers together
  std::size_t max_sessions = 2000;
  // /healthz, /readyz and /metrics on this listener; unset: on, unless http.auth is configured
  // (then they are served only on admin.listen).
  std::optional<bool> admin_endpoints;
  // The decisions page (`http.ui`): its path, and whether it is on (unset: on when listening
  // on loopback without http.auth).
  std::string ui_path = "/ui";
  std::optional<bool> ui_enabled;
  // Bytes held in every session's replay buffer: the front owns it, sessions update it.
  std::shared_ptr<std::size_t> replay_total = std::make_shared<std::size_t>(0);
};

std::vector<std::string> strings(const YAML::Node& n, const std::string& where) {
  std::vector<std::string> out;
  if (!n.IsSequence()) throw ConfigError(where + ": must be a list of strings");
  for (const auto& v : n)
    out.push_back(v.as<std::string>());
  return out;
}

HttpSettings parse_http(const YAML::Node& n, const std::string& listen_override) {
  HttpSettings s;
  static const std::set<std::string> keys = {"listen",
                                             "path",
                                             "allowed_hosts",
                                             "allowed_origins",
                                             "session_idle_s",
                                             "keepalive_s",
                                             "replay_events",
                                             "replay_bytes",
                                             "replay_total_bytes",
                                             "max_sessions",
                                             "auth",
                                             "admin_endpoints",
                                             "ui"};
  for (const auto& kv : n) {
    // The connection and request limits are parsed by load_config (Config::http_limits).
    static const std::set<std::string> limit_keys = {"max_connections",   "max_connections_per_ip",
                                                     "body_budget_bytes", "header_timeout_ms",
                                                     "body_timeout_ms",   "idle_timeout_ms"};
    if (limit_keys.count(kv.first.as<std::string>())) continue;
    if (!keys.count(kv.first.as<std::string>())) {
      throw ConfigError("http: unknown key `" + kv.first.as<std::string>() + "`");
    }
  }
  std::string listen =
      listen_override.empty() && n["listen"] ? n["listen"].as<std::string>() : listen_override;
  if (!listen.empty()) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
      throw ConfigError("http.listen: expected `host:port`, got `" + listen + "`");
    s.host = listen.substr(0, colon);
    if (s.host.size() > 2 && s.host.front() == '[') s.host = s.host.substr(1, s.host.size() - 2);
    try {
      s.port = static_cast<unsigned short>(std::stoul(listen.substr(colon + 1)));
    } catch (...) {
      throw ConfigError("http.listen: bad port in `" + listen + "`");
    }
  }
  if (n["path"]) s.path = n["path"].as<std::string>();
  if (s.path.empty() || s.path[0] != '/') throw ConfigError("http.path: must start with `/`");
  if (n["allowed_hosts"]) s.allowed_hosts = strings(n["allowed_hosts"], "http.allowed_hosts");
  if (n["allowed_origins"])
    s.allowed_origins = strings(n["allowed_origins"], "http.allowed_origins");
  if (n["session_idle_s"]) s.session_idle = std::chrono::seconds(n["session_idle_s"].as<long>());
  if (n["keepalive_s"]) s.keepalive = std::chrono::seconds(n["keepalive_s"].as<long>());
  if (n["replay_events"]) s.replay_events = n["replay_events"].as<std::size_t>();
  if (n["replay_bytes"]) s.replay_bytes = n["replay_bytes"].as<std::size_t>();
  if (n["replay_total_bytes"]) s.replay_total_bytes = n["replay_total_bytes"].as<std::size_t>();
  if (n["max_sessions"]) s.max_sessions = n["max_sessions"].as<std::size_t>();
  if (s.max_sessions == 0) throw ConfigError("http.max_sessions: must be at least 1");
  if (auto a = n["admin_endpoints"]) {
    if (!a.IsScalar() || (a.Scalar() != "true" && a.Scalar() != "false"))
      throw ConfigError("http.admin_endpoints: must be true or false");
    s.admin_endpoints = a.Scalar() == "true";
  }
  if (auto u = n["ui"]) {
    if (!u.IsMap()) throw ConfigError("http.ui: must be a mapping (path, enabled)");
    for (const auto& kv : u) {
      auto k = kv.first.as<std::string>();
      if (k != "path" && k != "enabled") throw ConfigError("http.ui: unknown key `" + k + "`");
    }
    if (u["path"]) s.ui_path = u["path"].as<std::string>();
    if (s.ui_path.size() < 2 || s.ui_path[0] != '/' || s.ui_path.back() == '/')
      throw ConfigError("http.ui.path: must start with `/` and not end with one (e.g. /ui)");
    if (auto e = u["enabled"]) {
      if (!e.IsScalar() || (e.Scalar() != "true" && e.Scalar() != "false"))
        throw ConfigError("http.ui.enabled: must be true or false");
      s.ui_enabled = e.Scalar() == "true";
    }
  }
  return s;
}

std::string random_session_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw std::runtime_error("no randomness for a session id");
  static const char* hexd = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += hexd[b >> 4];
    id += hexd[b & 15];
  }
  return id;
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ASCII only, as HTTP tokens are (std::tolower consults the locale on every character).
char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// Case-insensitive substring search (no copy: this runs on every request).
bool icontains(std::string_view text, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > text.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= text.size(); ++i) {
    if (ascii_lower(text[i]) == ascii_lower(needle[0]) &&
        iequals(text.substr(i, needle.size()), needle))
      return true;
  }
  return false;
}

bool accepts(std::string_view accept, std::string_view type) {
  return icontains(accept, type) || accept.find("*/*") != std::string_view::npos;
}

// Host header without the port ("localhost:8787" → "localhost", "[::1]:80" → "[::1]").
std::string host_name(std::string_view host) {
  std::string h = lower(std::string(host));
  if (!h.empty() && h[0] == '[') {
    auto end = h.find(']');
    return end == std::string::npos ? h : h.substr(0, end + 1);
  }
  auto colon = h.find(':');
  return colon == std::string::npos ? h : h.substr(0, colon);
}

}  // namespace

// One MCP session over HTTP: the core Session, its own server process, and the routing of
// server messages onto the HTTP exchanges that are waiting for them.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  struct Post {
    std::shared_ptr<web::Exchange> ex;
    std::size_t remaining = 0;         // requests of this POST still unanswered
    std::vector<std::string> answers;  // JSON mode: the responses so far
    bool batch = false;
    unsigned long stream = 0;                             // its SSE stream's number, once it is one
    std::unordered_map<std::string, nlohmann::json> ids;  // request key → its JSON-RPC id
  };
  struct Waiting {  // a request waiting for its answer
    std::shared_ptr<Post> post;
    std::uint64_t seq;  // its key in order_
    std::string token;  // id_key of its progress token, or ""
  };

  // `servers`: one, or several behind an Aggregator (the endpoint that serves them all).
  // `shared`: the server's SharedUpstream per server name (sharing: shared), else none.
  HttpSession(std::string id, asio::any_io_executor ex, const Config& config,
              const std::vector<const ServerConfig*>& servers, gov::Principal principal,
              std::string binding, std::shared_ptr<Pipeline> pipeline, const HttpSettings& settings,
              std::string path,
              const std::map<std::string, std::shared_ptr<SharedUpstream>>& shared)
      : id_(std::move(id)),
        path_(std::move(path)),
        binding_(std::move(binding)),
        settings_(settings) {
    auto to_client = [this](std::string_view line) { deliver(line); };
    std::shared_ptr<Aggregator> aggregator;
    if (servers.size() > 1) {
      AggregateOptions ao;
      ao.session_id = id_;
      ao.separator = config.aggregate.separator;
      ao.max_batch_messages = config.max_batch_messages;
      aggregator = std::make_shared<Aggregator>(ao, to_client);
    }
    auto post = std::make_shared<BatchedPost>(ex)->poster();
    for (std::size_t i = 0; i < servers.size(); ++i) {
      const ServerConfig& server = *servers[i];
      auto sh = shared.find(server.name);
      auto link = sh != shared.end()
                      ? sh->second->attach()
                      : make_upstream(ex, server, config.max_message_bytes, config.shutdown_grace);
      SessionOptions so;
      so.session_id = id_;
      so.server = server.name;
      so.principal = principal;
      so.max_message_bytes = config.max_message_bytes;
      so.max_batch_messages = config.max_batch_messages;
      so.request_timeout = server.request_timeout;
      so.max_timeout = server.max_timeout;
      auto session = std::make_shared<Session>(
          so, pipeline, *link, aggregator ? aggregator->sink(i) : Session::Send(to_client), post,
          ex);
      if (!aggregator) {
        link->start(Session::events_for(session));  // throws: the client gets 502
        side_ = session;
      } else {
        // Behind the aggregate, a server that cannot start is down; the others are served.
        AggregateMember am{server.name,
                           server.prefix,
                           server.prefix_mode.value_or(config.aggregate.prefix_mode),
                           session,
                           {}};
        try {
          link->start(aggregator->events_for(i));
        } catch (const std::exception& e) {
          static transport::RateLimitedLog start_errors(spdlog::level::err);
          start_errors("http: session {}: cannot start server `{}`: {}; serving the others", id_,
                       server.name, e.what());
          am.session = nullptr;
          am.down_reason = std::string("cannot be started: ") + e.what();
          link.reset();
        }
        aggregator->add(std::move(am));
      }
      if (link) upstreams_.push_back(std::move(link));
      sessions_.push_back(std::move(session));
    }
    if (aggregator) side_ = aggregator;
    touch();
  }

  ~HttpSession() {
    close();
    while (!replay_.empty())
      drop_oldest_event();
  }

  const std::string& id() const { return id_; }
  // The endpoint path the session was created on: its id is valid there only.
  const std::string& path() const { return path_; }
  // Who the session belongs to (Authenticator's binding; "" without http.auth): a request
  // with another principal's credential does not find it.
  const std::string& binding() const { return binding_; }

  void touch() { last_active_ = std::chrono::steady_clock::now(); }
  bool idle_for(std::chrono::seconds d) const {
    return idle() && std::chrono::steady_clock::now() - last_active_ > d;
  }
  // No open stream and no request waiting: the session can be closed without cutting off
  // anything in progress.
  bool idle() const { return !has_stream() && posts_.empty(); }
  std::chrono::steady_clock::time_point last_active() const { return last_active_; }

  // A POST's messages. Requests answer on `ex`; with none, 202 is sent by the caller.
  void post(std::vector<std::string_view> lines, const std::vector<transport::Inspection>& ins,
            std::shared_ptr<web::Exchange> ex, bool batch) {
    touch();
    auto p = std::make_shared<Post>();
    p->ex = ex;
    p->batch = batch;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (ins[i].kind == MessageKind::Request) {
        ++p->remaining;
        p->ids[ins[i].id_key] = ins[i].id;
        Waiting w{p, ++waiting_seq_, {}};
        if (lines[i].find("progressToken") != std::string_view::npos) {
          w.token = token_key(lines[i]);
          if (!w.token.empty()) tokens_[w.token] = ins[i].id_key;
        }
        order_.emplace(w.seq, ins[i].id_key);
        posts_[ins[i].id_key] = std::move(w);
      }
    }
    if (p->remaining == 0) ex->respond(202, "", "", headers());
    std::weak_ptr<Post> wp = p;
    ex->on_close([wp, self = weak_from_this()]() {
      // The client dropped the POST's stream: its answers go nowhere (a later GET with
      // Last-Event-ID can replay what was sent on it).
      auto s = self.lock();
      auto post = wp.lock();
      if (!s || !post) return;
      for (const auto& [key, id] : post->ids) {
        if (auto it = s->posts_.find(key); it != s->posts_.end() && it->second.post == post)
          s->forget(it);
      }
    });
    for (auto line : lines)
      side_->on_client_line(line);
  }

  // GET: the stream for server messages not tied to a POST.
  void open_stream(std::shared_ptr<web::Exchange> ex, const std::string& last_event_id) {
    touch();
    get_ = ex;
    get_stream_ = ++stream_count_;
    ex->start_stream(headers());
    if (!last_event_id.empty()) replay_after(last_event_id);
    if (unsent_dropped_) {
      evictions()("http: session {}: {} server message(s) dropped while no stream was open", id_,
                  unsent_dropped_);
      unsent_dropped_ = 0;
    }
    unsent_bytes_ = 0;
    while (!unsent_.empty()) {
      emit(ex, get_stream_, unsent_.front());
      unsent_.pop_front();
    }
    ex->on_close([self = weak_from_this(), wex = std::weak_ptr<web::Exchange>(ex)]() {
      auto s = self.lock();
      if (s && s->get_ == wex.lock()) s->get_.reset();
    });
  }
  bool has_stream() const { return get_ && !get_->done() && !get_->closed(); }
  // A request with this id is waiting for its answer on some POST, or in the session.
  bool in_flight(const std::string& key) const {
    return posts_.count(key) || side_->in_flight(key);
  }

  void keepalive() {
    if (has_stream()) get_->comment("keep-alive");
    std::unordered_set<const Post*> seen;  // a batch's requests share one POST
    for (auto& [k, w] : posts_) {
      if (seen.insert(w.post.get()).second && w.post->ex->streaming())
        w.post->ex->comment("keep-alive");
    }
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    // Requests still waiting get an error answer (on their JSON or SSE response), so no
    // client is left hanging on a session that ended.
    std::vector<nlohmann::json> waiting;
    for (auto& [k, w] : posts_)
      waiting.push_back(w.post->ids[k]);
    for (const auto& id : waiting) {
      deliver(transport::error_response(id, transport::rpc_error::kUpstreamUnavailable,
                                        "the session ended before the server answered"));
    }
    if (get_) get_->end_stream();
    for (auto& [k, w] : posts_) {
      if (w.post->ex->streaming()) w.post->ex->end_stream();
    }
    posts_.clear();
    order_.clear();
    tokens_.clear();
    for (auto& u : upstreams_)
      u->shutdown();
  }

  std::vector<web::Header> headers() const { return {{"Mcp-Session-Id", id_}}; }

 private:
  // The id_key of a request's progress token, or "".
  static std::string token_key(std::string_view line) {
    auto span = transport::member_span(line, {"params", "_meta", "progressToken"});
    if (!span) return {};
    auto token = nlohmann::json::parse(*span, nullptr, false);
    return token.is_discarded() ? std::string() : transport::id_key(token);
  }

  // A request stops waiting: every index of it goes, in constant time (a batch of n
  // requests costs n steps, not n²).
  void forget(std::unordered_map<std::string, Waiting>::iterator it) {
    order_.erase(it->second.seq);
    if (!it->second.token.empty()) {
      if (auto t = tokens_.find(it->second.token); t != tokens_.end() && t->second == it->first)
        tokens_.erase(t);
    }
    posts_.erase(it);
  }

  // A message from the server (via the core Session) for this client.
  void deliver(std::string_view line) {
    auto ins = transport::inspect(line, 512);
    if (ins.kind == MessageKind::Response) {
      auto it = posts_.find(ins.id_key);
      if (it != posts_.end()) {
        auto p = it->second.post;
        forget(it);
        --p->remaining;
        if (p->ex->streaming()) {
          emit(p->ex, p->stream, std::string(line));
          if (p->remaining == 0) p->ex->end_stream();
        } else {
          p->answers.emplace_back(line);
          if (p->remaining == 0) {
            std::string body;
            if (p->batch) {
              body = "[";
              for (std::size_t i = 0; i < p->answers.size(); ++i)
                body += (i ? "," : "") + p->answers[i];
              body += "]";
            } else {
              body = p->answers.front();
            }
            p->ex->respond(200, std::move(body), "application/json", headers());
          }
        }
        return;
      }
    }
    // Not an answer to a waiting POST: progress goes to the POST that asked for it; other
    // messages to the newest waiting POST (they are about the call in flight), else to the
    // GET stream, else they wait for one.
    std::shared_ptr<Post> target;
    if (ins.method == "notifications/progress") {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j["params"].is_object() && j["params"].contains("progressToken")) {
        auto t = tokens_.find(transport::id_key(j["params"]["progressToken"]));
        if (t != tokens_.end()) {
          if (auto p = posts_.find(t->second); p != posts_.end()) target = p->second.post;
        }
      }
    }
    if (!target && !order_.empty()) {
      if (auto p = posts_.find(order_.rbegin()->second); p != posts_.end()) target = p->second.post;
    }
    if (target && !target->ex->closed()) {
      if (!target->ex->streaming()) {
        // The first message before the answer: this POST becomes an SSE stream, and any
        // answers already collected for it go first.
        target->ex->start_stream(headers());
        target->stream = ++stream_count_;
        for (auto& a : target->answers)
          emit(target->ex, target->stream, a);
        target->answers.clear();
      }
      emit(target->ex, target->stream, std::string(line));
      return;
    }
    if (has_stream()) {
      emit(get_, get_stream_, std::string(line));
      return;
    }
    // No stream to send it on yet: it waits for the next GET, within the same bounds as the
    // replay buffer (a server that floods notifications nobody reads loses the oldest).
    unsent_bytes_ += line.size();
    unsent_.emplace_back(line);
    while (!unsent_.empty() &&
           (unsent_.size() > settings_.replay_events || unsent_bytes_ > settings_.replay_bytes)) {
      unsent_bytes_ -= unsent_.front().size();
      unsent_.pop_front();
      ++unsent_dropped_;
    }
  }

  // Event ids are "<stream>-<seq>": a Last-Event-ID names its stream even after its events
  // left the replay buffer, so a resume never replays another stream's events.
  void emit(const std::shared_ptr<web::Exchange>& ex, unsigned long stream, std::string data) {
    ++event_seq_;
    ex->event(std::to_string(stream) + "-" + std::to_string(event_seq_), data);
    // The replay buffer is bounded in events and bytes, per session and over all sessions:
    // the oldest events of this session go first (possibly this one, if it alone is over).
    replay_bytes_ += data.size();
    *settings_.replay_total += data.size();
    replay_.push_back({event_seq_, stream, std::move(data)});
    while (!replay_.empty() &&
           (replay_.size() > settings_.replay_events || replay_bytes_ > settings_.replay_bytes ||
            *settings_.replay_total > settings_.replay_total_bytes)) {
      drop_oldest_event();
    }
  }

  void drop_oldest_event() {
    replay_bytes_ -= replay_.front().data.size();
    *settings_.replay_total -= replay_.front().data.size();
    replay_.pop_front();
  }

  // GET with Last-Event-ID: the events of that id's stream sent after it and still in the
  // buffer go out again on the GET stream. An id this session never issued replays nothing.
  void replay_after(const std::string& last) {
    auto dash = last.find('-');
    if (dash == std::string::npos) return;
    unsigned long stream = 0, seq = 0;
    auto parse = [](std::string_view t, unsigned long& out) {
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
      return ec == std::errc() && end == t.data() + t.size() && !t.empty();
    };
    std::string_view v(last);
    if (!parse(v.substr(0, dash), stream) || !parse(v.substr(dash + 1), seq)) return;
    if (stream == 0 || stream > stream_count_ || seq > event_seq_) return;
    std::vector<std::string> again;
    for (auto& e : replay_) {
      if (e.stream == stream && e.seq > seq) again.push_back(e.data);
    }
    for (auto& d : again)
      emit(get_, get_stream_, d);
  }

  struct Event {
    unsigned long seq;
    unsigned long stream;
    std::string data;
  };

  std::string id_;
  std::string path_;
  std::string binding_;
  const HttpSettings& settings_;
  std::vector<std::shared_ptr<UpstreamLink>> upstreams_;  // the ones started
  std::vector<std::shared_ptr<Session>> sessions_;        // one per server
  std::shared_ptr<ClientSide> side_;                      // the one Session, or the Aggregator
  std::unordered_map<std::string, Waiting> posts_;        // by request id key
  std::map<std::uint64_t, std::string> order_;            // waiting request keys, oldest first
  std::unordered_map<std::string, std::string> tokens_;   // progress token → request key
  std::uint64_t waiting_seq_ = 0;
  std::shared_ptr<web::Exchange> get_;
  std::deque<std::string> unsent_;
  std::size_t unsent_bytes_ = 0;
  std::size_t unsent_dropped_ = 0;  // since the last GET: reported when one opens
  std::size_t replay_bytes_ = 0;
  std::deque<Event> replay_;
  unsigned long event_seq_ = 0;
  unsigned long stream_count_ = 0;  // SSE streams opened, numbering them from 1
  unsigned long get_stream_ = 0;
  std::chrono::steady_clock::time_point last_active_;
  bool closed_ = false;
};

class HttpFront {
 public:
  using Servers = std::vector<const ServerConfig*>;
  HttpFront(asio::io_context& ioc, const Config& config, const HttpFrontOptions& opts)
      : ioc_(ioc),
        config_(config),
        tenant_(opts.tenant.empty() ? config.tenants.front() : config.tenant(opts.tenant)),
        settings_(parse_http(config.http, opts.listen)),
        sweep_(ioc) {
    if (config.servers.empty()) throw ConfigError("serve: the config has no `servers`");
    // One server: served at http.path. Several: all of them behind one endpoint at http.path
    // (issue 18: aggregated), and each alone at http.path/<name>.
    for (const auto& s : config.servers) {
      routes_[settings_.path].push_back(&s);
      if (config.servers.size() > 1) routes_[settings_.path + "/" + s.name] = {&s};
    }
    auto addr = asio::ip::make_address(settings_.host);
    loopback_ = addr.is_loopback();
    if (settings_.allowed_hosts.empty()) {
      if (!loopback_) {
        throw ConfigError("http.allowed_hosts: required when listening on a non-loopback address");
      }
      settings_.allowed_hosts = {"localhost", "127.0.0.1", "[::1]"};
    }
    web::Limits limits;
    limits.body_limit = config.max_message_bytes;
    limits.max_connections = config.http_limits.max_connections;
    limits.max_connections_per_ip = config.http_limits.max_connections_per_ip;
    limits.body_budget = config.http_limits.body_budget_bytes;
    limits.header_timeout = config.http_limits.header_timeout;
    limits.body_timeout = config.http_limits.body_timeout;
    limits.idle_timeout = config.http_limits.idle_timeout;
    // The address is bound before the pipeline is built: a serve that cannot listen stops
    // before its audit log is opened or written.
    try {
      server_ = std::make_shared<web::Server>(
          ioc, asio::ip::tcp::endpoint(addr, settings_.port), limits,
          [this](web::Request&& r, std::shared_ptr<web::Exchange> ex) {
            handle(std::move(r), std::move(ex));
          });
    } catch (const boost::system::system_error& e) {
      throw ListenError("cannot listen on " + settings_.host + ":" +
                        std::to_string(settings_.port) + ": " + e.code().message() +
                        (e.code() == asio::error::address_in_use
                             ? " (another process has it? choose another with --listen)"
                             : ""));
    }
    auto auth =
        parse_auth_settings(config.http.IsMap() ? config.http["auth"] : YAML::Node(), config);
    if (auth && !opts.tenant.empty()) {
      throw ConfigError(
          "--tenant cannot be used with http.auth: each client's credential names "
          "its tenant, and every tenant of the config is served");
    }
    // One pipeline per tenant served: its policies, audit log and keys.
    std::set<std::string> served;
    for (const auto& t : config.tenants) {
      if (!auth && &t != &tenant_) continue;
      InterceptorEnv env{config, t, opts.debug};
      pipelines_[t.id] = build_pipeline(env);
      served.insert(t.id);
    }
    const bool with_auth = static_cast<bool>(auth);
    if (auth) {
      auth_ = std::make_unique<Authenticator>(ioc.get_executor(), std::move(*auth), served);
    }
    auto report = [this](admin::Report& out) { report_status(out); };
    if (settings_.admin_endpoints.value_or(!with_auth))
      admin_ = std::make_unique<admin::Endpoints>(report);
    if (settings_.ui_enabled.value_or(loopback_ && !with_auth)) {
      if (settings_.ui_path == settings_.path || routes_.count(settings_.ui_path) ||
          admin::Endpoints::is_admin_path(settings_.ui_path))
        throw ConfigError("http.ui.path: `" + settings_.ui_path + "` is taken by another endpoint");
      std::vector<admin::PageSource> sources;
      for (const auto& [tenant, pipeline] : pipelines_) {
        auto src = pipeline->audit_source();
        sources.push_back({tenant, src.dir, src.keyring});
      }
      ui_ = std::make_unique<admin::DecisionsPage>(ioc.get_executor(), settings_.ui_path,
                                                   std::move(sources), report,
                                                   [this] { return tool_governance(); });
    }
    if (!config.admin_listen.empty()) {
      try {
        admin_server_ = std::make_unique<admin::AdminServer>(ioc, config.admin_listen, report);
      } catch (const std::runtime_error& e) {
        throw ListenError(e.what());
      }
    }
  }

  void start() {
    // Shared servers start with the front, so a server that cannot start is an error now,
    // not at the first client. Tenants never share one: each served tenant has its own.
    for (const auto& s : config_.servers) {
      if (s.sharing != "shared") continue;
      for (const auto& [tenant, pipeline] : pipelines_) {
        auto link = make_upstream(ioc_.get_executor(), s, config_.max_message_bytes,
                                  config_.shutdown_grace);
        auto mux = std::make_shared<SharedUpstream>(ioc_.get_executor(), link, s.name);
        mux->start();
        shared_[s.name + '\n' + tenant] = mux;
        spdlog::info("server `{}` is shared by all sessions of tenant `{}`", s.name, tenant);
      }
    }
    if (auth_) auth_->start();
    server_->start();
    if (admin_server_) admin_server_->start();
    std::string tenants;
    for (const auto& [t, p] : pipelines_)
      tenants += (tenants.empty() ? "`" : ", `") + t + "`";
    std::string host =
        settings_.host.find(':') != std::string::npos ? "[" + settings_.host + "]" : settings_.host;
    for (auto& [path, servers] : routes_) {
      std::string names;
      for (const auto* s : servers)
        names += (names.empty() ? "`" : ", `") + s->name + "`";
      spdlog::info("serving MCP at http://{}:{}{} for {} {} ({} {})", host, server_->port(), path,
                   servers.size() == 1 ? "server" : "servers", names,
                   pipelines_.size() == 1 ? "tenant" : "tenants", tenants);
    }
    if (auth_) {
      spdlog::info("auth: clients must authenticate ({}{}); metadata at {}",
                   auth_->settings().issuers.empty()
                       ? std::string()
                       : std::to_string(auth_->settings().issuers.size()) + " OAuth issuer(s)",
                   auth_->settings().api_keys.empty()
                       ? std::string()
                       : std::string(auth_->settings().issuers.empty() ? "" : ", ") + "API keys",
                   auth_->settings().metadata_url);
    }
    sweep();
  }

  void stop() {
    if (auth_) auth_->stop();
    server_->stop();
    if (admin_server_) admin_server_->stop();
    if (ui_) ui_->stop();
    sweep_.cancel();
    for (auto& [id, s] : sessions_)
      s->close();
    sessions_.clear();
    for (auto& [name, mux] : shared_)
      mux->shutdown([] {});
    for (auto& [path, lane] : lanes_)
      lane->shutdown();
  }

 private:
  void sweep() {
    auto every = settings_.keepalive.count() > 0
                     ? std::min<std::chrono::seconds>(settings_.keepalive, std::chrono::seconds(5))
                     : std::chrono::seconds(5);
    sweep_.expires_after(every);
    sweep_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      auto now = std::chrono::steady_clock::now();
      bool ka = settings_.keepalive.count() > 0 && now - last_keepalive_ >= settings_.keepalive;
      if (ka) last_keepalive_ = now;
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second->idle_for(settings_.session_idle)) {
          session_events()("http: session {} idle for {} s; closing", it->first,
                           settings_.session_idle.count());
          it->second->close();
          it = sessions_.erase(it);
        } else {
          if (ka) it->second->keepalive();
          ++it;
        }
      }
      if (ka) {
        for (auto& [path, lane] : lanes_)
          lane->keepalive();
      }
      sweep();
    });
  }

  // At the session limit, a new client takes the place of the session idle the longest (no
  // open stream, no request waiting), so idle sessions cannot lock new clients out for
  // session_idle_s. False when every session is busy.
  bool evict_idle_session() {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second->idle() &&
          (oldest == sessions_.end() || it->second->last_active() < oldest->second->last_active()))
        oldest = it;
    }
    if (oldest == sessions_.end()) return false;
    evictions()("http: {} sessions reached http.max_sessions; closed session {}, idle the longest",
                sessions_.size(), oldest->first);
    oldest->second->close();
    sessions_.erase(oldest);
    return true;
  }

  // A POST refused for what it says (400), with one line for the operator.
  static void refuse(const std::shared_ptr<web::Exchange>& ex, const std::string& msg,
                     int code = -32600, const nlohmann::json& id = nullptr) {
    refusals()("http: refused a POST: {}", msg);
    reject(ex, 400, msg, code, {}, id);
  }

  // An HTTP error with a JSON-RPC error body; `id` is the request's when it is known.
  static void reject(const std::shared_ptr<web::Exchange>& ex, unsigned status,
                     const std::string& msg, int code = -32600,
                     std::vector<web::Header> headers = {}, const nlohmann::json& id = nullptr) {
    admin::metrics().refused.inc({refusal_reason(status, msg)});
    nlohmann::json body = {
        {"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", msg}}}};
    ex->respond(status, body.dump(), "application/json", headers);
  }

  // The spec's answer to a version the server does not speak (-32022), with the request's id
  // and the versions it does speak, so a client that negotiates (the SDK v2 client in `auto`
  // mode) can fall back to the initialize handshake. (A 2026-07-28 request names its version
  // in its body, and is classified before this: transport/mcp_era.hpp.)
  static void unsupported_version(const std::shared_ptr<web::Exchange>& ex,
                                  const std::string& version, const nlohmann::json& id) {
    nlohmann::json supported = nlohmann::json::array();
    for (auto v = kProtocolVersions.rbegin(); v != kProtocolVersions.rend(); ++v)
      supported.push_back(*v);
    std::string vshown = shorten_header(version);
    nlohmann::json body = {
        {"jsonrpc", "2.0"},
        {"id", id},
        {"error",
         {{"code", transport::mcp::kUnsupportedProtocolVersion},
          {"message", "Unsupported protocol version: MCP-Protocol-Version `" + vshown +
                          "`; GlassTape's HTTP front speaks " + supported.dump() +
                          " (and 2026-07-28, named in each request's _meta)"},
          {"data", {{"supported", supported}, {"requested", vshown}}}}}};
    refusals()("http: refused MCP-Protocol-Version `{}`", vshown);
    admin::metrics().refused.inc({"protocol_version"});
    ex->respond(400, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                "application/json", {});
  }

  bool origin_allowed(std::string_view origin) const {
    if (origin.empty()) return true;  // non-browser clients send none
    std::string o = lower(std::string(origin));
    if (!settings_.allowed_origins.empty()) {
      for (const auto& a : settings_.allowed_origins) {
        if (a == "*" || lower(a) == o) return true;
      }
      return false;
    }
    for (const char* prefix : {"http://localhost", "https://localhost", "http://127.0.0.1",
                               "https://127.0.0.1", "http://[::1]", "https://[::1]"}) {
      std::string_view p(prefix);
      if (o.compare(0, p.size(), p) == 0 && (o.size() == p.size() || o[p.size()] == ':'))
        return true;
    }
    return false;
  }

  bool host_allowed(std::string_view host) const {
    auto h = host_name(host);
    for (const auto& a : settings_.allowed_hosts) {
      if (a == "*" || iequals(a, h) || iequals(a, host)) return true;
    }
    return false;
  }

  // /readyz and /metrics: every served tenant's chain and audit log, the servers, the sessions.
  void report_status(admin::Report& out) const {
    for (const auto& [tenant, pipeline] : pipelines_)
      pipeline->report(out);
    std::vector<std::string> names;
    for (const auto& s : config_.servers)
      names.push_back(s.name);
    admin::upstream_status().report(names, out);
    admin::metrics().sessions.set({"http"}, static_cast<double>(sessions_.size()));
  }

  // The decisions page's view of the tools: per server (per tenant and server when several
  // tenants are served), each listed tool and how it is governed.
  nlohmann::json tool_governance() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [tenant, pipeline] : pipelines_) {
      for (const auto& [server, tools] : pipeline->tool_governance()) {
        auto& list = out[pipelines_.size() > 1 ? tenant + "/" + server : server];
        if (list.is_null()) list = nlohmann::json::array();
        for (const auto& [name, how] : tools)
          list.push_back({name, how});
      }
    }
    for (const auto& s : config_.servers) {
      if (pipelines_.size() == 1 && !out.contains(s.name)) out[s.name] = nlohmann::json::array();
    }
    return out;
  }

  // The decisions page: the Host and Origin checks of /mcp, and its authentication when
  // http.auth is configured (http.ui.enabled: true).
  void serve_ui(web::Request&& req, std::shared_ptr<web::Exchange> ex, const std::string& target) {
    admin::metrics().http_requests.inc({"ui"});
    if (!browser_checks(req, ex)) return;
    std::string method(req.method_string());
    if (!auth_) {
      ui_->handle(method, target, std::move(ex));
      return;
    }
    authenticated(std::move(req), ex,
                  [this, ex, method, target](web::Request&&, const AuthResult&) {
                    if (ui_) ui_->handle(method, target, ex);
                  });
  }

  void handle(web::Request&& req, std::shared_ptr<web::Exchange> ex) {
    namespace bh = boost::beast::http;
    std::string target(req.target());
    auto q = target.find('?');
    if (q != std::string::npos) target.resize(q);
    if (admin_ && admin::Endpoints::is_admin_path(target)) {
      // The same DNS-rebinding check as /mcp: a page elsewhere cannot read the metrics.
      if (!host_checked(req, ex)) return;
      admin::send(*ex, std::move(*admin_->handle(std::string(req.method_string()), target)));
      return;
    }
    if (auth_ && target == auth_->settings().metadata_path) {
      // RFC 9728: where a client learns which authorization server to ask, and for what.
      if (req.method() != bh::verb::get && req.method() != bh::verb::head) {
        ex->respond(405, "method not allowed\n", "text/plain", {{"Allow", "GET, HEAD"}});
        return;
      }
      ex->respond(200, auth_->metadata_document(), "application/json",
                  {{"Cache-Control", "max-age=300"}});
      return;
    }
    if (ui_ && ui_->owns(target)) {
      serve_ui(std::move(req), std::move(ex), target);
      return;
    }
    auto route = routes_.find(target);
    if (route == routes_.end()) {
      admin::metrics().http_requests.inc({"other"});
      ex->respond(404, "not found\n", "text/plain");
      return;
    }
    admin::metrics().http_requests.inc({"mcp"});
    if (!browser_checks(req, ex)) return;
    if (!auth_) {
      dispatch(std::move(req), ex, route->first, route->second, nullptr, {});
      return;
    }
    // Who is calling, before anything else: an unauthenticated request reaches no session,
    // no parser of its body and no server.
    authenticated(std::move(req), ex,
                  [this, ex, path = route->first, servers = &route->second](web::Request&& r,
                                                                            const AuthResult& a) {
                    dispatch(std::move(r), ex, path, *servers, a.principal, a.binding);
                  });
  }

  // DNS-rebinding protection: a request for another host name is refused (answered, logged)
  // and false returned. Every endpoint a browser can reach has this check.
  bool host_checked(const web::Request& req, const std::shared_ptr<web::Exchange>& ex) {
    namespace bh = boost::beast::http;
    if (host_allowed(req[bh::field::host])) return true;
    refusals()("http: refused Host `{}` (not in http.allowed_hosts)",
               shorten_header(req[bh::field::host]));
    reject(ex, 403, "Forbidden: host not allowed");
    return false;
  }

  // The Host check, and a page on another origin never reaches what is behind it.
  bool browser_checks(const web::Request& req, const std::shared_ptr<web::Exchange>& ex) {
    namespace bh = boost::beast::http;
    if (!host_checked(req, ex)) return false;
    if (origin_allowed(req[bh::field::origin])) return true;
    refusals()("http: refused Origin `{}` (not in http.allowed_origins)",
               shorten_header(req[bh::field::origin]));
    reject(ex, 403, "Forbidden: origin not allowed");
    return false;
  }

  // http.auth: runs `next` once the request is authenticated; a refusal is answered here.
  void authenticated(web::Request&& req, std::shared_ptr<web::Exchange> ex,
                     std::function<void(web::Request&&, const AuthResult&)> next) {
    auto held = std::make_shared<web::Request>(std::move(req));
    auth_->authenticate(*held, ex->peer(), [held, ex, next = std::move(next)](AuthResult r) {
      if (ex->closed() || ex->done()) return;
      if (!r.ok()) {
        std::vector<web::Header> h;
        if (!r.www_authenticate.empty()) h.push_back({"WWW-Authenticate", r.www_authenticate});
        if (r.status == 503) h.push_back({"Retry-After", "5"});
        reject(ex, r.status, r.message, -32000, std::move(h));
        return;
      }
      next(std::move(*held), r);
    });
  }

  // A request past the Host, Origin and authentication checks. `principal` is the
  // authenticated client, or null for the tenant's configured identity (no http.auth).
  void dispatch(web::Request&& req, std::shared_ptr<web::Exchange> ex, const std::string& path,
                const Servers& servers, std::shared_ptr<const gov::Principal> principal,
                const std::string& binding) {
    namespace bh = boost::beast::http;
    std::string sid(req["Mcp-Session-Id"]);
    std::string version(req["MCP-Protocol-Version"]);
    if (req.method() != bh::verb::post && version == transport::mcp::kModernVersion) {
      // MCP 2026-07-28 has no GET stream and no session to DELETE.
      reject(ex, 405, "Method not allowed: MCP 2026-07-28 uses POST only", -32000,
             {{"Allow", "POST"}});
      return;
    }
    if (req.method() != bh::verb::post && !version.empty() && !kProtocolVersions.count(version)) {
      unsupported_version(ex, version, nullptr);
      return;
    }
    switch (req.method()) {
      case bh::verb::post:
        handle_post(std::move(req), ex, sid, version, path, servers, principal, binding);
        return;
      case bh::verb::get: {
        if (!accepts(req[bh::field::accept], "text/event-stream")) {
          reject(ex, 406, "Not Acceptable: GET needs Accept: text/event-stream");
          return;
        }
        auto s = find_session(ex, sid, path, binding);
        if (!s) return;
        if (s->has_stream()) {
          reject(ex, 409, "Conflict: this session already has a GET stream");
          return;
        }
        s->open_stream(ex, std::string(req["Last-Event-ID"]));
        return;
      }
      case bh::verb::delete_: {
        auto s = find_session(ex, sid, path, binding);
        if (!s) return;
        s->close();
        sessions_.erase(sid);
        session_events()("http: session {} ended by the client", sid);
        ex->respond(200, "", "", {});
        return;
      }
      default:
        ex->respond(405, "method not allowed\n", "text/plain", {{"Allow", "GET, POST, DELETE"}});
    }
  }

  std::shared_ptr<HttpSession> find_session(const std::shared_ptr<web::Exchange>& ex,
                                            const std::string& sid, const std::string& path,
                                            const std::string& binding) {
    if (sid.empty()) {
      reject(ex, 400, "Bad Request: Mcp-Session-Id header is required");
      return nullptr;
    }
    auto it = sessions_.find(sid);
    // A session belongs to the endpoint (and so the server) it was created on, and to the
    // principal that created it: elsewhere, or with another's credential, its id is unknown.
    if (it == sessions_.end() || it->second->path() != path || it->second->binding() != binding) {
      reject(ex, 404, "Session not found", -32001);
      return nullptr;
    }
    return it->second;
  }

  void handle_post(web::Request&& req, std::shared_ptr<web::Exchange> ex, const std::string& sid,
                   const std::string& version, const std::string& path, const Servers& servers,
                   const std::shared_ptr<const gov::Principal>& principal,
                   const std::string& binding) {
    namespace bh = boost::beast::http;
    auto accept = req[bh::field::accept];
    if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream")) {
      reject(ex, 406, "Not Acceptable: Accept must list application/json and text/event-stream");
      return;
    }
    auto ctype = req[bh::field::content_type];
    if (!iequals(ctype.substr(0, 16), "application/json")) {
      reject(ex, 415, "Unsupported Media Type: Content-Type must be application/json");
      return;
    }
    // What is judged is what runs: the session and the server see the compact text of the
    // body (transport/compact.hpp), never the bytes as received.
    std::string body;
    if (auto err = transport::compact(req.body(), body, 512)) {
      if (transport::inspect(req.body(), 512).shape == transport::Inspection::Shape::Malformed) {
        reject(ex, 400, "Parse error: " + err.message, -32700);
      } else {
        refuse(ex, "Invalid Request: " + err.message, -32600,
               transport::recover_id(req.body()).value_or(nullptr));
      }
      return;
    }
    auto top = transport::inspect(body, 512);
    std::vector<std::string_view> lines;
    bool batch = false;
    if (top.shape == transport::Inspection::Shape::Malformed) {
      reject(ex, 400, "Parse error: " + top.error, -32700);
      return;
    }
    if (top.shape == transport::Inspection::Shape::Batch) {
      // JSON-RPC batching was removed from MCP in 2025-06-18; a missing header means
      // 2025-03-26, which still has it. (The versions compare as dates.)
      if (!version.empty() && version >= "2025-06-18") {
        reject(ex, 400,
               "Invalid Request: JSON-RPC batches are not supported in MCP-Protocol-Version `" +
                   version + "`");
        return;
      }
      lines = transport::array_elements(body);
      batch = true;
      if (lines.empty()) {
        reject(ex, 400, "Invalid Request: empty batch");
        return;
      }
      if (lines.size() > config_.max_batch_messages) {
        refuse(ex, "Invalid Request: a batch of " + std::to_string(lines.size()) +
                       " messages exceeds the limit of " +
                       std::to_string(config_.max_batch_messages) + " (max_batch_messages)");
        return;
      }
    } else {
      lines.push_back(body);
    }
    std::vector<transport::Inspection> ins;
    bool has_init = false;
    std::set<std::string> ids;  // a batch's request ids: each at most once
    for (auto l : lines) {
      ins.push_back(l.data() == body.data() && !batch ? top : transport::inspect(l, 512));
      const auto& m = ins.back();
      // Anything the session would refuse is refused here, before the POST is routed: the
      // client gets one 400 with the reason, and nothing of the POST reaches the server.
      const nlohmann::json& id = batch || m.kind != MessageKind::Request ? nullptr : m.id;
      if (m.kind == MessageKind::Invalid) {
        refuse(ex, "Invalid Request: " + m.error, -32600, batch ? nullptr : m.id);
        return;
      }
      if (auto r = admit_client_message(m, l)) {
        refuse(ex, r->message, r->code, id);
        return;
      }
      if (batch && l.find(transport::mcp::kProtocolVersionKey) != std::string_view::npos &&
          transport::member_span(
              l, {"params", "_meta", std::string(transport::mcp::kProtocolVersionKey)})) {
        refuse(ex,
               "Invalid Request: a batch element names a protocol version in its _meta; MCP "
               "2026-07-28 requests are sent one per POST");
        return;
      }
      if (m.kind == MessageKind::Request && !ids.insert(m.id_key).second) {
        refuse(ex, "Invalid Request: the id " + m.id.dump() + " occurs twice in the batch");
        return;
      }
      if (m.method == "initialize") has_init = true;
    }
    if (!batch) {
      // MCP 2026-07-28 (a version named in the request's _meta) or earlier: decided per
      // request, before any session is looked up. The headers must say what the body says.
      const auto& m = ins.front();
      transport::mcp::McpHeaders h;
      for (const auto& f : req)
        h.add(std::string_view(f.name_string().data(), f.name_string().size()),
              std::string_view(f.value().data(), f.value().size()));
      nlohmann::json params = nlohmann::json::object();
      if (auto meta = transport::member_span(body, {"params", "_meta"}))
        params["_meta"] = nlohmann::json::parse(*meta, nullptr, false);
      if (auto member = transport::mcp::name_member(m.method)) {
        if (auto v = transport::member_span(body, {"params", std::string(*member)}))
          params[std::string(*member)] = nlohmann::json::parse(*v, nullptr, false);
      }
      auto era = transport::mcp::classify_request(m.method, params, &h,
                                                  m.kind == MessageKind::Notification);
      if (era.error) {
        refusals()("http: refused a POST: {}", era.error->message);
        ex->respond(era.error->http_status,
                    transport::error_response(m.kind == MessageKind::Request ? m.id : nullptr,
                                              era.error->code, era.error->message, era.error->data),
                    "application/json");
        return;
      }
      if (era.era == transport::mcp::Era::Modern && servers.size() > 1) {
        // The aggregate endpoint keeps sessions (it merges lists per client session): a
        // 2026-07-28 client is told which versions it serves, and falls back to initialize.
        unsupported_version(ex, std::string(transport::mcp::kModernVersion),
                            m.kind == MessageKind::Request ? m.id : nullptr);
        return;
      }
      if (era.era == transport::mcp::Era::Modern) {
        lane(path, *servers.front(), principal ? principal->tenant : tenant_.id)
            ->handle(std::move(body), m, std::move(h), ex,
                     principal ? std::optional<gov::Principal>(*principal) : std::nullopt);
        return;
      }
    }
    if (!version.empty() && !kProtocolVersions.count(version)) {
      unsupported_version(
          ex, version,
          !batch && ins.front().kind == MessageKind::Request ? ins.front().id : nullptr);
      return;
    }
    std::shared_ptr<HttpSession> s;
    if (has_init) {
      // A failed initialize answers with the request's id (alone in its POST, or the batch
      // is refused with null).
      const nlohmann::json& init_id = lines.size() == 1 ? ins.front().id : nullptr;
      if (!sid.empty()) {
        reject(ex, 400, "Bad Request: initialize must not carry Mcp-Session-Id", -32600, {},
               init_id);
        return;
      }
      if (lines.size() != 1) {
        reject(ex, 400, "Invalid Request: initialize must be sent alone");
        return;
      }
      if (sessions_.size() >= settings_.max_sessions && !evict_idle_session()) {
        reject(ex, 503, "Service Unavailable: too many sessions", -32000, {}, init_id);
        return;
      }
      try {
        const std::string& tenant = principal ? principal->tenant : tenant_.id;
        std::map<std::string, std::shared_ptr<SharedUpstream>> shared;
        for (const auto* server : servers) {
          if (auto it = shared_.find(server->name + '\n' + tenant); it != shared_.end())
            shared[server->name] = it->second;
        }
        s = std::make_shared<HttpSession>(random_session_id(), ioc_.get_executor(), config_,
                                          servers, principal ? *principal : tenant_.principal,
                                          binding, pipelines_.at(tenant), settings_, path, shared);
      } catch (const std::exception& e) {
        static transport::RateLimitedLog start_errors(spdlog::level::err);
        start_errors("http: cannot start server `{}`: {}", servers.front()->name, e.what());
        reject(ex, 502, std::string("cannot start the server: ") + e.what(), -32001, {}, init_id);
        return;
      }
      sessions_[s->id()] = s;
      admin::metrics().sessions_opened.inc({"http"});
      session_events()("http: session {} started", s->id());
    } else {
      s = find_session(ex, sid, path, binding);
      if (!s) return;
      for (const auto& m : ins) {
        if (m.kind == MessageKind::Request && s->in_flight(m.id_key)) {
          refuse(ex,
                 "Invalid Request: the id " + m.id.dump() +
                     " is already used by a request in flight; it was not forwarded",
                 -32600, batch ? nullptr : m.id);
          return;
        }
      }
    }
    s->post(std::move(lines), ins, ex, batch);
  }

  asio::io_context& ioc_;
  const Config& config_;
  const TenantConfig& tenant_;
  HttpSettings settings_;
  bool loopback_ = true;
  std::map<std::string, Servers> routes_;             // by path
  std::unique_ptr<admin::Endpoints> admin_;           // on this listener (http.admin_endpoints)
  std::unique_ptr<admin::AdminServer> admin_server_;  // admin.listen
  std::unique_ptr<admin::DecisionsPage> ui_;          // http.ui
  // The 2026-07-28 lane of a route for a tenant, started at its first request.
  std::shared_ptr<ModernLane> lane(const std::string& path, const ServerConfig& server,
                                   const std::string& tenant) {
    auto& l = lanes_[path + '\n' + tenant];
    if (!l) {
      l = std::make_shared<ModernLane>(ioc_.get_executor(), config_, server, config_.tenant(tenant),
                                       pipelines_.at(tenant));
    }
    return l;
  }

  std::map<std::string, std::shared_ptr<Pipeline>> pipelines_;  // by tenant id
  std::unique_ptr<Authenticator> auth_;                         // null without http.auth
  std::shared_ptr<web::Server> server_;
  std::unordered_map<std::string, std::shared_ptr<HttpSession>> sessions_;
  std::map<std::string, std::shared_ptr<SharedUpstream>> shared_;  // by server, tenant
  std::map<std::string, std::shared_ptr<ModernLane>> lanes_;       // 2026-07-28, by path, tenant
  asio::steady_timer sweep_;
  std::chrono::steady_clock::time_point last_keepalive_ = std::chrono::steady_clock::now();
};

namespace {

// After SIGTERM: stops the loop once every server process has exited, or at the deadline.
// The first look is 100 ms after the sessions were closed (their last responses and stream
// ends get written), then every 20 ms.
struct StopWaiter : std::enable_shared_from_this<StopWaiter> {
  StopWaiter(asio::io_context& ioc, std::chrono::steady_clock::time_point deadline, bool remote)
      : ioc(ioc), timer(ioc), deadline(deadline), remote(remote) {}
  void arm(std::chrono::milliseconds after = std::chrono::milliseconds(20)) {
    timer.expires_after(after);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
      if (!e) self->check();
    });
  }
  void check() {
    if (std::chrono::steady_clock::now() >= deadline ||
        (!remote && transport::ChildProcess::running() == 0)) {
      ioc.stop();
      return;
    }
    arm();
  }
  asio::io_context& ioc;
  asio::steady_timer timer;
  std::chrono::steady_clock::time_point deadline;
  bool remote;
};

}  // namespace

int run_http_front(const Config& config, const HttpFrontOptions& opts) {
  ::signal(SIGPIPE, SIG_IGN);
  asio::io_context ioc(1);
  HttpFront front(ioc, config, opts);
  front.start();
  asio::signal_set stop_signals(ioc, SIGTERM, SIGINT);
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("{}; stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    front.stop();
    // Give servers their grace period, then stop the loop; sooner when every server process
    // has exited (Ctrl-C on an idle serve, `podman stop`). Remote (url:) servers may still be
    // getting their session's DELETE, so with any of them the full period is waited.
    const bool remote = std::any_of(config.servers.begin(), config.servers.end(),
                                    [](const ServerConfig& s) { return !s.url.empty(); });
    const auto deadline = std::chrono::steady_clock::now() + config.shutdown_grace * 2 +
                          std::chrono::milliseconds(200);
    std::make_shared<StopWaiter>(ioc, deadline, remote)->arm(std::chrono::milliseconds(100));
  });
  ioc.run();
  return 0;
}

}  // namespace gt::proxy
