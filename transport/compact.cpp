#include "transport/compact.hpp"

#include "transport/jsonrpc.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace gt::transport {

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// What a byte is outside strings: whitespace, one of {}[],:" (structural), or part of a
// number or literal (everything else, stray bytes included).
enum class CharClass : unsigned char { Scalar, Space, Structural };

constexpr std::array<CharClass, 256> make_classes() {
  std::array<CharClass, 256> t{};
  for (unsigned char c : {' ', '\t', '\n', '\r'})
    t[c] = CharClass::Space;
  for (unsigned char c : {'{', '}', '[', ']', ',', ':', '"'})
    t[c] = CharClass::Structural;
  return t;
}
constexpr std::array<CharClass, 256> kClass = make_classes();

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
  // Written through a raw pointer into a buffer of the input's size (the output is never
  // longer), so member names can be kept as views into it.
  out.resize(json.size());
  char* o = out.data();
  const char* p = json.data();
  const char* const end = p + json.size();
  struct Frame {
    bool object;
    std::size_t names_begin;  // this object's names in `names`
  };
  // Scratch kept per thread between calls (every client message comes through here), and
  // given back when a large message made it grow.
  thread_local std::vector<Frame> stack;
  thread_local std::vector<std::string_view> names;  // names of the open objects
  stack.clear();
  names.clear();
  struct Shrink {
    ~Shrink() {
      if (stack.capacity() > 1024) std::vector<Frame>().swap(stack);
      if (names.capacity() > 4096) std::vector<std::string_view>().swap(names);
    }
  } shrink;
  std::vector<std::unique_ptr<std::string>> unescaped;  // names that had escapes, plain
  bool name_next = false;     // the next string in this object is a member name
  bool after_scalar = false;  // the last token copied is a number or literal
  bool skipped = false;       // whitespace was removed since that token
  auto finish = [&](CompactError e) {
    out.resize(static_cast<std::size_t>(o - out.data()));
    return e;
  };
  while (p < end) {
    const char c = *p;
    const CharClass k = kClass[static_cast<unsigned char>(c)];
    if (k == CharClass::Space) {
      skipped = true;
      ++p;
      continue;
    }
    if (k == CharClass::Scalar) {
      // A number or a literal (or stray bytes): copied as one run.
      if (after_scalar && skipped) {
        // `1 2`, `tr ue`, `- 1`: not JSON, but it would be once the space is gone.
        return finish({"malformed JSON: whitespace inside a number or literal"});
      }
      const char* q = p + 1;
      while (q < end && kClass[static_cast<unsigned char>(*q)] == CharClass::Scalar)
        ++q;
      std::memcpy(o, p, static_cast<std::size_t>(q - p));
      o += q - p;
      p = q;
      after_scalar = true;
      skipped = false;
      continue;
    }
    after_scalar = false;
    skipped = false;
    if (c == '"') {
      // The closing quote, found with memchr (vectorized in glibc), escaped ones skipped.
      // `q` is only searched again once an escape reaches past it: linear in the string.
      const char* s = p + 1;
      bool escaped = false;
      const char* q =
          static_cast<const char*>(std::memchr(s, '"', static_cast<std::size_t>(end - s)));
      while (q) {
        const char* b =
            static_cast<const char*>(std::memchr(s, '\\', static_cast<std::size_t>(q - s)));
        if (!b) break;
        escaped = true;
        s = b + 2;
        if (s > q) {
          q = s >= end ? nullptr
                       : static_cast<const char*>(
                             std::memchr(s, '"', static_cast<std::size_t>(end - s)));
        }
      }
      if (!q) {  // unterminated: kept as it is, and refused by validation
        std::memcpy(o, p, static_cast<std::size_t>(end - p));
        o += end - p;
        break;
      }
      const std::size_t len = static_cast<std::size_t>(q + 1 - p);
      char* at = o;
      std::memcpy(o, p, len);
      o += len;
      p = q + 1;
      if (name_next && !stack.empty() && stack.back().object) {
        name_next = false;
        std::string_view body(at + 1, len - 2);
        if (escaped) {
          unescaped.push_back(std::make_unique<std::string>());
          *unescaped.back() = unescape_json(body);
          names.push_back(*unescaped.back());
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
          return finish({"nesting deeper than " + std::to_string(max_depth) + " levels"});
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
              return finish(
                  {"the member name `" + printable(*dup) + "` occurs more than once in an object"});
            }
            names.resize(f.names_begin);
          }
        }
        name_next = false;
        break;
      case ',':
        name_next = !stack.empty() && stack.back().object;
        break;
      default:  // ':'
        name_next = false;
        break;
    }
    *o++ = c;
    ++p;
  }
  return finish({});
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
