// Fuzzes the MCP 2026-07-28 header codec and checks (transport/mcp_headers.hpp, mcp_era.hpp).
// The first byte picks a mode:
//  0: a header value: whatever decodes must re-encode to a value that decodes to the same
//     bytes, and an encoded value is always plain visible ASCII (no CR/LF reaches a header);
//  1: a tool inputSchema (JSON): declarations found must be tokens, unique, typed, and every
//     argument value's header form must pass check_param_headers against itself;
//  2: a request's params (JSON) with fixed headers: classify_request must not throw, and a
//     refusal is always 400 with a -32020/-32022/-32602 code.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "transport/mcp_era.hpp"
#include "transport/mcp_headers.hpp"

using namespace gt::transport::mcp;

namespace {

bool header_safe(std::string_view v) {
  return std::all_of(v.begin(), v.end(),
                     [](char c) { return (c >= 0x20 && c <= 0x7e) || c == '\t'; });
}

void value_mode(std::string_view in) {
  auto enc = encode_header_value(in);
  if (!header_safe(enc)) std::abort();
  if (auto d = decode_header_value(in)) {
    auto again = decode_header_value(encode_header_value(*d));
    if (!again || *again != *d) std::abort();
  }
}

void schema_mode(std::string_view in) {
  auto schema = nlohmann::json::parse(in, nullptr, false);
  if (schema.is_discarded()) return;
  std::vector<HeaderParam> decl;
  std::string err;
  if (!collect_header_params(schema, decl, err)) {
    if (err.empty() || !decl.empty()) std::abort();
    return;
  }
  std::set<std::string> names;
  nlohmann::json args = nlohmann::json::object();
  McpHeaders headers;
  for (const auto& p : decl) {
    std::string low = p.header;
    for (char& c : low)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (p.header.empty() || p.path.empty() || !names.insert(low).second) std::abort();
    // An argument of the declared type at the declared path, and its header.
    nlohmann::json* at = &args;
    bool clash = false;
    for (std::size_t i = 0; i + 1 < p.path.size(); ++i) {
      at = &(*at)[p.path[i]];
      if (!at->is_object()) {
        if (!at->is_null()) clash = true;
        if (clash) break;
        *at = nlohmann::json::object();
      }
    }
    if (clash || at->contains(p.path.back())) continue;  // a path another declaration built
    (*at)[p.path.back()] = p.type == HeaderParam::Type::String ? nlohmann::json(" é\n" + p.header)
                           : p.type == HeaderParam::Type::Integer ? nlohmann::json(-42)
                                                                  : nlohmann::json(true);
  }
  for (const auto& p : decl) {
    auto v = header_value_for(p, args);
    if (!v) return;  // declarations whose paths overlap: no argument set satisfies them all
    if (!header_safe(*v)) std::abort();
    headers.add("Mcp-Param-" + p.header, *v);
  }
  if (auto why = check_param_headers(decl, args, headers)) std::abort();
}

void params_mode(std::string_view in) {
  auto params = nlohmann::json::parse(in, nullptr, false);
  if (params.is_discarded()) return;
  McpHeaders h;
  h.add("MCP-Protocol-Version", "2026-07-28");
  h.add("Mcp-Method", "tools/call");
  h.add("Mcp-Name", "echo");
  const McpHeaders* both[] = {nullptr, &h};
  for (const McpHeaders* hp : both) {
    auto r = classify_request("tools/call", params, hp);
    if (r.error) {
      int c = r.error->code;
      if (r.error->http_status != 400 ||
          (c != kHeaderMismatch && c != kUnsupportedProtocolVersion && c != kInvalidParams))
        std::abort();
      if (r.era != Era::Legacy) std::abort();
    } else if (r.era == Era::Modern && r.version != kModernVersion) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      value_mode(in);
      break;
    case 1:
      schema_mode(in);
      break;
    default:
      params_mode(in);
      break;
  }
  return 0;
}
