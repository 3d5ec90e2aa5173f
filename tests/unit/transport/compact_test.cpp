#include "transport/compact.hpp"

#include <random>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "transport/inspect.hpp"

using namespace gt::transport;

namespace {

std::string compacted(std::string_view in, std::size_t depth = 512) {
  std::string out;
  auto err = compact(in, out, depth);
  REQUIRE_FALSE(err);
  return out;
}

std::string refusal(std::string_view in, std::size_t depth = 512) {
  std::string out;
  auto err = compact(in, out, depth);
  REQUIRE(err);
  return err.message;
}

}  // namespace

TEST_CASE("compact removes whitespace between tokens and keeps every token byte for byte",
          "[compact]") {
  CHECK(compacted(" {\r\n\t\"a\" :\r[ 1 , 2.50 ,\n1e+2 , -0.0 ] ,\r\"b\" : \"x \\n y\" } ") ==
        R"({"a":[1,2.50,1e+2,-0.0],"b":"x \n y"})");
  // Escapes, numbers and member order are the client's own.
  std::string kept =
      R"({"z":"\u0041\/\"\\","a":123456789012345678901234567890,"m":[true,false,null]})";
  CHECK(compacted(kept) == kept);
  CHECK(is_compact(kept));
  CHECK_FALSE(is_compact("{\"a\": 1}"));
  CHECK(is_compact("{\"a\":\" spaces in a string \"}"));
}

TEST_CASE("compact leaves no raw line end in a message a line-based server could split",
          "[compact]") {
  // The smuggling shape: a judged tools/list whose params hold a tools/call on a line of its
  // own, for a server that splits on LF or on a lone CR.
  for (const char* sep : {"\n", "\r", "\r\n"}) {
    std::string attack =
        std::string(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"a":)") + sep +
        R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}})" + sep + "}}";
    auto out = compacted(attack);
    CHECK(out.find('\n') == std::string::npos);
    CHECK(out.find('\r') == std::string::npos);
    auto ins = inspect(out, 512);
    CHECK(ins.method == "tools/list");
  }
  // Inside a string a raw line end is not JSON: the text is kept, and validation refuses it.
  auto out = compacted("{\"a\":\"x\ny\"}");
  CHECK(inspect(out, 512).shape == Inspection::Shape::Malformed);
}

TEST_CASE("compact refuses a member name repeated at any depth, escaped or not", "[compact]") {
  CHECK(refusal(R"({"a":1,"a":2})").find("`a`") != std::string::npos);
  CHECK_FALSE(refusal(R"({"params":{"arguments":{"deep":[{"x":1,"y":{"k":1,"k":2}}]}}})").empty());
  CHECK(refusal(R"({"a":1,"\u0061":2})").find("occurs more than once") != std::string::npos);
  CHECK_FALSE(refusal(R"({"\u00e9":1,"é":2})").empty());
  CHECK_FALSE(refusal(R"({"\ud83d\ude00":1,"😀":2})").empty());
  CHECK_FALSE(refusal(R"({"a\/b":1,"a/b":2})").empty());
  CHECK_FALSE(refusal(R"({"\n":1,"\u000a":2})").empty());
  // Large objects take the sorting path.
  std::string big = "{";
  for (int i = 0; i < 1000; ++i)
    big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  CHECK(compacted(big + "\"end\":0}").size() > 1000);
  CHECK(refusal(big + "\"k500\":0}").find("k500") != std::string::npos);
  // The same name in sibling or nested objects is fine; so are equal values and array items.
  CHECK(compacted(R"({"a":{"a":1},"b":{"a":2},"c":["a","a"]})") ==
        R"({"a":{"a":1},"b":{"a":2},"c":["a","a"]})");
  // Names that only look alike stay distinct.
  CHECK(compacted(R"({"a":1,"A":2,"a ":3,"\u0062":4})").size() > 0);
}

TEST_CASE("compact bounds nesting without recursion", "[compact]") {
  std::string deep(100000, '[');
  CHECK(refusal(deep, 512).find("512") != std::string::npos);
  std::string ok = std::string(512, '[') + std::string(512, ']');
  CHECK(compacted(ok, 512) == ok);
}

TEST_CASE("compact agrees with a JSON parser on random documents", "[compact]") {
  // Random JSON with random whitespace: the compact text parses to the same value, and is
  // the document's own minimal serialization with the same token texts.
  std::mt19937 rng(1234);
  auto ws = [&] {
    static const char* kWs[] = {"", " ", "\n", "\r", "\t", "\r\n", "  \n "};
    return std::string(kWs[rng() % 7]);
  };
  std::function<std::string(int)> gen = [&](int depth) -> std::string {
    switch (depth > 4 ? rng() % 4 : rng() % 6) {
      case 0:
        return std::to_string(static_cast<int>(rng() % 2000) - 1000);
      case 1:
        return "\"s" + std::to_string(rng() % 50) + " \\u00e9\\n\"";
      case 2:
        return "1.250e-3";
      case 3:
        return rng() % 2 ? "true" : "null";
      case 4: {
        std::string a = "[" + ws();
        int n = rng() % 4;
        for (int i = 0; i < n; ++i)
          a += (i ? "," + ws() : "") + gen(depth + 1) + ws();
        return a + "]";
      }
      default: {
        std::string o = "{" + ws();
        int n = rng() % 4;
        for (int i = 0; i < n; ++i)
          o += (i ? "," + ws() : "") + "\"k" + std::to_string(i) + "\"" + ws() + ":" + ws() +
               gen(depth + 1);
        return o + ws() + "}";
      }
    }
  };
  for (int i = 0; i < 2000; ++i) {
    std::string doc = ws() + gen(0) + ws();
    INFO(doc);
    auto out = compacted(doc);
    CHECK(is_compact(out));
    CHECK(nlohmann::json::parse(out) == nlohmann::json::parse(doc));
    CHECK(out.find_first_of("\r\n") == std::string::npos);
  }
}

TEST_CASE("compact never joins two tokens into one", "[compact]") {
  // Each is malformed as sent; without the space it would be valid JSON with another value.
  for (const char* bad :
       {"[1 2]", "{\"id\":1 2}", "[tr ue]", "[- 1]", "[1 .5]", "[1 e5]", "[nu\nll]", "[1\r0]"}) {
    INFO(bad);
    std::string out;
    CHECK(compact(bad, out, 512));
  }
  CHECK(compacted("[1 ,2 , true ,null]") == "[1,2,true,null]");
}
