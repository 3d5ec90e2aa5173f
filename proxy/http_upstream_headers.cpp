#include "proxy/http_upstream_headers.hpp"

#include <cstdint>
#include <iterator>
#include <limits>

#include "transport/jsonrpc.hpp"
#include "transport/mcp_era.hpp"

namespace gt::proxy {

namespace mcp = gt::transport::mcp;

namespace {

// What one entry costs beyond its strings (map node, list node, vectors), roughly: enough
// that a server listing thousands of tiny declarations still meets the byte bound.
constexpr std::size_t kEntryOverhead = 128;
constexpr std::size_t kParamOverhead = 64;

std::size_t entry_bytes(const std::string& tool, const std::vector<mcp::HeaderParam>& params) {
  std::size_t b = kEntryOverhead + tool.size();
  for (const auto& p : params) {
    b += kParamOverhead + p.header.size();
    for (const auto& key : p.path)
      b += key.size() + sizeof(std::string);
  }
  return b;
}

// The value at params.<member> of a compact message, parsed; null when absent.
nlohmann::json param(std::string_view line, std::string_view member) {
  auto span = transport::member_span(line, {"params", member});
  if (!span) return nullptr;
  auto v = transport::parse(*span, nullptr);
  return v.is_discarded() ? nlohmann::json(nullptr) : v;
}

}  // namespace

void ToolHeaderDeclarations::forget(std::map<std::string, Entry, std::less<>>::iterator it) {
  bytes_ -= it->second.bytes;
  age_.erase(it->second.age);
  entries_.erase(it);
}

std::vector<ToolHeaderDeclarations::Refused> ToolHeaderDeclarations::learn(
    const nlohmann::json& result) {
  std::vector<Refused> refused;
  if (!result.is_object()) return refused;
  auto tools = result.find("tools");
  if (tools == result.end() || !tools->is_array()) return refused;
  for (const auto& t : *tools) {
    if (!t.is_object()) continue;
    auto n = t.find("name");
    if (n == t.end() || !n->is_string()) continue;
    const auto& name = n->get_ref<const std::string&>();
    // What this list says replaces what an earlier one said, whatever it says.
    if (auto e = entries_.find(name); e != entries_.end()) forget(e);
    auto schema = t.find("inputSchema");
    if (schema == t.end()) continue;
    std::vector<mcp::HeaderParam> params;
    std::string error;
    if (!mcp::collect_header_params(*schema, params, error)) {
      refused.push_back({name, error});
      continue;
    }
    if (params.empty()) continue;
    const std::size_t b = entry_bytes(name, params);
    if (b > max_bytes_ || max_tools_ == 0) {
      refused.push_back({name, "its `x-mcp-header` declarations take " + std::to_string(b) +
                                   " bytes, more than GlassTape keeps for one server (" +
                                   std::to_string(max_bytes_) + ")"});
      continue;
    }
    while (!age_.empty() && (entries_.size() >= max_tools_ || bytes_ + b > max_bytes_))
      forget(entries_.find(age_.front()));
    age_.push_back(name);
    entries_.emplace(name, Entry{std::move(params), b, std::prev(age_.end())});
    bytes_ += b;
  }
  return refused;
}

const std::vector<mcp::HeaderParam>* ToolHeaderDeclarations::find(std::string_view tool) const {
  auto it = entries_.find(tool);
  return it == entries_.end() ? nullptr : &it->second.params;
}

RequestHeaders request_headers(std::string_view line, std::string_view method,
                               const ToolHeaderDeclarations& tools) {
  RequestHeaders r;
  const nlohmann::json meta = param(line, "_meta");
  if (!meta.is_object()) return r;
  auto claim = meta.find(mcp::kProtocolVersionKey);
  if (claim == meta.end()) return r;
  r.modern = true;
  if (!claim->is_string() || claim->get_ref<const std::string&>().empty()) {
    r.error = "_meta." + std::string(mcp::kProtocolVersionKey) + " is not a protocol version";
    return r;
  }
  r.headers.emplace_back("MCP-Protocol-Version",
                         mcp::encode_header_value(claim->get_ref<const std::string&>()));
  r.headers.emplace_back("Mcp-Method", mcp::encode_header_value(method));
  if (auto member = mcp::name_member(method)) {
    // Absent or not a string: no header, and the server refuses the request.
    const nlohmann::json name = param(line, *member);
    if (name.is_string())
      r.headers.emplace_back("Mcp-Name",
                             mcp::encode_header_value(name.get_ref<const std::string&>()));
  }
  if (method != "tools/call") return r;
  const nlohmann::json tool = param(line, "name");
  if (!tool.is_string()) return r;
  const auto* declared = tools.find(tool.get_ref<const std::string&>());
  if (!declared) return r;
  const nlohmann::json arguments = param(line, "arguments");
  for (const auto& p : *declared) {
    // A value of another type than declared gets no header: the server refuses the call.
    if (auto v = mcp::header_value_for(p, arguments))
      r.headers.emplace_back("Mcp-Param-" + p.header, *v);
  }
  return r;
}

std::optional<std::string> rpc_error_answer(std::string_view body, const nlohmann::json& id) {
  auto j = transport::parse(body, nullptr);
  if (!j.is_object() || j.contains("result")) return std::nullopt;
  auto version = j.find("jsonrpc");
  if (version == j.end() || *version != "2.0") return std::nullopt;
  auto error = j.find("error");
  if (error == j.end() || !error->is_object()) return std::nullopt;
  auto code = error->find("code");
  auto message = error->find("message");
  if (code == error->end() || !code->is_number_integer() || message == error->end() ||
      !message->is_string())
    return std::nullopt;
  if (code->is_number_unsigned() &&
      code->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    return std::nullopt;
  const auto c = code->get<std::int64_t>();
  if (c < std::numeric_limits<int>::min() || c > std::numeric_limits<int>::max())
    return std::nullopt;
  auto got = j.find("id");
  if (got != j.end() && !got->is_null() && *got != id) return std::nullopt;
  auto data = error->find("data");
  return transport::error_response(id, static_cast<int>(c), message->get_ref<const std::string&>(),
                                   data == error->end() ? nlohmann::json(nullptr) : *data);
}

}  // namespace gt::proxy
