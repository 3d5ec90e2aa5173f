#include "transport/mcp_headers.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include <simdjson.h>

namespace gt::transport::mcp {
namespace {

constexpr std::string_view kSentinelOpen = "=?base64?";
constexpr std::string_view kSentinelClose = "?=";
constexpr std::string_view kParamPrefix = "mcp-param-";
constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

bool has_sentinel_form(std::string_view v) {
  return v.size() >= kSentinelOpen.size() + kSentinelClose.size() &&
         v.substr(0, kSentinelOpen.size()) == kSentinelOpen &&
         v.substr(v.size() - kSentinelClose.size()) == kSentinelClose;
}

// RFC 9110 tchar.
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool is_b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Canonical base64 only (padded, no whitespace, zero trailing bits): OpenSSL's decoder is
// lenient about all three, so the shape is checked first and the result re-encoded.
std::optional<std::string> unbase64(std::string_view b64) {
  if (b64.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!b64.empty() && b64.back() == '=')
    pad = b64.size() >= 2 && b64[b64.size() - 2] == '=' ? 2 : 1;
  for (std::size_t i = 0; i + pad < b64.size(); ++i)
    if (!is_b64_char(b64[i])) return std::nullopt;
  if (b64.empty()) return std::string();
  std::string out(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0 || static_cast<std::size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - pad);
  if (base64(out) != b64) return std::nullopt;
  return out;
}

// Keywords whose value is one schema, an array of schemas or a map of schemas (JSON Schema
// 2020-12 and draft-07). Only `properties` continues the chain a declaration must sit on.
const std::set<std::string, std::less<>> kOneSchema = {"items",
                                                       "additionalProperties",
                                                       "unevaluatedProperties",
                                                       "unevaluatedItems",
                                                       "contains",
                                                       "propertyNames",
                                                       "not",
                                                       "if",
                                                       "then",
                                                       "else",
                                                       "additionalItems"};
const std::set<std::string, std::less<>> kSchemaArrays = {"allOf", "anyOf", "oneOf", "prefixItems",
                                                          "items"};
const std::set<std::string, std::less<>> kSchemaMaps = {"patternProperties", "$defs", "definitions",
                                                        "dependentSchemas"};

struct Walker {
  std::vector<HeaderParam>& out;
  std::string& error;
  std::set<std::string> seen;  // lower-cased names

  static std::string where(const std::vector<std::string>& path) {
    std::string s = "inputSchema";
    for (const auto& p : path)
      s += ".properties." + p;
    return s;
  }

  bool declare(const nlohmann::json& schema, const std::vector<std::string>& path, bool on_chain) {
    const auto& name = schema["x-mcp-header"];
    if (!on_chain || path.empty()) {
      error =
          "`x-mcp-header` may only be declared on a property reached through `properties` (found "
          "under " +
          where(path) + ")";
      return false;
    }
    if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
      error = "`x-mcp-header` of " + where(path) + " must be a non-empty string";
      return false;
    }
    const auto& n = name.get_ref<const std::string&>();
    if (!std::all_of(n.begin(), n.end(), is_tchar)) {
      error = "`x-mcp-header` `" + n + "` of " + where(path) +
              " is not an HTTP header name (RFC 9110 token)";
      return false;
    }
    if (!seen.insert(lower(n)).second) {
      error = "`x-mcp-header` `" + n + "` is declared twice (names are case-insensitive)";
      return false;
    }
    HeaderParam p{n, path, HeaderParam::Type::String};
    const auto t = schema.find("type");
    if (t == schema.end() || !t->is_string()) {
      error = "`x-mcp-header` `" + n + "`: " + where(path) +
              " must have a type of string, integer or boolean";
      return false;
    }
    const auto& ts = t->get_ref<const std::string&>();
    if (ts == "string") {
      p.type = HeaderParam::Type::String;
    } else if (ts == "integer") {
      p.type = HeaderParam::Type::Integer;
    } else if (ts == "boolean") {
      p.type = HeaderParam::Type::Boolean;
    } else {
      error = "`x-mcp-header` `" + n + "`: type `" + ts + "` of " + where(path) +
              " cannot be a header (string, integer or boolean only)";
      return false;
    }
    out.push_back(std::move(p));
    return true;
  }

  // Depth is bounded by the message's JSON nesting limit.
  bool walk(const nlohmann::json& schema, std::vector<std::string>& path, bool on_chain) {
    if (!schema.is_object()) return true;
    if (schema.contains("x-mcp-header") && !declare(schema, path, on_chain)) return false;
    for (const auto& [key, value] : schema.items()) {
      if (key == "properties" && value.is_object()) {
        for (const auto& [prop, sub] : value.items()) {
          path.push_back(prop);
          bool ok = walk(sub, path, on_chain);
          path.pop_back();
          if (!ok) return false;
        }
      } else if (kOneSchema.count(key) && value.is_object()) {
        if (!walk(value, path, false)) return false;
      } else if (kSchemaArrays.count(key) && value.is_array()) {
        for (const auto& sub : value)
          if (!walk(sub, path, false)) return false;
      } else if (kSchemaMaps.count(key) && value.is_object()) {
        for (const auto& [k, sub] : value.items())
          if (!walk(sub, path, false)) return false;
      }
    }
    return true;
  }
};

const nlohmann::json* argument_at(const HeaderParam& p, const nlohmann::json& arguments) {
  const nlohmann::json* v = &arguments;
  for (const auto& key : p.path) {
    if (!v->is_object()) return nullptr;
    auto it = v->find(key);
    if (it == v->end()) return nullptr;
    v = &*it;
  }
  return v;
}

std::optional<double> integral_value(const nlohmann::json& v) {
  double d;
  if (v.is_number_integer()) {
    d = static_cast<double>(v.get<int64_t>());
    if (v.is_number_unsigned()) d = static_cast<double>(v.get<uint64_t>());
  } else if (v.is_number_float()) {
    d = v.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (std::fabs(d) > kMaxSafeInteger) return std::nullopt;
  return d;
}

}  // namespace

void McpHeaders::add(std::string_view name, std::string_view value) {
  std::string n = lower(name);
  if (n == "mcp-protocol-version" || n == "mcp-method" || n == "mcp-name" ||
      n.compare(0, kParamPrefix.size(), kParamPrefix) == 0)
    fields.emplace_back(std::move(n), std::string(value));
}

std::size_t McpHeaders::count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == name; }));
}

std::optional<std::string_view> McpHeaders::get(std::string_view name) const {
  for (const auto& [n, v] : fields)
    if (n == name) return std::string_view(v);
  return std::nullopt;
}

std::string encode_header_value(std::string_view value) {
  bool plain = !has_sentinel_form(value) &&
               (value.empty() || (!is_ows(value.front()) && !is_ows(value.back()))) &&
               std::all_of(value.begin(), value.end(),
                           [](char c) { return (c >= 0x20 && c <= 0x7e) || c == '\t'; });
  if (plain) return std::string(value);
  return std::string(kSentinelOpen) + base64(value) + std::string(kSentinelClose);
}

std::optional<std::string> decode_header_value(std::string_view raw) {
  while (!raw.empty() && is_ows(raw.front()))
    raw.remove_prefix(1);
  while (!raw.empty() && is_ows(raw.back()))
    raw.remove_suffix(1);
  if (has_sentinel_form(raw)) {
    auto bytes = unbase64(raw.substr(kSentinelOpen.size(),
                                     raw.size() - kSentinelOpen.size() - kSentinelClose.size()));
    if (!bytes || !simdjson::validate_utf8(bytes->data(), bytes->size())) return std::nullopt;
    return bytes;
  }
  for (char c : raw)
    if (!((c >= 0x20 && c <= 0x7e) || c == '\t')) return std::nullopt;
  return std::string(raw);
}

bool collect_header_params(const nlohmann::json& input_schema, std::vector<HeaderParam>& out,
                           std::string& error) {
  out.clear();
  Walker w{out, error, {}};
  std::vector<std::string> path;
  if (w.walk(input_schema, path, true)) return true;
  out.clear();
  return false;
}

std::optional<std::string> header_value_for(const HeaderParam& p, const nlohmann::json& arguments) {
  const nlohmann::json* v = argument_at(p, arguments);
  if (!v || v->is_null()) return std::nullopt;
  switch (p.type) {
    case HeaderParam::Type::String:
      if (v->is_string()) return encode_header_value(v->get_ref<const std::string&>());
      return std::nullopt;
    case HeaderParam::Type::Boolean:
      if (v->is_boolean()) return std::string(v->get<bool>() ? "true" : "false");
      return std::nullopt;
    case HeaderParam::Type::Integer:
      if (auto d = integral_value(*v)) return std::to_string(static_cast<int64_t>(*d));
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> check_param_headers(const std::vector<HeaderParam>& declared,
                                               const nlohmann::json& arguments,
                                               const McpHeaders& headers) {
  std::set<std::string> names;
  for (const auto& p : declared)
    names.insert(std::string(kParamPrefix) + lower(p.header));
  for (const auto& [n, v] : headers.fields) {
    if (n.compare(0, kParamPrefix.size(), kParamPrefix) == 0 && !names.count(n))
      return "the `" + n + "` header names no `x-mcp-header` parameter of this tool";
  }
  for (const auto& p : declared) {
    const std::string name = std::string(kParamPrefix) + lower(p.header);
    const std::string shown = "Mcp-Param-" + p.header;
    const std::size_t n = headers.count(name);
    if (n > 1) return "the `" + shown + "` header is sent " + std::to_string(n) + " times";
    const nlohmann::json* arg = argument_at(p, arguments);
    const bool has_value = arg && !arg->is_null();
    if (!has_value) {
      if (n == 1) return "the `" + shown + "` header is sent but the argument it mirrors is absent";
      continue;
    }
    if (n == 0)
      return "the `" + shown + "` header is missing (the argument it mirrors has a value)";
    auto got = decode_header_value(*headers.get(name));
    if (!got) return "the `" + shown + "` header is not a valid header value";
    bool same = false;
    switch (p.type) {
      case HeaderParam::Type::String:
        same = arg->is_string() && *got == arg->get_ref<const std::string&>();
        break;
      case HeaderParam::Type::Boolean:
        same = arg->is_boolean() && *got == (arg->get<bool>() ? "true" : "false");
        break;
      case HeaderParam::Type::Integer: {
        auto body = integral_value(*arg);
        double h = 0;
        const char* end = got->data() + got->size();
        auto [ptr, ec] = std::from_chars(got->data(), end, h);
        same = body && ec == std::errc() && ptr == end && !got->empty() && h == *body;
        break;
      }
    }
    if (!same) return "the `" + shown + "` header does not match the argument it mirrors";
  }
  return std::nullopt;
}

}  // namespace gt::transport::mcp
