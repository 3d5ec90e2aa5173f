// The MCP 2026-07-28 headers of a request POSTed to a `url:` server (request_headers), the
// x-mcp-header declarations they rely on (ToolHeaderDeclarations: learned from tools/list,
// bounded), and HTTP error answers turned into JSON-RPC errors (rpc_error_answer).
#include <catch2/catch.hpp>

#include "proxy/http_upstream_headers.hpp"

using namespace gt::proxy;
using nlohmann::json;

namespace {

const std::string kMeta =
    R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}})";

json tool(const std::string& name, json properties) {
  return {{"name", name}, {"inputSchema", {{"type", "object"}, {"properties", properties}}}};
}

json list_of(std::vector<json> tools) {
  return {{"tools", tools}};
}

json route_tool() {
  return tool("route", {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}}},
                        {"count", {{"type", "integer"}, {"x-mcp-header", "Count"}}},
                        {"dry", {{"type", "boolean"}, {"x-mcp-header", "Dry-Run"}}},
                        {"note", {{"type", "string"}}}});
}

std::optional<std::string> header(const HeaderList& h, const std::string& name) {
  for (const auto& [n, v] : h)
    if (n == name) return v;
  return std::nullopt;
}

std::size_t count_prefix(const HeaderList& h, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& [k, v] : h)
    n += k.rfind(prefix, 0) == 0;
  return n;
}

}  // namespace

TEST_CASE("a request without a protocol version claim is legacy: no headers") {
  ToolHeaderDeclarations tools;
  for (
      const std::string line : {
          R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})",
          R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})",
          R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":1}}})",
          R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":"no"}})",
      }) {
    auto r = request_headers(line, "x", tools);
    CHECK_FALSE(r.modern);
    CHECK(r.headers.empty());
    CHECK(r.error.empty());
  }
}

TEST_CASE("a modern request gets MCP-Protocol-Version and Mcp-Method from its body") {
  ToolHeaderDeclarations tools;
  auto r =
      request_headers(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{)" + kMeta + "}}",
                      "tools/list", tools);
  REQUIRE(r.modern);
  CHECK(r.error.empty());
  CHECK(r.headers ==
        HeaderList{{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}});

  // The claim alone makes it modern, even with an escaped key; the value is what it says.
  auto e = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol\/protocolVersion":"v999.0.0"}}})",
      "server/discover", tools);
  REQUIRE(e.modern);
  CHECK(header(e.headers, "MCP-Protocol-Version") == "v999.0.0");

  // A notification carries them too.
  auto n = request_headers(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{)" +
                               kMeta + R"(,"requestId":3}})",
                           "notifications/cancelled", tools);
  CHECK(n.modern);
  CHECK(header(n.headers, "Mcp-Method") == "notifications/cancelled");
}

TEST_CASE("a claim that is no version: modern, with an error and no headers") {
  ToolHeaderDeclarations tools;
  for (const std::string v : {"7", "null", "\"\"", "{}"}) {
    auto r = request_headers(
        R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":)" +
            v + "}}}",
        "tools/list", tools);
    CHECK(r.modern);
    CHECK_FALSE(r.error.empty());
    CHECK(r.headers.empty());
  }
}

TEST_CASE("Mcp-Name mirrors params.name or params.uri, in the header value encoding") {
  ToolHeaderDeclarations tools;
  auto call = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{},)" +
          kMeta + "}}",
      "tools/call", tools);
  CHECK(header(call.headers, "Mcp-Name") == "echo");
  auto prompt = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"Hello, 世界",)" + kMeta +
          "}}",
      "prompts/get", tools);
  CHECK(header(prompt.headers, "Mcp-Name") == "=?base64?SGVsbG8sIOS4lueVjA==?=");
  auto read = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a b",)" +
          kMeta + "}}",
      "resources/read", tools);
  CHECK(header(read.headers, "Mcp-Name") == "file:///a b");
  // An escaped body value is the unescaped string in the header.
  auto esc = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ec\u0068o",)" + kMeta +
          "}}",
      "tools/call", tools);
  CHECK(header(esc.headers, "Mcp-Name") == "echo");
  // No string to mirror: no header (the server refuses the request).
  auto none = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":5,)" + kMeta + "}}",
      "resources/read", tools);
  CHECK_FALSE(header(none.headers, "Mcp-Name"));
  auto list = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"x",)" + kMeta + "}}",
      "tools/list", tools);
  CHECK_FALSE(header(list.headers, "Mcp-Name"));
}

TEST_CASE("Mcp-Param-* headers: one per declared parameter with a value, as the body says") {
  ToolHeaderDeclarations tools;
  CHECK(tools.learn(list_of({route_tool(), tool("echo", {{"message", {{"type", "string"}}}})}))
            .empty());
  CHECK(tools.size() == 1);  // echo declares nothing: nothing kept
  auto call = [&](const std::string& args, const std::string& name = "route") {
    return request_headers(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":")" +
                               name + R"(","arguments":)" + args + "," + kMeta + "}}",
                           "tools/call", tools)
        .headers;
  };
  auto h = call(R"({"region":"eu-west","count":42.0,"dry":true,"note":"n"})");
  CHECK(header(h, "Mcp-Param-Region") == "eu-west");
  CHECK(header(h, "Mcp-Param-Count") == "42");
  CHECK(header(h, "Mcp-Param-Dry-Run") == "true");
  CHECK(count_prefix(h, "Mcp-Param-") == 3);

  h = call(R"({"region":"東京"})");
  CHECK(header(h, "Mcp-Param-Region") == "=?base64?5p2x5Lqs?=");
  CHECK(count_prefix(h, "Mcp-Param-") == 1);
  CHECK(header(call(R"({"region":" padded "})"), "Mcp-Param-Region") == "=?base64?IHBhZGRlZCA=?=");
  CHECK(header(call(R"({"region":"=?base64?literal?="})"), "Mcp-Param-Region") ==
        "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");

  // Absent, null, or of another type than declared: no header.
  CHECK(count_prefix(call(R"({"region":null,"count":"7","dry":1})"), "Mcp-Param-") == 0);
  CHECK(count_prefix(call("{}"), "Mcp-Param-") == 0);
  CHECK(count_prefix(call(R"({"count":1.5})"), "Mcp-Param-") == 0);
  // A tool GlassTape has no declarations for gets none.
  CHECK(count_prefix(call(R"({"region":"eu"})", "other"), "Mcp-Param-") == 0);
  // A legacy call of the same tool gets no headers at all.
  auto legacy = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"route","arguments":{"region":"eu"}}})",
      "tools/call", tools);
  CHECK(legacy.headers.empty());
}

TEST_CASE("nested declarations follow the path of properties") {
  ToolHeaderDeclarations tools;
  tools.learn(list_of({tool(
      "deploy", {{"target",
                  {{"type", "object"},
                   {"properties", {{"env", {{"type", "string"}, {"x-mcp-header", "Env"}}}}}}}})}));
  auto h = request_headers(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy","arguments":{"target":{"env":"prod"},"env":"dev"},)" +
          kMeta + "}}",
      "tools/call", tools);
  CHECK(header(h.headers, "Mcp-Param-Env") == "prod");
}

TEST_CASE("a tool with invalid declarations is refused and keeps no headers") {
  ToolHeaderDeclarations tools;
  tools.learn(list_of({route_tool()}));
  REQUIRE(tools.find("route"));
  // The same tool listed again with a declaration on a number: invalid, so the old
  // declarations are forgotten too (the latest list is what the server says now).
  auto refused = tools.learn(
      list_of({tool("route", {{"region", {{"type", "number"}, {"x-mcp-header", "Region"}}}}),
               tool("twice", {{"a", {{"type", "string"}, {"x-mcp-header", "X"}}},
                              {"b", {{"type", "string"}, {"x-mcp-header", "x"}}}}),
               tool("bad name", {{"a", {{"type", "string"}, {"x-mcp-header", "A B"}}}})}));
  REQUIRE(refused.size() == 3);
  CHECK(refused[0].tool == "route");
  CHECK_FALSE(refused[0].why.empty());
  CHECK(tools.find("route") == nullptr);
  CHECK(tools.find("twice") == nullptr);
  CHECK(tools.size() == 0);
  CHECK(tools.bytes() == 0);
}

TEST_CASE("a tool listed again without declarations loses them") {
  ToolHeaderDeclarations tools;
  tools.learn(list_of({route_tool()}));
  tools.learn(list_of({tool("route", {{"region", {{"type", "string"}}}})}));
  CHECK(tools.find("route") == nullptr);
  // Malformed entries are skipped; the rest of the page counts.
  tools.learn(json{{"tools", {1, json{{"name", 2}}, route_tool()}}});
  CHECK(tools.find("route") != nullptr);
  tools.learn(json{{"tools", "no"}});
  tools.learn(json::array());
  CHECK(tools.size() == 1);
}

TEST_CASE("the declarations kept are bounded in count and bytes; the oldest go first") {
  ToolHeaderDeclarations tools(3, 1 << 20);
  for (int i = 0; i < 5; ++i)
    tools.learn(list_of(
        {tool("t" + std::to_string(i), {{"a", {{"type", "string"}, {"x-mcp-header", "A"}}}})}));
  CHECK(tools.size() == 3);
  CHECK(tools.find("t0") == nullptr);
  CHECK(tools.find("t1") == nullptr);
  CHECK(tools.find("t4") != nullptr);
  // Learning t2 again makes it the newest: t3 goes next.
  tools.learn(list_of({tool("t2", {{"a", {{"type", "string"}, {"x-mcp-header", "A"}}}})}));
  tools.learn(list_of({tool("t5", {{"a", {{"type", "string"}, {"x-mcp-header", "A"}}}})}));
  CHECK(tools.find("t3") == nullptr);
  CHECK(tools.find("t2") != nullptr);

  ToolHeaderDeclarations small(100, 600);
  json many = json::object();
  for (int i = 0; i < 20; ++i)
    many["p" + std::to_string(i)] = {{"type", "string"}, {"x-mcp-header", "H" + std::to_string(i)}};
  auto refused = small.learn(list_of({tool("big", many)}));
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].tool == "big");
  CHECK(small.size() == 0);
  for (int i = 0; i < 10; ++i)
    small.learn(list_of(
        {tool("t" + std::to_string(i), {{"a", {{"type", "string"}, {"x-mcp-header", "A"}}}})}));
  CHECK(small.bytes() <= 600);
  CHECK(small.size() < 10);
  CHECK(small.find("t9") != nullptr);
}

TEST_CASE("an HTTP error answer that is a JSON-RPC error for the request is relayed with its id") {
  auto r = rpc_error_answer(
      R"({"jsonrpc":"2.0","error":{"code":-32020,"message":"Header mismatch","data":{"mismatch":{"header":"Mcp-Name"}}},"id":7})",
      7);
  REQUIRE(r);
  auto j = json::parse(*r);
  CHECK(j["id"] == 7);
  CHECK(j["error"]["code"] == -32020);
  CHECK(j["error"]["message"] == "Header mismatch");
  CHECK(j["error"]["data"]["mismatch"]["header"] == "Mcp-Name");
  CHECK(r->find('\n') == std::string::npos);

  // A null or missing id (the server could not read it) is the request's.
  r = rpc_error_answer(
      "{\n \"jsonrpc\": \"2.0\", \"id\": null,\n \"error\": {\"code\": -32000, "
      "\"message\": \"Method not allowed.\"}\n}",
      "abc");
  REQUIRE(r);
  CHECK(json::parse(*r)["id"] == "abc");
  CHECK_FALSE(json::parse(*r)["error"].contains("data"));
  r = rpc_error_answer(R"({"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"}})",
                       1);
  REQUIRE(r);
  CHECK(json::parse(*r)["id"] == 1);

  // Anything else is not relayed.
  for (const std::string body : {
           R"({"jsonrpc":"2.0","error":{"code":-32601,"message":"x"},"id":2})",  // another id
           R"({"jsonrpc":"2.0","result":{},"id":1})",
           R"({"jsonrpc":"2.0","error":{"code":-32601,"message":"x"},"result":{},"id":1})",
           R"({"error":{"code":-32601,"message":"x"},"id":1})",
           R"({"jsonrpc":"2.0","error":{"code":"bad","message":"x"},"id":1})",
           R"({"jsonrpc":"2.0","error":{"code":1.5,"message":"x"},"id":1})",
           R"({"jsonrpc":"2.0","error":{"code":99999999999,"message":"x"},"id":1})",
           R"({"jsonrpc":"2.0","error":{"code":-1},"id":1})",
           R"({"jsonrpc":"2.0","error":"x","id":1})",
           R"({"error":"invalid_token","error_description":"expired"})",
           "not found",
           R"({"jsonrpc":"2.0","error":{"code":-32601,"message":"x"},"id":1)",  // cut short
           "",
       }) {
    INFO(body);
    CHECK_FALSE(rpc_error_answer(body, 1));
  }
}
