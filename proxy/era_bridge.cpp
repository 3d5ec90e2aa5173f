#include "proxy/era_bridge.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "transport/jsonrpc.hpp"
#include "transport/mcp_era.hpp"

namespace gt::proxy::era_bridge {

bool cacheable(std::string_view m) {
  return m == "tools/list" || m == "prompts/list" || m == "resources/list" ||
         m == "resources/templates/list" || m == "resources/read";
}

std::optional<std::string> discover_result(std::string_view init_result) {
  auto init = nlohmann::json::parse(init_result, nullptr, false);
  if (!init.is_object()) return std::nullopt;
  nlohmann::json r = {{"resultType", "complete"},
                      {"supportedVersions", {transport::mcp::kModernVersion}},
                      {"capabilities", init.value("capabilities", nlohmann::json::object())},
                      {"ttlMs", 0},
                      {"cacheScope", "private"}};
  if (!r["capabilities"].is_object()) r["capabilities"] = nlohmann::json::object();
  // subscriptions/listen is not bridged: nothing that needs it is advertised (resource
  // subscriptions, list-changed notifications, logging, which 2026-07-28 sends only there or
  // per request).
  auto& caps = r["capabilities"];
  caps.erase("logging");
  for (const char* k : {"tools", "prompts", "resources"}) {
    if (caps.contains(k) && caps[k].is_object()) {
      caps[k].erase("listChanged");
      caps[k].erase("subscribe");
    }
  }
  // 2026-07-28 has no logging/setLevel: a log level travels in each request's _meta.
  if (auto it = init.find("instructions"); it != init.end() && it->is_string())
    r["instructions"] = *it;
  if (auto it = init.find("serverInfo"); it != init.end() && it->is_object())
    r["_meta"] = {{"io.modelcontextprotocol/serverInfo", *it}};
  return r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string adapt_response(std::string_view line, std::string_view method) {
  if (auto code = transport::member_span(line, {"error", "code"})) {
    if (*code != "-32002") return std::string(line);
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) return std::string(line);
    j["error"]["code"] = transport::rpc_error::kInvalidParams;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  auto result = transport::member_span(line, {"result"});
  if (!result || result->empty() || result->front() != '{') return std::string(line);
  const bool has_type = transport::member_span(line, {"result", "resultType"}).has_value();
  const bool cache = cacheable(method);
  const bool has_ttl = !cache || transport::member_span(line, {"result", "ttlMs"});
  const bool has_scope = !cache || transport::member_span(line, {"result", "cacheScope"});
  if (has_type && has_ttl && has_scope) return std::string(line);
  // Spliced after the result's opening brace: the server's members stay byte for byte.
  std::string add;
  if (!has_type) add += R"("resultType":"complete",)";
  if (!has_ttl) add += R"("ttlMs":0,)";
  if (!has_scope) add += R"("cacheScope":"private",)";
  const std::size_t at = static_cast<std::size_t>(result->data() - line.data()) + 1;
  std::string out;
  out.reserve(line.size() + add.size());
  out.append(line.substr(0, at));
  // `{}` (or `{ }`) has no member to put a comma before.
  std::string_view rest = result->substr(1);
  auto first = rest.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && rest[first] == '}') add.pop_back();
  out += add;
  out.append(line.substr(at));
  return out;
}

// ---- a 2025-11-25 client, a 2026-07-28 server

namespace {

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The members of an object as JSON text without braces: `"a":1,"b":2`.
std::string members_text(const nlohmann::json& obj) {
  std::string out;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!out.empty()) out += ',';
    out += dump(nlohmann::json(it.key())) + ":" + dump(it.value());
  }
  return out;
}

// `text` spliced into the object `span` (a view into `line`) right after its opening brace,
// with a comma when the object has members already.
std::string insert_into_object(std::string_view line, std::string_view span, std::string text) {
  const std::size_t at = static_cast<std::size_t>(span.data() - line.data()) + 1;
  auto rest = span.substr(1);
  auto first = rest.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && rest[first] != '}') text += ',';
  std::string out;
  out.reserve(line.size() + text.size());
  out.append(line.substr(0, at));
  out += text;
  out.append(line.substr(at));
  return out;
}

}  // namespace

bool refuses_legacy(std::string_view response) {
  auto code = transport::member_span(response, {"error", "code"});
  if (!code || *code != "-32022") return false;
  auto supported = transport::member_span(response, {"error", "data", "supported"});
  if (!supported) return false;
  auto v = nlohmann::json::parse(*supported, nullptr, false);
  return v.is_array() && std::find(v.begin(), v.end(), transport::mcp::kModernVersion) != v.end();
}

nlohmann::json envelope_from_initialize(std::string_view initialize_request) {
  nlohmann::json env = {
      {std::string(transport::mcp::kProtocolVersionKey), transport::mcp::kModernVersion},
      {std::string(transport::mcp::kClientCapabilitiesKey), nlohmann::json::object()}};
  if (auto caps = transport::member_span(initialize_request, {"params", "capabilities"})) {
    auto c = nlohmann::json::parse(*caps, nullptr, false);
    if (c.is_object()) env[std::string(transport::mcp::kClientCapabilitiesKey)] = std::move(c);
  }
  if (auto info = transport::member_span(initialize_request, {"params", "clientInfo"})) {
    auto i = nlohmann::json::parse(*info, nullptr, false);
    if (i.is_object()) env[std::string(transport::mcp::kClientInfoKey)] = std::move(i);
  }
  return env;
}

std::string with_envelope(std::string_view line, const nlohmann::json& envelope) {
  if (auto meta = transport::member_span(line, {"params", "_meta"})) {
    if (meta->empty() || meta->front() != '{') return std::string(line);  // not ours to fix
    nlohmann::json missing = nlohmann::json::object();
    for (auto it = envelope.begin(); it != envelope.end(); ++it) {
      if (!transport::member_span(line, {"params", "_meta", it.key()})) missing[it.key()] = *it;
    }
    if (missing.empty()) return std::string(line);
    return insert_into_object(line, *meta, members_text(missing));
  }
  std::string meta = R"("_meta":{)" + members_text(envelope) + "}";
  if (auto params = transport::member_span(line, {"params"})) {
    if (params->empty() || params->front() != '{') return std::string(line);
    return insert_into_object(line, *params, std::move(meta));
  }
  // No params: added as the message's last member.
  auto end = line.find_last_of('}');
  if (end == std::string_view::npos) return std::string(line);
  std::string out(line.substr(0, end));
  out += R"(,"params":{)" + meta + "}";
  out.append(line.substr(end));
  return out;
}

std::optional<std::string> initialize_result(std::string_view discover_result,
                                             std::string_view requested_version) {
  auto d = nlohmann::json::parse(discover_result, nullptr, false);
  if (!d.is_object()) return std::nullopt;
  static const std::set<std::string, std::less<>> legacy = {"2024-11-05", "2025-03-26",
                                                            "2025-06-18", "2025-11-25"};
  nlohmann::json r = {
      {"protocolVersion",
       legacy.count(requested_version) ? std::string(requested_version) : "2025-11-25"},
      {"capabilities", d.value("capabilities", nlohmann::json::object())}};
  if (!r["capabilities"].is_object()) r["capabilities"] = nlohmann::json::object();
  nlohmann::json info;
  if (d.contains("_meta") && d["_meta"].is_object())
    info = d["_meta"].value("io.modelcontextprotocol/serverInfo", nlohmann::json());
  if (!info.is_object() && d.contains("serverInfo")) info = d["serverInfo"];  // pre-#3002 servers
  r["serverInfo"] = info.is_object() ? info : nlohmann::json{{"name", "unknown"}, {"version", "0"}};
  if (auto it = d.find("instructions"); it != d.end() && it->is_string()) r["instructions"] = *it;
  return dump(r);
}

bool askable(std::string_view m) {
  return m == "elicitation/create" || m == "sampling/createMessage" || m == "roots/list";
}

bool declared(const nlohmann::json& client_capabilities, std::string_view method,
              std::string& why) {
  const std::string cap = method == "elicitation/create"       ? "elicitation"
                          : method == "sampling/createMessage" ? "sampling"
                                                               : "roots";
  if (client_capabilities.is_object() && client_capabilities.contains(cap) &&
      client_capabilities[cap].is_object())
    return true;
  why = "`" + std::string(method) + "` needs the `" + cap +
        "` capability, which the client did not declare";
  return false;
}

bool is_input_required(std::string_view response) {
  if (response.find("input_required") == std::string_view::npos) return false;
  auto type = transport::member_span(response, {"result", "resultType"});
  return type && *type == R"("input_required")";
}

std::optional<InputRequired> read_input_required(std::string_view response, std::string& why) {
  if (!is_input_required(response)) {
    why = "not an input_required result";
    return std::nullopt;
  }
  InputRequired out;
  out.request_state = nullptr;
  if (auto st = transport::member_span(response, {"result", "requestState"})) {
    auto v = nlohmann::json::parse(*st, nullptr, false);
    if (!v.is_string()) {
      why = "its requestState is not a string";
      return std::nullopt;
    }
    out.request_state = std::move(v);
  }
  if (auto asked = transport::member_span(response, {"result", "inputRequests"})) {
    auto a = nlohmann::json::parse(*asked, nullptr, false);
    if (!a.is_object()) {
      why = "its inputRequests is not an object";
      return std::nullopt;
    }
    if (a.size() > kMaxInputRequests) {
      why = "it asks " + std::to_string(a.size()) +
            " questions at once (GlassTape passes at most " + std::to_string(kMaxInputRequests) +
            ")";
      return std::nullopt;
    }
    for (auto& [key, entry] : a.items()) {
      if (!entry.is_object() || !entry.contains("method") || !entry["method"].is_string()) {
        why = "its input request `" + key + "` has no method";
        return std::nullopt;
      }
      const auto& m = entry["method"].get_ref<const std::string&>();
      if (!askable(m)) {
        why = "its input request `" + key + "` is `" + m +
              "`, which a 2025-11-25 client cannot be asked";
        return std::nullopt;
      }
      nlohmann::json params = entry.contains("params") ? entry["params"] : nlohmann::json();
      if (!params.is_null() && !params.is_object()) {
        why = "the params of its input request `" + key + "` are not an object";
        return std::nullopt;
      }
      out.requests.push_back({key, m, std::move(params)});
    }
  }
  if (out.requests.empty() && out.request_state.is_null()) {
    why = "it carries neither inputRequests nor requestState";
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> retry_request(std::string_view original, const nlohmann::json& responses,
                                         const nlohmann::json& request_state, std::string& why) {
  auto params = transport::member_span(original, {"params"});
  if (!params || params->empty() || params->front() != '{') {
    why = "the original request has no params object";
    return std::nullopt;
  }
  if (transport::member_span(original, {"params", "inputResponses"}) ||
      transport::member_span(original, {"params", "requestState"})) {
    why = "the original request already carries inputResponses or requestState";
    return std::nullopt;
  }
  nlohmann::json add = nlohmann::json::object();
  if (responses.is_object() && !responses.empty()) add["inputResponses"] = responses;
  if (!request_state.is_null()) add["requestState"] = request_state;
  if (add.empty()) return std::string(original);
  return insert_into_object(original, *params, members_text(add));
}

std::optional<std::string> refuse_input_required(std::string_view response,
                                                 const std::string& why) {
  if (!is_input_required(response)) return std::nullopt;
  auto id = transport::member_span(response, {"id"});
  auto asked = transport::member_span(response, {"result", "inputRequests"});
  std::string what = "more input";
  if (asked) {
    auto a = nlohmann::json::parse(*asked, nullptr, false);
    if (a.is_object()) {
      std::set<std::string> methods;
      for (const auto& [k, v] : a.items())
        if (v.is_object() && v.contains("method") && v["method"].is_string())
          methods.insert(v["method"].get<std::string>());
      if (!methods.empty()) {
        what.clear();
        for (const auto& m : methods)
          what += (what.empty() ? "" : ", ") + m;
      }
    }
  }
  return transport::error_response(
      id ? nlohmann::json::parse(*id, nullptr, false) : nlohmann::json(nullptr),
      transport::rpc_error::kInternalError,
      "the server asked for " + what +
          " (MCP 2026-07-28 input_required), which GlassTape cannot pass to this MCP "
          "2025-11-25 client: " +
          why);
}

}  // namespace gt::proxy::era_bridge
