// A 2025-11-25 server's answers as a 2026-07-28 client must get them (proxy/era_bridge.hpp).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "proxy/era_bridge.hpp"

using gt::proxy::era_bridge::adapt_response;
using gt::proxy::era_bridge::discover_result;
using nlohmann::json;

TEST_CASE("a result gets resultType, and a cacheable one ttlMs and cacheScope", "[era_bridge]") {
  auto call = adapt_response(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})", "tools/call");
  CHECK(call == R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","content":[]}})");
  auto list = json::parse(
      adapt_response(R"({"jsonrpc":"2.0","id":"a","result":{"tools":[]}})", "tools/list"));
  CHECK(list["result"]["resultType"] == "complete");
  CHECK(list["result"]["ttlMs"] == 0);
  CHECK(list["result"]["cacheScope"] == "private");
  CHECK(list["result"]["tools"] == json::array());
  // An empty result has no member to put a comma before.
  auto empty = adapt_response(R"({"jsonrpc":"2.0","id":2,"result":{}})", "tools/call");
  CHECK(empty == R"({"jsonrpc":"2.0","id":2,"result":{"resultType":"complete"}})");
  CHECK_NOTHROW(json::parse(adapt_response(R"({"jsonrpc":"2.0","id":2,"result":{ }})", "x")));
}

TEST_CASE("what a result already says is kept", "[era_bridge]") {
  const std::string line =
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","requestState":"s"}})";
  CHECK(adapt_response(line, "tools/call") == line);
  auto kept = json::parse(adapt_response(
      R"({"jsonrpc":"2.0","id":1,"result":{"ttlMs":5,"resources":[]}})", "resources/list"));
  CHECK(kept["result"]["ttlMs"] == 5);
  CHECK(kept["result"]["cacheScope"] == "private");
  // Not results: unchanged.
  const std::string note = R"({"jsonrpc":"2.0","method":"notifications/progress","params":{}})";
  CHECK(adapt_response(note, "tools/call") == note);
  const std::string err = R"({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"m"}})";
  CHECK(adapt_response(err, "tools/call") == err);
}

TEST_CASE("the legacy resource-not-found error becomes -32602", "[era_bridge]") {
  auto e = json::parse(adapt_response(
      R"({"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"Resource not found"}})",
      "resources/read"));
  CHECK(e["error"]["code"] == -32602);
  CHECK(e["error"]["message"] == "Resource not found");
}

TEST_CASE("server/discover from an initialize result", "[era_bridge]") {
  auto d = discover_result(
      R"({"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true}},)"
      R"("serverInfo":{"name":"s","version":"1"},"instructions":"be nice"})");
  REQUIRE(d);
  auto j = json::parse(*d);
  CHECK(j["resultType"] == "complete");
  CHECK(j["supportedVersions"] == json::array({"2026-07-28"}));
  // Not bridged (subscriptions/listen), so not advertised.
  CHECK(j["capabilities"] == json::parse(R"({"tools":{}})"));
  CHECK(j["instructions"] == "be nice");
  CHECK(j["ttlMs"] == 0);
  CHECK(j["cacheScope"] == "private");
  CHECK(j["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "s");
  CHECK_FALSE(j.contains("protocolVersion"));
  CHECK_FALSE(discover_result("[]"));
  CHECK_FALSE(discover_result("not json"));
  auto bare = json::parse(*discover_result(R"({"capabilities":7})"));
  CHECK(bare["capabilities"] == json::object());
}

// ---- a 2025-11-25 client, a 2026-07-28 server

using gt::proxy::era_bridge::envelope_from_initialize;
using gt::proxy::era_bridge::initialize_result;
using gt::proxy::era_bridge::refuse_input_required;
using gt::proxy::era_bridge::refuses_legacy;
using gt::proxy::era_bridge::with_envelope;

TEST_CASE("a refusal of initialize by a 2026-only server is recognized", "[era_bridge]") {
  CHECK(refuses_legacy(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"m",)"
                       R"("data":{"supported":["2026-07-28"],"requested":"2025-11-25"}}})"));
  CHECK_FALSE(refuses_legacy(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"m",)"
                             R"("data":{"supported":["2024-11-05"]}}})"));
  CHECK_FALSE(refuses_legacy(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"m"}})"));
  CHECK_FALSE(refuses_legacy(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
}

TEST_CASE("the envelope comes from the client's initialize", "[era_bridge]") {
  auto env = envelope_from_initialize(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
      R"("capabilities":{"sampling":{}},"clientInfo":{"name":"c","version":"1"}}})");
  CHECK(env["io.modelcontextprotocol/protocolVersion"] == "2026-07-28");
  CHECK(env["io.modelcontextprotocol/clientCapabilities"] == json::parse(R"({"sampling":{}})"));
  CHECK(env["io.modelcontextprotocol/clientInfo"]["name"] == "c");
  auto bare = envelope_from_initialize(R"({"jsonrpc":"2.0","id":0,"method":"initialize"})");
  CHECK(bare["io.modelcontextprotocol/clientCapabilities"] == json::object());
  CHECK_FALSE(bare.contains("io.modelcontextprotocol/clientInfo"));
}

TEST_CASE("the envelope is added to _meta, and nothing else changes", "[era_bridge]") {
  json env = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
              {"io.modelcontextprotocol/clientCapabilities", json::object()}};
  const std::string call =
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","arguments":{"a":1}}})";
  auto a = with_envelope(call, env);
  auto j = json::parse(a);
  CHECK(j["params"]["_meta"] == env);
  CHECK(j["params"]["arguments"] == json::parse(R"({"a":1})"));
  CHECK(a.find(R"("arguments":{"a":1})") != std::string::npos);  // byte for byte
  // An existing _meta keeps its members (a progress token) and gains the envelope.
  auto b = json::parse(with_envelope(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"progressToken":7}}})",
      env));
  CHECK(b["params"]["_meta"]["progressToken"] == 7);
  CHECK(b["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28");
  // Empty params, no params.
  auto c = json::parse(with_envelope(R"({"jsonrpc":"2.0","id":3,"method":"x","params":{}})", env));
  CHECK(c["params"]["_meta"] == env);
  auto d = json::parse(with_envelope(R"({"jsonrpc":"2.0","id":4,"method":"tools/list"})", env));
  CHECK(d["params"]["_meta"] == env);
  CHECK(d["id"] == 4);
}

TEST_CASE("initialize is answered from server/discover", "[era_bridge]") {
  auto r = json::parse(*initialize_result(
      R"({"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},)"
      R"("ttlMs":0,"cacheScope":"public","instructions":"hi",)"
      R"("_meta":{"io.modelcontextprotocol/serverInfo":{"name":"m","version":"2"}}})",
      "2025-06-18"));
  CHECK(r["protocolVersion"] == "2025-06-18");
  CHECK(r["capabilities"] == json::parse(R"({"tools":{}})"));
  CHECK(r["serverInfo"]["name"] == "m");
  CHECK(r["instructions"] == "hi");
  auto unknown = json::parse(*initialize_result(R"({"capabilities":{}})", "1999-01-01"));
  CHECK(unknown["protocolVersion"] == "2025-11-25");
  CHECK(unknown["serverInfo"]["name"] == "unknown");
  CHECK_FALSE(initialize_result("[]", "2025-11-25"));
}

TEST_CASE("input_required becomes an error a legacy client can read", "[era_bridge]") {
  auto e = refuse_input_required(
      R"({"jsonrpc":"2.0","id":"x","result":{"resultType":"input_required","inputRequests":)"
      R"({"a":{"method":"elicitation/create","params":{}}},"requestState":"s"}})",
      "the reason");
  REQUIRE(e);
  auto j = json::parse(*e);
  CHECK(j["id"] == "x");
  CHECK(j["error"]["code"] == -32603);
  CHECK(j["error"]["message"].get<std::string>().find("elicitation/create") != std::string::npos);
  CHECK(j["error"]["message"].get<std::string>().find("the reason") != std::string::npos);
  CHECK_FALSE(refuse_input_required(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})", ""));
  CHECK_FALSE(refuse_input_required(
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","text":"input_required"}})",
      ""));
}

TEST_CASE("input_required is read as questions a 2025 client can be asked", "[era_bridge]") {
  using gt::proxy::era_bridge::read_input_required;
  std::string why;
  auto q = read_input_required(
      R"({"jsonrpc":"2.0","id":3,"result":{"resultType":"input_required","inputRequests":{)"
      R"("n":{"method":"elicitation/create","params":{"message":"name?"}},)"
      R"("r":{"method":"roots/list"}},"requestState":"opaque"}})",
      why);
  REQUIRE(q);
  REQUIRE(q->requests.size() == 2);
  CHECK(q->request_state == "opaque");
  bool saw_roots = false;
  for (auto& r : q->requests) {
    if (r.key == "r") {
      saw_roots = true;
      CHECK(r.method == "roots/list");
      CHECK(r.params.is_null());
    } else {
      CHECK(r.key == "n");
      CHECK(r.params["message"] == "name?");
    }
  }
  CHECK(saw_roots);
  // State only: retried at once, nothing asked.
  auto s = read_input_required(
      R"({"id":1,"result":{"resultType":"input_required","requestState":"x"}})", why);
  REQUIRE(s);
  CHECK(s->requests.empty());
  // Refused, each with a reason.
  CHECK_FALSE(read_input_required(R"({"id":1,"result":{"resultType":"input_required"}})", why));
  CHECK(why.find("neither") != std::string::npos);
  CHECK_FALSE(read_input_required(
      R"({"id":1,"result":{"resultType":"input_required","inputRequests":{"a":{"method":"tools/call"}}}})",
      why));
  CHECK(why.find("tools/call") != std::string::npos);
  CHECK_FALSE(read_input_required(
      R"({"id":1,"result":{"resultType":"input_required","requestState":7}})", why));
  CHECK_FALSE(read_input_required(
      R"({"id":1,"result":{"resultType":"input_required","inputRequests":{"a":{"method":"roots/list","params":[1]}}}})",
      why));
  std::string many = R"({"id":1,"result":{"resultType":"input_required","inputRequests":{)";
  for (int i = 0; i < 17; ++i)
    many +=
        (i ? "," : "") + std::string("\"k") + std::to_string(i) + R"(":{"method":"roots/list"})";
  many += "}}}";
  CHECK_FALSE(read_input_required(many, why));
  CHECK(why.find("17") != std::string::npos);
}

TEST_CASE("a retry carries the answers and the state, and nothing else changes", "[era_bridge]") {
  using gt::proxy::era_bridge::retry_request;
  std::string why;
  const std::string original =
      R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t","arguments":{"a":1.50}}})";
  auto r = retry_request(original, json::parse(R"({"n":{"action":"accept"}})"), json("st"), why);
  REQUIRE(r);
  // The added members go first in params; the original bytes follow unchanged (1.50 stays).
  CHECK(r->find(R"("name":"t","arguments":{"a":1.50}}})") != std::string::npos);
  CHECK(r->rfind(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{)", 0) == 0);
  auto j = json::parse(*r);
  CHECK(j["params"]["inputResponses"]["n"]["action"] == "accept");
  CHECK(j["params"]["requestState"] == "st");
  // No answers, no state: the request as it was.
  CHECK(*retry_request(original, json::object(), nullptr, why) == original);
  // Members the request already has are never duplicated.
  CHECK_FALSE(
      retry_request(R"({"id":1,"method":"tools/call","params":{"name":"t","requestState":"mine"}})",
                    json::object(), json("st"), why));
  CHECK_FALSE(retry_request(R"({"id":1,"method":"roots/list"})", json::object(), json("st"), why));
}

TEST_CASE("a client is asked only what its capabilities declare", "[era_bridge]") {
  using gt::proxy::era_bridge::declared;
  std::string why;
  auto caps = nlohmann::json::parse(R"({"sampling":{},"roots":{"listChanged":true}})");
  CHECK(declared(caps, "sampling/createMessage", why));
  CHECK(declared(caps, "roots/list", why));
  CHECK_FALSE(declared(caps, "elicitation/create", why));
  CHECK(why ==
        "`elicitation/create` needs the `elicitation` capability, which the client did "
        "not declare");
  // Not declared: absent, not an object, or no capabilities at all.
  CHECK_FALSE(
      declared(nlohmann::json::parse(R"({"elicitation":true})"), "elicitation/create", why));
  CHECK_FALSE(declared(nlohmann::json(), "roots/list", why));
  CHECK_FALSE(declared(nlohmann::json::array(), "sampling/createMessage", why));
}
