// A server behind an UpstreamLink, for the tests of what sits above one (SharedUpstream,
// LegacyBridge): it records what it is sent and says what a test tells it to.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy/upstream.hpp"

namespace gt::proxy::testing {

struct FakeLink : UpstreamLink {
  std::vector<nlohmann::json> sent;
  UpstreamEvents ev;
  bool stopped = false;
  void start(Events e) override { ev = std::move(e); }
  void send(std::string_view line) override { sent.push_back(nlohmann::json::parse(line)); }
  bool up() const override { return true; }
  void shutdown() override {
    stopped = true;
    if (ev.on_stopped) ev.on_stopped();
  }
  void say(const nlohmann::json& m) { ev.on_line(m.dump()); }
  nlohmann::json last() const { return sent.back(); }
};

}  // namespace gt::proxy::testing
