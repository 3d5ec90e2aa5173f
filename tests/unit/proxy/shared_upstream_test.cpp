#include "proxy/shared_upstream.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "tests/unit/proxy/fake_link.hpp"

using namespace gt::proxy;
using nlohmann::json;

namespace {

using testing::FakeLink;  // the server behind it (fake_link.hpp)

// One session's end: what it receives from the mux.
struct Peer {
  std::shared_ptr<UpstreamLink> link;
  std::vector<json> got;
  int downs = 0, restarts = 0;
  explicit Peer(SharedUpstream& mux) : link(mux.attach()) {
    UpstreamEvents e;
    e.on_line = [this](std::string_view l) { got.push_back(json::parse(l)); };
    e.on_down = [this](const std::string&, bool) { ++downs; };
    e.on_restarted = [this]() { ++restarts; };
    link->start(std::move(e));
  }
  void send(const json& m) { link->send(m.dump()); }
};

json request(const json& id, const std::string& method, json params = json::object()) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

json init_request(const json& id) {
  return request(id, "initialize",
                 {{"protocolVersion", "2025-11-25"},
                  {"capabilities", json::object()},
                  {"clientInfo", {{"name", "c"}, {"version", "1"}}}});
}

struct Fixture {
  boost::asio::io_context ioc;
  std::shared_ptr<FakeLink> link = std::make_shared<FakeLink>();
  std::shared_ptr<SharedUpstream> mux =
      std::make_shared<SharedUpstream>(ioc.get_executor(), link, "srv");
  Fixture() { mux->start(); }
  void run() {
    ioc.restart();
    ioc.poll();
  }
  // Initializes the shared server through `first`.
  void initialize(Peer& first) {
    first.send(init_request(0));
    auto sent = link->last();
    link->say({{"jsonrpc", "2.0"},
               {"id", sent["id"]},
               {"result", {{"protocolVersion", "2025-11-25"}, {"serverInfo", {{"name", "s"}}}}}});
    run();
  }
};

}  // namespace

TEST_CASE("shared: the server is initialized once; later sessions get the cached result",
          "[shared]") {
  Fixture f;
  Peer a(*f.mux), b(*f.mux);
  a.send(init_request("a-init"));
  b.send(init_request(42));  // while the first is in flight
  REQUIRE(f.link->sent.size() == 1);
  auto fwd = f.link->last();
  CHECK(fwd["method"] == "initialize");
  CHECK(fwd["id"] != "a-init");
  f.link->say({{"jsonrpc", "2.0"}, {"id", fwd["id"]}, {"result", {{"protocolVersion", "x"}}}});
  f.run();
  // The proxy sends notifications/initialized itself, once; the sessions' copies are dropped.
  REQUIRE(f.link->sent.size() == 2);
  CHECK(f.link->last()["method"] == "notifications/initialized");
  a.send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  b.send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  CHECK(f.link->sent.size() == 2);
  REQUIRE(a.got.size() == 1);
  REQUIRE(b.got.size() == 1);
  CHECK(a.got[0]["id"] == "a-init");
  CHECK(b.got[0]["id"] == 42);
  CHECK(a.got[0]["result"] == b.got[0]["result"]);
  // A third session, later, is answered without the server.
  Peer c(*f.mux);
  c.send(init_request(1));
  CHECK(c.got.empty());  // never re-entrant: the answer comes on the next turn
  f.run();
  REQUIRE(c.got.size() == 1);
  CHECK(c.got[0]["id"] == 1);
  CHECK(f.link->sent.size() == 2);
}

TEST_CASE("shared: the same id from two sessions never crosses", "[shared]") {
  Fixture f;
  Peer a(*f.mux), b(*f.mux);
  f.initialize(a);
  auto before = f.link->sent.size();
  a.send(request(5, "tools/call", {{"name", "echo"}}));
  b.send(request(5, "tools/call", {{"name", "echo"}}));
  REQUIRE(f.link->sent.size() == before + 2);
  auto ida = f.link->sent[before]["id"];
  auto idb = f.link->sent[before + 1]["id"];
  CHECK(ida != idb);
  // Answers in the opposite order.
  f.link->say({{"jsonrpc", "2.0"}, {"id", idb}, {"result", {{"who", "b"}}}});
  f.link->say({{"jsonrpc", "2.0"}, {"id", ida}, {"result", {{"who", "a"}}}});
  REQUIRE(a.got.size() == 2);  // initialize result, then its answer
  REQUIRE(b.got.size() == 1);
  CHECK(a.got[1]["id"] == 5);
  CHECK(a.got[1]["result"]["who"] == "a");
  CHECK(b.got[0]["id"] == 5);
  CHECK(b.got[0]["result"]["who"] == "b");
  CHECK(f.mux->in_flight() == 0);
  // An answer nobody waits for is dropped.
  f.link->say({{"jsonrpc", "2.0"}, {"id", ida}, {"result", json::object()}});
  CHECK(a.got.size() == 2);
  CHECK(b.got.size() == 1);
}

TEST_CASE("shared: progress tokens and cancellations are mapped per session", "[shared]") {
  Fixture f;
  Peer a(*f.mux), b(*f.mux);
  f.initialize(a);
  a.send(request("x", "tools/call", {{"name", "slow"}, {"_meta", {{"progressToken", "tok"}}}}));
  auto fa = f.link->last();
  b.send(request("x", "tools/call", {{"name", "slow"}, {"_meta", {{"progressToken", "tok"}}}}));
  auto fb = f.link->last();
  auto ta = fa["params"]["_meta"]["progressToken"];
  auto tb = fb["params"]["_meta"]["progressToken"];
  CHECK(ta != tb);
  CHECK(fa["params"]["name"] == "slow");  // the rest of the message is untouched
  f.link->say({{"jsonrpc", "2.0"},
               {"method", "notifications/progress"},
               {"params", {{"progressToken", tb}, {"progress", 1}}}});
  REQUIRE(b.got.size() == 1);
  CHECK(b.got[0]["params"]["progressToken"] == "tok");
  CHECK(a.got.size() == 1);  // only its initialize result
  // b cancels its request: the server is told which one, in its own ids.
  b.send({{"jsonrpc", "2.0"},
          {"method", "notifications/cancelled"},
          {"params", {{"requestId", "x"}, {"reason", "user"}}}});
  CHECK(f.link->last()["method"] == "notifications/cancelled");
  CHECK(f.link->last()["params"]["requestId"] == fb["id"]);
  CHECK(f.link->last()["params"]["reason"] == "user");
}

TEST_CASE("shared: server requests go to the session whose call is in flight", "[shared]") {
  Fixture f;
  Peer a(*f.mux), b(*f.mux);
  f.initialize(a);
  b.send(request(1, "tools/call", {{"name", "sample"}}));
  // The server asks for sampling while b's call runs.
  f.link->say({{"jsonrpc", "2.0"}, {"id", 900}, {"method", "sampling/createMessage"}});
  REQUIRE(b.got.size() == 1);
  CHECK(a.got.size() == 1);
  auto asked = b.got[0];
  CHECK(asked["method"] == "sampling/createMessage");
  // b answers with the id it was given; the server gets its own id back.
  b.send({{"jsonrpc", "2.0"}, {"id", asked["id"]}, {"result", {{"model", "m"}}}});
  CHECK(f.link->last()["id"] == 900);
  CHECK(f.link->last()["result"]["model"] == "m");
  // Another session cannot answer it (again).
  auto n = f.link->sent.size();
  a.send({{"jsonrpc", "2.0"}, {"id", asked["id"]}, {"result", json::object()}});
  CHECK(f.link->sent.size() == n);
  // A server ping is answered by the proxy.
  f.link->say({{"jsonrpc", "2.0"}, {"id", "p"}, {"method", "ping"}});
  CHECK(f.link->last() == json({{"jsonrpc", "2.0"}, {"id", "p"}, {"result", json::object()}}));
}

TEST_CASE("shared: notifications fan out; resource updates reach subscribers only", "[shared]") {
  Fixture f;
  Peer a(*f.mux), b(*f.mux);
  f.initialize(a);
  f.link->say({{"jsonrpc", "2.0"}, {"method", "notifications/tools/list_changed"}});
  CHECK(a.got.size() == 2);
  CHECK(b.got.size() == 1);
  b.send(request(3, "resources/subscribe", {{"uri", "file:///x"}}));
  f.link->say({{"jsonrpc", "2.0"}, {"id", f.link->last()["id"]}, {"result", json::object()}});
  CHECK(b.got.size() == 2);
  f.link->say({{"jsonrpc", "2.0"},
               {"method", "notifications/resources/updated"},
               {"params", {{"uri", "file:///x"}}}});
  CHECK(b.got.size() == 3);
  CHECK(b.got.back()["method"] == "notifications/resources/updated");
  CHECK(a.got.size() == 2);
}

TEST_CASE("shared: a session that leaves has its work cancelled and its server requests failed",
          "[shared]") {
  Fixture f;
  Peer a(*f.mux);
  auto b = std::make_unique<Peer>(*f.mux);
  f.initialize(a);
  b->send(request(1, "tools/call", {{"name", "slow"}}));
  auto fwd = f.link->last();
  f.link->say({{"jsonrpc", "2.0"}, {"id", 77}, {"method", "elicitation/create"}});
  REQUIRE(b->got.size() == 1);
  b->link->shutdown();
  b.reset();
  // The server hears of both.
  bool cancelled = false, refused = false;
  for (const auto& m : f.link->sent) {
    if (m.value("method", "") == "notifications/cancelled" && m["params"]["requestId"] == fwd["id"])
      cancelled = true;
    if (m.contains("error") && m["id"] == 77) refused = true;
  }
  CHECK(cancelled);
  CHECK(refused);
  CHECK(f.mux->in_flight() == 0);
  CHECK(f.mux->sessions() == 1);
  // Its late answer is dropped; the other session still works.
  f.link->say({{"jsonrpc", "2.0"}, {"id", fwd["id"]}, {"result", json::object()}});
  CHECK(a.got.size() == 1);
}

TEST_CASE("shared: a server crash reaches every session and forgets the initialization",
          "[shared]") {
  Fixture f;
  Peer a(*f.mux), b(*f.mux);
  f.initialize(a);
  b.send(request(1, "tools/call", {{"name", "echo"}}));
  f.link->ev.on_down("server `srv` exited", true);
  CHECK(a.downs == 1);
  CHECK(b.downs == 1);
  CHECK(f.mux->in_flight() == 0);
  f.link->ev.on_restarted();
  CHECK(a.restarts == 1);
  CHECK(b.restarts == 1);
  // The next initialize (a session's replay) goes to the new server again.
  auto n = f.link->sent.size();
  b.send(init_request("glasstape:replay:1"));
  REQUIRE(f.link->sent.size() == n + 1);
  CHECK(f.link->last()["method"] == "initialize");
}
