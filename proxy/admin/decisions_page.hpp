// The live decisions page of `glasstape serve` (`http.ui`, default path /ui):
//
//   GET /ui            308 to /ui/
//   GET /ui/           the page (decisions.html), app.js, app.css: built into the binary
//   GET /ui/api/status readiness checks, and per server the tools listed so far with how
//                      each is governed (JSON)
//   GET /ui/api/events Server-Sent Events: the recent decisions, then each new one as the
//                      audit log receives it, read back from the log with its signature
//                      checked against the tenant's keyring (governance/audit/decision_feed)
//
// The logs are read only while someone watches: feeds are made for the first subscriber and
// dropped after the last, polled every 200 ms in between. Bounded: 16 subscribers (more get
// 503), 500 decisions per tenant, each subscriber's unsent events by the HTTP server's queue.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "proxy/admin/health.hpp"

namespace gt::gov::audit {
class DecisionFeed;
}
namespace gt::transport::http {
class Exchange;
}

namespace gt::proxy::admin {

struct PageSource {
  std::string tenant;
  std::string dir;      // the tenant's audit directory ("": no recorder, nothing to show)
  std::string keyring;  // its keyring file
};

class DecisionsPage {
 public:
  static constexpr std::size_t kMaxSubscribers = 16;

  // `status` fills the checks (run on the executor); `tools` gives, per server, each listed
  // tool and how it is governed.
  DecisionsPage(boost::asio::any_io_executor ex, std::string path, std::vector<PageSource> sources,
                std::function<void(Report&)> status, std::function<nlohmann::json()> tools);
  ~DecisionsPage();

  // True when `path` (without a query) is the page's or one of its files'.
  bool owns(std::string_view path) const;
  void handle(std::string_view method, std::string_view path,
              std::shared_ptr<transport::http::Exchange> ex);
  void stop();

 private:
  void subscribe(std::shared_ptr<transport::http::Exchange> ex);
  // The watchers still connected (the others are dropped from subscribers_).
  std::vector<std::shared_ptr<transport::http::Exchange>> live_subscribers();
  void poll();
  void schedule();
  nlohmann::json status_json() const;

  boost::asio::any_io_executor ex_;
  std::string path_;  // without the trailing slash
  std::vector<PageSource> sources_;
  std::function<void(Report&)> status_;
  std::function<nlohmann::json()> tools_;
  std::map<std::string, std::unique_ptr<gov::audit::DecisionFeed>> feeds_;  // by tenant
  std::vector<std::weak_ptr<transport::http::Exchange>> subscribers_;
  boost::asio::steady_timer timer_;
  bool polling_ = false;
  bool stopped_ = false;
  unsigned long event_id_ = 0;
  std::chrono::steady_clock::time_point last_keepalive_{};
};

}  // namespace gt::proxy::admin
