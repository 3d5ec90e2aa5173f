// What /readyz and /metrics read from the parts of a running proxy: readiness checks and
// samples that are owned elsewhere (a policy store's state, an audit log's counters, the
// servers' last starts). Pure bookkeeping: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/admin/metrics.hpp"

namespace gt::proxy::admin {

// One readiness check: `name` says what was checked ("policies[default]", "audit[default]",
// "server[example]"), `detail` what was found, in words an operator can act on.
struct Check {
  std::string name;
  bool ok = true;
  std::string detail;
};

struct Report {
  std::vector<Check> checks;
  std::vector<Sample> samples;
};

// The servers' state, from every link of each configured server (fed by the links
// make_upstream() returns; `serve` runs one per session). A server is not ready while one of
// its links is restarting, or when its latest start failed or a link ended with no restart
// left (until a later start succeeds). A server with no link is ready: it starts with the
// next session.
class UpstreamStatus {
 public:
  using Link = std::uint64_t;
  Link attach(const std::string& server);  // a new link (not started yet)
  void detach(Link link);                  // the link is gone (its session ended)
  void started(Link link);
  void start_failed(Link link, const std::string& why);
  void exited(Link link, const std::string& why, bool restarting);
  void restarted(Link link);
  // Checks and glasstape_upstream_up samples for `servers` (the configured names).
  void report(const std::vector<std::string>& servers, Report& out) const;
  void reset();  // tests

 private:
  enum class State { Idle, Up, Restarting };
  struct LinkState {
    std::string server;
    State state = State::Idle;
    std::string why;  // of the exit it is restarting after
  };
  struct Server {
    bool ever_started = false;
    std::string failure;  // the latest start failure or final exit, until a start succeeds
  };
  mutable std::mutex mu_;
  Link next_ = 1;
  std::map<Link, LinkState> links_;
  std::map<std::string, Server> servers_;
};

UpstreamStatus& upstream_status();

// The text of /readyz: "ready" or "not ready", then one line per check.
std::string readiness_text(const std::vector<Check>& checks, bool& ready);

}  // namespace gt::proxy::admin
