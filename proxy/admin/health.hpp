// What /readyz and /metrics read from the parts of a running proxy: readiness checks and
// samples that are owned elsewhere (a policy store's state, an audit log's counters, the
// servers' last starts). Pure bookkeeping: no I/O.
#pragma once

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

// The servers' last known state, for every session's upstream of each configured server
// (fed by the links make_upstream() returns). A server is ready unless its latest start
// failed, or it ended and is not (or not yet) running again. A server no session has started
// yet is ready: it starts with the first session.
class UpstreamStatus {
 public:
  void started(const std::string& server);
  void start_failed(const std::string& server, const std::string& why);
  void exited(const std::string& server, const std::string& why, bool restarting);
  void restarted(const std::string& server);
  // Checks and glasstape_upstream_up samples for `servers` (the configured names).
  void report(const std::vector<std::string>& servers, Report& out) const;
  void reset();  // tests

 private:
  enum class State { NotStarted, Up, Restarting, Down };
  struct Entry {
    State state = State::NotStarted;
    std::string why;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> servers_;
};

UpstreamStatus& upstream_status();

// The text of /readyz: "ready" or "not ready", then one line per check.
std::string readiness_text(const std::vector<Check>& checks, bool& ready);

}  // namespace gt::proxy::admin
