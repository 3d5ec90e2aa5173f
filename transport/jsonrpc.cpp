#include "transport/jsonrpc.hpp"

#include <cctype>
#include <vector>

namespace gt::transport {

namespace {

bool valid_id(const nlohmann::json& id) {
  return id.is_string() || id.is_number_integer() || id.is_number_unsigned() || id.is_null() ||
         id.is_number_float();
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at s[i..i+4), or -1.
long hex4(std::string_view s, std::size_t i) {
  if (i + 4 > s.size()) return -1;
  long v = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    int d = hex_digit(s[i + k]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

void put_utf8(std::string& o, std::uint32_t cp) {
  if (cp < 0x80) {
    o.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    o.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    o.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    o.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    o.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    o.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    o.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    o.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    o.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    o.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The value of a member name (the text between its quotes), for comparison only. An escape
// that is not valid JSON is kept as written: validation refuses the message afterwards.
void unescape_into(std::string_view body, std::string& o) {
  for (std::size_t i = 0; i < body.size();) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      o.push_back(c);
      ++i;
      continue;
    }
    char e = body[i + 1];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        o.push_back(e);
        i += 2;
        continue;
      case 'b':
        o.push_back('\b');
        i += 2;
        continue;
      case 'f':
        o.push_back('\f');
        i += 2;
        continue;
      case 'n':
        o.push_back('\n');
        i += 2;
        continue;
      case 'r':
        o.push_back('\r');
        i += 2;
        continue;
      case 't':
        o.push_back('\t');
        i += 2;
        continue;
      case 'u': {
        long cp = hex4(body, i + 2);
        if (cp < 0) break;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 12 <= body.size() && body[i + 6] == '\\' &&
            body[i + 7] == 'u') {
          long lo = hex4(body, i + 8);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            put_utf8(o, 0x10000 + ((static_cast<std::uint32_t>(cp) - 0xD800) << 10) +
                            (static_cast<std::uint32_t>(lo) - 0xDC00));
            i += 12;
            continue;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) break;  // a lone surrogate: invalid, kept as written
        put_utf8(o, static_cast<std::uint32_t>(cp));
        i += 6;
        continue;
      }
      default:
        break;
    }
    o.append(body.substr(i, 2));
    i += 2;
  }
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

std::string unescape_json(std::string_view body) {
  std::string o;
  o.reserve(body.size());
  unescape_into(body, o);
  return o;
}

namespace {
// A member name (the text between its quotes) equals `name` by value: "\u0061" is "a".
bool name_is(std::string_view key, std::string_view name) {
  if (key.find('\\') == std::string_view::npos) return key == name;
  return unescape_json(key) == name;
}
}  // namespace

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
      if (name_is(key, name)) return true;
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
    std::string plain;
    std::string_view key = json.substr(k + 1, sc.i - k - 2);
    if (key.find('\\') != std::string_view::npos) key = plain = unescape_json(key);
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
    std::size_t n = 0;
    for (auto name : names) {
      if (name_is(key, name) && ++seen[n] > 1) return false;
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
      if (depth == 1 && name_is(bytes.substr(start, i - start), "id")) {
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
