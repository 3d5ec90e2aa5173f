#include "proxy/legacy_bridge.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "tests/unit/proxy/fake_link.hpp"

using namespace gt::proxy;
using nlohmann::json;

namespace {

using testing::FakeLink;  // the server behind it (fake_link.hpp)

const json kEnvelope = {
    {"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
    {"io.modelcontextprotocol/clientCapabilities", {{"elicitation", json::object()}}}};

json call(const json& id, const json& args, json extra = json::object()) {
  json params = {{"name", "ask"}, {"arguments", args}, {"_meta", kEnvelope}};
  params.update(extra);
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"}, {"params", params}};
}

struct Fixture {
  boost::asio::io_context ioc;
  std::shared_ptr<FakeLink> link = std::make_shared<FakeLink>();
  std::shared_ptr<LegacyBridge> bridge = std::make_shared<LegacyBridge>(
      ioc.get_executor(), link, "srv", std::chrono::milliseconds(10000));
  std::vector<json> up;  // what reaches the sessions above
  Fixture() {
    UpstreamEvents e;
    e.on_line = [this](std::string_view l) { up.push_back(json::parse(l)); };
    bridge->start(std::move(e));
  }
  void run() {
    ioc.restart();
    ioc.poll();
  }
  // The first modern request makes the bridge ask; the server is legacy.
  void make_legacy(const json& first) {
    bridge->send(first.dump());
    REQUIRE(link->sent.back()["method"] == "server/discover");
    link->say({{"jsonrpc", "2.0"},
               {"id", link->sent.back()["id"]},
               {"error", {{"code", -32601}, {"message", "Method not found"}}}});
    REQUIRE(link->sent.back()["method"] == "initialize");
    // It declares what it can pass on as input_required.
    CHECK(link->sent.back()["params"]["capabilities"].contains("elicitation"));
    link->say({{"jsonrpc", "2.0"},
               {"id", link->sent.back()["id"]},
               {"result",
                {{"protocolVersion", "2025-11-25"},
                 {"capabilities", {{"tools", json::object()}}},
                 {"serverInfo", {{"name", "old"}, {"version", "1"}}}}}});
    run();
    REQUIRE(bridge->bridging());
  }
  json server_asks(const json& sid) {
    return {{"jsonrpc", "2.0"},
            {"id", sid},
            {"method", "elicitation/create"},
            {"params", {{"message", "name?"}}}};
  }
};

}  // namespace

TEST_CASE("legacy bridge: the question of the only call in flight becomes its input_required",
          "[legacy_bridge]") {
  Fixture f;
  f.make_legacy(call(7, {{"q", 1}}));
  // The queued call reached the server after initialize.
  REQUIRE(f.link->sent.back()["id"] == 7);
  f.link->say(f.server_asks("s1"));
  f.run();
  REQUIRE(f.up.size() == 1);
  auto r = f.up.back();
  CHECK(r["id"] == 7);
  CHECK(r["result"]["resultType"] == "input_required");
  auto reqs = r["result"]["inputRequests"];
  REQUIRE(reqs.size() == 1);
  const std::string key = reqs.begin().key();
  CHECK(reqs[key]["method"] == "elicitation/create");
  CHECK(reqs[key]["params"]["message"] == "name?");
  const auto state = r["result"]["requestState"].get<std::string>();
  CHECK(f.bridge->held() == 1);

  // A retry with other arguments is refused; the call stays held.
  const auto sent_before = f.link->sent.size();
  f.bridge->send(call(8, {{"q", 2}}, {{"requestState", state}}).dump());
  f.run();
  CHECK(f.up.back()["id"] == 8);
  CHECK(f.up.back()["error"]["code"] == -32602);
  CHECK(f.link->sent.size() == sent_before);  // nothing reached the server
  CHECK(f.bridge->held() == 1);

  // The right retry answers the server's question; the held call's answer is the retry's.
  json answer = {{"action", "accept"}, {"content", {{"name", "ada"}}}};
  f.bridge->send(
      call(9, {{"q", 1}}, {{"requestState", state}, {"inputResponses", {{key, answer}}}}).dump());
  REQUIRE(f.link->sent.size() == sent_before + 1);
  CHECK(f.link->sent.back()["id"] == "s1");
  CHECK(f.link->sent.back()["result"] == answer);
  CHECK(f.bridge->held() == 0);
  f.link->say({{"jsonrpc", "2.0"}, {"id", 7}, {"result", {{"content", json::array()}}}});
  f.run();
  CHECK(f.up.back()["id"] == 9);
  CHECK(f.up.back()["result"]["resultType"] == "complete");

  // The state is spent.
  f.bridge->send(call(10, {{"q", 1}}, {{"requestState", state}}).dump());
  f.run();
  CHECK(f.up.back()["id"] == 10);
  CHECK(f.up.back()["error"]["message"].get<std::string>().find("unknown or expired") !=
        std::string::npos);
}

TEST_CASE("legacy bridge: with two calls in flight a question is refused, never guessed",
          "[legacy_bridge]") {
  Fixture f;
  f.make_legacy(call(1, json::object()));
  f.bridge->send(call(2, json::object()).dump());
  f.link->say(f.server_asks("s9"));
  f.run();
  CHECK(f.up.empty());  // neither client sees the question
  REQUIRE(f.link->sent.back()["id"] == "s9");
  CHECK(f.link->sent.back()["error"]["message"].get<std::string>().find("cannot tell") !=
        std::string::npos);
  CHECK(f.bridge->held() == 0);
  // Both calls still get their own answers.
  f.link->say({{"jsonrpc", "2.0"}, {"id", 2}, {"result", {{"content", json::array()}}}});
  f.link->say({{"jsonrpc", "2.0"}, {"id", 1}, {"result", {{"content", json::array()}}}});
  REQUIRE(f.up.size() == 2);
  CHECK(f.up[0]["id"] == 2);
  CHECK(f.up[1]["id"] == 1);
}

TEST_CASE("legacy bridge: a question the client cannot be asked is refused to the server",
          "[legacy_bridge]") {
  Fixture f;
  f.make_legacy(call(1, json::object()));
  f.link->say({{"jsonrpc", "2.0"}, {"id", "x"}, {"method", "tools/list"}});
  f.run();
  CHECK(f.up.empty());
  CHECK(f.link->sent.back()["error"]["code"] == -32601);
}

TEST_CASE("legacy bridge: a call is never turned into a question its client did not declare",
          "[legacy_bridge]") {
  Fixture f;
  json meta = kEnvelope;
  meta["io.modelcontextprotocol/clientCapabilities"] = {{"sampling", json::object()}};
  f.make_legacy(call(1, json::object(), {{"_meta", meta}}));
  f.link->say(f.server_asks("s1"));  // elicitation/create
  f.run();
  CHECK(f.up.empty());
  CHECK(f.bridge->held() == 0);
  REQUIRE(f.link->sent.back()["id"] == "s1");
  CHECK(f.link->sent.back()["error"]["code"] == -32601);
  CHECK(f.link->sent.back()["error"]["message"].get<std::string>().find(
            "needs the `elicitation` capability") != std::string::npos);
  // What it declared is passed on.
  f.link->say({{"jsonrpc", "2.0"},
               {"id", "s2"},
               {"method", "sampling/createMessage"},
               {"params", {{"maxTokens", 5}}}});
  f.run();
  REQUIRE(f.up.size() == 1);
  CHECK(f.up.back()["result"]["resultType"] == "input_required");
  CHECK(f.up.back()["result"]["inputRequests"]["q1"]["method"] == "sampling/createMessage");
}

TEST_CASE("legacy bridge: a 2025 client's initialize makes it transparent", "[legacy_bridge]") {
  Fixture f;
  json init = {{"jsonrpc", "2.0"},
               {"id", 1},
               {"method", "initialize"},
               {"params", {{"protocolVersion", "2025-11-25"}}}};
  f.bridge->send(init.dump());
  CHECK(f.link->sent.back() == init);
  f.link->say(f.server_asks("s1"));  // a server request passes to the client as it is
  CHECK(f.up.back()["method"] == "elicitation/create");
  CHECK_FALSE(f.bridge->bridging());
}
