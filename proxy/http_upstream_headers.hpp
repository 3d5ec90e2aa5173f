// What an MCP 2026-07-28 request POSTed to a `url:` server says in its headers, and how an
// error answer becomes a JSON-RPC message. Pure: no I/O; HttpUpstream uses it.
//
// A 2026-07-28 server may route on the standard headers (MCP-Protocol-Version, Mcp-Method,
// Mcp-Name) and on the `Mcp-Param-{Name}` headers its tools ask for (`x-mcp-header` in a
// tool's inputSchema) without reading the body. So these headers are made here from the one
// body GlassTape judged and forwards, never taken from the client: the server acts on what
// governance saw, by construction. A value the headers cannot carry faithfully is not sent,
// and the server refuses the request (-32020): closed, not open.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "transport/mcp_headers.hpp"

namespace gt::proxy {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The `x-mcp-header` declarations of one server's tools, as its tools/list results last
// showed them. Only tools with at least one valid declaration are kept: a tool without any,
// or whose declarations are invalid (the specification says clients drop such a tool), gets
// no Mcp-Param-* header, and the server refuses the call if it wanted one.
//
// Bounded, because the server decides how many tools it lists and how large their schemas
// are: at most `max_tools` tools and `max_bytes` of names and paths. A tool is learned again
// (replaced) each time a list shows it; when a bound is reached the tool learned longest ago
// goes first. A forgotten or stale entry fails closed: its calls reach the server without the
// headers it wants (or with ones it no longer declares), and the server refuses them.
class ToolHeaderDeclarations {
 public:
  static constexpr std::size_t kMaxTools = 4096;
  static constexpr std::size_t kMaxBytes = 1024 * 1024;

  explicit ToolHeaderDeclarations(std::size_t max_tools = kMaxTools,
                                  std::size_t max_bytes = kMaxBytes)
      : max_tools_(max_tools), max_bytes_(max_bytes) {}

  // One tool of a tools/list result whose declarations were refused, and why.
  struct Refused {
    std::string tool;
    std::string why;
  };

  // Learns the tools of one tools/list result (one page: `{"tools": [...], ...}`). Tools
  // without a string name are skipped. Returns the tools whose declarations were invalid or
  // too large to keep.
  std::vector<Refused> learn(const nlohmann::json& result);

  // The declarations of `tool`, or nullptr when it has none (or none GlassTape kept).
  const std::vector<transport::mcp::HeaderParam>* find(std::string_view tool) const;

  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::vector<transport::mcp::HeaderParam> params;
    std::size_t bytes = 0;
    std::list<std::string>::iterator age;  // position in age_
  };
  void forget(std::map<std::string, Entry, std::less<>>::iterator it);

  std::size_t max_tools_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::map<std::string, Entry, std::less<>> entries_;
  std::list<std::string> age_;  // tool names, learned longest ago first
};

// The era of one request and, for a modern one, its headers.
struct RequestHeaders {
  bool modern = false;  // params._meta claims a protocol version
  std::string error;    // modern, but the claim is not a usable version: nothing may be sent
  HeaderList headers;   // modern: MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-*
};

// Reads a compact, valid JSON-RPC request or notification (`method` as inspect() found it).
// A message is modern when params._meta has the key io.modelcontextprotocol/protocolVersion
// (transport/mcp_era.hpp). Its headers then say, in the specification's value encoding
// (encode_header_value): MCP-Protocol-Version = that version; Mcp-Method = method; for
// tools/call and prompts/get Mcp-Name = params.name, for resources/read params.uri; for
// tools/call, Mcp-Param-{Name} for each parameter `tools` declares for params.name that has a
// value of the declared type in params.arguments.
RequestHeaders request_headers(std::string_view line, std::string_view method,
                               const ToolHeaderDeclarations& tools);

// An HTTP error answer (status >= 300) as the JSON-RPC message for the request `id`: its body
// when that is a JSON-RPC error response for that request (id equal, or null/absent, as a
// server that could not read the id sends it), rebuilt as one compact line with `id`; nullopt
// when the body is anything else (the caller then makes an error of its own).
std::optional<std::string> rpc_error_answer(std::string_view body, const nlohmann::json& id);

}  // namespace gt::proxy
