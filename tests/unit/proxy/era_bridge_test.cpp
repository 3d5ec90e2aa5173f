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
  CHECK(j["capabilities"] == json::parse(R"({"tools":{"listChanged":true}})"));
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
