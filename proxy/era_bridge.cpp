#include "proxy/era_bridge.hpp"

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

}  // namespace gt::proxy::era_bridge
