#include "transport/mcp_era.hpp"

namespace gt::transport::mcp {
namespace {

RequestEra refuse(int code, std::string message, nlohmann::json data = nullptr) {
  RequestEra r;
  r.error = EraError{code, 400, std::move(message), std::move(data)};
  return r;
}

std::string shown(std::string_view v) {
  std::string s(v.substr(0, 100));
  return v.size() > 100 ? s + "..." : s;
}

}  // namespace

bool is_traceparent(std::string_view v) {
  if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  auto hex = [&](std::size_t from, std::size_t n, bool nonzero) {
    bool any = false;
    for (std::size_t i = from; i < from + n; ++i) {
      char c = v[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
      any |= c != '0';
    }
    return !nonzero || any;
  };
  return hex(0, 2, false) && v.substr(0, 2) != "ff" && hex(3, 32, true) && hex(36, 16, true) &&
         hex(53, 2, false);
}

std::optional<std::string_view> name_member(std::string_view method) {
  if (method == "tools/call" || method == "prompts/get") return "name";
  if (method == "resources/read") return "uri";
  // The tasks extension (io.modelcontextprotocol/tasks), as the reference SDK routes it.
  if (method == "tasks/get" || method == "tasks/update" || method == "tasks/cancel")
    return "taskId";
  return std::nullopt;
}

RequestEra classify_request(std::string_view method, const nlohmann::json& params,
                            const McpHeaders* headers, bool notification) {
  std::optional<std::string> hv, hm;  // decoded MCP-Protocol-Version and Mcp-Method
  if (headers) {
    for (std::string_view h : {"mcp-protocol-version", "mcp-method", "mcp-name"}) {
      if (std::size_t n = headers->count(h); n > 1)
        return refuse(kHeaderMismatch, "Header mismatch: the " + std::string(h) +
                                           " header is sent " + std::to_string(n) + " times");
    }
    if (auto raw = headers->get("mcp-protocol-version")) {
      hv = decode_header_value(*raw);
      if (!hv)
        return refuse(kHeaderMismatch,
                      "Header mismatch: the MCP-Protocol-Version header is not a valid value");
    }
    if (auto raw = headers->get("mcp-method")) {
      hm = decode_header_value(*raw);
      if (!hm || *hm != method)
        return refuse(kHeaderMismatch, "Header mismatch: Mcp-Method header value '" + shown(*raw) +
                                           "' does not match body value '" + shown(method) + "'");
    }
  }

  const nlohmann::json* meta = nullptr;
  if (params.is_object()) {
    auto it = params.find("_meta");
    if (it != params.end()) meta = &*it;
  }
  const bool claim = meta && meta->is_object() && meta->contains(kProtocolVersionKey);
  if (!claim) {
    // A header naming a modern version without the envelope is a malformed modern request,
    // never a legacy one.
    if (hv && *hv >= kModernVersion) {
      if (method == "initialize")
        return refuse(kHeaderMismatch,
                      "Header mismatch: MCP-Protocol-Version header value '" + shown(*hv) +
                          "' on an initialize request, which has no protocol version in its _meta");
      nlohmann::json missing = nlohmann::json::array({kProtocolVersionKey});
      if (!meta || !meta->is_object() || !meta->contains(kClientCapabilitiesKey))
        missing.push_back(kClientCapabilitiesKey);
      return refuse(kInvalidParams,
                    "Invalid params: the request's _meta lacks " + std::string(kProtocolVersionKey),
                    {{"envelope", {{"missing", missing}}}});
    }
    return RequestEra{};
  }

  const nlohmann::json& v = (*meta)[std::string(kProtocolVersionKey)];
  if (hv && (!v.is_string() || *hv != v.get_ref<const std::string&>()))
    return refuse(kHeaderMismatch,
                  "Header mismatch: MCP-Protocol-Version header value '" + shown(*hv) +
                      "' does not match body value '" +
                      shown(v.is_string() ? v.get_ref<const std::string&>() : v.dump()) + "'");
  if (!v.is_string())
    return refuse(kInvalidParams,
                  "Invalid params: _meta." + std::string(kProtocolVersionKey) + " must be a string",
                  {{"envelope", {{"invalid", nlohmann::json::array({kProtocolVersionKey})}}}});
  if (!notification) {
    auto caps = meta->find(kClientCapabilitiesKey);
    if (caps == meta->end() || !caps->is_object())
      return refuse(kInvalidParams,
                    "Invalid params: the request's _meta lacks " +
                        std::string(kClientCapabilitiesKey) + " (an object)",
                    {{"envelope", {{"missing", nlohmann::json::array({kClientCapabilitiesKey})}}}});
  }
  const std::string& version = v.get_ref<const std::string&>();
  if (version != kModernVersion)
    return refuse(kUnsupportedProtocolVersion, "Unsupported protocol version",
                  {{"supported", nlohmann::json::array({kModernVersion})}, {"requested", version}});

  if (headers && !notification) {
    if (!hv)
      return refuse(kHeaderMismatch, "Header mismatch: the MCP-Protocol-Version header is missing");
    if (!hm) return refuse(kHeaderMismatch, "Header mismatch: the Mcp-Method header is missing");
    if (auto member = name_member(method)) {
      auto raw = headers->get("mcp-name");
      if (!raw) return refuse(kHeaderMismatch, "Header mismatch: the Mcp-Name header is missing");
      auto got = decode_header_value(*raw);
      auto body = params.find(std::string(*member));
      if (body == params.end() || !body->is_string() || !got ||
          *got != body->get_ref<const std::string&>())
        return refuse(kHeaderMismatch, "Header mismatch: Mcp-Name header value '" + shown(*raw) +
                                           "' does not match body value '" +
                                           shown(body != params.end() && body->is_string()
                                                     ? body->get_ref<const std::string&>()
                                                     : std::string("(none)")) +
                                           "'");
    }
  }
  RequestEra r;
  r.era = Era::Modern;
  r.version = version;
  return r;
}

}  // namespace gt::transport::mcp
