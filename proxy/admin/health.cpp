#include "proxy/admin/health.hpp"

namespace gt::proxy::admin {

void UpstreamStatus::started(const std::string& server) {
  std::lock_guard lk(mu_);
  servers_[server] = {State::Up, ""};
}

void UpstreamStatus::start_failed(const std::string& server, const std::string& why) {
  std::lock_guard lk(mu_);
  servers_[server] = {State::Down, "cannot start: " + why};
}

void UpstreamStatus::exited(const std::string& server, const std::string& why, bool restarting) {
  metrics().upstream_exits.inc({server, restarting ? "true" : "false"});
  std::lock_guard lk(mu_);
  servers_[server] = {restarting ? State::Restarting : State::Down, why};
}

void UpstreamStatus::restarted(const std::string& server) {
  metrics().upstream_restarts.inc({server});
  std::lock_guard lk(mu_);
  servers_[server] = {State::Up, ""};
}

void UpstreamStatus::report(const std::vector<std::string>& servers, Report& out) const {
  std::lock_guard lk(mu_);
  for (const auto& name : servers) {
    auto it = servers_.find(name);
    Entry e = it == servers_.end() ? Entry{} : it->second;
    Check c{"server[" + name + "]", true, ""};
    switch (e.state) {
      case State::NotStarted:
        c.detail = "not started yet (starts with the first session)";
        break;
      case State::Up:
        c.detail = "up";
        break;
      case State::Restarting:
        c.ok = false;
        c.detail = "restarting after: " + e.why;
        break;
      case State::Down:
        c.ok = false;
        c.detail = "down: " + e.why;
        break;
    }
    out.checks.push_back(std::move(c));
    out.samples.push_back({"glasstape_upstream_up", {name}, e.state == State::Up ? 1.0 : 0.0});
  }
}

void UpstreamStatus::reset() {
  std::lock_guard lk(mu_);
  servers_.clear();
}

UpstreamStatus& upstream_status() {
  static UpstreamStatus s;
  return s;
}

std::string readiness_text(const std::vector<Check>& checks, bool& ready) {
  ready = true;
  for (const auto& c : checks)
    ready = ready && c.ok;
  std::string out = ready ? "ready\n" : "not ready\n";
  for (const auto& c : checks)
    out += std::string(c.ok ? "ok    " : "FAIL  ") + c.name + ": " + c.detail + "\n";
  return out;
}

}  // namespace gt::proxy::admin
