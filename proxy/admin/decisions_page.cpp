#include "proxy/admin/decisions_page.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "governance/audit/decision_feed.hpp"
#include "proxy/admin/assets.hpp"
#include "proxy/admin/metrics.hpp"
#include "transport/http_server.hpp"

namespace gt::proxy::admin {

namespace web = transport::http;

namespace {

constexpr auto kPollEvery = std::chrono::milliseconds(200);
constexpr auto kKeepalive = std::chrono::seconds(15);

const Asset* asset(std::string_view name) {
  for (const auto& a : assets())
    if (a.name == name) return &a;
  return nullptr;
}

// Everything the page loads comes from this server; nothing inline, nothing elsewhere.
const std::vector<web::Header> kPageHeaders = {
    {"Content-Security-Policy",
     "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Cache-Control", "no-store"},
    {"Referrer-Policy", "no-referrer"}};

}  // namespace

DecisionsPage::DecisionsPage(boost::asio::any_io_executor ex, std::string path,
                             std::vector<PageSource> sources, std::function<void(Report&)> status,
                             std::function<nlohmann::json()> tools)
    : ex_(ex),
      path_(std::move(path)),
      sources_(std::move(sources)),
      status_(std::move(status)),
      tools_(std::move(tools)),
      timer_(ex) {
  while (path_.size() > 1 && path_.back() == '/')
    path_.pop_back();
}

DecisionsPage::~DecisionsPage() = default;

bool DecisionsPage::owns(std::string_view path) const {
  return path == path_ || (path.size() > path_.size() && path.substr(0, path_.size()) == path_ &&
                           path[path_.size()] == '/');
}

void DecisionsPage::handle(std::string_view method, std::string_view path,
                           std::shared_ptr<web::Exchange> ex) {
  if (method != "GET" && method != "HEAD") {
    ex->respond(405, "method not allowed\n", "text/plain", {{"Allow", "GET, HEAD"}});
    return;
  }
  if (path == path_) {  // relative asset URLs need the slash
    ex->respond(308, "", "text/plain", {{"Location", path_ + "/"}});
    return;
  }
  std::string_view rest = path.substr(path_.size() + 1);
  if (rest.empty() || rest == "app.js" || rest == "app.css") {
    const Asset* a = asset(rest.empty() ? "decisions.html" : rest);
    if (!a) {
      ex->respond(500, "page assets missing\n", "text/plain");
      return;
    }
    ex->respond(200, std::string(a->body), a->content_type, kPageHeaders);
    return;
  }
  if (rest == "api/status") {
    ex->respond(200, status_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                "application/json", {{"Cache-Control", "no-store"}});
    return;
  }
  if (rest == "api/events") {
    subscribe(std::move(ex));
    return;
  }
  ex->respond(404, "not found\n", "text/plain");
}

nlohmann::json DecisionsPage::status_json() const {
  Report r;
  if (status_) status_(r);
  bool ready = true;
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : r.checks) {
    ready = ready && c.ok;
    checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  }
  std::size_t skipped = 0;
  for (const auto& [t, f] : feeds_)
    skipped += f->skipped();
  return {{"ready", ready},
          {"checks", checks},
          {"servers", tools_ ? tools_() : nlohmann::json::object()},
          {"decisions_passed_over", skipped}};
}

void DecisionsPage::subscribe(std::shared_ptr<web::Exchange> ex) {
  if (live_subscribers().size() >= kMaxSubscribers) {
    metrics().refused.inc({"ui_subscribers"});
    ex->respond(503, "too many decisions pages open\n", "text/plain", {{"Retry-After", "5"}});
    return;
  }
  // The first watcher: read the logs from their last bytes (a feed dropped while nobody
  // watched never drains what piled up).
  if (feeds_.empty()) {
    for (const auto& s : sources_) {
      if (s.dir.empty()) continue;
      try {
        feeds_[s.tenant] = std::make_unique<gov::audit::DecisionFeed>(s.dir, s.keyring);
      } catch (const std::exception& e) {
        spdlog::warn("ui: cannot read the audit log of tenant `{}`: {}", s.tenant, e.what());
      }
    }
  }
  ex->start_stream({{"Cache-Control", "no-store"}});
  // The recent decisions of every tenant, oldest first.
  std::vector<const nlohmann::json*> recent;
  for (const auto& [t, f] : feeds_)
    for (const auto& d : f->recent())
      recent.push_back(&d);
  std::stable_sort(recent.begin(), recent.end(), [](const auto* a, const auto* b) {
    return a->value("ts", "") < b->value("ts", "");
  });
  ex->event("", nlohmann::json{{"type", "reset"}}.dump());
  for (const auto* d : recent) {
    ex->event(std::to_string(++event_id_),
              nlohmann::json{{"type", "decision"}, {"decision", *d}}.dump(
                  -1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  subscribers_.push_back(ex);
  schedule();
}

void DecisionsPage::schedule() {
  if (polling_ || stopped_) return;
  polling_ = true;
  timer_.expires_after(kPollEvery);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    polling_ = false;
    if (ec || stopped_) return;
    poll();
  });
}

std::vector<std::shared_ptr<web::Exchange>> DecisionsPage::live_subscribers() {
  std::vector<std::shared_ptr<web::Exchange>> live;
  for (const auto& w : subscribers_) {
    auto s = w.lock();
    if (s && !s->closed() && !s->done()) live.push_back(std::move(s));
  }
  subscribers_.assign(live.begin(), live.end());
  return live;
}

void DecisionsPage::poll() {
  auto live = live_subscribers();
  if (live.empty()) {
    feeds_.clear();  // nobody watches: stop reading the logs
    return;
  }
  std::vector<nlohmann::json> fresh;
  for (auto& [t, f] : feeds_) {
    for (auto& d : f->poll())
      fresh.push_back(std::move(d));
  }
  for (const auto& d : fresh) {
    auto data = nlohmann::json{{"type", "decision"}, {"decision", d}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto id = std::to_string(++event_id_);
    for (auto& s : live)
      s->event(id, data);
  }
  auto now = std::chrono::steady_clock::now();
  if (fresh.empty() && now - last_keepalive_ >= kKeepalive) {
    last_keepalive_ = now;
    for (auto& s : live)
      s->comment("keepalive");
  }
  schedule();
}

void DecisionsPage::stop() {
  stopped_ = true;
  timer_.cancel();
  for (auto& w : subscribers_)
    if (auto s = w.lock(); s && !s->done()) s->end_stream();
  subscribers_.clear();
  feeds_.clear();
}

}  // namespace gt::proxy::admin
