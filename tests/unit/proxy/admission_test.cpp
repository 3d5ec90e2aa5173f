#include "proxy/admission.hpp"

#include <catch2/catch.hpp>

using namespace gt::proxy;

namespace {

std::optional<Refusal> admit(std::string_view compact) {
  auto ins = gt::transport::inspect(compact, 512);
  REQUIRE(ins.kind != gt::transport::MessageKind::Invalid);
  return admit_client_message(ins, compact);
}

}  // namespace

TEST_CASE("request ids are strings or safe integers written as such", "[admission]") {
  for (const char* ok : {"0", "1", "-1", "9007199254740991", "-9007199254740991", "\"a\"", "\"\""})
    CHECK(acceptable_request_id(ok));
  for (const char* bad : {"1.0", "1e0", "-0", "01", "9007199254740992", "9007199254740993",
                          "-9007199254740992", "123456789012345678901", "null", "true", "{}", ""}) {
    INFO(bad);
    CHECK_FALSE(acceptable_request_id(bad));
  }
  auto r = admit(R"({"jsonrpc":"2.0","id":1.0,"method":"ping"})");
  REQUIRE(r);
  CHECK(r->code == -32600);
  CHECK(admit(R"({"jsonrpc":"2.0","id":null,"method":"ping"})"));
  CHECK_FALSE(admit(R"({"jsonrpc":"2.0","id":"x","method":"ping"})"));
  // The proxy's own ids, however they are spelled; an escaped member name is still `id`.
  CHECK(admit(R"({"jsonrpc":"2.0","id":"glasstape:list:1","method":"ping"})"));
  CHECK(admit(R"({"jsonrpc":"2.0","id":"\u0067lasstape:list:1","method":"ping"})"));
  CHECK_FALSE(admit(R"({"jsonrpc":"2.0","\u0069d":3,"method":"ping"})"));
}

TEST_CASE("methods are matched exactly: near misses of MCP methods are refused", "[admission]") {
  for (const char* m : {"Tools/Call", "TOOLS/CALL", "tools/Call", "Initialize", "Ping",
                        "Notifications/Cancelled"}) {
    INFO(m);
    auto r = admit(std::string(R"({"jsonrpc":"2.0","id":1,"method":")") + m + "\"}");
    REQUIRE(r);
    CHECK(r->code == -32601);
    CHECK(r->message.find("matched exactly") != std::string::npos);
  }
  // Whitespace, control bytes and non-ASCII anywhere in the name.
  for (const char* m : {" tools/call", "tools/call ", "tools/call\\n", "tools/call\\u0000",
                        "tools/\\u0063all\\t", "tools/call\\u00a0", "tools/ca\\u2028ll", ""}) {
    INFO(m);
    auto r = admit(std::string(R"({"jsonrpc":"2.0","id":1,"method":")") + m + "\"}");
    REQUIRE(r);
    CHECK(r->code == -32601);
  }
  // An escape that spells the exact name is the exact name.
  CHECK_FALSE(admit(R"({"jsonrpc":"2.0","id":1,"method":"tools\/call"})"));
  CHECK_FALSE(admit(R"({"jsonrpc":"2.0","id":1,"method":"x-vendor/DoThing"})"));
}

TEST_CASE("a request method sent as a notification is refused", "[admission]") {
  for (const char* m : {"tools/call", "resources/read", "x/custom", "ping"}) {
    INFO(m);
    auto r = admit(std::string(R"({"jsonrpc":"2.0","method":")") + m + "\"}");
    REQUIRE(r);
    CHECK(r->code == -32600);
    CHECK(r->message.find("without an `id`") != std::string::npos);
  }
  CHECK_FALSE(admit(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{}})"));
  CHECK_FALSE(admit(R"({"jsonrpc":"2.0","method":"notifications/vendor/thing"})"));
  // Answers to server requests carry the server's id, whatever its form.
  CHECK_FALSE(admit(R"({"jsonrpc":"2.0","id":1.5,"result":{}})"));
}

TEST_CASE("a message with both a method and a result is invalid", "[admission]") {
  auto ins =
      gt::transport::inspect(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","result":{}})", 512);
  CHECK(ins.kind == gt::transport::MessageKind::Invalid);
  CHECK(ins.error.find("not both") != std::string::npos);
}
