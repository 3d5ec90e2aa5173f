#include "transport/jsonrpc.hpp"

#include <cctype>
#include <vector>

namespace gt::transport {

namespace {

bool valid_id(const nlohmann::json& id) {
  return id.is_string() || id.is_number_integer() || id.is_number_unsigned() || id.is_null() ||
         id.is_number_float();
}

}  // namespace

Message classify(nlohmann::json body) {
  Message m;
  if (!body.is_object()) {
    m.invalid_reason = "a JSON-RPC message must be an object";
    m.body = std::move(body);
    return m;
  }
  auto id_it = body.find("id");
  const bool has_id = id_it != body.end();
  if (has_id && valid_id(*id_it)) m.id = *id_it;
  auto jv = body.find("jsonrpc");
  if (jv == body.end() || !jv->is_string() || jv->get_ref<const std::string&>() != "2.0") {
    m.invalid_reason = "`jsonrpc` must be \"2.0\"";
  } else if (has_id && !valid_id(*id_it)) {
    m.invalid_reason = "`id` must be a string or a number";
  } else if (auto meth = body.find("method");
             meth != body.end() && (body.contains("result") || body.contains("error"))) {
    m.invalid_reason = "a message carries either `method` or `result`/`error`, not both";
  } else if (meth != body.end()) {
    if (!meth->is_string()) {
      m.invalid_reason = "`method` must be a string";
    } else if (auto p = body.find("params"); p != body.end() && !p->is_object() && !p->is_array()) {
      m.invalid_reason = "`params` must be an object or an array";
    } else {
      m.method = meth->get<std::string>();
      m.kind = has_id ? MessageKind::Request : MessageKind::Notification;
    }
  } else if (body.contains("result") || body.contains("error")) {
    if (!has_id) {
      m.invalid_reason = "a response must carry an `id`";
    } else if (body.contains("result") == body.contains("error")) {
      m.invalid_reason = "a response carries exactly one of `result` and `error`";
    } else {
      m.kind = MessageKind::Response;
    }
  } else {
    m.invalid_reason = "a message needs `method`, `result` or `error`";
  }
  m.body = std::move(body);
  return m;
}

std::string error_response(const nlohmann::json& id, int code, std::string_view message,
                           const nlohmann::json& data) {
  nlohmann::json err = {{"code", code}, {"message", message}};
  if (!data.is_null()) err["data"] = data;
  nlohmann::json msg = {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
  return msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// A tiny forward-only scanner over JSON text. It is written by hand because nlohmann's SAX
// interface reports no byte offsets, and we need the exact bytes of a member.
struct Scanner {
  std::string_view s;
  std::size_t i = 0;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
      ++i;
  }
  bool string() {  // at '"'; leaves i after the closing quote
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        return true;
      }
    }
    return false;
  }
  // Skips any value iteratively (no recursion: depth is untrusted).
  bool value() {
    ws();
    if (i >= s.size()) return false;
    char c = s[i];
    if (c == '"') return string();
    if (c != '{' && c != '[') {
      while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' &&
             s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
        ++i;
      return true;
    }
    std::size_t depth = 0;
    while (i < s.size()) {
      char d = s[i];
      if (d == '"') {
        if (!string()) return false;
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      if (d == '}' || d == ']') {
        if (--depth == 0) {
          ++i;
          return true;
        }
      }
      ++i;
    }
    return false;
  }
  // At '{': finds member `name`, leaving i at the start of its value.
  bool find_member(std::string_view name) {
    ws();
    if (i >= s.size() || s[i] != '{') return false;
    ++i;
    for (;;) {
      ws();
      if (i >= s.size() || s[i] == '}') return false;
      std::size_t k = i;
      if (!string()) return false;
      std::string_view key = s.substr(k + 1, i - k - 2);
      ws();
      if (i >= s.size() || s[i] != ':') return false;
      ++i;
      ws();
      if (key == name) return true;  // member names with escapes never match plain names
      if (!value()) return false;
      ws();
      if (i < s.size() && s[i] == ',') ++i;
    }
  }
};

}  // namespace

std::optional<std::string_view> member_span(std::string_view json,
                                            std::initializer_list<std::string_view> path) {
  Scanner sc{json};
  for (auto name : path) {
    if (!sc.find_member(name)) return std::nullopt;
  }
  std::size_t start = sc.i;
  if (!sc.value()) return std::nullopt;
  return json.substr(start, sc.i - start);
}

Peek peek(std::string_view json) {
  Peek p;
  Scanner sc{json};
  sc.ws();
  if (sc.i >= json.size() || json[sc.i] != '{') return p;
  ++sc.i;
  for (;;) {
    sc.ws();
    if (sc.i >= json.size() || json[sc.i] == '}') break;
    std::size_t k = sc.i;
    if (!sc.string()) return p;
    std::string_view key = json.substr(k + 1, sc.i - k - 2);
    sc.ws();
    if (sc.i >= json.size() || json[sc.i] != ':') return p;
    ++sc.i;
    sc.ws();
    std::size_t v = sc.i;
    if (!sc.value()) return p;
    std::string_view val = json.substr(v, sc.i - v);
    std::optional<std::string_view>* slot = nullptr;
    if (key == "jsonrpc")
      slot = &p.jsonrpc;
    else if (key == "id")
      slot = &p.id;
    else if (key == "method")
      slot = &p.method;
    else if (key == "params")
      slot = &p.params;
    else if (key == "result")
      slot = &p.result;
    else if (key == "error")
      slot = &p.error;
    else if (key.find('\\') != std::string_view::npos)
      p.duplicate = true;  // escaped names: be safe
    if (slot) {
      if (*slot) p.duplicate = true;
      *slot = val;
    }
    sc.ws();
    if (sc.i < json.size() && json[sc.i] == ',') ++sc.i;
  }
  p.object = true;
  return p;
}

std::vector<std::string_view> array_elements(std::string_view json) {
  std::vector<std::string_view> out;
  Scanner sc{json};
  sc.ws();
  if (sc.i >= json.size() || json[sc.i] != '[') return out;
  ++sc.i;
  for (;;) {
    sc.ws();
    if (sc.i >= json.size() || json[sc.i] == ']') return out;
    std::size_t start = sc.i;
    if (!sc.value()) return out;
    out.push_back(json.substr(start, sc.i - start));
    sc.ws();
    if (sc.i < json.size() && json[sc.i] == ',') ++sc.i;
  }
}

bool unique_members(std::string_view json, std::initializer_list<std::string_view> names) {
  Scanner sc{json};
  sc.ws();
  if (sc.i >= json.size() || json[sc.i] != '{') return false;
  ++sc.i;
  std::vector<int> seen(names.size(), 0);
  for (;;) {
    sc.ws();
    if (sc.i >= json.size() || json[sc.i] == '}') return true;
    std::size_t k = sc.i;
    if (!sc.string()) return false;
    std::string_view key = json.substr(k + 1, sc.i - k - 2);
    if (key.find('\\') != std::string_view::npos) return false;  // could spell any name
    std::size_t n = 0;
    for (auto name : names) {
      if (key == name && ++seen[n] > 1) return false;
      ++n;
    }
    sc.ws();
    if (sc.i >= json.size() || json[sc.i] != ':') return false;
    ++sc.i;
    if (!sc.value()) return false;
    sc.ws();
    if (sc.i < json.size() && json[sc.i] == ',') ++sc.i;
  }
}

std::optional<nlohmann::json> recover_id(std::string_view bytes, std::size_t limit) {
  bytes = bytes.substr(0, limit);
  // Walk the top-level object only: depth tracking skips nested "id" members.
  std::size_t depth = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (c == '"') {
      std::size_t start = i + 1;
      ++i;
      while (i < bytes.size() && bytes[i] != '"') {
        if (bytes[i] == '\\') ++i;
        ++i;
      }
      if (i >= bytes.size()) return std::nullopt;
      if (depth == 1 && bytes.substr(start, i - start) == "id") {
        std::size_t j = i + 1;
        while (j < bytes.size() && std::isspace(static_cast<unsigned char>(bytes[j])))
          ++j;
        if (j >= bytes.size() || bytes[j] != ':') continue;
        ++j;
        while (j < bytes.size() && std::isspace(static_cast<unsigned char>(bytes[j])))
          ++j;
        std::size_t k = j;
        if (k < bytes.size() && bytes[k] == '"') {
          ++k;
          while (k < bytes.size() && bytes[k] != '"') {
            if (bytes[k] == '\\') ++k;
            ++k;
          }
          if (k >= bytes.size()) return std::nullopt;
          ++k;
        } else {
          while (k < bytes.size() &&
                 (std::isdigit(static_cast<unsigned char>(bytes[k])) || bytes[k] == '-' ||
                  bytes[k] == '.' || bytes[k] == 'e' || bytes[k] == 'E' || bytes[k] == '+'))
            ++k;
        }
        std::string err;
        auto id = parse(bytes.substr(j, k - j), &err);
        if (!id.is_discarded() && (id.is_string() || id.is_number())) return id;
        return std::nullopt;
      }
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return std::nullopt;
      --depth;
    }
  }
  return std::nullopt;
}

nlohmann::json parse(std::string_view text, std::string* error, std::size_t max_depth) {
  // Depth pre-check: nlohmann's parser is iterative but dump() and most consumers recurse,
  // so a hostile 1,000,000-deep message is refused here with a clear reason.
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        if (error) *error = "nesting deeper than " + std::to_string(max_depth) + " levels";
        return nlohmann::json(nlohmann::json::value_t::discarded);
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    if (error) {
      // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." → the part a
      // person needs.
      std::string_view w = e.what();
      if (auto p = w.find("] "); p != std::string_view::npos) w.remove_prefix(p + 2);
      *error = std::string(w);
    }
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

}  // namespace gt::transport
