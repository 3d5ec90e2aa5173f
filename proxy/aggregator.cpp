#include "proxy/aggregator.hpp"

#include <spdlog/spdlog.h>

#include "proxy/admission.hpp"
#include "proxy/client_lines.hpp"
#include "proxy/session_log.hpp"
#include "transport/jsonrpc.hpp"
#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace rpc = gt::transport::rpc_error;
using gt::transport::MessageKind;
using namespace session_log;

namespace {

// `raw` with the value at `path` replaced by the JSON text `value` (every other byte kept).
std::string replace_member(std::string_view raw, std::initializer_list<std::string_view> path,
                           std::string_view value) {
  auto span = transport::member_span(raw, path);
  if (!span) return std::string(raw);
  auto at = static_cast<std::size_t>(span->data() - raw.data());
  std::string out;
  out.reserve(raw.size() + value.size());
  out.append(raw.substr(0, at)).append(value).append(raw.substr(at + span->size()));
  return out;
}

std::string json_text(const nlohmann::json& v) {
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The string at `path` in `raw`, or nullopt.
std::optional<std::string> string_at(std::string_view raw,
                                     std::initializer_list<std::string_view> path) {
  auto span = transport::member_span(raw, path);
  if (!span || span->empty() || span->front() != '"') return std::nullopt;
  auto v = nlohmann::json::parse(*span, nullptr, false);
  if (!v.is_string()) return std::nullopt;
  return v.get<std::string>();
}

transport::RateLimitedLog& catalog_errors() {
  static transport::RateLimitedLog log(spdlog::level::warn,
                                       transport::RateLimitedLog::kDefaultInterval, kLogBurst);
  return log;
}

const char* list_changed_method(ListKind k) {
  switch (k) {
    case ListKind::Tools:
      return "notifications/tools/list_changed";
    case ListKind::Prompts:
      return "notifications/prompts/list_changed";
    default:
      return "notifications/resources/list_changed";
  }
}

}  // namespace

Aggregator::Aggregator(AggregateOptions opts, Send to_client)
    : opts_(std::move(opts)), to_client_(std::move(to_client)) {}

Session::Send Aggregator::sink(std::size_t i) {
  return [weak = weak_from_this(), i](std::string_view line) {
    if (auto a = weak.lock()) a->from_member(i, line);
  };
}

UpstreamEvents Aggregator::events_for(std::size_t i) {
  UpstreamEvents ev;
  std::weak_ptr<Aggregator> weak = weak_from_this();
  ev.on_line = [weak, i](std::string_view l) {
    if (auto a = weak.lock()) a->members_[i].spec.session->on_server_line(l);
  };
  ev.on_oversize = [weak, i](std::string_view p, std::size_t n) {
    if (auto a = weak.lock()) a->members_[i].spec.session->on_server_oversize(p, n);
  };
  ev.on_down = [weak, i](const std::string& why, bool restarting) {
    if (auto a = weak.lock()) {
      a->members_[i].spec.session->on_server_down(why, restarting);
      a->member_down(i, why, restarting);
    }
  };
  ev.on_restarted = [weak, i]() {
    if (auto a = weak.lock()) {
      a->members_[i].spec.session->on_server_restarted();
      a->member_restarted(i);
    }
  };
  return ev;
}

void Aggregator::add(AggregateMember m) {
  Member member;
  member.spec = std::move(m);
  if (!member.spec.session) {
    member.state = State::Down;
    member.down_reason = member.spec.down_reason;
  }
  members_.push_back(std::move(member));
}

// ---------------------------------------------------------------- client → servers

void Aggregator::on_client_line(std::string_view line) {
  ClientLineHandlers h;
  h.message = [this](std::string_view compact, const transport::Inspection& ins) {
    handle(compact, ins);
  };
  h.refuse = [this](const nlohmann::json& id, int code, const std::string& message) {
    refuse(id, code, message);
  };
  split_client_line(line, opts_.max_depth, opts_.max_batch_messages, h);
}

void Aggregator::on_client_oversize(std::string_view prefix, std::size_t size) {
  refuse(transport::recover_id(prefix).value_or(nullptr), rpc::kInvalidRequest,
         "Invalid Request: message of " + std::to_string(size) + " bytes exceeds the limit");
}

void Aggregator::refuse(const nlohmann::json& id, int code, const std::string& message) {
  client_faults()("session {}: refused a message from the client: {}", opts_.session_id, message);
  to_client_(transport::error_response(id, code, message));
}

bool Aggregator::in_flight(const std::string& key) const {
  if (routed_.count(key) || own_.count(key) ||
      (!init_key_.empty() && key == init_key_ && !answered_init_))
    return true;
  for (const auto& w : waiters_)
    if (w.key == key) return true;
  for (const auto& m : members_)
    if (m.spec.session && m.spec.session->in_flight(key)) return true;
  return false;
}

std::size_t Aggregator::calls_deciding() const {
  std::size_t n = 0;
  for (const auto& m : members_)
    if (m.spec.session) n += m.spec.session->calls_deciding();
  return n;
}

void Aggregator::set_decided_listener(std::function<void()> f) {
  for (auto& m : members_)
    if (m.spec.session) m.spec.session->set_decided_listener(f);
}

void Aggregator::handle(std::string_view raw, const transport::Inspection& ins) {
  if (ins.kind == MessageKind::Invalid) {
    refuse(ins.id, rpc::kInvalidRequest,
           "Invalid Request: " + (ins.shape == transport::Inspection::Shape::Batch
                                      ? "a batch inside a batch"
                                  : ins.error.empty() ? "not a JSON-RPC message"
                                                      : ins.error));
    return;
  }
  // Routing reads the method and id: only what every member would admit is routed.
  if (auto r = admit_client_message(ins, raw)) {
    refuse(ins.kind == MessageKind::Request ? ins.id : nlohmann::json(nullptr), r->code,
           r->message);
    return;
  }
  switch (ins.kind) {
    case MessageKind::Request:
      if (in_flight(ins.id_key)) {
        refuse(ins.id, rpc::kInvalidRequest,
               "Invalid Request: the id " + ins.id.dump() +
                   " is already used by a request in flight; it was not forwarded");
        return;
      }
      handle_request(raw, ins);
      return;
    case MessageKind::Notification:
      if (ins.method == "notifications/cancelled") {
        client_cancelled(raw);
        return;
      }
      if (ins.method == "notifications/initialized") {
        if (client_initialized_) return;
        client_initialized_ = true;
        for (std::size_t i = 0; i < members_.size(); ++i) {
          if (!members_[i].initialized) continue;
          send_to(i, {}, raw);
          fetch_all(i);
        }
        return;
      }
      if (ins.method == "notifications/progress") return;  // the client reports to no server
      broadcast(raw);  // roots/list_changed and the like: every server hears it
      return;
    case MessageKind::Response:
      client_response(raw, ins);
      return;
    case MessageKind::Invalid:
      return;
  }
}

void Aggregator::handle_request(std::string_view raw, const transport::Inspection& ins) {
  const auto& m = ins.method;
  if (m == "initialize") {
    initialize(raw, ins);
  } else if (m == "ping") {
    to_client_(
        json_text({{"jsonrpc", "2.0"}, {"id", ins.id}, {"result", nlohmann::json::object()}}));
  } else if (auto k = list_kind_of(m)) {
    std::string copy(raw);
    auto id = ins.id;
    auto kind = *k;
    after_lists(ins.id_key, kind,
                [this, id, kind, copy = std::move(copy)]() { answer_list(id, kind, copy); });
  } else if (m == "tools/call") {
    route_named(raw, ins, ListKind::Tools, {"params", "name"});
  } else if (m == "prompts/get") {
    route_named(raw, ins, ListKind::Prompts, {"params", "name"});
  } else if (m == "resources/read" || m == "resources/subscribe" || m == "resources/unsubscribe") {
    route_uri(raw, ins, {"params", "uri"});
  } else if (m == "completion/complete") {
    auto type = string_at(raw, {"params", "ref", "type"});
    if (type && *type == "ref/prompt") {
      route_named(raw, ins, ListKind::Prompts, {"params", "ref", "name"});
    } else if (type && *type == "ref/resource") {
      route_uri(raw, ins, {"params", "ref", "uri"});
    } else {
      refuse(ins.id, rpc::kInvalidParams,
             "Invalid params: completion/complete needs a `ref` of type ref/prompt or "
             "ref/resource");
    }
  } else if (m == "logging/setLevel") {
    // Every server that logs hears the level; the client is answered at once.
    for (std::size_t i = 0; i < members_.size(); ++i) {
      auto& mb = members_[i];
      if (!mb.initialized || mb.state == State::Down) continue;
      const auto& caps = mb.init_result.value("capabilities", nlohmann::json::object());
      if (!caps.is_object() || !caps.contains("logging")) continue;
      send_own(i, replace_member(raw, {"id"}, json_text(own_id(i, Purpose::Fire))));
    }
    to_client_(
        json_text({{"jsonrpc", "2.0"}, {"id", ins.id}, {"result", nlohmann::json::object()}}));
  } else {
    refuse(ins.id, rpc::kMethodNotFound,
           "Method not found: `" + m +
               "` cannot be routed to one server behind this endpoint (it serves tools, prompts, "
               "resources and completions of several servers)");
  }
}

void Aggregator::send_to(std::size_t i, const std::string& key, std::string_view raw) {
  if (!key.empty()) routed_[key] = i;
  members_[i].spec.session->on_client_line(raw);
}

void Aggregator::send_own(std::size_t i, std::string_view raw) {
  members_[i].spec.session->on_proxy_request(raw);
}

void Aggregator::broadcast(std::string_view raw) {
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (members_[i].initialized && members_[i].state != State::Down) send_to(i, {}, raw);
}

std::string Aggregator::own_id(std::size_t i, Purpose p, ListKind k) {
  std::string id;
  do {  // never an id the client has in flight
    id = "glasstape:agg:" + std::to_string(++own_count_);
  } while (in_flight(transport::id_key(id)));
  own_[transport::id_key(id)] = Own{i, p, k};
  return id;
}

// ---------------------------------------------------------------- initialize

void Aggregator::initialize(std::string_view raw, const transport::Inspection& ins) {
  if (!init_raw_.empty()) {
    refuse(ins.id, rpc::kInvalidRequest, "Invalid Request: the session is already initialized");
    return;
  }
  init_raw_.assign(raw);
  init_id_ = ins.id;
  init_key_ = ins.id_key;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].state == State::Down) continue;
    ++init_outstanding_;
    join(i);
  }
  if (init_outstanding_ == 0) finish_initialize();
}

void Aggregator::join(std::size_t i) {
  auto id = own_id(i, Purpose::Init);
  send_own(i, replace_member(init_raw_, {"id"}, json_text(id)));
}

void Aggregator::finish_initialize() {
  answered_init_ = true;
  std::vector<MemberInit> ok;
  std::string failures;
  for (const auto& m : members_) {
    if (m.initialized) {
      ok.push_back({m.spec.server, m.init_result});
    } else {
      failures += (failures.empty() ? "" : "; ") + std::string("server `") + m.spec.server +
                  "`: " + (m.down_reason.empty() ? "not initialized" : m.down_reason);
    }
  }
  if (ok.empty()) {
    spdlog::error("session {}: no server behind this endpoint could be initialized: {}",
                  opts_.session_id, failures);
    to_client_(transport::error_response(
        init_id_, rpc::kUpstreamUnavailable,
        "no server behind this endpoint could be initialized: " + failures));
    return;
  }
  if (!failures.empty()) {
    spdlog::warn("session {}: serving without {}", opts_.session_id, failures);
  }
  auto version = string_at(init_raw_, {"params", "protocolVersion"}).value_or("2025-06-18");
  to_client_(
      json_text({{"jsonrpc", "2.0"}, {"id", init_id_}, {"result", merge_initialize(ok, version)}}));
}

// ---------------------------------------------------------------- lists

bool Aggregator::lists_fresh(ListKind k) const {
  for (const auto& m : members_) {
    if (m.state != State::Up || !m.initialized) continue;
    if (!m.fresh[std::size_t(k)]) return false;
  }
  return true;
}

void Aggregator::after_lists(const std::string& key, ListKind k, std::function<void()> run) {
  if (lists_fresh(k)) {
    run();
    return;
  }
  if (waiters_.size() >= kMaxWaiting) {
    // Not expected: lists are fetched within the servers' timeouts.
    run();
    return;
  }
  waiters_.push_back({key, k, std::move(run)});
  for (std::size_t i = 0; i < members_.size(); ++i) {
    const auto& m = members_[i];
    if (m.state == State::Up && m.initialized && !m.fresh[std::size_t(k)] &&
        m.fetching[std::size_t(k)].empty())
      fetch(i, k);
  }
}

void Aggregator::run_waiters() {
  // In order; a waiter whose lists are fresh runs (it may add waiters: they wait their turn).
  std::deque<Waiter> later;
  auto ready = std::move(waiters_);
  waiters_.clear();
  for (auto& w : ready) {
    if (lists_fresh(w.kind)) {
      w.run();
    } else {
      later.push_back(std::move(w));
    }
  }
  for (auto& w : waiters_)
    later.push_back(std::move(w));
  waiters_ = std::move(later);
}

void Aggregator::fetch_all(std::size_t i) {
  const auto& caps = members_[i].init_result.value("capabilities", nlohmann::json::object());
  for (std::size_t k = 0; k < kListKinds; ++k) {
    auto kind = static_cast<ListKind>(k);
    if (caps.is_object() && caps.contains(capability_of(kind))) {
      members_[i].fresh[k] = false;
      fetch(i, kind);
    } else {
      members_[i].items[k].clear();
      members_[i].fresh[k] = true;  // it offers none
    }
  }
}

void Aggregator::fetch(std::size_t i, ListKind k, const nlohmann::json& cursor) {
  auto& m = members_[i];
  auto& fetching = m.fetching[std::size_t(k)];
  if (!fetching.empty() && cursor.is_null()) return;  // already listing from the start
  if (cursor.is_null()) {
    m.partial[std::size_t(k)].clear();
    m.pages[std::size_t(k)] = 0;
  }
  auto id = own_id(i, Purpose::List, k);
  fetching = transport::id_key(id);
  nlohmann::json req = {{"jsonrpc", "2.0"}, {"id", id}, {"method", list_method(k)}};
  if (!cursor.is_null()) req["params"] = {{"cursor", cursor}};
  send_own(i, json_text(req));
}

void Aggregator::answer_list(const nlohmann::json& id, ListKind k, std::string_view raw) {
  nlohmann::json cursor;
  if (auto span = transport::member_span(raw, {"params", "cursor"}))
    cursor = nlohmann::json::parse(*span, nullptr, false);
  nlohmann::json result;
  if (!list_page(catalog_.items(k), cursor, opts_.page_size, list_member(k), result)) {
    refuse(id, rpc::kInvalidParams,
           "Invalid params: unknown cursor for " + std::string(list_method(k)));
    return;
  }
  to_client_(json_text({{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}));
}

void Aggregator::rebuild(std::size_t changed_member) {
  std::vector<MemberListing> listings;
  listings.reserve(members_.size());
  for (const auto& m : members_) {
    MemberListing l;
    l.server = m.spec.server;
    l.prefix = m.spec.prefix;
    l.mode = m.spec.mode;
    l.available = m.state == State::Up && m.initialized;
    l.items = m.items;
    listings.push_back(std::move(l));
  }
  std::array<std::vector<nlohmann::json>, kListKinds> before;
  for (std::size_t k = 0; k < kListKinds; ++k)
    before[k] = catalog_.items(static_cast<ListKind>(k));
  auto errors = catalog_.rebuild(listings, opts_.separator);
  for (const auto& e : errors)
    catalog_errors()("session {}: {}", opts_.session_id, e);
  (void)changed_member;
  if (!answered_init_) return;
  bool resources_told = false;
  for (std::size_t k = 0; k < kListKinds; ++k) {
    auto kind = static_cast<ListKind>(k);
    if (before[k] == catalog_.items(kind)) continue;
    if (kind == ListKind::Resources || kind == ListKind::Templates) {
      if (resources_told) continue;
      resources_told = true;
    }
    to_client_(json_text({{"jsonrpc", "2.0"}, {"method", list_changed_method(kind)}}));
  }
}

// ---------------------------------------------------------------- routing by name and URI

void Aggregator::route_named(std::string_view raw, const transport::Inspection& ins, ListKind k,
                             std::initializer_list<std::string_view> path) {
  auto name = string_at(raw, path);
  if (!name) {
    refuse(ins.id, rpc::kInvalidParams,
           "Invalid params: `" + ins.method + "` needs a string `name`");
    return;
  }
  std::string copy(raw);
  std::vector<std::string_view> p(path);
  auto id = ins.id;
  auto key = ins.id_key;
  auto method = ins.method;
  after_lists(key, k, [this, copy = std::move(copy), p, id, key, method, k, name = *name]() {
    auto route = catalog_.by_name(k, name);
    if (!route) route = hidden_named(k, name);
    const char* what = k == ListKind::Tools ? "tool" : "prompt";
    if (!route) {
      refuse(id, rpc::kInvalidParams,
             std::string("Unknown ") + what + " `" + name +
                 "`: no server behind this endpoint lists it");
      return;
    }
    auto& m = members_[route->member];
    if (m.state == State::Down || !m.spec.session) {
      spdlog::warn("session {}: {} `{}` is on server `{}`, which is down: {}", opts_.session_id,
                   what, name, m.spec.server, m.down_reason);
      to_client_(transport::error_response(id, rpc::kUpstreamUnavailable,
                                           "server `" + m.spec.server + "` is down (" +
                                               m.down_reason + "); `" + method + "` for `" + name +
                                               "` cannot be answered"));
      return;
    }
    // The server is sent its own name for it; its Session judges these very bytes.
    std::string out = copy;
    if (route->name != name) {
      if (p.size() == 2)
        out = replace_member(copy, {p[0], p[1]}, json_text(route->name));
      else
        out = replace_member(copy, {p[0], p[1], p[2]}, json_text(route->name));
    }
    send_to(route->member, key, out);
  });
}

void Aggregator::route_uri(std::string_view raw, const transport::Inspection& ins,
                           std::initializer_list<std::string_view> path) {
  auto uri = string_at(raw, path);
  if (!uri) {
    refuse(ins.id, rpc::kInvalidParams,
           "Invalid params: `" + ins.method + "` needs a string `uri`");
    return;
  }
  std::string copy(raw);
  auto id = ins.id;
  auto key = ins.id_key;
  auto method = ins.method;
  auto go = [this, copy, id, key, method, uri = *uri]() {
    std::string why;
    bool ambiguous = false;
    auto member = catalog_.by_uri(uri, &why, &ambiguous);
    // A URI this client was not shown: its server judges, denies and records the read.
    if (!member && !ambiguous) member = hidden_uri(uri);
    if (!member && !ambiguous) {
      // A server may serve URIs it does not list: when one server offers resources, it is
      // asked; otherwise there is no telling which.
      std::optional<std::size_t> only;
      std::size_t offering = 0;
      for (std::size_t i = 0; i < members_.size(); ++i) {
        const auto& caps = members_[i].init_result.value("capabilities", nlohmann::json::object());
        if (members_[i].initialized && caps.is_object() && caps.contains("resources")) {
          ++offering;
          only = i;
        }
      }
      if (offering == 1) member = only;
    }
    if (!member) {
      refuse(id, rpc::kInvalidParams, "Invalid params: " + why);
      return;
    }
    auto& m = members_[*member];
    if (m.state == State::Down || !m.spec.session) {
      to_client_(transport::error_response(id, rpc::kUpstreamUnavailable,
                                           "server `" + m.spec.server + "` is down (" +
                                               m.down_reason + "); `" + method + "` for `" + uri +
                                               "` cannot be answered"));
      return;
    }
    send_to(*member, key, copy);
  };
  // Resources and templates are fetched together.
  after_lists(key, ListKind::Resources,
              [this, key, go]() { after_lists(key, ListKind::Templates, go); });
}

std::optional<std::size_t> Aggregator::hidden_uri(const std::string& uri) const {
  std::optional<std::size_t> found;
  std::size_t matches = 0;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    const auto& s = members_[i].spec.session;
    if (s && s->hides_entry(gov::ToolRef::Kind::Resource, uri)) {
      ++matches;
      found = i;
    }
  }
  return matches == 1 ? found : std::nullopt;
}

std::optional<CatalogRoute> Aggregator::hidden_named(ListKind k, const std::string& name) const {
  if (k != ListKind::Tools && k != ListKind::Prompts) return std::nullopt;
  const auto kind = k == ListKind::Tools ? gov::ToolRef::Kind::Tool : gov::ToolRef::Kind::Prompt;
  // A tool (or prompt) a server listed in its latest listing but this client was not shown (its
  // definition changed, or no policy lets this principal call it): the call still goes to that
  // server's Session, where it is judged, denied and recorded, rather than ending as
  // "unknown" with no receipt. Named as it could be shown (with the server's prefix unless the
  // mode is never, alone unless it is always), and only when exactly one server's hidden tool
  // has that name: a dropped tool, a name no server hid, or one two servers could mean stays
  // unknown.
  std::optional<CatalogRoute> found;
  std::size_t matches = 0;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    const auto& m = members_[i];
    if (!m.spec.session) continue;
    const std::string prefix =
        (m.spec.prefix.empty() ? m.spec.server : m.spec.prefix) + opts_.separator;
    if (m.spec.mode != PrefixMode::Never && name.size() > prefix.size() &&
        name.compare(0, prefix.size(), prefix) == 0 &&
        m.spec.session->hides_entry(kind, name.substr(prefix.size()))) {
      ++matches;
      found = CatalogRoute{i, name.substr(prefix.size())};
    }
    if (m.spec.mode != PrefixMode::Always && m.spec.session->hides_entry(kind, name)) {
      ++matches;
      found = CatalogRoute{i, name};
    }
  }
  return matches == 1 ? found : std::nullopt;
}

// ---------------------------------------------------------------- client answers, cancels

void Aggregator::client_response(std::string_view raw, const transport::Inspection& ins) {
  if (!ins.id.is_string()) return;
  auto it = server_requests_.find(ins.id.get_ref<const std::string&>());
  if (it == server_requests_.end()) {
    client_faults()("session {}: the client answered {}, which no server asked; dropped",
                    opts_.session_id, ins.id.dump());
    return;
  }
  auto req = std::move(it->second);
  server_requests_.erase(it);
  server_request_ids_.erase({req.member, transport::id_key(req.id)});
  if (members_[req.member].state == State::Down) return;
  members_[req.member].spec.session->on_client_line(replace_member(raw, {"id"}, json_text(req.id)));
}

void Aggregator::client_cancelled(std::string_view raw) {
  auto span = transport::member_span(raw, {"params", "requestId"});
  if (!span) return;
  auto rid = nlohmann::json::parse(*span, nullptr, false);
  if (rid.is_discarded()) return;
  auto key = transport::id_key(rid);
  if (auto it = routed_.find(key); it != routed_.end()) {
    // The client is done with the id (MCP: a cancelled request gets no answer it will read),
    // so it is free again, and a cancelled request never holds a routing entry for good.
    auto member = it->second;
    routed_.erase(it);
    send_to(member, {}, raw);
    return;
  }
  for (auto w = waiters_.begin(); w != waiters_.end(); ++w) {
    if (w->key == key) {  // waiting for lists: it never reached a server
      waiters_.erase(w);
      return;
    }
  }
}

// ---------------------------------------------------------------- servers → client

void Aggregator::from_member(std::size_t i, std::string_view line) {
  auto ins = transport::inspect(line, opts_.max_depth);
  if (ins.shape != transport::Inspection::Shape::Object) {
    to_client_(line);
    return;
  }
  switch (ins.kind) {
    case MessageKind::Response: {
      if (auto o = own_.find(ins.id_key); o != own_.end()) {
        Own own = o->second;
        own_.erase(o);
        on_own_response(own, line, ins);
        return;
      }
      routed_.erase(ins.id_key);
      to_client_(line);
      return;
    }
    case MessageKind::Request:
      server_request(i, line, ins);
      return;
    case MessageKind::Notification: {
      const auto& m = ins.method;
      if (m == "notifications/tools/list_changed" || m == "notifications/prompts/list_changed" ||
          m == "notifications/resources/list_changed") {
        // Listed again; the client hears of it if what it sees changed (rebuild()).
        if (!members_[i].initialized) return;
        if (m == "notifications/tools/list_changed") {
          members_[i].fresh[0] = false;
          fetch(i, ListKind::Tools);
        } else if (m == "notifications/prompts/list_changed") {
          members_[i].fresh[1] = false;
          fetch(i, ListKind::Prompts);
        } else {
          members_[i].fresh[2] = members_[i].fresh[3] = false;
          fetch(i, ListKind::Resources);
          fetch(i, ListKind::Templates);
        }
        return;
      }
      if (m == "notifications/cancelled") {
        // The server gave up on a request it made: the client knows it by its unique id.
        auto span = transport::member_span(line, {"params", "requestId"});
        auto rid = span ? nlohmann::json::parse(*span, nullptr, false) : nlohmann::json();
        if (rid.is_discarded() || rid.is_null()) return;
        auto it = server_request_ids_.find({i, transport::id_key(rid)});
        if (it == server_request_ids_.end()) return;
        to_client_(replace_member(line, {"params", "requestId"}, json_text(it->second)));
        return;
      }
      to_client_(line);
      return;
    }
    case MessageKind::Invalid:
      to_client_(line);
      return;
  }
}

void Aggregator::on_own_response(const Own& own, std::string_view line,
                                 const transport::Inspection& ins) {
  auto& m = members_[own.member];
  switch (own.purpose) {
    case Purpose::Fire:
      return;
    case Purpose::Init: {
      if (ins.has_result) {
        auto body = nlohmann::json::parse(line, nullptr, false);
        m.init_result = body.is_object() ? body.value("result", nlohmann::json::object())
                                         : nlohmann::json::object();
        m.initialized = true;
        if (m.state == State::Waiting || m.state == State::Restarting) m.state = State::Up;
      } else {
        m.down_reason = "initialize failed: " + shorten(line, 300);
        m.state = State::Down;
        spdlog::warn("session {}: server `{}` refused initialize: {}", opts_.session_id,
                     m.spec.server, shorten(line, 300));
      }
      if (!answered_init_) {
        if (init_outstanding_ > 0 && --init_outstanding_ == 0) finish_initialize();
      } else if (m.initialized) {
        // A server that joins late: it completes the handshake and its lists are fetched.
        m.spec.session->on_client_line(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
        spdlog::info("session {}: server `{}` joined", opts_.session_id, m.spec.server);
        fetch_all(own.member);
      }
      return;
    }
    case Purpose::List: {
      auto k = std::size_t(own.kind);
      if (m.fetching[k] != ins.id_key) return;  // a listing that was started over
      m.fetching[k].clear();
      if (m.state == State::Down) return;
      auto body = nlohmann::json::parse(line, nullptr, false);
      const nlohmann::json* result =
          body.is_object() && body.contains("result") ? &body["result"] : nullptr;
      if (!result || !result->is_object()) {
        // Refused, or the server went down meanwhile: what it listed last stays (its names
        // stay routed, and a call gets the server's own error or -32001, not "unknown").
        catalog_errors()("session {}: server `{}` did not answer {}: {}", opts_.session_id,
                         m.spec.server, list_method(own.kind), shorten(line, 300));
        m.partial[k].clear();
        m.fresh[k] = true;
        run_waiters();
        return;
      }
      {
        auto items = result->find(list_member(own.kind));
        if (items != result->end() && items->is_array()) {
          for (auto& item : *items) {
            if (m.partial[k].size() >= kMaxItemsPerServer) {
              catalog_errors()(
                  "session {}: server `{}` lists more than {} {}; the rest are "
                  "ignored",
                  opts_.session_id, m.spec.server, kMaxItemsPerServer, list_member(own.kind));
              break;
            }
            m.partial[k].push_back(std::move(item));
          }
        }
        auto next = result->find("nextCursor");
        if (next != result->end() && next->is_string() && ++m.pages[k] < kMaxPagesPerList &&
            m.partial[k].size() < kMaxItemsPerServer) {
          fetch(own.member, own.kind, *next);
          return;
        }
      }
      m.items[k] = std::move(m.partial[k]);
      m.partial[k].clear();
      m.fresh[k] = true;
      rebuild(own.member);
      run_waiters();
      return;
    }
  }
}

void Aggregator::server_request(std::size_t i, std::string_view line,
                                const transport::Inspection& ins) {
  // Two servers may use one id: the client is given one unique across them.
  auto id = "glasstape:" + std::to_string(i) + ":" + std::to_string(++server_request_count_);
  if (server_request_order_.size() >= kMaxServerRequests) {
    auto oldest = server_request_order_.front();
    server_request_order_.pop_front();
    if (auto it = server_requests_.find(oldest); it != server_requests_.end()) {
      server_request_ids_.erase({it->second.member, transport::id_key(it->second.id)});
      server_requests_.erase(it);
      server_faults()(
          "session {}: {} server requests unanswered by the client; forgot the "
          "oldest",
          opts_.session_id, kMaxServerRequests);
    }
  }
  server_requests_[id] = ServerRequest{i, ins.id};
  server_request_ids_[{i, ins.id_key}] = id;
  server_request_order_.push_back(id);
  to_client_(replace_member(line, {"id"}, json_text(id)));
}

// ---------------------------------------------------------------- servers down and back

void Aggregator::member_down(std::size_t i, const std::string& why, bool restarting) {
  auto& m = members_[i];
  m.state = restarting ? State::Restarting : State::Down;
  m.down_reason = why;
  for (auto& f : m.fetching)
    f.clear();
  spdlog::warn(
      "session {}: server `{}` is down ({}); its tools, prompts and resources are hidden "
      "and {}",
      opts_.session_id, m.spec.server, why,
      restarting ? "calls to them wait for its restart" : "calls to them get -32001");
  rebuild(i);
  run_waiters();  // requests waiting for its lists wait no longer
}

void Aggregator::member_restarted(std::size_t i) {
  auto& m = members_[i];
  if (m.initialized) {
    // Its Session replays the client's initialize; the lists are fetched again (held by the
    // Session until the handshake is done).
    m.state = State::Up;
    spdlog::info("session {}: server `{}` is back", opts_.session_id, m.spec.server);
    fetch_all(i);
  } else if (answered_init_) {
    m.state = State::Waiting;
    join(i);
  } else {
    m.state = State::Waiting;
  }
}

}  // namespace gt::proxy
