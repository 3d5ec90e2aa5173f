#include "proxy/admin/health.hpp"

namespace gt::proxy::admin {

UpstreamStatus::Link UpstreamStatus::attach(const std::string& server) {
  std::lock_guard lk(mu_);
  Link id = next_++;
  links_[id] = LinkState{server, State::Idle, ""};
  return id;
}

void UpstreamStatus::detach(Link link) {
  std::lock_guard lk(mu_);
  links_.erase(link);
}

void UpstreamStatus::started(Link link) {
  std::lock_guard lk(mu_);
  auto it = links_.find(link);
  if (it == links_.end()) return;
  it->second.state = State::Up;
  auto& s = servers_[it->second.server];
  s.ever_started = true;
  s.failure.clear();
}

void UpstreamStatus::start_failed(Link link, const std::string& why) {
  std::lock_guard lk(mu_);
  auto it = links_.find(link);
  if (it == links_.end()) return;
  it->second.state = State::Idle;
  servers_[it->second.server].failure = "cannot start: " + why;
}

void UpstreamStatus::exited(Link link, const std::string& why, bool restarting) {
  std::string server;
  {
    std::lock_guard lk(mu_);
    auto it = links_.find(link);
    if (it == links_.end()) return;
    server = it->second.server;
    it->second.state = restarting ? State::Restarting : State::Idle;
    it->second.why = why;
    if (!restarting) servers_[server].failure = why + " (no restart left)";
  }
  metrics().upstream_exits.inc({server, restarting ? "true" : "false"});
}

void UpstreamStatus::restarted(Link link) {
  std::string server;
  {
    std::lock_guard lk(mu_);
    auto it = links_.find(link);
    if (it == links_.end()) return;
    server = it->second.server;
    it->second.state = State::Up;
    servers_[server].failure.clear();
  }
  metrics().upstream_restarts.inc({server});
}

void UpstreamStatus::report(const std::vector<std::string>& servers, Report& out) const {
  std::lock_guard lk(mu_);
  for (const auto& name : servers) {
    std::size_t up = 0, restarting = 0;
    std::string restart_why;
    for (const auto& [id, l] : links_) {
      if (l.server != name) continue;
      if (l.state == State::Up) ++up;
      if (l.state == State::Restarting) {
        ++restarting;
        restart_why = l.why;
      }
    }
    auto sit = servers_.find(name);
    const Server s = sit == servers_.end() ? Server{} : sit->second;
    Check c{"server[" + name + "]", true, ""};
    if (restarting > 0) {
      c.ok = false;
      c.detail = "restarting after: " + restart_why;
    } else if (!s.failure.empty()) {
      c.ok = false;
      c.detail = "down: " + s.failure;
    } else if (up > 0) {
      c.detail = "up";
      if (up > 1) c.detail += " (" + std::to_string(up) + " processes, one per session)";
    } else {
      c.detail = s.ever_started ? "no session runs it now (starts with the next session)"
                                : "not started yet (starts with the first session)";
    }
    out.checks.push_back(std::move(c));
    out.samples.push_back({"glasstape_upstream_up", {name}, up > 0 ? 1.0 : 0.0});
  }
}

void UpstreamStatus::reset() {
  std::lock_guard lk(mu_);
  links_.clear();
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
