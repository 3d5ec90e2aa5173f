// Request timeouts and client cancellation in the core Session.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "proxy/interceptors/deny_tools.hpp"
#include "proxy/session.hpp"

using namespace gt::proxy;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct Up : Upstream {
  std::vector<json> sent;
  void send(std::string_view line) override { sent.push_back(json::parse(line)); }
  bool up() const override { return true; }
};

struct Rec : Recorder {
  std::vector<json> results;
  void record_decision(const CallContext&, std::function<void(Outcome)> done) override {
    done(Outcome{true, "", "r"});
  }
  void record_result(const CallContext&, const Response& response) override {
    results.push_back(response.json());
  }
};

struct Timed {
  boost::asio::io_context ioc;
  Up up;
  Rec* rec = nullptr;
  std::vector<json> to_client;
  std::shared_ptr<Session> session;

  Timed() {
    std::vector<std::unique_ptr<Interceptor>> chain;
    chain.push_back(std::make_unique<DenyToolsInterceptor>(std::vector<std::string>{}));
    auto r = std::make_unique<Rec>();
    rec = r.get();
    SessionOptions o;
    o.server = "srv";
    o.request_timeout = 60ms;
    o.max_timeout = 200ms;
    session = std::make_shared<Session>(
        o, std::make_shared<Pipeline>(std::move(chain), std::move(r)), up,
        [this](std::string_view l) { to_client.push_back(json::parse(l)); },
        [](std::function<void()> f) { f(); }, ioc.get_executor());
    // The tools are known, so calls are decided at once.
    session->on_client_line(R"({"jsonrpc":"2.0","id":"l","method":"tools/list"})");
    session->on_server_line(
        R"({"jsonrpc":"2.0","id":"l","result":{"tools":[{"name":"slow","inputSchema":{"type":"object"}}]}})");
    to_client.clear();
    up.sent.clear();
  }
  void run_for(std::chrono::milliseconds d) {
    ioc.restart();
    ioc.run_for(d);
  }
  // The first error answer the client got (progress notifications may follow it).
  json error_answer() const {
    for (const auto& m : to_client) {
      if (m.contains("error")) return m;
    }
    return nullptr;
  }
  void progress(const json& token) {
    session->on_server_line(json({{"jsonrpc", "2.0"},
                                  {"method", "notifications/progress"},
                                  {"params", {{"progressToken", token}, {"progress", 1}}}})
                                .dump());
  }
};

}  // namespace

TEST_CASE("session: an unanswered request times out with -32002 and is cancelled upstream",
          "[session][timeout]") {
  Timed t;
  t.session->on_client_line(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}})");
  REQUIRE(t.up.sent.size() == 1);
  t.run_for(30ms);
  CHECK(t.to_client.empty());  // not yet
  t.run_for(150ms);
  REQUIRE(t.to_client.size() == 1);
  CHECK(t.to_client[0]["id"] == 1);
  CHECK(t.to_client[0]["error"]["code"] == -32002);
  CHECK(t.to_client[0]["error"]["message"].get<std::string>().find("within 60 ms") !=
        std::string::npos);
  REQUIRE(t.up.sent.size() == 2);
  CHECK(t.up.sent[1]["method"] == "notifications/cancelled");
  CHECK(t.up.sent[1]["params"]["requestId"] == 1);
  // The audit gets the call's outcome.
  REQUIRE(t.rec->results.size() == 1);
  CHECK(t.rec->results[0]["error"]["code"] == -32002);
  CHECK(t.session->pending_requests() == 0);
  // The late answer does not reach the client a second time.
  t.session->on_server_line(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})");
  CHECK(t.to_client.size() == 1);
}

TEST_CASE("session: progress extends a request's time, up to the hard maximum",
          "[session][timeout]") {
  Timed t;
  t.session->on_client_line(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","_meta":{"progressToken":"p"}}})");
  auto start = std::chrono::steady_clock::now();
  // Progress every 30 ms keeps it alive past the 60 ms timeout...
  for (int i = 0; i < 4; ++i) {
    t.run_for(30ms);
    t.progress("p");
  }
  CHECK(t.to_client.size() == 4);  // the progress notifications only
  CHECK(t.session->pending_requests() == 1);
  // ...but not past 200 ms after it was sent.
  while (t.session->pending_requests() == 1 && std::chrono::steady_clock::now() - start < 1s) {
    t.run_for(30ms);
    t.progress("p");
  }
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 200ms);
  CHECK(took < 600ms);
  auto err = t.error_answer();
  REQUIRE(err.is_object());
  CHECK(err["id"] == 2);
  CHECK(err["error"]["code"] == -32002);
  CHECK(err["error"]["message"].get<std::string>().find("the limit even with progress") !=
        std::string::npos);
}

TEST_CASE("session: progress for another token does not extend a request", "[session][timeout]") {
  Timed t;
  t.session->on_client_line(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow","_meta":{"progressToken":7}}})");
  for (int i = 0; i < 5; ++i) {
    t.run_for(25ms);
    t.progress("7");  // a string, not the number 7
  }
  CHECK(t.session->pending_requests() == 0);
  REQUIRE(t.error_answer().is_object());
  CHECK(t.error_answer()["error"]["code"] == -32002);
}

TEST_CASE("session: a request the client cancels leaves the pending map at once",
          "[session][timeout]") {
  Timed t;
  t.session->on_client_line(
      R"({"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"slow"}})");
  CHECK(t.session->pending_requests() == 1);
  t.session->on_client_line(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}})");
  CHECK(t.session->pending_requests() == 0);
  REQUIRE(t.up.sent.size() == 2);  // the cancellation is forwarded as it is
  CHECK(t.up.sent[1]["method"] == "notifications/cancelled");
  REQUIRE(t.rec->results.size() == 1);
  CHECK(t.rec->results[0]["error"]["code"] == -32800);
  // No timeout error follows, and a late answer is dropped.
  t.run_for(150ms);
  t.session->on_server_line(R"({"jsonrpc":"2.0","id":"c","result":{"content":[]}})");
  CHECK(t.to_client.empty());
}
