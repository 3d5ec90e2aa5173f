#include "transport/compact.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <vector>

namespace gt::transport {

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_structural(char c) {
  return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' || c == '"';
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
void unescape(std::string_view body, std::string& o) {
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

// A member name fit for an error message: at most 64 bytes, control bytes shown as '?'.
std::string printable(std::string_view name) {
  std::string s(name.substr(0, 64));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  if (name.size() > 64) s += "…";
  return s;
}

// The first name in `names` that occurs twice, or nullptr. Small objects (the usual case)
// compare pairwise; large ones sort a copy, so a hostile object of n names costs n log n.
const std::string_view* repeated(std::vector<std::string_view>& names, std::size_t begin) {
  const std::size_t n = names.size() - begin;
  if (n < 2) return nullptr;
  if (n <= 16) {
    for (std::size_t a = begin; a < names.size(); ++a) {
      for (std::size_t b = a + 1; b < names.size(); ++b) {
        if (names[a] == names[b]) return &names[b];
      }
    }
    return nullptr;
  }
  std::sort(names.begin() + static_cast<std::ptrdiff_t>(begin), names.end());
  auto it = std::adjacent_find(names.begin() + static_cast<std::ptrdiff_t>(begin), names.end());
  return it == names.end() ? nullptr : &*it;
}

}  // namespace

CompactError compact(std::string_view json, std::string& out, std::size_t max_depth) {
  out.clear();
  out.reserve(json.size());  // never exceeded: views into `out` below stay valid
  struct Frame {
    bool object;
    std::size_t names_begin;  // this object's names in `names`
  };
  std::vector<Frame> stack;
  std::vector<std::string_view> names;  // names of the open objects, innermost last
  std::deque<std::string> unescaped;    // names that had escapes, in their plain form
  bool name_next = false;               // the next string in this object is a member name
  bool after_scalar = false;            // the last token copied is a number or literal
  bool skipped = false;                 // whitespace was removed since that token
  const std::size_t n = json.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = json[i];
    if (is_ws(c)) {
      skipped = true;
      ++i;
      continue;
    }
    const bool scalar = !is_structural(c);
    if (scalar && after_scalar && skipped) {
      // `1 2`, `tr ue`, `- 1`: not JSON, but it would be once the space is gone.
      return {"malformed JSON: whitespace inside a number or literal"};
    }
    after_scalar = scalar;
    skipped = false;
    if (c == '"') {
      const std::size_t start = i++;
      bool escaped = false;
      while (i < n && json[i] != '"') {
        if (json[i] == '\\') {
          escaped = true;
          ++i;
        }
        ++i;
      }
      if (i >= n) {  // unterminated: kept as it is, and refused by validation
        out.append(json.substr(start));
        break;
      }
      ++i;  // past the closing quote
      const std::size_t at = out.size();
      out.append(json.substr(start, i - start));
      if (name_next && !stack.empty() && stack.back().object) {
        name_next = false;
        std::string_view body(out.data() + at + 1, i - start - 2);
        if (escaped) {
          unescaped.emplace_back();
          unescape(body, unescaped.back());
          names.push_back(unescaped.back());
        } else {
          names.push_back(body);
        }
      }
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        if (stack.size() >= max_depth) {
          return {"nesting deeper than " + std::to_string(max_depth) + " levels"};
        }
        stack.push_back({c == '{', names.size()});
        name_next = c == '{';
        break;
      case '}':
      case ']':
        if (!stack.empty()) {
          const Frame f = stack.back();
          stack.pop_back();
          if (f.object) {
            if (auto* dup = repeated(names, f.names_begin)) {
              return {"the member name `" + printable(*dup) +
                      "` occurs more than once in an object"};
            }
            names.resize(f.names_begin);
          }
        }
        name_next = false;
        break;
      case ',':
        name_next = !stack.empty() && stack.back().object;
        break;
      case ':':
        name_next = false;
        break;
      default: {
        // A number or a literal (or stray bytes): copied as one run.
        std::size_t end = i + 1;
        while (end < n && !is_ws(json[end]) && !is_structural(json[end]))
          ++end;
        out.append(json.substr(i, end - i));
        i = end;
        continue;
      }
    }
    out.push_back(c);
    ++i;
  }
  return {};
}

bool is_compact(std::string_view json) {
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (is_ws(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace gt::transport
