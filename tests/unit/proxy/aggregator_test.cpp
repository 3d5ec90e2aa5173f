// One endpoint in front of several servers (proxy/aggregator.hpp): an Aggregator over one real
// Session per server, each Session over a fake upstream. The client's lines go in through the
// Aggregator, each server's lines through events_for(i), as the fronts wire them.
#include "proxy/aggregator.hpp"

#include <optional>
#include <set>

#include <catch2/catch.hpp>

#include "proxy/interceptors/deny_tools.hpp"

using namespace gt::proxy;
using nlohmann::json;

namespace {

struct AggUpstream : Upstream {
  std::vector<std::string> sent;
  void send(std::string_view line) override { sent.emplace_back(line); }
  bool up() const override { return true; }
};

// Records decisions synchronously, as `server/tool:effect`.
struct AggRecorder : Recorder {
  std::vector<std::string> decisions;
  void record_decision(const CallContext& ctx, std::function<void(Outcome)> done) override {
    decisions.push_back(ctx.server + "/" + ctx.tool + ":" +
                        (ctx.decision.effect == Effect::Allow ? "allow" : "deny"));
    done(Outcome{true, "", "r-" + std::to_string(decisions.size())});
  }
  void record_result(const CallContext&, const Response&) override {}
};

const std::string kInit =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"c","version":"1"}}})";
const std::string kInitialized = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

json tools(std::initializer_list<const char*> names) {
  json out = json::array();
  for (const char* n : names)
    out.push_back({{"name", n}, {"inputSchema", {{"type", "object"}}}});
  return out;
}

std::vector<std::string> names_in(const json& items, const char* key = "name") {
  std::vector<std::string> out;
  for (const auto& i : items)
    out.push_back(i.at(key).get<std::string>());
  return out;
}

bool is_own_id(const json& id) {
  return id.is_string() && id.get_ref<const std::string&>().rfind("glasstape:agg:", 0) == 0;
}

// A client, an Aggregator, and one Session with its upstream per server.
struct Fleet {
  std::vector<std::string> servers;
  std::vector<std::unique_ptr<AggUpstream>> ups;  // outlive the sessions (declared first)
  std::vector<std::string> client;
  AggRecorder* rec = nullptr;
  std::shared_ptr<Aggregator> agg;
  std::set<std::string> answered;  // own ids already answered by the test

  explicit Fleet(std::vector<std::string> names, std::vector<std::string> deny = {},
                 std::vector<PrefixMode> modes = {})
      : servers(std::move(names)) {
    std::vector<std::unique_ptr<Interceptor>> chain;
    chain.push_back(std::make_unique<DenyToolsInterceptor>(std::move(deny)));
    auto r = std::make_unique<AggRecorder>();
    rec = r.get();
    auto pipeline = std::make_shared<Pipeline>(std::move(chain), std::move(r));
    AggregateOptions opts;
    opts.session_id = "agg-test";
    agg =
        std::make_shared<Aggregator>(opts, [this](std::string_view l) { client.emplace_back(l); });
    for (std::size_t i = 0; i < servers.size(); ++i) {
      ups.push_back(std::make_unique<AggUpstream>());
      SessionOptions so;
      so.session_id = "agg-test";
      so.server = servers[i];
      so.principal.id = "agent-1";
      auto s = std::make_shared<Session>(so, pipeline, *ups[i], agg->sink(i),
                                         [](std::function<void()> f) { f(); });
      agg->add(AggregateMember{
          servers[i], "", i < modes.size() ? modes[i] : PrefixMode::OnCollision, s, {}});
    }
  }

  AggUpstream& up(std::size_t i) { return *ups[i]; }
  void from_client(std::string_view line) { agg->on_client_line(line); }
  void from_server(std::size_t i, std::string_view line) { agg->events_for(i).on_line(line); }
  void from_server(std::size_t i, const json& j) { from_server(i, std::string_view(j.dump())); }

  // The first request with an own id, for `method`, that server i got and the test has not
  // answered yet.
  std::optional<json> find_own(std::size_t i, const std::string& method) const {
    for (const auto& line : ups[i]->sent) {
      auto j = json::parse(line);
      if (!j.contains("method") || j["method"] != method || !j.contains("id")) continue;
      if (!is_own_id(j["id"]) || answered.count(j["id"].get<std::string>())) continue;
      return j;
    }
    return std::nullopt;
  }
  json own(std::size_t i, const std::string& method) const {
    auto j = find_own(i, method);
    INFO("server " << servers[i] << " was not sent " << method);
    REQUIRE(j);
    return *j;
  }
  void reply(std::size_t i, const json& req, const json& result) {
    answered.insert(req["id"].get<std::string>());
    from_server(i, json{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", result}});
  }
  void reply_error(std::size_t i, const json& req, int code, const std::string& message) {
    answered.insert(req["id"].get<std::string>());
    from_server(i, json{{"jsonrpc", "2.0"},
                        {"id", req["id"]},
                        {"error", {{"code", code}, {"message", message}}}});
  }
  // Server i answers the pending list of kind k with `items`.
  void serve(std::size_t i, ListKind k, const json& items) {
    reply(i, own(i, list_method(k)), {{list_member(k), items}});
  }
  void initialize(const std::vector<json>& caps) {
    from_client(kInit);
    for (std::size_t i = 0; i < servers.size(); ++i) {
      reply(i, own(i, "initialize"),
            {{"protocolVersion", "2025-06-18"},
             {"capabilities", caps[i]},
             {"serverInfo", {{"name", "server-" + servers[i]}, {"version", "1"}}}});
    }
  }
  // Initialized, every server listing these tools; then the slate is wiped.
  void start_with_tools(const std::vector<json>& per_server) {
    initialize(std::vector<json>(servers.size(), {{"tools", json::object()}}));
    from_client(kInitialized);
    for (std::size_t i = 0; i < servers.size(); ++i)
      serve(i, ListKind::Tools, per_server[i]);
    clear();
  }
  void clear() {
    client.clear();
    for (auto& u : ups)
      u->sent.clear();
  }
  std::vector<std::size_t> sent_counts() const {
    std::vector<std::size_t> out;
    for (const auto& u : ups)
      out.push_back(u->sent.size());
    return out;
  }
  json last_client() const {
    REQUIRE_FALSE(client.empty());
    return json::parse(client.back());
  }
  // The client's messages with this id.
  std::vector<json> answers_to(const json& id) const {
    std::vector<json> out;
    for (const auto& l : client) {
      auto j = json::parse(l);
      if (j.contains("id") && j["id"] == id) out.push_back(j);
    }
    return out;
  }
  std::vector<std::string> client_methods() const {
    std::vector<std::string> out;
    for (const auto& l : client) {
      auto j = json::parse(l);
      if (j.contains("method")) out.push_back(j["method"].get<std::string>());
    }
    return out;
  }
  std::vector<std::string> listed_tools(const json& id = "tl") {
    from_client(json({{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/list"}}).dump());
    auto a = answers_to(id);
    REQUIRE(a.size() == 1);
    REQUIRE(a[0].contains("result"));
    client.clear();
    return names_in(a[0]["result"]["tools"]);
  }
};

std::string tools_call(const json& id, const std::string& name, const std::string& args = "{}") {
  return R"({"jsonrpc":"2.0","id":)" + id.dump() + R"(,"method":"tools/call","params":{"name":")" +
         name + R"(","arguments":)" + args + "}}";
}

}  // namespace

TEST_CASE("aggregator: initialize goes to every server with its own id; one merged answer",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.from_client(kInit);
  CHECK(f.client.empty());
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < 2; ++i) {
    REQUIRE(f.up(i).sent.size() == 1);
    auto j = json::parse(f.up(i).sent[0]);
    REQUIRE(is_own_id(j["id"]));
    ids.push_back(j["id"].get<std::string>());
    // The client's initialize, byte for byte, but for the id.
    std::string expected = kInit;
    expected.replace(expected.find(R"("id":0)"), 6, R"("id":")" + ids.back() + "\"");
    CHECK(f.up(i).sent[0] == expected);
  }
  CHECK(ids[0] != ids[1]);
  f.reply(0, json::parse(f.up(0).sent[0]),
          {{"protocolVersion", "2025-06-18"},
           {"capabilities", {{"tools", {{"listChanged", false}}}, {"logging", json::object()}}},
           {"serverInfo", {{"name", "server-a"}, {"version", "1"}}},
           {"instructions", "files"}});
  CHECK(f.client.empty());  // not before every server answered
  f.reply(1, json::parse(f.up(1).sent[0]),
          {{"protocolVersion", "2025-03-26"},
           {"capabilities", {{"prompts", json::object()}, {"tasks", json::object()}}},
           {"serverInfo", {{"name", "server-b"}, {"version", "1"}}}});
  REQUIRE(f.client.size() == 1);
  auto r = f.last_client();
  CHECK(r["id"] == 0);
  CHECK(r["result"] ==
        json({{"protocolVersion", "2025-03-26"},
              {"capabilities",
               {{"tools", {{"listChanged", true}}},
                {"logging", json::object()},
                {"prompts", {{"listChanged", true}}}}},
              {"serverInfo",
               {{"name", "glasstape"}, {"version", "0.1.0"}, {"title", "GlassTape: a, b"}}},
              {"instructions", "## Server `a`\nfiles"}}));
  // The session is initialized once.
  f.from_client(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})");
  CHECK(f.last_client()["error"]["code"] == -32600);
  CHECK(f.last_client()["id"] == 1);
  CHECK(f.sent_counts() == std::vector<std::size_t>{1, 1});
}

TEST_CASE("aggregator: a server that refuses initialize is left out, the others serve",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.from_client(kInit);
  f.reply_error(1, f.own(1, "initialize"), -32603, "boom");
  CHECK(f.client.empty());
  f.reply(0, f.own(0, "initialize"),
          {{"protocolVersion", "2025-06-18"}, {"capabilities", {{"tools", json::object()}}}});
  REQUIRE(f.client.size() == 1);
  auto r = f.last_client();
  CHECK(r["id"] == 0);
  CHECK(r["result"]["serverInfo"]["title"] == "GlassTape: a");
  CHECK(r["result"]["capabilities"] == json({{"tools", {{"listChanged", true}}}}));
  // Only the server that joined hears of the handshake and is listed.
  f.clear();
  f.from_client(kInitialized);
  CHECK(f.up(1).sent.empty());
  REQUIRE(f.up(0).sent.size() == 2);
  CHECK(f.up(0).sent[0] == kInitialized);
  CHECK(json::parse(f.up(0).sent[1])["method"] == "tools/list");
  f.serve(0, ListKind::Tools, tools({"echo"}));
  CHECK(f.listed_tools() == std::vector<std::string>{"echo"});
}

TEST_CASE("aggregator: when every server refuses initialize the client gets -32001",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.from_client(kInit);
  f.reply_error(0, f.own(0, "initialize"), -32603, "no a");
  f.reply_error(1, f.own(1, "initialize"), -32603, "no b");
  REQUIRE(f.client.size() == 1);
  auto r = f.last_client();
  CHECK(r["id"] == 0);
  CHECK_FALSE(r.contains("result"));
  CHECK(r["error"]["code"] == -32001);
  auto msg = r["error"]["message"].get<std::string>();
  CHECK(msg.rfind("no server behind this endpoint could be initialized: server `a`: initialize "
                  "failed: ",
                  0) == 0);
  CHECK(msg.find("no a") != std::string::npos);
  CHECK(msg.find("; server `b`: initialize failed: ") != std::string::npos);
  CHECK(msg.find("no b") != std::string::npos);
}

TEST_CASE("aggregator: initialized is passed on and each server listed for what it declared",
          "[aggregate]") {
  Fleet f({"a", "b", "c"});
  f.initialize(
      {{{"tools", json::object()}},
       {{"tools", json::object()}, {"prompts", json::object()}, {"resources", json::object()}},
       {{"logging", json::object()}}});
  f.clear();
  f.from_client(kInitialized);
  auto methods = [&](std::size_t i) {
    std::vector<std::string> out;
    for (const auto& l : f.up(i).sent) {
      auto j = json::parse(l);
      out.push_back(j["method"].get<std::string>());
      if (j.contains("id")) {
        CHECK(is_own_id(j["id"]));
        CHECK_FALSE(j.contains("params"));  // the first page
      }
    }
    return out;
  };
  CHECK(f.up(0).sent[0] == kInitialized);
  CHECK(methods(0) == std::vector<std::string>{"notifications/initialized", "tools/list"});
  CHECK(methods(1) == std::vector<std::string>{"notifications/initialized", "tools/list",
                                               "prompts/list", "resources/list",
                                               "resources/templates/list"});
  CHECK(methods(2) == std::vector<std::string>{"notifications/initialized"});
  // Twice is once.
  f.from_client(kInitialized);
  CHECK(f.sent_counts() == std::vector<std::size_t>{2, 5, 1});

  // The client's tools/list waits for every server's tools.
  f.from_client(R"({"jsonrpc":"2.0","id":"t1","method":"tools/list"})");
  f.serve(0, ListKind::Tools, tools({"echo", "read"}));
  CHECK(f.answers_to("t1").empty());
  f.serve(1, ListKind::Prompts, json::array());
  CHECK(f.answers_to("t1").empty());
  f.serve(1, ListKind::Tools, tools({"echo", "delete_file"}));
  auto a = f.answers_to("t1");
  REQUIRE(a.size() == 1);
  CHECK(a[0]["result"] ==
        json({{"tools",
               {{{"name", "a__echo"}, {"inputSchema", {{"type", "object"}}}},
                {{"name", "read"}, {"inputSchema", {{"type", "object"}}}},
                {{"name", "b__echo"}, {"inputSchema", {{"type", "object"}}}},
                {{"name", "delete_file"}, {"inputSchema", {{"type", "object"}}}}}}}));
  CHECK_FALSE(a[0]["result"].contains("nextCursor"));
  // Nothing more was sent to any server for it.
  CHECK(f.sent_counts() == std::vector<std::size_t>{2, 5, 1});
  // Now fresh: answered at once.
  f.client.clear();
  CHECK(f.listed_tools("t2") ==
        std::vector<std::string>{"a__echo", "read", "b__echo", "delete_file"});
}

TEST_CASE("aggregator: a client's list is paged with the endpoint's cursors", "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"t1", "t2", "t3"}), tools({"t4", "t5"})});
  // page_size is 1000: everything on one page; a cursor this endpoint never gave is refused.
  CHECK(f.listed_tools().size() == 5);
  f.from_client(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"gt:9"}})");
  CHECK(f.last_client()["error"]["code"] == -32602);
  CHECK(f.last_client()["error"]["message"] == "Invalid params: unknown cursor for tools/list");
  f.from_client(R"({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"gt:5"}})");
  CHECK(f.last_client()["result"] == json({{"tools", json::array()}}));
  CHECK(f.sent_counts() == std::vector<std::size_t>{0, 0});
}

TEST_CASE("aggregator: a call goes to its server under the server's own name", "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo", "read"}), tools({"echo", "delete_file"})});
  const std::string call = tools_call(5, "b__echo", R"({"text":"hi","n":1.50})");
  f.from_client(call);
  CHECK(f.up(0).sent.empty());
  REQUIRE(f.up(1).sent.size() == 1);
  CHECK(
      f.up(1).sent[0] ==
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","n":1.50}}})");
  CHECK(f.rec->decisions == std::vector<std::string>{"b/echo:allow"});
  CHECK(f.client.empty());
  const std::string result =
      R"({"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"hi"}]}})";
  f.from_server(1, std::string_view(result));
  REQUIRE(f.client.size() == 1);
  CHECK(f.client[0] == result);
  // An unprefixed name goes as it is; a prefixed one of server a to a.
  f.from_client(tools_call("r", "read"));
  f.from_client(tools_call("e", "a__echo"));
  REQUIRE(f.up(0).sent.size() == 2);
  CHECK(f.up(0).sent[0] == tools_call("r", "read"));
  CHECK(f.up(0).sent[1] == tools_call("e", "echo"));
  CHECK(f.up(1).sent.size() == 1);
  // The call's id is free again once answered.
  f.from_client(tools_call(5, "delete_file"));
  CHECK(f.up(1).sent.size() == 2);
  CHECK(f.up(1).sent[1] == tools_call(5, "delete_file"));
}

TEST_CASE("aggregator: prompts/get and completion refs are renamed like tools", "[aggregate]") {
  Fleet f({"a", "b"});
  f.initialize({{{"prompts", json::object()}, {"completions", json::object()}},
                {{"prompts", json::object()}}});
  f.from_client(kInitialized);
  f.serve(0, ListKind::Prompts, json::array({{{"name", "summarize"}}}));
  f.serve(1, ListKind::Prompts, json::array({{{"name", "summarize"}}, {{"name", "greet"}}}));
  f.clear();
  f.from_client(R"({"jsonrpc":"2.0","id":1,"method":"prompts/list"})");
  CHECK(names_in(f.last_client()["result"]["prompts"]) ==
        std::vector<std::string>{"a__summarize", "b__summarize", "greet"});
  f.from_client(
      R"({"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"a__summarize","arguments":{"x":"1"}}})");
  REQUIRE(f.up(0).sent.size() == 1);
  CHECK(
      f.up(0).sent[0] ==
      R"({"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"summarize","arguments":{"x":"1"}}})");
  f.from_client(
      R"({"jsonrpc":"2.0","id":3,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"b__summarize"},"argument":{"name":"x","value":"a"}}})");
  REQUIRE(f.up(1).sent.size() == 1);
  CHECK(
      f.up(1).sent[0] ==
      R"({"jsonrpc":"2.0","id":3,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"summarize"},"argument":{"name":"x","value":"a"}}})");
  f.from_client(
      R"({"jsonrpc":"2.0","id":4,"method":"completion/complete","params":{"ref":{"type":"ref/other"}}})");
  CHECK(f.last_client()["error"]["code"] == -32602);
  CHECK(f.last_client()["id"] == 4);
  CHECK(f.sent_counts() == std::vector<std::size_t>{1, 1});
}

TEST_CASE("aggregator: a denied call is answered isError and never reaches its server",
          "[aggregate]") {
  Fleet f({"a", "b"}, {"b/delete_*", "b/echo"});
  f.start_with_tools({tools({"echo", "delete_file"}), tools({"echo", "delete_file", "status"})});
  // deny_tools hides b's denied tools: a's no longer collide with anything.
  CHECK(f.listed_tools() == std::vector<std::string>{"echo", "delete_file", "status"});
  // Called by the name they would have, they are judged by b's Session under b's own names,
  // denied with a receipt, and never sent.
  f.from_client(tools_call(1, "b__echo", R"({"text":"x"})"));
  f.from_client(tools_call(2, "b__delete_file", R"({"path":"/x"})"));
  CHECK(f.up(1).sent.empty());
  REQUIRE(f.client.size() == 2);
  for (std::size_t k = 0; k < 2; ++k) {
    auto r = json::parse(f.client[k]);
    CHECK(r["id"] == int(k + 1));
    CHECK(r["result"]["isError"] == true);
    CHECK(r["result"]["_meta"]["dev.glasstape/decision"]["code"] == "GT-DENY-TOOL");
    CHECK(r["result"]["_meta"]["dev.glasstape/decision"]["receipt_id"] ==
          "r-" + std::to_string(k + 1));
  }
  CHECK(json::parse(f.client[0])["result"]["content"][0]["text"] ==
        "GlassTape denied this call to `b/echo`: tool `echo` is disabled by the operator "
        "(deny_tools `b/echo`) (receipt r-1)");
  // a's tools of the same names are a's, and allowed.
  f.from_client(tools_call(3, "echo", R"({"text":"x"})"));
  f.from_client(tools_call(4, "delete_file"));
  f.from_client(tools_call(5, "status"));
  REQUIRE(f.up(0).sent.size() == 2);
  CHECK(f.up(0).sent[0] == tools_call(3, "echo", R"({"text":"x"})"));
  CHECK(f.up(0).sent[1] == tools_call(4, "delete_file"));
  REQUIRE(f.up(1).sent.size() == 1);
  CHECK(f.up(1).sent[0] == tools_call(5, "status"));
  CHECK(f.rec->decisions == std::vector<std::string>{"b/echo:deny", "b/delete_file:deny",
                                                     "a/echo:allow", "a/delete_file:allow",
                                                     "b/status:allow"});
  // The denied ids are free again.
  f.client.clear();
  f.from_client(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(f.last_client()["result"] == json::object());
}

TEST_CASE("aggregator: only a tool one server hid now is routed by a name it was not shown",
          "[aggregate]") {
  // deny_tools hides x on both servers, hello on a, and b's tool literally named a__hello.
  Fleet f({"a", "b"}, {"a/x", "b/x", "a/hello", "b/a__hello"});
  f.start_with_tools({tools({"x", "hello", "echo"}), tools({"x", "a__hello", "status"})});
  CHECK(f.listed_tools() == std::vector<std::string>{"echo", "status"});
  auto unknown = [&](const char* name) {
    INFO(name);
    f.client.clear();
    f.from_client(tools_call(9, name));
    REQUIRE(f.client.size() == 1);
    CHECK(f.last_client()["error"]["code"] == -32602);
    CHECK(f.last_client()["error"]["message"] ==
          std::string("Unknown tool `") + name + "`: no server behind this endpoint lists it");
  };
  // Two servers hide x: the plain name could mean either, so it is neither.
  unknown("x");
  // a__hello is a's hidden hello and b's hidden tool of that very name: neither.
  unknown("a__hello");
  // Names no server listed, in either form.
  unknown("b__ghost");
  unknown("ghost");
  CHECK(f.rec->decisions.empty());
  // A name that means one hidden tool is judged by its server and denied with a receipt.
  f.client.clear();
  f.from_client(tools_call(10, "b__x"));
  REQUIRE(f.client.size() == 1);
  CHECK(f.last_client()["result"]["_meta"]["dev.glasstape/decision"]["code"] == "GT-DENY-TOOL");
  f.from_client(tools_call(11, "hello"));
  CHECK(f.rec->decisions == std::vector<std::string>{"b/x:deny", "a/hello:deny"});
  // b no longer lists x: the name is unknown again, not judged against the old listing.
  f.from_server(
      1, std::string_view(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})"));
  f.serve(1, ListKind::Tools, tools({"status"}));
  f.clear();
  unknown("b__x");
  CHECK(f.sent_counts() == std::vector<std::size_t>{0, 0});
}

TEST_CASE("aggregator: an unknown tool is refused and reaches no server", "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo"}), tools({"echo"})});
  for (const char* name : {"nope", "echo", "a__nope", "c__echo"}) {
    INFO(name);
    f.client.clear();
    f.from_client(tools_call(7, name));
    REQUIRE(f.client.size() == 1);
    auto r = f.last_client();
    CHECK(r["id"] == 7);
    CHECK(r["error"]["code"] == -32602);
    CHECK(r["error"]["message"] ==
          std::string("Unknown tool `") + name + "`: no server behind this endpoint lists it");
  }
  f.from_client(R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":3}})");
  CHECK(f.last_client()["error"]["code"] == -32602);
  CHECK(f.last_client()["id"] == 8);
  CHECK(f.sent_counts() == std::vector<std::size_t>{0, 0});
  CHECK(f.rec->decisions.empty());
}

TEST_CASE("aggregator: a server down for good: its tools vanish and calls get -32001",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo", "read"}), tools({"echo", "delete_file"})});
  // A call in flight on b when it dies is answered by b's Session.
  f.from_client(tools_call(1, "delete_file"));
  REQUIRE(f.up(1).sent.size() == 1);
  f.agg->events_for(1).on_down("exited", false);
  REQUIRE(f.client.size() == 2);
  auto failed = json::parse(f.client[0]);
  CHECK(failed["id"] == 1);
  CHECK(failed["error"]["code"] == -32001);
  CHECK(f.client[1] == R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  f.client.clear();
  // a's names do not shift while b is away.
  CHECK(f.listed_tools() == std::vector<std::string>{"a__echo", "read"});
  f.from_client(tools_call(2, "b__echo"));
  REQUIRE(f.client.size() == 1);
  auto r = f.last_client();
  CHECK(r["id"] == 2);
  CHECK(r["error"]["code"] == -32001);
  CHECK(r["error"]["message"] ==
        "server `b` is down (exited); `tools/call` for `b__echo` cannot be answered");
  CHECK(f.up(1).sent.size() == 1);
  // Notifications for every server go to the living ones only.
  f.from_client(R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})");
  REQUIRE(f.up(0).sent.size() == 1);
  CHECK(f.up(0).sent[0] == R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})");
  CHECK(f.up(1).sent.size() == 1);
}

TEST_CASE("aggregator: a server that restarts is listed again and its tools come back",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo"}), tools({"echo", "delete_file"})});
  f.agg->events_for(1).on_down("killed by signal 9", true);
  CHECK(f.client_methods() == std::vector<std::string>{"notifications/tools/list_changed"});
  f.client.clear();
  CHECK(f.listed_tools() == std::vector<std::string>{"a__echo"});
  // While it restarts, a call for it is held by its Session (as a lone Session does), not
  // refused.
  f.from_client(tools_call(1, "delete_file"));
  CHECK(f.client.empty());
  CHECK(f.up(1).sent.empty());

  f.agg->events_for(1).on_restarted();
  // b's Session replays the initialize first; the call and the Aggregator's list wait behind it.
  REQUIRE(f.up(1).sent.size() == 1);
  auto replay = json::parse(f.up(1).sent[0]);
  CHECK(replay["method"] == "initialize");
  CHECK(replay["params"]["clientInfo"]["name"] == "c");
  // Meanwhile the client's list waits for b's.
  f.from_client(R"({"jsonrpc":"2.0","id":"w","method":"tools/list"})");
  CHECK(f.answers_to("w").empty());
  f.from_server(
      1,
      json{{"jsonrpc", "2.0"},
           {"id", replay["id"]},
           {"result",
            {{"protocolVersion", "2025-06-18"}, {"capabilities", {{"tools", json::object()}}}}}});
  REQUIRE(f.up(1).sent.size() == 4);
  CHECK(f.up(1).sent[1] == kInitialized);
  CHECK(f.up(1).sent[2] == tools_call(1, "delete_file"));
  CHECK(json::parse(f.up(1).sent[3])["method"] == "tools/list");
  CHECK(f.client.empty());  // the client never sees the replay
  f.serve(1, ListKind::Tools, tools({"echo", "delete_file", "new_tool"}));
  REQUIRE(f.client.size() == 2);
  CHECK(f.client[0] == R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  CHECK(names_in(json::parse(f.client[1])["result"]["tools"]) ==
        std::vector<std::string>{"a__echo", "b__echo", "delete_file", "new_tool"});
  f.client.clear();
  f.from_client(tools_call(2, "b__echo"));
  REQUIRE(f.up(1).sent.size() == 5);
  CHECK(f.up(1).sent[4] == tools_call(2, "echo"));
}

TEST_CASE("aggregator: server requests get ids unique across servers; answers go back",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"x"}), tools({"y"})});
  const std::string ask =
      R"({"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"maxTokens":10}})";
  f.from_server(0, std::string_view(ask));
  f.from_server(1, std::string_view(ask));
  REQUIRE(f.client.size() == 2);
  auto qa = json::parse(f.client[0]), qb = json::parse(f.client[1]);
  REQUIRE(qa["id"].is_string());
  REQUIRE(qb["id"].is_string());
  CHECK(qa["id"] != qb["id"]);
  // Only the id changes.
  for (const auto& [line, q] : {std::pair{f.client[0], qa}, std::pair{f.client[1], qb}}) {
    std::string expected = ask;
    expected.replace(expected.find(R"("id":1)"), 6, "\"id\":" + q["id"].dump());
    CHECK(line == expected);
  }
  // Answered in the other order, each reaches the server that asked, with its own id.
  const std::string answer_b =
      R"(,"result":{"role":"assistant","content":{"type":"text","text":"B"}}})";
  f.from_client(R"({"jsonrpc":"2.0","id":)" + qb["id"].dump() + answer_b);
  CHECK(f.up(0).sent.empty());
  REQUIRE(f.up(1).sent.size() == 1);
  CHECK(f.up(1).sent[0] == R"({"jsonrpc":"2.0","id":1)" + answer_b);
  f.from_client(R"({"jsonrpc":"2.0","id":)" + qa["id"].dump() +
                R"(,"error":{"code":-1,"message":"declined"}})");
  REQUIRE(f.up(0).sent.size() == 1);
  CHECK(f.up(0).sent[0] == R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"declined"}})");
  // A second answer to the same question, or an answer nobody asked for, goes nowhere.
  f.from_client(R"({"jsonrpc":"2.0","id":)" + qb["id"].dump() + answer_b);
  f.from_client(R"({"jsonrpc":"2.0","id":1,"result":{}})");
  CHECK(f.sent_counts() == std::vector<std::size_t>{1, 1});
  CHECK(f.client.size() == 2);
}

TEST_CASE("aggregator: a server's cancel of its own request names the client's id", "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"x"}), tools({"y"})});
  f.from_server(1, std::string_view(R"({"jsonrpc":"2.0","id":"q","method":"roots/list"})"));
  auto q = f.last_client();
  f.from_server(
      1,
      std::string_view(
          R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"q","reason":"late"}})"));
  REQUIRE(f.client.size() == 2);
  CHECK(f.client[1] ==
        R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" +
            q["id"].dump() + R"(,"reason":"late"}})");
  // Server a never asked "q": its cancel of it is not the client's business.
  f.from_server(
      0, std::string_view(
             R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"q"}})"));
  CHECK(f.client.size() == 2);
}

TEST_CASE("aggregator: the client's cancel reaches only the server of that request",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo"}), tools({"echo"})});
  f.from_client(tools_call(7, "a__echo"));
  f.from_client(tools_call(8, "b__echo"));
  CHECK(f.sent_counts() == std::vector<std::size_t>{1, 1});
  const std::string cancel =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8,"reason":"user"}})";
  f.from_client(cancel);
  CHECK(f.up(0).sent.size() == 1);
  REQUIRE(f.up(1).sent.size() == 2);
  CHECK(f.up(1).sent[1] == cancel);
  // A cancel for a request no server has goes nowhere.
  f.from_client(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}})");
  CHECK(f.sent_counts() == std::vector<std::size_t>{1, 2});
  // b's late answer is dropped: the client gave up on it.
  f.from_server(1, std::string_view(R"({"jsonrpc":"2.0","id":8,"result":{"content":[]}})"));
  CHECK(f.client.empty());
  // a's answer still arrives.
  f.from_server(0, std::string_view(R"({"jsonrpc":"2.0","id":7,"result":{"content":[]}})"));
  REQUIRE(f.client.size() == 1);
  CHECK(f.last_client()["id"] == 7);
}

TEST_CASE("aggregator: a cancelled id is free again once its server answered late", "[aggregate]") {
  // Alone, a Session frees a cancelled id when the server's late answer arrives (see
  // session_test "an id the client cancelled stays in flight until the server answers it").
  // Behind the Aggregator the late answer is dropped by the member Session, so it never passes
  // from_member(), which is the only place routed_ entries are erased: the id stays "in
  // flight" for the rest of the session and every reuse is refused.
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo"}), tools({"echo"})});
  f.from_client(tools_call(8, "b__echo"));
  f.from_client(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8}})");
  f.from_server(1, std::string_view(R"({"jsonrpc":"2.0","id":8,"result":{"content":[]}})"));
  REQUIRE(f.client.empty());
  CHECK_FALSE(f.agg->in_flight(gt::transport::id_key(json(8))));
  f.from_client(tools_call(8, "a__echo"));
  CHECK(f.client.empty());  // not refused
  CHECK(f.up(0).sent.size() == 1);
}

TEST_CASE("aggregator: a client request may not reuse an id in flight", "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo"}), tools({"echo"})});
  f.from_client(tools_call(5, "a__echo"));
  REQUIRE(f.up(0).sent.size() == 1);
  for (const std::string& again :
       {tools_call(5, "b__echo"), std::string(R"({"jsonrpc":"2.0","id":5,"method":"ping"})"),
        std::string(R"({"jsonrpc":"2.0","id":5,"method":"tools/list"})")}) {
    INFO(again);
    f.client.clear();
    f.from_client(again);
    REQUIRE(f.client.size() == 1);
    CHECK(f.last_client()["id"] == 5);
    CHECK(f.last_client()["error"]["code"] == -32600);
    CHECK(f.last_client()["error"]["message"] ==
          "Invalid Request: the id 5 is already used by a request in flight; it was not "
          "forwarded");
  }
  CHECK(f.sent_counts() == std::vector<std::size_t>{1, 0});
  // The proxy's own ids are not the client's to use.
  f.client.clear();
  f.from_client(R"({"jsonrpc":"2.0","id":"glasstape:agg:1","method":"ping"})");
  CHECK(f.last_client()["error"]["code"] == -32600);
  // Answered: the id is free.
  f.from_server(0, std::string_view(R"({"jsonrpc":"2.0","id":5,"result":{"content":[]}})"));
  f.client.clear();
  f.from_client(tools_call(5, "b__echo"));
  CHECK(f.client.empty());
  CHECK(f.sent_counts() == std::vector<std::size_t>{1, 1});
}

TEST_CASE("aggregator: a server's list_changed refetches; the client hears only of a change",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo"}), tools({"other"})});
  const std::string changed = R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})";
  f.from_server(0, std::string_view(changed));
  CHECK(f.client.empty());  // not passed on as it is
  REQUIRE(f.up(0).sent.size() == 1);
  CHECK(f.up(1).sent.empty());
  auto req = json::parse(f.up(0).sent[0]);
  CHECK(req["method"] == "tools/list");
  CHECK(is_own_id(req["id"]));
  // The same list again: nothing the client sees changed.
  f.serve(0, ListKind::Tools, tools({"echo"}));
  CHECK(f.client.empty());
  // A tool that collides with b's: both are renamed, and the client is told once.
  f.from_server(0, std::string_view(changed));
  f.serve(0, ListKind::Tools, tools({"echo", "other"}));
  REQUIRE(f.client.size() == 1);
  CHECK(f.client[0] == changed);
  f.client.clear();
  CHECK(f.listed_tools() == std::vector<std::string>{"echo", "a__other", "b__other"});
  // A call while a's list is being fetched again waits for it.
  f.from_server(0, std::string_view(changed));
  f.from_client(tools_call(1, "a__other"));
  CHECK(f.up(0).sent.size() == 3);  // only the lists
  f.serve(0, ListKind::Tools, tools({"echo", "other"}));
  REQUIRE(f.up(0).sent.size() == 4);
  CHECK(f.up(0).sent[3] == tools_call(1, "other"));
  CHECK(f.client.empty());
}

TEST_CASE("aggregator: a tool its server no longer lists is unknown", "[aggregate]") {
  // hidden_named() (aggregator.cpp) routes a name the catalog lacks only to a member whose
  // Session hid it from its latest listing. A Session's ToolCatalog only ever adds names, so a
  // tool the server dropped from its list would still be "known" there; it must be refused as
  // unknown like any unlisted name, not judged against its stale definition and forwarded.
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo"}), tools({"old", "keep"})});
  f.from_server(
      1, std::string_view(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})"));
  f.serve(1, ListKind::Tools, tools({"keep"}));
  CHECK(f.client_methods() == std::vector<std::string>{"notifications/tools/list_changed"});
  f.clear();
  CHECK(f.listed_tools() == std::vector<std::string>{"echo", "keep"});
  for (const char* name : {"old", "b__old"}) {
    INFO(name);
    f.client.clear();
    f.from_client(tools_call(name, name));
    CHECK(f.client.size() == 1);
    if (f.client.empty()) continue;
    CHECK(f.last_client()["error"]["code"] == -32602);
    CHECK(f.last_client()["error"]["message"] ==
          std::string("Unknown tool `") + name + "`: no server behind this endpoint lists it");
  }
  CHECK(f.up(1).sent.empty());
  CHECK(f.rec->decisions.empty());
}

TEST_CASE("aggregator: resources are routed by URI and by template", "[aggregate]") {
  Fleet f({"a", "b"});
  f.initialize({{{"resources", json::object()}}, {{"resources", json::object()}}});
  f.from_client(kInitialized);
  f.serve(0, ListKind::Resources, json::array({{{"uri", "file:///a.txt"}, {"name", "a"}}}));
  f.serve(0, ListKind::Templates, json::array());
  f.serve(1, ListKind::Resources, json::array({{{"uri", "mem://x"}, {"name", "x"}}}));
  f.serve(1, ListKind::Templates,
          json::array(
              {{{"uriTemplate", "demo://resource/dynamic/text/{resourceId}"}, {"name", "text"}}}));
  f.clear();
  f.from_client(R"({"jsonrpc":"2.0","id":1,"method":"resources/list"})");
  CHECK(f.last_client()["result"] ==
        json({{"resources",
               {{{"uri", "file:///a.txt"}, {"name", "a"}}, {{"uri", "mem://x"}, {"name", "x"}}}}}));
  f.from_client(R"({"jsonrpc":"2.0","id":2,"method":"resources/templates/list"})");
  CHECK(names_in(f.last_client()["result"]["resourceTemplates"]) ==
        std::vector<std::string>{"text"});
  f.client.clear();
  auto read = [](int id, const std::string& uri) {
    return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
           R"(,"method":"resources/read","params":{"uri":")" + uri + "\"}}";
  };
  f.from_client(read(3, "mem://x"));
  f.from_client(read(4, "file:///a.txt"));
  f.from_client(read(5, "demo://resource/dynamic/text/42"));
  REQUIRE(f.up(0).sent.size() == 1);
  CHECK(f.up(0).sent[0] == read(4, "file:///a.txt"));
  REQUIRE(f.up(1).sent.size() == 2);
  CHECK(f.up(1).sent[0] == read(3, "mem://x"));
  CHECK(f.up(1).sent[1] == read(5, "demo://resource/dynamic/text/42"));
  CHECK(f.client.empty());
  // Two servers offer resources: an unlisted URI has no owner.
  for (const char* uri : {"other://z", "demo://resource/dynamic/text/42/x"}) {
    INFO(uri);
    f.client.clear();
    f.from_client(read(6, uri));
    REQUIRE(f.client.size() == 1);
    CHECK(f.last_client()["id"] == 6);
    CHECK(f.last_client()["error"]["code"] == -32602);
    CHECK(f.last_client()["error"]["message"] ==
          std::string("Invalid params: no server lists `") + uri + "` or a template matching it");
  }
  f.from_client(
      R"({"jsonrpc":"2.0","id":7,"method":"resources/subscribe","params":{"uri":"mem://x"}})");
  REQUIRE(f.up(1).sent.size() == 3);
  CHECK(f.up(1).sent[2] ==
        R"({"jsonrpc":"2.0","id":7,"method":"resources/subscribe","params":{"uri":"mem://x"}})");
  CHECK(f.up(0).sent.size() == 1);
}

TEST_CASE("aggregator: with one resource server, an unlisted URI is asked of it", "[aggregate]") {
  Fleet f({"a", "b"});
  f.initialize({{{"tools", json::object()}}, {{"resources", json::object()}}});
  f.from_client(kInitialized);
  f.serve(0, ListKind::Tools, tools({"echo"}));
  f.serve(1, ListKind::Resources, json::array());
  f.serve(1, ListKind::Templates, json::array());
  f.clear();
  const std::string read =
      R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"mem://unlisted"}})";
  f.from_client(read);
  REQUIRE(f.up(1).sent.size() == 1);
  CHECK(f.up(1).sent[0] == read);
  CHECK(f.up(0).sent.empty());
}

TEST_CASE("aggregator: ping is answered here; what no one server can take is refused",
          "[aggregate]") {
  Fleet f({"a", "b"});
  f.start_with_tools({tools({"echo"}), tools({"other"})});
  f.from_client(R"({"jsonrpc":"2.0","id":"p","method":"ping"})");
  REQUIRE(f.client.size() == 1);
  CHECK(f.last_client() == json({{"jsonrpc", "2.0"}, {"id", "p"}, {"result", json::object()}}));
  for (const char* m : {"tasks/list", "tasks/get", "elicitation/create", "x/custom"}) {
    INFO(m);
    f.client.clear();
    f.from_client(std::string(R"({"jsonrpc":"2.0","id":9,"method":")") + m + "\"}");
    REQUIRE(f.client.size() == 1);
    CHECK(f.last_client()["id"] == 9);
    CHECK(f.last_client()["error"]["code"] == -32601);
    CHECK(f.last_client()["error"]["message"].get<std::string>().rfind(
              std::string("Method not found: `") + m + "`", 0) == 0);
  }
  // A notification from the client that is not about one request goes to every server;
  // progress goes to none.
  f.from_client(
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}})");
  CHECK(f.sent_counts() == std::vector<std::size_t>{0, 0});
  // A request without id is refused, not broadcast.
  f.client.clear();
  f.from_client(R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo"}})");
  CHECK(f.last_client()["error"]["code"] == -32600);
  CHECK(f.sent_counts() == std::vector<std::size_t>{0, 0});
}

TEST_CASE("aggregator: logging/setLevel goes to the servers that log, answered here",
          "[aggregate]") {
  Fleet f({"a", "b", "c"});
  f.initialize({{{"logging", json::object()}}, json::object(), {{"logging", json::object()}}});
  f.from_client(kInitialized);
  f.clear();
  f.from_client(
      R"({"jsonrpc":"2.0","id":"lv","method":"logging/setLevel","params":{"level":"debug"}})");
  REQUIRE(f.client.size() == 1);
  CHECK(f.last_client() == json({{"jsonrpc", "2.0"}, {"id", "lv"}, {"result", json::object()}}));
  CHECK(f.sent_counts() == std::vector<std::size_t>{1, 0, 1});
  for (std::size_t i : {std::size_t(0), std::size_t(2)}) {
    auto j = json::parse(f.up(i).sent[0]);
    CHECK(is_own_id(j["id"]));
    CHECK(j["method"] == "logging/setLevel");
    CHECK(j["params"] == json({{"level", "debug"}}));
    // The server's answer is the Aggregator's: the client hears nothing more.
    f.reply(i, j, json::object());
  }
  CHECK(f.client.size() == 1);
}
