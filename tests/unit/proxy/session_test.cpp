#include "proxy/session.hpp"

#include <catch2/catch.hpp>

#include "proxy/interceptors/deny_tools.hpp"

using namespace gt::proxy;
using nlohmann::json;

namespace {

struct FakeUpstream : Upstream {
  std::vector<std::string> sent;
  bool is_up = true;
  void send(std::string_view line) override { sent.emplace_back(line); }
  bool up() const override { return is_up; }
};

// Records decisions synchronously; can be told to fail.
struct FakeRecorder : Recorder {
  std::vector<std::string> decisions;
  std::vector<json> results;
  std::vector<std::size_t> in_flight;  // calls_in_flight() at each decision
  bool fail = false;
  void record_decision(const CallContext& ctx, std::function<void(Outcome)> done) override {
    decisions.push_back(ctx.tool + ":" + (ctx.decision.effect == Effect::Allow ? "allow" : "deny"));
    in_flight.push_back(calls_in_flight());
    done(Outcome{!fail, fail ? "disk full" : "", "r-" + std::to_string(decisions.size())});
  }
  void record_result(const CallContext&, const Response& response) override {
    results.push_back(response.json());
  }
};

struct Harness {
  FakeUpstream up;
  FakeRecorder* rec = nullptr;
  std::vector<std::string> to_client;
  std::shared_ptr<Session> session;

  explicit Harness(std::vector<std::string> deny = {}) {
    std::vector<std::unique_ptr<Interceptor>> chain;
    chain.push_back(std::make_unique<DenyToolsInterceptor>(std::move(deny)));
    auto r = std::make_unique<FakeRecorder>();
    rec = r.get();
    auto pipeline = std::make_shared<Pipeline>(std::move(chain), std::move(r));
    SessionOptions o;
    o.server = "srv";
    o.principal.id = "agent-1";
    session = std::make_shared<Session>(
        o, pipeline, up, [this](std::string_view l) { to_client.emplace_back(l); },
        [](std::function<void()> f) { f(); });
    // The client lists the tools first, as real clients do.
    session->on_client_line(R"({"jsonrpc":"2.0","id":"list","method":"tools/list"})");
    session->on_server_line(
        R"({"jsonrpc":"2.0","id":"list","result":{"tools":[{"name":"echo"},{"name":"delete_file"},{"name":"slow"}]}})");
    up.sent.clear();
    to_client.clear();
  }
  json last_client() const { return json::parse(to_client.back()); }
};

}  // namespace

TEST_CASE("session forwards messages token for token, without the whitespace between tokens",
          "[session]") {
  Harness h;
  std::string req =
      "{\"jsonrpc\":\"2.0\", \"id\":1,\r\"method\":\"resources/read\",\n\"params\":{\"uri\":\"x: "
      "//y\"}}";
  h.session->on_client_line(req);
  REQUIRE(h.up.sent.size() == 1);
  CHECK(h.up.sent[0] ==
        R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"x: //y"}})");
  std::string resp = R"({"jsonrpc":"2.0","id":1,  "result":{"contents":[]}})";
  h.session->on_server_line(resp);
  REQUIRE(h.to_client.size() == 1);
  CHECK(h.to_client[0] == resp);
  // Server-to-client requests and the client's answers pass through too.
  std::string sampling =
      R"({"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}})";
  h.session->on_server_line(sampling);
  CHECK(h.to_client.back() == sampling);
  std::string answer = R"({"jsonrpc":"2.0","id":"s1","result":{"role":"assistant"}})";
  h.session->on_client_line(answer);
  CHECK(h.up.sent.back() == answer);
  CHECK(h.session->pending_requests() == 0);
}

TEST_CASE("session splits batches into single messages", "[session]") {
  Harness h;
  h.session->on_client_line(
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"},{"id":3}])");
  REQUIRE(h.up.sent.size() == 2);
  CHECK(h.up.sent[0] == R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(json::parse(h.up.sent[1])["method"] == "notifications/x");
  REQUIRE(h.to_client.size() == 1);
  CHECK(h.last_client()["error"]["code"] == -32600);
  CHECK(h.last_client()["id"] == 3);
}

TEST_CASE("a raw NUL byte makes a message malformed, whatever follows it", "[session]") {
  // The validators stopped at the NUL and judged `[ping]` while the rest went along (found by
  // batch_split_fuzz): JSON has no raw NUL, so none of it is forwarded.
  Harness h;
  using namespace std::string_literals;
  h.session->on_client_line(
      "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\0,{\"jsonrpc\":\"2.0\",\"id\":2,"
      "\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}]"s);
  h.session->on_client_line("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\0{}"s);
  h.session->on_client_line("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"p\0ing\"}"s);
  CHECK(h.up.sent.empty());
  REQUIRE(h.to_client.size() == 3);
  for (const auto& line : h.to_client)
    CHECK(json::parse(line)["error"]["code"] == -32700);
  CHECK(h.to_client[0].find("NUL") != std::string::npos);
}

TEST_CASE("session answers bad input with JSON-RPC errors and goes on", "[session]") {
  Harness h;
  h.session->on_client_line(R"({"jsonrpc":"2.0","id":44,"method":)");
  CHECK(h.last_client()["error"]["code"] == -32700);
  CHECK(h.last_client()["id"] == 44);
  h.session->on_client_line(R"({"jsonrpc":"2.0","id":7})");
  CHECK(h.last_client()["error"]["code"] == -32600);
  CHECK(h.last_client()["id"] == 7);
  h.session->on_client_oversize(
      R"({"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"x":")", 99999999);
  CHECK(h.last_client()["error"]["code"] == -32600);
  CHECK(h.last_client()["id"] == "big");
  h.session->on_client_line(R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{}})");
  CHECK(h.last_client()["error"]["code"] == -32602);
  h.session->on_client_line(R"({"jsonrpc":"2.0","id":9,"method":"ping"})");
  CHECK(h.up.sent.size() == 1);
}

TEST_CASE("a denied call is answered with isError and never forwarded", "[session]") {
  Harness h({"delete_*"});
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/x"}}})");
  CHECK(h.up.sent.empty());
  auto r = h.last_client();
  CHECK(r["id"] == 5);
  CHECK(r["result"]["isError"] == true);
  auto text = r["result"]["content"][0]["text"].get<std::string>();
  CHECK(text.find("delete_file") != std::string::npos);
  CHECK(text.find("deny_tools") != std::string::npos);
  auto meta = r["result"]["_meta"]["dev.glasstape/decision"];
  CHECK(meta["decision"] == "deny");
  CHECK(meta["code"] == "GT-DENY-TOOL");
  CHECK(meta["receipt_id"] == "r-1");
  CHECK(h.rec->decisions == std::vector<std::string>{"delete_file:deny"});
}

TEST_CASE("an allowed call is forwarded as received and its result recorded", "[session]") {
  Harness h({"delete_*"});
  std::string call =
      R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}})";
  h.session->on_client_line(call);
  REQUIRE(h.up.sent.size() == 1);
  CHECK(h.up.sent[0] == call);
  std::string result =
      R"({"jsonrpc":"2.0","id":6,"result":{"content":[{"type":"text","text":"hi"}]}})";
  h.session->on_server_line(result);
  CHECK(h.to_client.back() == result);
  REQUIRE(h.rec->results.size() == 1);
  CHECK(h.rec->results[0]["id"] == 6);
}

TEST_CASE("a call counts as in flight from its decision until it is answered or dropped",
          "[session]") {
  // The recorder lets only the one call in flight wait for the disk on the session's thread
  // (AuditRecorder): a call that stayed counted would only cost speed, one not counted would
  // stall the other sessions of the thread.
  const std::size_t base = calls_in_flight();
  {
    Harness h({"delete_*"});
    auto call = [&](int id, const char* tool) {
      h.session->on_client_line(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
                                R"(,"method":"tools/call","params":{"name":")" + tool +
                                R"(","arguments":{}}})");
    };
    call(1, "echo");
    call(2, "echo");
    call(3, "delete_file");  // denied: answered at once
    CHECK(h.rec->in_flight == std::vector<std::size_t>{base + 1, base + 2, base + 3});
    CHECK(calls_in_flight() == base + 2);
    h.session->on_server_line(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})");
    CHECK(calls_in_flight() == base + 1);
    call(4, "echo");
    CHECK(h.rec->in_flight.back() == base + 2);
    h.session->on_server_line(R"({"jsonrpc":"2.0","id":2,"result":{"content":[]}})");
    CHECK(calls_in_flight() == base + 1);
  }
  // A session that goes with a call still pending lets go of it.
  CHECK(calls_in_flight() == base);
}

TEST_CASE("a decision that cannot be recorded is a denial", "[session]") {
  Harness h;
  h.rec->fail = true;
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}})");
  CHECK(h.up.sent.empty());
  auto meta = h.last_client()["result"]["_meta"]["dev.glasstape/decision"];
  CHECK(meta["code"] == "GT-AUDIT-WRITE");
  CHECK(meta["reason"].get<std::string>().find("disk full") != std::string::npos);
}

TEST_CASE("a server crash fails pending requests; restart replays initialize", "[session]") {
  Harness h;
  std::string init =
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})";
  h.session->on_client_line(init);
  h.session->on_server_line(
      R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}})");
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}})");
  h.session->on_client_line(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  h.to_client.clear();
  h.session->on_server_down("server `srv` killed by signal 9", true);
  REQUIRE(h.to_client.size() == 2);
  for (auto& m : h.to_client) {
    auto j = json::parse(m);
    CHECK(j["error"]["code"] == -32001);
    CHECK(j["error"]["message"].get<std::string>().find("killed by signal 9") != std::string::npos);
  }
  CHECK(h.rec->results.size() == 1);  // the failed call's outcome is recorded too
  // Messages sent while restarting are held, then delivered after the replayed handshake.
  h.session->on_client_line(R"({"jsonrpc":"2.0","id":3,"method":"ping"})");
  h.up.sent.clear();
  h.session->on_server_restarted();
  REQUIRE(h.up.sent.size() == 1);
  auto replay = json::parse(h.up.sent[0]);
  CHECK(replay["method"] == "initialize");
  CHECK(replay["id"].is_string());
  CHECK(replay["params"]["clientInfo"]["name"] == "c");
  h.session->on_server_line(
      json({{"jsonrpc", "2.0"}, {"id", replay["id"]}, {"result", json::object()}}).dump());
  REQUIRE(h.up.sent.size() == 3);
  CHECK(json::parse(h.up.sent[1])["method"] == "notifications/initialized");
  CHECK(json::parse(h.up.sent[2])["id"] == 3);
  CHECK(h.to_client.size() == 2);  // the client never saw the replay
}

TEST_CASE("a server that is down for good answers requests at once", "[session]") {
  Harness h;
  h.session->on_server_down("server `srv` exited with status 1", false);
  h.session->on_client_line(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(h.up.sent.empty());
  CHECK(h.last_client()["error"]["code"] == -32001);
}

TEST_CASE("tools/list results reach the pipeline, with annotations for calls", "[session]") {
  struct Spy : Interceptor {
    json* listed;
    json* seen_annotations;
    std::string_view name() const override { return "spy"; }
    void on_tools_listed(std::string_view, const json& tools) override { listed->push_back(tools); }
    Verdict on_call(CallContext& ctx) override {
      *seen_annotations = ctx.tool_ref.annotations;
      return Verdict::Continue;
    }
  };
  json listed = json::array(), ann;
  auto spy = std::make_unique<Spy>();
  spy->listed = &listed;
  spy->seen_annotations = &ann;
  std::vector<std::unique_ptr<Interceptor>> chain;
  chain.push_back(std::move(spy));
  FakeUpstream up;
  std::vector<std::string> out;
  auto s = std::make_shared<Session>(
      SessionOptions{}, std::make_shared<Pipeline>(std::move(chain), nullptr), up,
      [&](std::string_view l) { out.emplace_back(l); }, [](std::function<void()> f) { f(); });
  s->on_client_line(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  s->on_server_line(
      R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","annotations":{"readOnlyHint":true}}],"nextCursor":"p2"}})");
  s->on_client_line(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"p2"}})");
  s->on_server_line(R"({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"b"}]}})");
  REQUIRE(listed.size() == 2);
  CHECK(listed[1][0]["name"] == "b");
  s->on_client_line(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a"}})");
  CHECK(ann["readOnlyHint"] == true);
}

TEST_CASE("ambiguous tools/call messages are refused, not judged one way and run another",
          "[session]") {
  Harness h({"delete_file"});
  for (
      const char* msg :
      {R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_file"}})",
       R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"delete_file","name":"echo"}})",
       R"({"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"delete_file"}})"}) {
    INFO(msg);
    h.to_client.clear();
    h.session->on_client_line(msg);
    CHECK(h.up.sent.empty());
    REQUIRE(h.to_client.size() == 1);
    CHECK(h.last_client()["error"]["code"] == -32600);
  }
  // An escaped method name still goes through governance.
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":2,"method":"tools\/call","params":{"name":"delete_file"}})");
  CHECK(h.up.sent.empty());
  CHECK(h.last_client()["result"]["isError"] == true);
}

TEST_CASE("integers beyond 64 bits pass through untouched", "[session]") {
  Harness h({"delete_file"});
  std::string msg =
      R"({"jsonrpc":"2.0","id":1,"method":"x/y","params":{"big":123456789012345678901234567890,"f":1.50}})";
  h.session->on_client_line(msg);
  REQUIRE(h.up.sent.size() == 1);
  CHECK(h.up.sent[0] == msg);
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_file","arguments":{"n":123456789012345678901234567890}}})");
  CHECK(h.up.sent.size() == 1);
  CHECK(h.last_client()["result"]["isError"] == true);
}

TEST_CASE("a call for a tool never listed makes the proxy list the tools first", "[session]") {
  Harness h;
  // After the server says its tools changed, a call for a tool not seen yet waits for a listing.
  h.session->on_server_line(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  h.to_client.clear();
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fresh","arguments":{}}})");
  REQUIRE(h.up.sent.size() == 1);
  auto list = json::parse(h.up.sent[0]);
  CHECK(list["method"] == "tools/list");
  // Two pages; the call is sent only after the last one, and the client sees neither.
  h.session->on_server_line(
      json({{"jsonrpc", "2.0"},
            {"id", list["id"]},
            {"result", {{"tools", json::array({{{"name", "a"}}})}, {"nextCursor", "c2"}}}})
          .dump());
  REQUIRE(h.up.sent.size() == 2);
  auto page2 = json::parse(h.up.sent[1]);
  CHECK(page2["params"]["cursor"] == "c2");
  h.session->on_server_line(json({{"jsonrpc", "2.0"},
                                  {"id", page2["id"]},
                                  {"result", {{"tools", json::array({{{"name", "fresh"}}})}}}})
                                .dump());
  REQUIRE(h.up.sent.size() == 3);
  CHECK(json::parse(h.up.sent[2])["id"] == 1);
  CHECK(h.to_client.empty());
  // Known now: the next call goes straight through; list_changed makes it list again.
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fresh"}})");
  CHECK(h.up.sent.size() == 4);
  h.session->on_server_line(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"new_tool"}})");
  CHECK(json::parse(h.up.sent.back())["method"] == "tools/list");
}

TEST_CASE("a session that never listed lists before its first call", "[session]") {
  FakeUpstream up;
  std::vector<std::string> out;
  std::vector<std::unique_ptr<Interceptor>> chain;
  chain.push_back(std::make_unique<DenyToolsInterceptor>(std::vector<std::string>{}));
  auto s = std::make_shared<Session>(
      SessionOptions{}, std::make_shared<Pipeline>(std::move(chain), nullptr), up,
      [&](std::string_view l) { out.emplace_back(l); }, [](std::function<void()> f) { f(); });
  s->on_client_line(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}})");
  REQUIRE(up.sent.size() == 1);
  CHECK(json::parse(up.sent.back())["method"] == "tools/list");
  CHECK(out.empty());
}

TEST_CASE("calls waiting for the recorder are counted for flow control", "[session]") {
  // A recorder that completes later (like the audit log's group commit).
  struct HeldRecorder : Recorder {
    std::vector<std::function<void(Outcome)>> held;
    void record_decision(const CallContext&, std::function<void(Outcome)> done) override {
      held.push_back(std::move(done));
    }
    void record_result(const CallContext&, const Response&) override {}
  };
  FakeUpstream up;
  auto rec = std::make_unique<HeldRecorder>();
  HeldRecorder* r = rec.get();
  std::vector<std::unique_ptr<Interceptor>> chain;
  chain.push_back(std::make_unique<DenyToolsInterceptor>(std::vector<std::string>{"delete_*"}));
  auto pipeline = std::make_shared<Pipeline>(std::move(chain), std::move(rec));
  std::vector<std::string> to_client;
  auto session = std::make_shared<Session>(
      SessionOptions{}, pipeline, up, [&](std::string_view l) { to_client.emplace_back(l); },
      [](std::function<void()> f) { f(); });
  std::vector<std::size_t> seen;  // calls_deciding() each time the listener runs
  session->set_decided_listener([&] { seen.push_back(session->calls_deciding()); });
  session->on_client_line(R"({"jsonrpc":"2.0","id":"l","method":"tools/list"})");
  session->on_server_line(
      R"({"jsonrpc":"2.0","id":"l","result":{"tools":[{"name":"echo"},{"name":"delete_file"}]}})");
  up.sent.clear();
  to_client.clear();
  for (int i = 0; i < 3; ++i) {
    session->on_client_line(R"({"jsonrpc":"2.0","id":)" + std::to_string(i) +
                            R"(,"method":"tools/call","params":{"name":"echo"}})");
  }
  session->on_client_line(
      R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"delete_file"}})");
  CHECK(session->calls_deciding() == 4);  // denied calls wait for their receipt too
  CHECK(up.sent.empty());
  CHECK(seen.empty());
  REQUIRE(r->held.size() == 4);
  r->held[0](Recorder::Outcome{true, "", "r-0"});
  CHECK(session->calls_deciding() == 3);
  CHECK(up.sent.size() == 1);
  r->held[3](Recorder::Outcome{true, "", "r-3"});  // the denial
  r->held[1](Recorder::Outcome{false, "disk full", "r-1"});
  r->held[2](Recorder::Outcome{true, "", "r-2"});
  CHECK(session->calls_deciding() == 0);
  CHECK(seen == std::vector<std::size_t>{3, 2, 1, 0});
  CHECK(up.sent.size() == 2);    // r-1 failed to record: denied, never forwarded
  CHECK(to_client.size() == 2);  // the policy denial and the audit-write denial
}

TEST_CASE("the server receives the compact text that was judged, never a second message",
          "[session][boundary]") {
  Harness h({"delete_file"});
  // A judged ping whose params hide a tools/call on a line of its own, for a server that
  // splits on LF or on a lone CR: the server gets one message, with no line end in it.
  for (const char* sep : {"\n", "\r", "\r\n"}) {
    h.up.sent.clear();
    std::string attack =
        std::string(R"({"jsonrpc":"2.0","id":"p","method":"ping","params":{"a":)") + sep +
        R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"delete_file"}})" + sep +
        "}}";
    h.session->on_client_line(attack);
    REQUIRE(h.up.sent.size() == 1);
    CHECK(h.up.sent[0].find_first_of("\r\n") == std::string::npos);
    h.session->on_server_line(R"({"jsonrpc":"2.0","id":"p","result":{}})");
  }
  // Arguments are recorded as the exact bytes forwarded.
  h.up.sent.clear();
  h.session->on_client_line(
      "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
      "\"arguments\":\r{ \"t\" :\n\"a\\u0041 b\", \"n\": 1.50 }}}");
  REQUIRE(h.up.sent.size() == 1);
  CHECK(
      h.up.sent[0] ==
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"t":"a\u0041 b","n":1.50}}})");
}

TEST_CASE("duplicate member names inside arguments are refused at any depth",
          "[session][boundary]") {
  Harness h({"delete_file"});
  for (
      const char* msg : {
          R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"path":"/ok","path":"/etc/shadow"}}})",
          R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"o":{"deep":[{"k":1,"\u006b":2}]}}}})",
          R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"a","uri":"b"}})",
      }) {
    INFO(msg);
    h.to_client.clear();
    h.session->on_client_line(msg);
    CHECK(h.up.sent.empty());
    REQUIRE(h.to_client.size() == 1);
    CHECK(h.last_client()["error"]["code"] == -32600);
    CHECK(h.last_client()["id"] == 1);
  }
  CHECK(h.rec->decisions.empty());
}

TEST_CASE("a tools/call without an id is never forwarded", "[session][boundary]") {
  Harness h;
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{}}})");
  CHECK(h.up.sent.empty());
  CHECK(h.rec->decisions.empty());
  REQUIRE(h.to_client.size() == 1);
  CHECK(h.last_client()["id"].is_null());
  CHECK(h.last_client()["error"]["code"] == -32600);
  // In a batch too; the other elements go on.
  h.session->on_client_line(
      R"([{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo"}},{"jsonrpc":"2.0","method":"notifications/initialized"}])");
  REQUIRE(h.up.sent.size() == 1);
  CHECK(h.up.sent[0] == R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
}

TEST_CASE("near misses of a governed method are refused, not forwarded", "[session][boundary]") {
  Harness h({"delete_file"});
  for (const char* m :
       {"Tools/Call", " tools/call", "tools/call ", "tools/call\\r", "TOOLS/CALL"}) {
    INFO(m);
    h.to_client.clear();
    h.session->on_client_line(std::string(R"({"jsonrpc":"2.0","id":4,"method":")") + m +
                              R"(","params":{"name":"delete_file"}})");
    CHECK(h.up.sent.empty());
    REQUIRE(h.to_client.size() == 1);
    CHECK(h.last_client()["error"]["code"] == -32601);
    CHECK(h.last_client()["id"] == 4);
  }
}

TEST_CASE("a request id in flight cannot be reused", "[session][boundary]") {
  Harness h;
  auto call = [](const std::string& id, const char* text) {
    return R"({"jsonrpc":"2.0","id":)" + id +
           R"(,"method":"tools/call","params":{"name":"echo","arguments":{"t":")" + text + "\"}}}";
  };
  h.session->on_client_line(call("1", "first"));
  REQUIRE(h.up.sent.size() == 1);
  // The same id, and ids some parsers read as the same number.
  for (std::string id : {"1", "1.0", "1e0"}) {
    INFO(id);
    h.to_client.clear();
    h.session->on_client_line(call(id, "second"));
    CHECK(h.up.sent.size() == 1);
    REQUIRE(h.to_client.size() == 1);
    CHECK(h.last_client()["error"]["code"] == -32600);
  }
  // Beyond 2^53 two ids round to the same double: refused outright.
  h.to_client.clear();
  h.session->on_client_line(call("9007199254740993", "big"));
  CHECK(h.up.sent.size() == 1);
  CHECK(h.last_client()["error"]["code"] == -32600);
  // Twice in one batch: the first goes, the second is refused.
  h.session->on_client_line("[" + call("\"b\"", "x") + "," + call("\"b\"", "y") + "]");
  CHECK(h.up.sent.size() == 2);
  CHECK(h.last_client()["error"]["code"] == -32600);
  CHECK(h.last_client()["id"] == "b");
  // Once answered, the id is free again; the answer goes with the first call's record.
  h.session->on_server_line(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})");
  h.session->on_client_line(call("1", "third"));
  CHECK(h.up.sent.size() == 3);
  CHECK(h.rec->decisions.size() == 3);
}

TEST_CASE("an id the client cancelled stays in flight until the server answers it",
          "[session][boundary]") {
  Harness h;
  const std::string call =
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}})";
  h.session->on_client_line(call);
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}})");
  REQUIRE(h.up.sent.size() == 2);
  h.to_client.clear();
  h.session->on_client_line(call);
  CHECK(h.up.sent.size() == 2);  // refused: the server may still answer the first
  CHECK(h.last_client()["error"]["code"] == -32600);
  // The late answer is dropped, and frees the id.
  h.to_client.clear();
  h.session->on_server_line(R"({"jsonrpc":"2.0","id":7,"result":{"content":[]}})");
  CHECK(h.to_client.empty());
  h.session->on_client_line(call);
  CHECK(h.up.sent.size() == 3);
}

TEST_CASE("member names are matched by value: an escaped `arguments` is still judged",
          "[session][boundary]") {
  Harness h({"delete_file"});
  // Judged with its real arguments and name, whatever the spelling of the member names.
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","\u0069d":1,"method":"tools/call","\u0070arams":{"n\u0061me":"delete_file","\u0061rguments":{"path":"/x"}}})");
  CHECK(h.up.sent.empty());
  CHECK(h.last_client()["result"]["isError"] == true);
  CHECK(h.last_client()["id"] == 1);
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","\u0061rguments":{"t":"x"}}})");
  REQUIRE(h.up.sent.size() == 1);
  REQUIRE(h.rec->decisions.size() == 2);
  // A reserved id, escaped.
  h.session->on_client_line(R"({"jsonrpc":"2.0","id":"\u0067lasstape:list:1","method":"ping"})");
  CHECK(h.up.sent.size() == 1);
  CHECK(h.last_client()["error"]["code"] == -32600);
}

TEST_CASE("in a batch, one element's repeated member refuses that element only",
          "[session][boundary]") {
  Harness h;
  h.session->on_client_line(
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping","params":{"a":1,"a":2}},{"jsonrpc":"2.0","id":3,"method":"ping"}])");
  REQUIRE(h.up.sent.size() == 2);
  CHECK(json::parse(h.up.sent[0])["id"] == 1);
  CHECK(json::parse(h.up.sent[1])["id"] == 3);
  REQUIRE(h.to_client.size() == 1);
  CHECK(h.last_client()["id"] == 2);
  CHECK(h.last_client()["error"]["code"] == -32600);
}

TEST_CASE("tools/call arguments must be an object", "[session][boundary]") {
  Harness h;
  for (const char* args : {"null", "[]", "\"x\"", "1"}) {
    INFO(args);
    h.session->on_client_line(
        std::string(
            R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":)") +
        args + "}}");
    CHECK(h.up.sent.empty());
    CHECK(h.last_client()["error"]["code"] == -32602);
  }
  CHECK(h.rec->decisions.empty());
}
