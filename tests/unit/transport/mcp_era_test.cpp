// MCP 2026-07-28 per-request era classification and the header checks that keep the headers a
// server may route on equal to the body governance judged.
#include "transport/mcp_era.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

using namespace gt::transport::mcp;
using nlohmann::json;

namespace {

json envelope(json version = "2026-07-28") {
  return {{"io.modelcontextprotocol/protocolVersion", std::move(version)},
          {"io.modelcontextprotocol/clientCapabilities", json::object()}};
}

json call_params(json meta = envelope()) {
  return {{"name", "echo"}, {"arguments", {{"text", "hi"}}}, {"_meta", std::move(meta)}};
}

McpHeaders http(std::initializer_list<std::pair<const char*, const char*>> h) {
  McpHeaders out;
  for (const auto& [n, v] : h)
    out.add(n, v);
  return out;
}

McpHeaders good_call_headers() {
  return http(
      {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/call"}, {"Mcp-Name", "echo"}});
}

int code_of(const RequestEra& r) {
  return r.error ? r.error->code : 0;
}

}  // namespace

TEST_CASE("a request with the version in _meta is modern; without it, legacy", "[mcp_era]") {
  auto r = classify_request("tools/call", call_params(), nullptr);
  CHECK_FALSE(r.error);
  CHECK(r.era == Era::Modern);
  CHECK(r.version == "2026-07-28");

  r = classify_request("tools/call", {{"name", "echo"}, {"arguments", json::object()}}, nullptr);
  CHECK_FALSE(r.error);
  CHECK(r.era == Era::Legacy);
  // Other reserved keys alone are not a claim.
  r = classify_request(
      "tools/list", {{"_meta", {{"io.modelcontextprotocol/clientCapabilities", json::object()}}}},
      nullptr);
  CHECK(r.era == Era::Legacy);
  CHECK(classify_request("initialize", {{"protocolVersion", "2025-11-25"}}, nullptr).era ==
        Era::Legacy);
  CHECK(classify_request("ping", nullptr, nullptr).era == Era::Legacy);
}

TEST_CASE("an initialize with a modern envelope is a modern request (answered -32601 later)",
          "[mcp_era]") {
  auto r = classify_request("initialize", {{"_meta", envelope()}}, nullptr);
  CHECK_FALSE(r.error);
  CHECK(r.era == Era::Modern);
}

TEST_CASE("a claimed version other than 2026-07-28 is refused with -32022, supported and requested",
          "[mcp_era]") {
  for (const char* v : {"v999.0.0", "2030-01-01", "2025-11-25", ""}) {
    auto r = classify_request("tools/list", {{"_meta", envelope(v)}}, nullptr);
    REQUIRE(r.error);
    CHECK(r.error->code == kUnsupportedProtocolVersion);
    CHECK(r.error->http_status == 400);
    CHECK(r.error->data == json{{"supported", {"2026-07-28"}}, {"requested", v}});
  }
}

TEST_CASE("a malformed modern envelope is -32602, never a fall back to legacy", "[mcp_era]") {
  auto r = classify_request("tools/list", {{"_meta", envelope(42)}}, nullptr);
  CHECK(code_of(r) == kInvalidParams);
  r = classify_request("tools/list", {{"_meta", envelope(nullptr)}}, nullptr);
  CHECK(code_of(r) == kInvalidParams);
  json meta = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}};
  r = classify_request("tools/list", {{"_meta", meta}}, nullptr);
  REQUIRE(code_of(r) == kInvalidParams);
  CHECK(r.error->data["envelope"]["missing"] ==
        json::array({"io.modelcontextprotocol/clientCapabilities"}));
  meta["io.modelcontextprotocol/clientCapabilities"] = "all";
  CHECK(code_of(classify_request("tools/list", {{"_meta", meta}}, nullptr)) == kInvalidParams);
  // clientInfo is optional.
  CHECK_FALSE(classify_request("tools/list", {{"_meta", envelope()}}, nullptr).error);
  // A notification needs no client capabilities.
  CHECK_FALSE(
      classify_request("notifications/cancelled",
                       {{"requestId", 1},
                        {"_meta", {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}}}},
                       nullptr, true)
          .error);
}

TEST_CASE("HTTP: headers that disagree with the body are -32020, before the version is judged",
          "[mcp_era]") {
  auto h = good_call_headers();
  CHECK_FALSE(classify_request("tools/call", call_params(), &h).error);

  // The conformance suite's case: body v999.0.0, header 2026-07-28 -> mismatch, not -32022.
  auto r = classify_request("tools/call", call_params(envelope("v999.0.0")), &h);
  REQUIRE(code_of(r) == kHeaderMismatch);
  CHECK(r.error->http_status == 400);

  auto lying_method = http(
      {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}, {"Mcp-Name", "echo"}});
  CHECK(code_of(classify_request("tools/call", call_params(), &lying_method)) == kHeaderMismatch);
  // Header names are case-insensitive, values are not.
  auto upper = http(
      {{"mcp-protocol-version", "2026-07-28"}, {"MCP-METHOD", "TOOLS/CALL"}, {"mcp-name", "echo"}});
  CHECK(code_of(classify_request("tools/call", call_params(), &upper)) == kHeaderMismatch);
  // Whitespace around a value is not part of it.
  auto ows = http({{"MCP-Protocol-Version", " 2026-07-28\t"},
                   {"Mcp-Method", "tools/call "},
                   {"Mcp-Name", " echo"}});
  CHECK_FALSE(classify_request("tools/call", call_params(), &ows).error);
}

TEST_CASE("HTTP: a modern request lacking a standard header is -32020", "[mcp_era]") {
  auto no_version = http({{"Mcp-Method", "tools/call"}, {"Mcp-Name", "echo"}});
  CHECK(code_of(classify_request("tools/call", call_params(), &no_version)) == kHeaderMismatch);
  auto no_method = http({{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Name", "echo"}});
  CHECK(code_of(classify_request("tools/call", call_params(), &no_method)) == kHeaderMismatch);
  auto no_name = http({{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/call"}});
  CHECK(code_of(classify_request("tools/call", call_params(), &no_name)) == kHeaderMismatch);
  // tools/list has no Mcp-Name.
  auto list = http({{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}});
  CHECK_FALSE(classify_request("tools/list", {{"_meta", envelope()}}, &list).error);
}

TEST_CASE("HTTP: Mcp-Name must name the tool, prompt or resource the body names", "[mcp_era]") {
  auto other = http({{"MCP-Protocol-Version", "2026-07-28"},
                     {"Mcp-Method", "tools/call"},
                     {"Mcp-Name", "delete_all"}});
  auto r = classify_request("tools/call", call_params(), &other);
  REQUIRE(code_of(r) == kHeaderMismatch);
  CHECK(r.error->message.find("delete_all") != std::string::npos);

  json read = {{"uri", "file:///etc/hosts"}, {"_meta", envelope()}};
  auto rh = http({{"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "resources/read"},
                  {"Mcp-Name", "file:///etc/hosts"}});
  CHECK_FALSE(classify_request("resources/read", read, &rh).error);
  auto rh2 = http({{"MCP-Protocol-Version", "2026-07-28"},
                   {"Mcp-Method", "resources/read"},
                   {"Mcp-Name", "file:///etc/passwd"}});
  CHECK(code_of(classify_request("resources/read", read, &rh2)) == kHeaderMismatch);

  // A base64-encoded name is compared decoded.
  json p = call_params();
  p["name"] = "héllo";
  auto b64 = http({{"MCP-Protocol-Version", "2026-07-28"},
                   {"Mcp-Method", "tools/call"},
                   {"Mcp-Name", encode_header_value("héllo").c_str()}});
  CHECK_FALSE(classify_request("tools/call", p, &b64).error);
  // A raw non-ASCII header value is not a valid value.
  auto raw = http({{"MCP-Protocol-Version", "2026-07-28"},
                   {"Mcp-Method", "tools/call"},
                   {"Mcp-Name", "héllo"}});
  CHECK(code_of(classify_request("tools/call", p, &raw)) == kHeaderMismatch);
}

TEST_CASE("HTTP: a standard header sent twice is refused, whatever the values", "[mcp_era]") {
  auto twice = http({{"MCP-Protocol-Version", "2026-07-28"},
                     {"Mcp-Method", "tools/call"},
                     {"Mcp-Name", "echo"},
                     {"mcp-name", "echo"}});
  CHECK(code_of(classify_request("tools/call", call_params(), &twice)) == kHeaderMismatch);
  auto twice_legacy = http({{"Mcp-Method", "tools/call"}, {"mcp-method", "tools/list"}});
  CHECK(code_of(classify_request("tools/call", {{"name", "echo"}}, &twice_legacy)) ==
        kHeaderMismatch);
}

TEST_CASE("HTTP: a modern version header without the envelope is never treated as legacy",
          "[mcp_era]") {
  auto h = http({{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}});
  auto r = classify_request("tools/list", json::object(), &h);
  REQUIRE(code_of(r) == kInvalidParams);
  CHECK(r.error->data["envelope"]["missing"].size() == 2);
  auto init = http({{"MCP-Protocol-Version", "2026-07-28"}});
  CHECK(code_of(classify_request("initialize", {{"protocolVersion", "2025-11-25"}}, &init)) ==
        kHeaderMismatch);
  // A legacy version header is the legacy generation, as today.
  auto legacy = http({{"MCP-Protocol-Version", "2025-11-25"}});
  auto l = classify_request("tools/list", json::object(), &legacy);
  CHECK_FALSE(l.error);
  CHECK(l.era == Era::Legacy);
}

TEST_CASE("header values: the specification's encoding examples, both ways", "[mcp_headers]") {
  CHECK(encode_header_value("Hello, 世界") == "=?base64?SGVsbG8sIOS4lueVjA==?=");
  CHECK(encode_header_value(" padded ") == "=?base64?IHBhZGRlZCA=?=");
  CHECK(encode_header_value("line1\nline2") == "=?base64?bGluZTEKbGluZTI=?=");
  CHECK(encode_header_value("=?base64?literal?=") == "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");
  CHECK(encode_header_value("us-west-2") == "us-west-2");
  CHECK(encode_header_value("a b") == "a b");
  for (const char* v :
       {"Hello, 世界", " padded ", "line1\nline2", "=?base64?literal?=", "us-west-2", ""}) {
    auto d = decode_header_value(encode_header_value(v));
    REQUIRE(d);
    CHECK(*d == v);
  }
}

TEST_CASE("header values: only canonical base64 of valid UTF-8 decodes", "[mcp_headers]") {
  CHECK_FALSE(decode_header_value("=?base64?SGVsbG8?="));    // unpadded
  CHECK_FALSE(decode_header_value("=?base64?SGVsbG9=?="));   // non-zero trailing bits
  CHECK_FALSE(decode_header_value("=?base64?SGVs bG8=?="));  // whitespace inside
  CHECK_FALSE(decode_header_value("=?base64?SGVsbG8*?="));   // not the alphabet
  CHECK_FALSE(decode_header_value("=?base64?/w==?="));       // 0xFF: not UTF-8
  CHECK_FALSE(decode_header_value("caf\xc3\xa9"));           // raw non-ASCII
  CHECK_FALSE(decode_header_value(std::string("a\0b", 3)));  // a control byte
  CHECK(*decode_header_value("=?base64?"
                             "?=") == "");  // empty; split: "??=" is a trigraph
  CHECK(*decode_header_value("=?base64?SGVsbG8=?=") == "Hello");
  CHECK(*decode_header_value("=?BASE64?SGVsbG8=?=") ==
        "=?BASE64?SGVsbG8=?=");  // markers are case-sensitive
}

TEST_CASE("x-mcp-header declarations: what is valid and where", "[mcp_headers]") {
  std::vector<HeaderParam> out;
  std::string err;
  json schema = {{"type", "object"},
                 {"properties",
                  {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}}},
                   {"opts",
                    {{"type", "object"},
                     {"properties",
                      {{"count", {{"type", "integer"}, {"x-mcp-header", "Count"}}},
                       {"dry", {{"type", "boolean"}, {"x-mcp-header", "Dry-Run"}}}}}}},
                   {"text", {{"type", "string"}}}}}};
  REQUIRE(collect_header_params(schema, out, err));
  REQUIRE(out.size() == 3);

  auto bad = [&](json s) {
    std::vector<HeaderParam> o;
    std::string e;
    bool ok = collect_header_params(s, o, e);
    CHECK(o.empty());
    return !ok && !e.empty();
  };
  auto prop = [](json p) {
    return json{{"type", "object"}, {"properties", {{"x", std::move(p)}}}};
  };
  CHECK(bad(prop({{"type", "string"}, {"x-mcp-header", ""}})));
  CHECK(bad(prop({{"type", "string"}, {"x-mcp-header", "Has Space"}})));
  CHECK(bad(prop({{"type", "string"}, {"x-mcp-header", "Line\r\nX-Evil: 1"}})));
  CHECK(bad(prop({{"type", "string"}, {"x-mcp-header", 7}})));
  CHECK(bad(prop({{"type", "number"}, {"x-mcp-header", "N"}})));
  CHECK(bad(prop({{"type", json::array({"string", "null"})}, {"x-mcp-header", "N"}})));
  CHECK(bad(prop({{"x-mcp-header", "N"}})));
  CHECK(bad({{"type", "object"},
             {"properties",
              {{"a", {{"type", "string"}, {"x-mcp-header", "Dup"}}},
               {"b", {{"type", "string"}, {"x-mcp-header", "dup"}}}}}}));
  // Off the properties chain.
  CHECK(bad({{"type", "array"}, {"items", {{"type", "string"}, {"x-mcp-header", "I"}}}}));
  CHECK(bad(prop({{"type", "array"},
                  {"items",
                   {{"type", "object"},
                    {"properties", {{"y", {{"type", "string"}, {"x-mcp-header", "Y"}}}}}}}})));
  CHECK(bad({{"anyOf", json::array({prop({{"type", "string"}, {"x-mcp-header", "A"}})})}}));
  CHECK(bad({{"$defs", {{"d", prop({{"type", "string"}, {"x-mcp-header", "D"}})}}}}));
  CHECK(bad({{"type", "string"}, {"x-mcp-header", "Root"}}));
  // A property merely named x-mcp-header, and data that looks like one, are not declarations.
  json named = {{"type", "object"},
                {"properties", {{"x-mcp-header", {{"type", "string"}}}}},
                {"default", {{"x-mcp-header", "not a schema"}}}};
  REQUIRE(collect_header_params(named, out, err));
  CHECK(out.empty());
}

TEST_CASE("Mcp-Param-* headers must say what the arguments say", "[mcp_headers]") {
  std::vector<HeaderParam> decl;
  std::string err;
  json schema = {{"type", "object"},
                 {"properties",
                  {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}}},
                   {"count", {{"type", "integer"}, {"x-mcp-header", "Count"}}},
                   {"dry", {{"type", "boolean"}, {"x-mcp-header", "Dry"}}}}}};
  REQUIRE(collect_header_params(schema, decl, err));
  json args = {{"region", "us-west-2"}, {"count", 42}, {"dry", true}};
  auto h = http(
      {{"Mcp-Param-Region", "us-west-2"}, {"mcp-param-count", "42"}, {"Mcp-Param-Dry", "true"}});
  CHECK_FALSE(check_param_headers(decl, args, h));
  // Integers compare as numbers.
  auto h42 = http(
      {{"Mcp-Param-Region", "us-west-2"}, {"Mcp-Param-Count", "42.0"}, {"Mcp-Param-Dry", "true"}});
  CHECK_FALSE(check_param_headers(decl, args, h42));
  json args_f = args;
  args_f["count"] = 42.0;
  CHECK_FALSE(check_param_headers(decl, args_f, h));

  auto lie = http(
      {{"Mcp-Param-Region", "eu-central-1"}, {"Mcp-Param-Count", "42"}, {"Mcp-Param-Dry", "true"}});
  CHECK(check_param_headers(decl, args, lie));
  auto missing = http({{"Mcp-Param-Count", "42"}, {"Mcp-Param-Dry", "true"}});
  CHECK(check_param_headers(decl, args, missing));
  auto twice = http({{"Mcp-Param-Region", "us-west-2"},
                     {"Mcp-Param-Region", "us-west-2"},
                     {"Mcp-Param-Count", "42"},
                     {"Mcp-Param-Dry", "true"}});
  CHECK(check_param_headers(decl, args, twice));
  auto undeclared = http({{"Mcp-Param-Region", "us-west-2"},
                          {"Mcp-Param-Count", "42"},
                          {"Mcp-Param-Dry", "true"},
                          {"Mcp-Param-Tenant", "other"}});
  CHECK(check_param_headers(decl, args, undeclared));
  auto dry = http(
      {{"Mcp-Param-Region", "us-west-2"}, {"Mcp-Param-Count", "42"}, {"Mcp-Param-Dry", "True"}});
  CHECK(check_param_headers(decl, args, dry));
  auto count = http(
      {{"Mcp-Param-Region", "us-west-2"}, {"Mcp-Param-Count", "0x2a"}, {"Mcp-Param-Dry", "true"}});
  CHECK(check_param_headers(decl, args, count));

  // An absent or null argument has no header, and a header for it is refused.
  json partial = {{"region", nullptr}, {"count", 1}, {"dry", false}};
  auto ok = http({{"Mcp-Param-Count", "1"}, {"Mcp-Param-Dry", "false"}});
  CHECK_FALSE(check_param_headers(decl, partial, ok));
  auto extra = http(
      {{"Mcp-Param-Region", "us-west-2"}, {"Mcp-Param-Count", "1"}, {"Mcp-Param-Dry", "false"}});
  CHECK(check_param_headers(decl, partial, extra));

  // The header form of a value, for forwarding (declarations come in key order).
  auto param = [&](const char* header) {
    auto it = std::find_if(decl.begin(), decl.end(),
                           [&](const HeaderParam& p) { return p.header == header; });
    REQUIRE(it != decl.end());
    return *it;
  };
  auto region = header_value_for(param("Region"), {{"region", "Hello, 世界"}});
  REQUIRE(region);
  CHECK(*region == "=?base64?SGVsbG8sIOS4lueVjA==?=");
  CHECK(header_value_for(param("Count"), {{"count", 7}}) == std::optional<std::string>("7"));
  CHECK_FALSE(header_value_for(param("Count"), {{"count", 1.5}}));
  CHECK_FALSE(header_value_for(param("Count"), {{"count", 9007199254740992.0}}));
  CHECK(header_value_for(param("Dry"), {{"dry", false}}) == std::optional<std::string>("false"));
}

TEST_CASE("traceparent: only the W3C form is accepted", "[mcp_era]") {
  CHECK(is_traceparent("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"));
  CHECK(is_traceparent("01-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00"));
  CHECK_FALSE(is_traceparent("00-0AF7651916CD43DD8448EB211C80319C-00F067AA0BA902B7-01"));
  CHECK_FALSE(is_traceparent("ff-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"));
  CHECK_FALSE(is_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  CHECK_FALSE(is_traceparent("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
  CHECK_FALSE(is_traceparent("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01-"));
  CHECK_FALSE(is_traceparent("00_0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"));
  CHECK_FALSE(is_traceparent(""));
}

TEST_CASE("Mcp-Name mirrors name, uri or taskId", "[mcp_era]") {
  using gt::transport::mcp::name_member;
  CHECK(name_member("tools/call") == std::optional<std::string_view>("name"));
  CHECK(name_member("prompts/get") == std::optional<std::string_view>("name"));
  CHECK(name_member("resources/read") == std::optional<std::string_view>("uri"));
  CHECK(name_member("tasks/get") == std::optional<std::string_view>("taskId"));
  CHECK(name_member("tasks/cancel") == std::optional<std::string_view>("taskId"));
  CHECK_FALSE(name_member("tools/list"));
}
