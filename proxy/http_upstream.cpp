#include "proxy/http_upstream.hpp"

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "transport/inspect.hpp"
#include "transport/jsonrpc.hpp"
#include "transport/rate_limited_log.hpp"
#include "transport/sse.hpp"

namespace gt::proxy {

namespace asio = boost::asio;
namespace web = gt::transport::http;
using boost::beast::http::verb;
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
constexpr std::size_t kErrorBodyBytes = 2048;  // of an error response, kept for the message
// Of a JSON error response, read to relay the JSON-RPC error in it (those are small; a
// larger one is cut and reported like any other error answer).
constexpr std::size_t kErrorJsonBytes = 64 * 1024;
// tools/list requests whose answers are read for x-mcp-header declarations. Beyond these
// (a client listing in a loop without waiting), a list is forwarded but not learned from.
constexpr std::size_t kMaxListsInFlight = 256;
constexpr int kMaxResumes = 5;  // GET resumptions of one POST stream without news
constexpr auto kMaxGetBackoff = std::chrono::seconds(30);
constexpr auto kDeleteTimeout = std::chrono::milliseconds(2000);

std::string one_line(std::string_view s, std::size_t max = 300) {
  std::string out(s.substr(0, max));
  for (auto& c : out)
    if (c == '\r' || c == '\n' || c == '\t') c = ' ';
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  if (s.size() > max) out += "…";
  return out;
}

bool visible_ascii(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}
}  // namespace

// One SSE stream being read: a POST's answer, its resumption by GET, or the GET stream.
struct HttpUpstream::Reader {
  std::unique_ptr<transport::sse::Parser> parser;
  std::map<std::string, nlohmann::json> waiting;  // requests of the POST not yet answered
  std::string last_id;                            // for Last-Event-ID
  std::string body;                               // JSON answer or error body
  unsigned status = 0;
  bool sse = false, json = false, oversize = false;
  bool fallback = false, expired = false, no_stream = false;
  bool got_event = false;
  bool error_json = false;  // an error answer (status >= 300) that says it is JSON
  bool modern = false;      // the answer to a 2026-07-28 request: never resumed
  int resumes = 0;
};

HttpUpstream::HttpUpstream(asio::any_io_executor ex, ServerConfig cfg,
                           std::size_t max_message_bytes, std::chrono::milliseconds grace)
    : ex_(ex),
      cfg_(std::move(cfg)),
      max_bytes_(max_message_bytes),
      grace_(grace),
      get_timer_(ex),
      restart_timer_(ex) {
  std::string err;
  auto u = transport::Url::parse(cfg_.url, &err);
  if (!u) throw ConfigError("servers." + cfg_.name + ".url: " + err);
  url_ = *u;
  if (cfg_.transport == "sse") mode_ = Mode::Sse;
  if (cfg_.transport == "streamable-http") mode_ = Mode::Streamable;
  if (url_.tls() && cfg_.insecure_skip_verify) {
    spdlog::warn(
        "server `{}`: insecure_skip_verify is ON: the certificate of {} is NOT checked; anyone "
        "on the network path can read and change this traffic",
        cfg_.name, url_.str());
  }
  if (!url_.tls() && url_.host != "127.0.0.1" && url_.host != "localhost" && url_.host != "::1" &&
      !cfg_.headers.empty()) {
    spdlog::warn("server `{}`: configured headers are sent in clear text to {}", cfg_.name,
                 url_.str());
  }
  try {
    client_ = make_client();
  } catch (const std::exception& e) {
    throw ConfigError("servers." + cfg_.name + ": " + e.what());
  }
}

HttpUpstream::~HttpUpstream() {
  if (client_) client_->close();
}

std::shared_ptr<web::Client> HttpUpstream::make_client() const {
  web::ClientOptions o;
  o.ca_file = cfg_.ca_file;
  o.insecure_skip_verify = cfg_.insecure_skip_verify;
  auto c = std::make_shared<web::Client>(ex_, url_, o);
  // weak_from_this() is empty while the constructor runs; start() wires the first client.
  if (auto weak = std::weak_ptr<const HttpUpstream>(weak_from_this()); !weak.expired()) {
    c->on_drain([weak]() {
      auto self = weak.lock();
      if (self && self->ev_.on_drain) self->ev_.on_drain();
    });
  }
  return c;
}

void HttpUpstream::start(Events events) {
  ev_ = std::move(events);
  client_->on_drain([weak = weak_from_this()]() {
    auto self = weak.lock();
    if (self && self->ev_.on_drain) self->ev_.on_drain();
  });
  // Nothing to start: the first message (initialize) opens the first connection.
  spdlog::info("server `{}`: remote MCP server at {} (transport {})", cfg_.name, url_.str(),
               cfg_.transport);
}

std::size_t HttpUpstream::queued_bytes() const {
  return client_ ? client_->queued_bytes() : 0;
}

HeaderList HttpUpstream::configured_headers() const {
  // Mcp-Method, Mcp-Name and Mcp-Param-* say what the body says; a fixed configured value
  // would contradict it (the config refuses the session and version headers itself).
  HeaderList h;
  for (const auto& [name, value] : cfg_.headers) {
    auto n = lower(name);
    if (n == "mcp-method" || n == "mcp-name" || n.rfind("mcp-param-", 0) == 0) continue;
    h.emplace_back(name, value);
  }
  return h;
}

HeaderList HttpUpstream::base_headers() const {
  auto h = configured_headers();
  if (mode_ != Mode::Sse) {
    if (!session_id_.empty()) h.emplace_back("Mcp-Session-Id", session_id_);
    if (!protocol_version_.empty()) h.emplace_back("MCP-Protocol-Version", protocol_version_);
  }
  return h;
}

void HttpUpstream::send(std::string_view line) {
  if (stopping_ || state_ != State::Up) return;  // the Session holds or fails what it sends
  if (mode_ == Mode::Sse) {
    auto ins = transport::inspect(line, kMaxDepth);
    if ((ins.kind == MessageKind::Request || ins.kind == MessageKind::Notification) &&
        request_headers(line, ins.method, tool_headers_).modern) {
      if (ins.kind == MessageKind::Request) {
        answer_later(ins.id, transport::rpc_error::kUpstreamUnavailable,
                     "server `" + cfg_.name +
                         "` speaks the legacy HTTP+SSE transport (2024-11-05), which cannot carry "
                         "an MCP 2026-07-28 request; it was not sent");
      }
      return;
    }
    if (!legacy_open_) start_legacy();
    post_legacy(std::string(line));
    return;
  }
  post_streamable(std::string(line));
}

// ---------------------------------------------------------------- Streamable HTTP

void HttpUpstream::post_streamable(std::string line) {
  auto ins = transport::inspect(line, kMaxDepth);
  const bool request = ins.kind == MessageKind::Request;
  RequestHeaders era;
  if (request || ins.kind == MessageKind::Notification)
    era = request_headers(line, ins.method, tool_headers_);
  const bool modern = era.modern;
  if (modern && !era.error.empty()) {
    // The Session lets only a valid 2026-07-28 claim through; this is a safety net.
    if (request)
      answer_later(ins.id, transport::rpc_error::kInvalidParams, "Invalid params: " + era.error);
    return;
  }
  if (!modern && ins.kind == MessageKind::Notification && ins.method == "notifications/cancelled" &&
      cancel_modern(line))
    return;
  bool is_init = !modern && request && ins.method == "initialize";
  bool is_initialized =
      !modern && ins.kind == MessageKind::Notification && ins.method == "notifications/initialized";
  if (is_init) {
    // A new session (the client's first, or a replay after expiry): no old headers.
    session_id_.clear();
    protocol_version_.clear();
    initialized_ = false;
    init_key_ = ins.id_key;
    get_timer_.cancel();
    if (get_call_) get_call_->cancel();
    get_call_.reset();
    resuming_.clear();
  }
  bool had_session = !modern && !session_id_.empty();
  auto r = std::make_shared<Reader>();
  r->modern = modern;
  if (request) r->waiting[ins.id_key] = ins.id;
  if (request && ins.method == "tools/list" && list_keys_.size() < kMaxListsInFlight)
    list_keys_.insert(ins.id_key);

  web::ClientRequest req;
  req.method = verb::post;
  req.target = url_.target;
  if (modern) {
    // No session, no negotiated version: the body says it all, and the headers repeat it.
    req.headers = configured_headers();
    for (auto& h : era.headers)
      req.headers.push_back(std::move(h));
  } else {
    req.headers = base_headers();
  }
  req.headers.emplace_back("Accept", "application/json, text/event-stream");
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = line;
  req.timeout = cfg_.max_timeout;  // a ceiling only: the Session times requests out itself

  std::weak_ptr<HttpUpstream> weak = weak_from_this();
  unsigned gen = gen_;
  std::weak_ptr<Reader> wr = r;
  web::ResponseHandlers h;
  h.on_head = [weak, gen, r, wr, is_init, had_session, modern](const web::ResponseHead& head) {
    auto self = weak.lock();
    if (!self || gen != self->gen_) return;
    r->status = head.status;
    unsigned s = head.status;
    if (s < 200 || s >= 300) {
      // An error: its body is kept, for the JSON-RPC error in it or for the message.
      r->error_json = head.content_type() == "application/json";
      if (s == 404 && had_session) {
        r->expired = true;
      } else if (is_init && (s == 400 || s == 404 || s == 405) && self->mode_ == Mode::Auto &&
                 !self->streamable_seen_) {
        r->fallback = true;  // unless the body is a JSON-RPC error (see on_end)
      }
      return;
    }
    if (modern) {
      self->streamable_seen_ = true;
      self->restarts_ = 0;  // no initialize marks a modern server as back: an answer does
    }
    if (is_init) {
      self->streamable_seen_ = true;
      auto sid = head.header("Mcp-Session-Id");
      if (visible_ascii(sid)) {
        self->session_id_ = sid;
      } else if (!sid.empty()) {
        server_faults()("server `{}` sent an invalid Mcp-Session-Id; ignored", self->cfg_.name);
      }
    }
    auto ct = head.content_type();
    if (ct == "text/event-stream") {
      r->sse = true;
      transport::sse::Parser::Handlers ph;
      ph.on_event = [weak, gen, wr](transport::sse::Event&& e) {
        auto self = weak.lock();
        auto rd = wr.lock();
        if (!self || !rd || gen != self->gen_) return;
        rd->got_event = true;
        rd->resumes = 0;
        if (e.type != "message") return;
        auto key = [&] {
          auto i = transport::inspect(e.data, kMaxDepth);
          return i.kind == MessageKind::Response ? i.id_key : std::string();
        }();
        if (!key.empty()) rd->waiting.erase(key);
        self->deliver(gen, e.data);
      };
      ph.on_retry = [weak](std::chrono::milliseconds ms) {
        if (auto self = weak.lock()) self->retry_ = ms;
      };
      ph.on_oversize = [weak, gen, wr](std::string_view prefix, std::size_t size) {
        auto self = weak.lock();
        auto rd = wr.lock();
        if (!self || !rd || gen != self->gen_) return;
        if (auto id = transport::recover_id(prefix)) rd->waiting.erase(transport::id_key(*id));
        if (self->ev_.on_oversize) self->ev_.on_oversize(prefix, size);
      };
      r->parser = std::make_unique<transport::sse::Parser>(std::move(ph), self->max_bytes_);
    } else if (ct == "application/json") {
      r->json = true;
    }
  };
  h.on_data = [weak, gen, r](std::string_view chunk) {
    auto self = weak.lock();
    if (!self || gen != self->gen_) return;
    if (r->sse) {
      r->parser->feed(chunk);
    } else if (r->json) {
      if (r->oversize) return;
      if (r->body.size() + chunk.size() > self->max_bytes_) {
        r->oversize = true;
        r->body.append(chunk.substr(0, std::min<std::size_t>(chunk.size(), 4096)));
        if (auto id = transport::recover_id(r->body)) r->waiting.erase(transport::id_key(*id));
        if (self->ev_.on_oversize) self->ev_.on_oversize(r->body, r->body.size() + chunk.size());
        r->body.clear();
        return;
      }
      r->body.append(chunk);
    } else if (r->status >= 300) {
      const std::size_t keep = r->error_json ? kErrorJsonBytes : kErrorBodyBytes;
      if (r->body.size() < keep) r->body.append(chunk.substr(0, keep - r->body.size()));
    }
  };
  std::string key = modern && request ? ins.id_key : std::string();
  h.on_end = [weak, gen, r, line = std::move(line), is_init, is_initialized,
              key](const web::Outcome& o) mutable {
    auto self = weak.lock();
    if (self && !key.empty()) {
      auto it = self->modern_calls_.find(key);
      if (it != self->modern_calls_.end() && it->second.reader.lock() == r)
        self->modern_calls_.erase(it);
    }
    if (!self || gen != self->gen_ || self->stopping_) return;
    const auto& name = self->cfg_.name;
    if (r->expired) {  // before anything else: the Session must replay initialize
      self->session_expired();
      return;
    }
    if (r->status >= 400 && r->status < 500 && r->status != 401 && r->status != 403 &&
        r->error_json && r->waiting.size() == 1) {
      // The server refused the request with a JSON-RPC error (2026-07-28: 400 -32020,
      // -32022, -32602; 404 -32601; a 2025 server's 400s too): it reaches the client as the
      // server's answer to it, with its id. The server is up and speaks Streamable HTTP.
      // (401/403 keep GlassTape's hint about the configured headers; a 5xx stays a fault.)
      auto [k, id] = *r->waiting.begin();
      if (auto answer = rpc_error_answer(r->body, id)) {
        r->waiting.clear();
        self->streamable_seen_ = true;
        self->deliver(gen, *answer);
        return;
      }
    }
    if (r->fallback) {
      spdlog::info(
          "server `{}` answered HTTP {} to initialize: not Streamable HTTP; trying the legacy "
          "HTTP+SSE transport (2024-11-05)",
          name, r->status);
      self->mode_ = Mode::Sse;
      self->legacy_queue_.push_back(std::move(line));
      self->start_legacy();
      return;
    }
    if (!o.ok() && !o.got_head) {
      self->unreachable("is unreachable: " + o.error);
      return;
    }
    if (r->status < 200 || r->status >= 300) {
      if (is_init && r->status >= 500) {
        self->unreachable("answered HTTP " + std::to_string(r->status) + " to initialize");
        return;
      }
      std::string why = "server `" + name + "` answered HTTP " + std::to_string(r->status);
      if (r->status == 401 || r->status == 403) {
        why +=
            " (check the headers configured for it: GlassTape never forwards the client's "
            "credentials)";
      }
      if (!r->body.empty()) why += ": " + one_line(r->body);
      server_faults()("{}", why);
      for (auto& [k, id] : r->waiting)
        self->answer_error(id, why);
      return;
    }
    if (r->json && !r->oversize) {
      std::string_view body = r->body;
      while (!body.empty() && (body.front() == ' ' || body.front() == '\n' ||
                               body.front() == '\r' || body.front() == '\t'))
        body.remove_prefix(1);
      std::vector<std::string_view> msgs;
      if (!body.empty() && body.front() == '[') {
        msgs = transport::array_elements(body);
      } else if (!body.empty()) {
        msgs.push_back(body);
      }
      for (auto m : msgs) {
        auto i = transport::inspect(m, kMaxDepth);
        if (i.kind == MessageKind::Response) r->waiting.erase(i.id_key);
        self->deliver(gen, m);
        if (gen != self->gen_) return;
      }
    }
    if (r->sse) {
      if (!r->waiting.empty()) {
        if (r->parser) r->last_id = r->parser->last_event_id();
        self->stream_ended(r, o.ok() ? "" : o.error);
      }
    } else if (!r->waiting.empty() && !r->oversize) {
      for (auto& [k, id] : r->waiting) {
        self->answer_error(id, "server `" + name + "` answered HTTP " + std::to_string(r->status) +
                                   " without a response to this request");
      }
    }
    if (is_initialized && self->mode_ != Mode::Sse) self->open_get("", nullptr);
  };
  auto call = client_->request(std::move(req), std::move(h));
  if (!key.empty()) modern_calls_[key] = ModernCall{call, r, ins.id};
}

// 2026-07-28 has no notifications from client to server over HTTP: a request is cancelled
// by closing its response stream. A notifications/cancelled (the client's, or the Session's
// on a timeout) naming a 2026-07-28 request still waiting here closes its POST instead of
// being sent; the request gets an answer of its own so the Session frees its id (it already
// answered the client, and drops this late one). True when it was such a request.
bool HttpUpstream::cancel_modern(std::string_view line) {
  if (modern_calls_.empty()) return false;
  auto span = transport::member_span(line, {"params", "requestId"});
  if (!span) return false;
  auto rid = transport::parse(*span, nullptr);
  if (rid.is_discarded()) return false;
  auto it = modern_calls_.find(transport::id_key(rid));
  if (it == modern_calls_.end()) return false;
  auto call = it->second.call.lock();
  auto reader = it->second.reader.lock();
  auto id = it->second.id;
  const auto key = it->first;
  modern_calls_.erase(it);
  // Already answered (its stream is still open): nothing to cancel, nothing to send.
  if (!call || !reader || !reader->waiting.count(key)) return true;
  reader->waiting.erase(key);
  call->cancel();
  list_keys_.erase(key);
  answer_later(id, transport::rpc_error::kRequestCancelled,
               "cancelled: GlassTape closed the request's stream to server `" + cfg_.name + "`");
  return true;
}

// A POST's stream ended before all its answers came: resume it with GET + Last-Event-ID
// (the server replays what followed), else the requests fail now rather than time out.
void HttpUpstream::stream_ended(const std::shared_ptr<Reader>& r, const std::string& why) {
  if (!r->modern && !r->last_id.empty() && r->resumes < kMaxResumes && state_ == State::Up) {
    ++r->resumes;
    resuming_.push_back(r);
    schedule_get(r);
    return;
  }
  std::string msg = "server `" + cfg_.name + "` closed the response stream before answering";
  if (!why.empty()) msg += " (" + why + ")";
  server_faults()("{}", msg);
  auto waiting = std::move(r->waiting);
  r->waiting.clear();
  for (auto& [k, id] : waiting)
    answer_error(id, msg);
}

void HttpUpstream::schedule_get(std::shared_ptr<Reader> resume) {
  auto delay = retry_;
  if (!resume) {
    delay = std::min<std::chrono::milliseconds>(retry_ * (1 << std::min(get_failures_, 5)),
                                                kMaxGetBackoff);
  }
  auto timer = resume ? std::make_shared<asio::steady_timer>(ex_) : nullptr;
  auto& t = timer ? *timer : get_timer_;
  t.expires_after(delay);
  t.async_wait(
      [weak = weak_from_this(), gen = gen_, resume, timer](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (!self || ec || gen != self->gen_ || self->stopping_) return;
        self->open_get(resume ? resume->last_id : "", resume);
      });
}

void HttpUpstream::open_get(std::string last_event_id, std::shared_ptr<Reader> resume) {
  if (stopping_ || state_ != State::Up || mode_ == Mode::Sse || session_id_.empty()) {
    if (resume) {
      resume->last_id.clear();  // no resumption possible any more: its requests fail now
      stream_ended(resume, "");
    }
    return;
  }
  if (!resume && get_call_ && !get_call_->finished()) return;  // already open
  auto r = resume ? resume : std::make_shared<Reader>();
  if (!resume) {
    get_ = r;
    last_event_id = get_last_id_;
  }
  web::ClientRequest req;
  req.method = verb::get;
  req.target = url_.target;
  req.headers = base_headers();
  req.headers.emplace_back("Accept", "text/event-stream");
  if (!last_event_id.empty()) req.headers.emplace_back("Last-Event-ID", last_event_id);
  std::weak_ptr<HttpUpstream> weak = weak_from_this();
  unsigned gen = gen_;
  std::weak_ptr<Reader> wr = r;
  r->sse = false;
  r->status = 0;
  r->no_stream = r->expired = false;
  bool is_get = !resume;
  web::ResponseHandlers h;
  h.on_head = [weak, gen, r, is_get](const web::ResponseHead& head) {
    auto self = weak.lock();
    if (!self || gen != self->gen_) return;
    r->status = head.status;
    if (head.status == 405) {
      r->no_stream = true;
      return;
    }
    if (head.status == 404) {
      r->expired = true;
      return;
    }
    if (head.status != 200 || head.content_type() != "text/event-stream") return;
    r->sse = true;
    std::weak_ptr<Reader> wr = r;
    transport::sse::Parser::Handlers ph;
    ph.on_event = [weak, gen, wr, is_get](transport::sse::Event&& e) {
      auto self = weak.lock();
      auto rd = wr.lock();
      if (!self || !rd || gen != self->gen_) return;
      rd->got_event = true;
      rd->resumes = 0;
      if (!e.id.empty()) {
        rd->last_id = e.id;
        if (is_get) self->get_last_id_ = e.id;
      }
      if (e.type != "message") return;
      auto i = transport::inspect(e.data, kMaxDepth);
      if (i.kind == MessageKind::Response) rd->waiting.erase(i.id_key);
      self->deliver(gen, e.data);
    };
    ph.on_retry = [weak](std::chrono::milliseconds ms) {
      if (auto self = weak.lock()) self->retry_ = ms;
    };
    ph.on_oversize = [weak, gen](std::string_view prefix, std::size_t size) {
      auto self = weak.lock();
      if (self && gen == self->gen_ && self->ev_.on_oversize) self->ev_.on_oversize(prefix, size);
    };
    r->parser = std::make_unique<transport::sse::Parser>(std::move(ph), self->max_bytes_);
  };
  h.on_data = [weak, gen, r](std::string_view chunk) {
    auto self = weak.lock();
    if (!self || gen != self->gen_ || !r->sse) return;
    r->parser->feed(chunk);
    if (!r->parser->last_event_id().empty()) r->last_id = r->parser->last_event_id();
  };
  h.on_end = [weak, gen, r, is_get](const web::Outcome& o) {
    auto self = weak.lock();
    if (!self || gen != self->gen_ || self->stopping_) return;
    if (r->expired) {
      self->session_expired();
      return;
    }
    if (is_get) {
      if (r->no_stream) {
        spdlog::debug("server `{}` offers no GET stream (HTTP 405)", self->cfg_.name);
        return;
      }
      if (r->sse && r->got_event) {
        self->get_failures_ = 0;
      } else {
        ++self->get_failures_;
      }
      if (!o.ok() || !r->sse) {
        spdlog::debug("server `{}`: GET stream {}; reconnecting", self->cfg_.name,
                      o.ok() ? "refused (HTTP " + std::to_string(r->status) + ")" : o.error);
      }
      r->got_event = false;
      self->schedule_get(nullptr);
      return;
    }
    // A resumed POST stream.
    std::erase(self->resuming_, r);
    if (r->waiting.empty()) return;
    if (r->no_stream || (!r->sse && o.got_head)) r->last_id.clear();  // cannot resume
    self->stream_ended(r, o.ok() ? "" : o.error);
  };
  auto call = client_->request(std::move(req), std::move(h));
  if (is_get) get_call_ = call;
}

void HttpUpstream::deliver(unsigned gen, std::string_view line) {
  if (gen != gen_ || stopping_) return;
  // An event with empty data (the priming event of a resumable stream) carries no message.
  if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
  if (!list_keys_.empty()) {
    auto i = transport::inspect(line, kMaxDepth);
    if (i.kind == MessageKind::Response && list_keys_.erase(i.id_key) && i.has_result)
      learn_tools(line);
  }
  if (!init_key_.empty()) {
    auto i = transport::inspect(line, kMaxDepth);
    if (i.kind == MessageKind::Response && i.id_key == init_key_) {
      init_key_.clear();
      if (i.has_result) {
        // The negotiated version goes on every later request (MCP-Protocol-Version).
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.contains("result") && j["result"].is_object() &&
            j["result"].contains("protocolVersion") && j["result"]["protocolVersion"].is_string()) {
          auto v = j["result"]["protocolVersion"].get<std::string>();
          if (visible_ascii(v)) protocol_version_ = v;
        }
        initialized_ = true;
        restarts_ = 0;
        spdlog::info("server `{}`: session {} initialized (protocol {}, {})", cfg_.name,
                     session_id_.empty() ? "without id" : session_id_,
                     protocol_version_.empty() ? "unknown" : protocol_version_,
                     mode_ == Mode::Sse ? "legacy HTTP+SSE" : "Streamable HTTP");
      }
    }
  }
  if (ev_.on_line) ev_.on_line(line);
}

// A page of the server's tools: what its tools declare as x-mcp-header parameters.
void HttpUpstream::learn_tools(std::string_view line) {
  auto j = transport::parse(line, nullptr, kMaxDepth);
  if (!j.is_object() || !j.contains("result")) return;
  for (const auto& r : tool_headers_.learn(j["result"])) {
    server_faults()(
        "server `{}`: tool `{}`: its calls go without Mcp-Param-* headers ({}); a 2026-07-28 "
        "server that wants them refuses those calls",
        cfg_.name, r.tool, r.why);
  }
}

void HttpUpstream::answer_error(const nlohmann::json& id, const std::string& why) {
  list_keys_.erase(transport::id_key(id));
  if (ev_.on_line) {
    ev_.on_line(transport::error_response(id, transport::rpc_error::kUpstreamUnavailable, why));
  }
}

void HttpUpstream::answer_later(const nlohmann::json& id, int code, const std::string& why) {
  spdlog::debug("server `{}`: answering {} locally: {}", cfg_.name, id.dump(), why);
  asio::post(
      ex_, [weak = weak_from_this(), gen = gen_, msg = transport::error_response(id, code, why)]() {
        auto self = weak.lock();
        if (self) self->deliver(gen, msg);
      });
}

void HttpUpstream::reset_connections() {
  ++gen_;
  if (client_) client_->close();
  client_ = make_client();
  get_timer_.cancel();
  get_call_.reset();
  get_.reset();
  get_last_id_.clear();
  get_failures_ = 0;
  resuming_.clear();
  init_key_.clear();
  list_keys_.clear();
  modern_calls_.clear();
}

// 404 to a request that carried the session id: the server forgot the session (it restarted
// or expired it). The Session fails what was pending and replays the client's initialize.
void HttpUpstream::session_expired() {
  if (stopping_ || state_ != State::Up) return;
  spdlog::warn("server `{}` ended session {} (HTTP 404); re-initializing", cfg_.name, session_id_);
  reset_connections();
  session_id_.clear();
  protocol_version_.clear();
  initialized_ = false;
  if (ev_.on_down) ev_.on_down("server `" + cfg_.name + "` ended the session", true);
  asio::post(ex_, [weak = weak_from_this(), gen = gen_]() {
    auto self = weak.lock();
    if (!self || gen != self->gen_ || self->stopping_ || self->state_ != State::Up) return;
    if (self->ev_.on_restarted) self->ev_.on_restarted();
  });
}

// The server cannot be reached (or failed initialize): down, then retried with the same
// backoff as a crashed stdio server (servers.X.restart).
void HttpUpstream::unreachable(const std::string& why) {
  if (stopping_ || state_ != State::Up) return;
  reset_connections();
  session_id_.clear();
  protocol_version_.clear();
  initialized_ = false;
  endpoint_.clear();
  legacy_open_ = false;
  legacy_queue_.clear();
  bool restarting = restarts_ < cfg_.restart_max;
  auto delay = cfg_.restart_backoff * (1 << std::min(restarts_, 10));
  if (restarting) {
    spdlog::error("server `{}` ({}) {}; retrying in {} ms", cfg_.name, url_.str(), why,
                  delay.count());
  } else {
    spdlog::error("server `{}` ({}) {}; giving up (restart.max {})", cfg_.name, url_.str(), why,
                  cfg_.restart_max);
  }
  state_ = restarting ? State::Restarting : State::Down;
  if (ev_.on_down) ev_.on_down("server `" + cfg_.name + "` " + why, restarting);
  if (!restarting) return;
  ++restarts_;
  restart_timer_.expires_after(delay);
  restart_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopping_ || self->state_ != State::Restarting) return;
    self->state_ = State::Up;
    spdlog::info("server `{}`: reconnecting to {}", self->cfg_.name, self->url_.str());
    if (self->mode_ == Mode::Sse) {
      // The legacy transport needs its stream (and endpoint) before anything is sent.
      self->legacy_restarting_ = true;
      self->start_legacy();
      return;
    }
    if (self->ev_.on_restarted) self->ev_.on_restarted();
  });
}

// ---------------------------------------------------------------- legacy HTTP+SSE

void HttpUpstream::start_legacy() {
  legacy_open_ = true;
  endpoint_.clear();
  get_last_id_.clear();
  web::ClientRequest req;
  req.method = verb::get;
  req.target = url_.target;
  req.headers = base_headers();
  req.headers.emplace_back("Accept", "text/event-stream");
  std::weak_ptr<HttpUpstream> weak = weak_from_this();
  unsigned gen = gen_;
  auto r = std::make_shared<Reader>();
  web::ResponseHandlers h;
  h.on_head = [weak, gen, r](const web::ResponseHead& head) {
    auto self = weak.lock();
    if (!self || gen != self->gen_) return;
    r->status = head.status;
    if (head.status != 200 || head.content_type() != "text/event-stream") return;
    r->sse = true;
    transport::sse::Parser::Handlers ph;
    ph.on_event = [weak, gen](transport::sse::Event&& e) {
      if (auto self = weak.lock()) self->legacy_event(gen, e.type, e.data);
    };
    ph.on_oversize = [weak, gen](std::string_view prefix, std::size_t size) {
      auto self = weak.lock();
      if (self && gen == self->gen_ && self->ev_.on_oversize) self->ev_.on_oversize(prefix, size);
    };
    r->parser = std::make_unique<transport::sse::Parser>(std::move(ph), self->max_bytes_);
  };
  h.on_data = [weak, gen, r](std::string_view chunk) {
    auto self = weak.lock();
    if (self && gen == self->gen_ && r->sse) r->parser->feed(chunk);
  };
  h.on_end = [weak, gen, r](const web::Outcome& o) {
    auto self = weak.lock();
    if (!self || gen != self->gen_ || self->stopping_) return;
    self->legacy_open_ = false;
    if (!o.ok() && !o.got_head) {
      self->unreachable("is unreachable: " + o.error);
    } else if (!r->sse) {
      self->unreachable("answered HTTP " + std::to_string(r->status) +
                        " to the legacy SSE stream request (GET)");
    } else {
      // The legacy transport's session is its stream: it is gone.
      self->unreachable("closed its SSE stream" + (o.ok() ? std::string() : ": " + o.error));
    }
  };
  client_->request(std::move(req), std::move(h));
}

void HttpUpstream::legacy_event(unsigned gen, const std::string& type, std::string_view data) {
  if (gen != gen_ || stopping_) return;
  if (type == "endpoint") {
    std::string err;
    auto ep = url_.resolve(data, &err);
    if (!ep) {
      unreachable("sent an unusable endpoint `" + one_line(data) + "`: " + err);
      return;
    }
    if (ep->origin() != url_.origin()) {
      // Configured headers (credentials) must not go to another origin.
      unreachable("sent an endpoint on another origin (`" + ep->origin() + "`); refused");
      return;
    }
    endpoint_ = ep->target;
    spdlog::info("server `{}`: legacy HTTP+SSE transport, messages go to {}", cfg_.name, ep->str());
    if (legacy_restarting_) {
      legacy_restarting_ = false;
      if (ev_.on_restarted) ev_.on_restarted();
    }
    auto queued = std::move(legacy_queue_);
    legacy_queue_.clear();
    for (auto& l : queued)
      post_legacy(std::move(l));
    return;
  }
  if (type == "message") deliver(gen, data);
}

void HttpUpstream::post_legacy(std::string line) {
  if (endpoint_.empty()) {
    legacy_queue_.push_back(std::move(line));
    return;
  }
  auto ins = transport::inspect(line, kMaxDepth);
  web::ClientRequest req;
  req.method = verb::post;
  req.target = endpoint_;
  req.headers = base_headers();
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = std::move(line);
  req.timeout = std::chrono::milliseconds(30000);  // the answer comes on the stream
  std::weak_ptr<HttpUpstream> weak = weak_from_this();
  unsigned gen = gen_;
  auto r = std::make_shared<Reader>();
  bool request = ins.kind == MessageKind::Request;
  nlohmann::json id = ins.id;
  web::ResponseHandlers h;
  h.on_head = [r](const web::ResponseHead& head) { r->status = head.status; };
  h.on_data = [r](std::string_view chunk) {
    if (r->status >= 300 && r->body.size() < kErrorBodyBytes)
      r->body.append(chunk.substr(0, kErrorBodyBytes - r->body.size()));
  };
  h.on_end = [weak, gen, r, request, id](const web::Outcome& o) {
    auto self = weak.lock();
    if (!self || gen != self->gen_ || self->stopping_) return;
    if (!o.ok() && !o.got_head) {
      self->unreachable("is unreachable: " + o.error);
      return;
    }
    if (r->status >= 300) {
      std::string why =
          "server `" + self->cfg_.name + "` answered HTTP " + std::to_string(r->status);
      if (!r->body.empty()) why += ": " + one_line(r->body);
      server_faults()("{}", why);
      if (request) self->answer_error(id, why);
    }
  };
  client_->request(std::move(req), std::move(h));
}

// ---------------------------------------------------------------- shutdown

void HttpUpstream::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  restart_timer_.cancel();
  get_timer_.cancel();
  bool end_session = mode_ != Mode::Sse && !session_id_.empty() && state_ == State::Up;
  auto headers = base_headers();
  reset_connections();
  if (!end_session) {
    finish_stop();
    return;
  }
  // Best effort: tell the server the session is over (DELETE), briefly.
  web::ClientRequest req;
  req.method = verb::delete_;
  req.target = url_.target;
  req.headers = std::move(headers);
  req.timeout =
      std::clamp<std::chrono::milliseconds>(grace_, std::chrono::milliseconds(100), kDeleteTimeout);
  web::ResponseHandlers h;
  // The pending request holds the upstream: the stop finishes even if its owner is gone.
  h.on_end = [self = shared_from_this()](const web::Outcome& o) {
    if (!o.ok()) spdlog::debug("server `{}`: DELETE of the session: {}", self->cfg_.name, o.error);
    self->finish_stop();
  };
  client_->request(std::move(req), std::move(h));
}

void HttpUpstream::finish_stop() {
  if (state_ == State::Stopped) return;
  state_ = State::Stopped;
  asio::post(ex_, [self = shared_from_this()]() {
    if (self->client_) self->client_->close();
    if (self->ev_.on_stopped) self->ev_.on_stopped();
  });
}

}  // namespace gt::proxy
