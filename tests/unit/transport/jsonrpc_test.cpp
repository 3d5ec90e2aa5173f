#include "transport/jsonrpc.hpp"

#include <catch2/catch.hpp>

using namespace gt::transport;
using nlohmann::json;

TEST_CASE("classify tells requests, notifications and responses apart", "[jsonrpc]") {
  SECTION("request") {
    auto m = classify(json::parse(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"));
    CHECK(m.kind == MessageKind::Request);
    CHECK(m.method == "ping");
    CHECK(m.id == 1);
  }
  SECTION("notification") {
    auto m = classify(json::parse(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
    CHECK(m.kind == MessageKind::Notification);
  }
  SECTION("response with result or error") {
    CHECK(classify(json::parse(R"({"jsonrpc":"2.0","id":"a","result":{}})")).kind ==
          MessageKind::Response);
    CHECK(classify(json::parse(R"({"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"x"}})"))
              .kind == MessageKind::Response);
  }
}

TEST_CASE("classify rejects messages of the wrong shape and keeps the id", "[jsonrpc]") {
  struct Case {
    const char* text;
    json id;
  };
  for (auto c :
       {Case{R"({"jsonrpc":"2.0","id":7})", 7}, Case{R"({"id":7,"method":5})", 7},
        Case{R"({"jsonrpc":"1.0","id":"x","method":"ping"})", "x"},
        Case{R"({"jsonrpc":"2.0","id":{"a":1},"method":"ping"})", nullptr},
        Case{R"({"jsonrpc":"2.0","id":3,"result":1,"error":{}})", 3},
        Case{R"({"jsonrpc":"2.0","result":1})", nullptr},
        Case{R"({"jsonrpc":"2.0","id":4,"method":"x","params":"s"})", 4}, Case{"42", nullptr}}) {
    INFO(c.text);
    auto m = classify(json::parse(c.text));
    CHECK(m.kind == MessageKind::Invalid);
    CHECK(m.id == c.id);
    CHECK_FALSE(m.invalid_reason.empty());
  }
}

TEST_CASE("error_response builds a JSON-RPC error", "[jsonrpc]") {
  auto e = json::parse(error_response(5, rpc_error::kParseError, "Parse error"));
  CHECK(e["jsonrpc"] == "2.0");
  CHECK(e["id"] == 5);
  CHECK(e["error"]["code"] == -32700);
  CHECK(e["error"]["message"] == "Parse error");
  CHECK_FALSE(e["error"].contains("data"));
}

TEST_CASE("recover_id finds a top-level id in broken or truncated text", "[jsonrpc]") {
  CHECK(recover_id(R"({"jsonrpc":"2.0","id":12,"method":"x","params":{)") == json(12));
  CHECK(recover_id(R"({"params":{"id":99},"id":"abc", "method":)") == json("abc"));
  CHECK(recover_id(R"({"method":"id","x":1})") == std::nullopt);
  CHECK(recover_id(R"({"params":{"id":99})") == std::nullopt);
  CHECK(recover_id("garbage") == std::nullopt);
}

TEST_CASE("member_span returns the exact bytes of a nested member", "[jsonrpc]") {
  std::string text =
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments": {"b" : [1, 2,{"}":"]"}], "a":1.50}}})";
  auto span = member_span(text, {"params", "arguments"});
  REQUIRE(span);
  CHECK(*span == R"({"b" : [1, 2,{"}":"]"}], "a":1.50})");
  CHECK(member_span(text, {"params", "missing"}) == std::nullopt);
  CHECK(*member_span(text, {"id"}) == "1");
  CHECK(*member_span(R"({"a":"x\"y"})", {"a"}) == R"("x\"y")");
}

TEST_CASE("parse refuses hostile nesting before building it", "[jsonrpc]") {
  std::string deep(1000000, '[');
  std::string err;
  auto j = parse(deep, &err, 512);
  CHECK(j.is_discarded());
  CHECK(err.find("nesting deeper than 512") != std::string::npos);
  // Brackets inside strings do not count.
  std::string ok = "{\"s\":\"" + std::string(2000, '[') + "\"}";
  CHECK_FALSE(parse(ok, &err, 512).is_discarded());
  CHECK(parse("{bad", &err).is_discarded());
  CHECK(err.find("json.exception") == std::string::npos);
  CHECK(err.find("parse error") != std::string::npos);
}

TEST_CASE("array_elements keeps each element's exact bytes", "[jsonrpc]") {
  auto e =
      array_elements(R"([ {"a":1.50,"big":123456789012345678901234567890} ,"x,]",[1,[2]], 3 ])");
  REQUIRE(e.size() == 4);
  CHECK(e[0] == R"({"a":1.50,"big":123456789012345678901234567890})");
  CHECK(e[1] == R"("x,]")");
  CHECK(e[2] == "[1,[2]]");
  CHECK(e[3] == "3");
  CHECK(array_elements("[]").empty());
}

TEST_CASE("member lookups compare names by value, escapes included", "[jsonrpc]") {
  auto span = member_span(R"({"\u0070arams":{"\u0061rguments":{"x":1}}})", {"params", "arguments"});
  REQUIRE(span);
  CHECK(*span == R"({"x":1})");
  CHECK(unique_members(R"({"id":1,"\u0069d":2})", {"id"}) == false);
  CHECK(unique_members(R"({"\u0069d":1,"method":"x"})", {"id", "method"}) == true);
  CHECK(peek(R"({"\u006dethod":"tools/call","id":1})").method ==
        std::string_view(R"("tools/call")"));
  CHECK(peek(R"({"method":"a","\u006dethod":"b"})").duplicate);
  CHECK(recover_id(R"({"\u0069d":7,"method":)") == nlohmann::json(7));
  CHECK(unescape_json(R"(caf\u00e9 \ud83d\ude00 \n\/)") == "café 😀 \n/");
}
