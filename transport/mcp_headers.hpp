// The MCP 2026-07-28 Streamable HTTP request headers that mirror the body: their value
// encoding (plain visible ASCII, or `=?base64?...?=`), the tool parameters a server asks to
// see as `Mcp-Param-{Name}` headers (`x-mcp-header` in a tool's inputSchema), and the check
// that every such header says exactly what the body says. A server may route on these headers
// without parsing the body, so a header that disagrees with the body the proxy judged is a
// way past governance: such a request is refused (-32020) before any policy runs.
//
// Pure functions: no I/O. See the specification's basic/transports/streamable-http
// ("Standard Request Headers", "Value Encoding", "Custom Headers from Tool Parameters").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::transport::mcp {

// The MCP headers of one HTTP request as received: names lower-cased, values as sent, a
// repeated field kept twice (a repeat is refused: two values cannot both match the body).
struct McpHeaders {
  std::vector<std::pair<std::string, std::string>> fields;

  // Keeps `name` if it is an MCP header (mcp-protocol-version, mcp-method, mcp-name,
  // mcp-param-*), lower-casing it.
  void add(std::string_view name, std::string_view value);
  // How many times `name` (lower-case) was sent, and the first value.
  std::size_t count(std::string_view name) const;
  std::optional<std::string_view> get(std::string_view name) const;
};

// A header value as the specification encodes it: a string of visible ASCII, space and tab
// with no whitespace at either end (and not itself of the sentinel form) as it is; anything
// else as `=?base64?{base64 of its UTF-8}?=`.
std::string encode_header_value(std::string_view value);

// The value a header carries: optional whitespace trimmed, then a sentinel decoded (canonical
// base64 of valid UTF-8 only). nullopt when the value is not well formed: a control or non-ASCII
// byte outside the sentinel, bad base64, invalid UTF-8.
std::optional<std::string> decode_header_value(std::string_view raw);

// One tool parameter declared with `x-mcp-header`: the header's name (as declared), the path
// of `properties` keys that reaches it, and its JSON type.
struct HeaderParam {
  enum class Type { String, Integer, Boolean };
  std::string header;
  std::vector<std::string> path;
  Type type = Type::String;
};

// The `x-mcp-header` declarations of a tool's inputSchema. False, with `error`, when one is
// invalid (the specification says a client must then drop the tool): a name that is empty or
// not an RFC 9110 token, declared twice (case-insensitively), on a property whose type is
// not exactly "string", "integer" or "boolean", or anywhere but a chain of `properties`.
bool collect_header_params(const nlohmann::json& input_schema, std::vector<HeaderParam>& out,
                           std::string& error);

// The header form of a body value for a declared parameter, or nullopt when the argument is
// absent or null (the header is then omitted) or of another type than declared.
std::optional<std::string> header_value_for(const HeaderParam& p, const nlohmann::json& arguments);

// Checks the `Mcp-Param-*` headers of a tools/call against its arguments. Returns why they
// disagree, or nullopt when they agree: every declared parameter with a value has exactly one
// header with the same value (integers compared as numbers), none without a value has one,
// and no `Mcp-Param-*` header names a parameter the tool does not declare.
std::optional<std::string> check_param_headers(const std::vector<HeaderParam>& declared,
                                               const nlohmann::json& arguments,
                                               const McpHeaders& headers);

}  // namespace gt::transport::mcp
