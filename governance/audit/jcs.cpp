#include "governance/audit/jcs.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <vector>

namespace gt::gov::audit {

namespace {

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i, or -1 when the
// sequence is invalid (overlong, surrogate, out of range, truncated).
long decode_utf8(std::string_view s, std::size_t& i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len;
  long cp;
  long min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (i + len > s.size()) return -1;
  for (int k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += len;
  return cp;
}

void append_utf16(long cp, std::vector<char16_t>& out) {
  if (cp >= 0x10000) {
    cp -= 0x10000;
    out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
    out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
  } else {
    out.push_back(static_cast<char16_t>(cp));
  }
}

std::vector<char16_t> to_utf16(std::string_view s) {
  std::vector<char16_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    long cp = decode_utf8(s, i);
    if (cp < 0) throw JcsError("invalid utf-8 in a property name");
    append_utf16(cp, out);
  }
  return out;
}

void value_into(const nlohmann::json& v, std::string& out, int depth) {
  using T = nlohmann::json::value_t;
  switch (v.type()) {
    case T::null:
      out += "null";
      return;
    case T::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case T::number_integer:
      jcs_integer_into(v.get<std::int64_t>(), out);
      return;
    case T::number_unsigned:
      jcs_integer_into(v.get<std::uint64_t>(), out);
      return;
    case T::number_float:
      jcs_number_into(v.get<double>(), out);
      return;
    case T::string:
      jcs_string_into(v.get_ref<const std::string&>(), out);
      return;
    case T::array: {
      if (depth >= kJcsMaxDepth) throw JcsError("nesting deeper than 512 levels");
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ',';
        first = false;
        value_into(e, out, depth + 1);
      }
      out += ']';
      return;
    }
    case T::object: {
      if (depth >= kJcsMaxDepth) throw JcsError("nesting deeper than 512 levels");
      out += '{';
      // nlohmann keeps members in UTF-8 byte order, which is code point order. UTF-16 order
      // differs only when a name holds a supplementary character (it sorts below
      // U+E000..U+FFFF in UTF-16): re-sort just those objects.
      const auto& obj = v.get_ref<const nlohmann::json::object_t&>();
      bool resort = false;
      for (const auto& kv : obj) {
        if (has_supplementary(kv.first)) {
          resort = true;
          break;
        }
      }
      std::vector<const nlohmann::json::object_t::value_type*> members;
      members.reserve(obj.size());
      for (const auto& kv : obj)
        members.push_back(&kv);
      if (resort) {
        std::vector<std::pair<std::vector<char16_t>, const nlohmann::json::object_t::value_type*>>
            keyed;
        for (auto* m : members)
          keyed.emplace_back(to_utf16(m->first), m);
        std::sort(keyed.begin(), keyed.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        for (std::size_t i = 0; i < keyed.size(); ++i)
          members[i] = keyed[i].second;
      }
      bool first = true;
      for (auto* m : members) {
        if (!first) out += ',';
        first = false;
        jcs_string_into(m->first, out);
        out += ':';
        value_into(m->second, out, depth + 1);
      }
      out += '}';
      return;
    }
    case T::binary:
      throw JcsError("binary values have no json form");
    case T::discarded:
      throw JcsError("discarded value");
  }
}

}  // namespace

void jcs_string_into(std::string_view s, std::string& out) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    // Printable ASCII other than `"` and `\` is copied as it is: append such runs at once.
    std::size_t run = i;
    while (run < s.size()) {
      auto r = static_cast<unsigned char>(s[run]);
      if (r < 0x20 || r >= 0x80 || r == '"' || r == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t start = i;
      if (decode_utf8(s, i) < 0) throw JcsError("invalid utf-8 in a string");
      out.append(s.data() + start, i - start);
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:  // the other control characters (plain ASCII was copied above)
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  out += '"';
}

bool utf16_less(std::string_view a, std::string_view b) {
  if (!has_supplementary(a) && !has_supplementary(b)) return a < b;
  return to_utf16(a) < to_utf16(b);
}

bool has_supplementary(std::string_view s) {
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xF8) == 0xF0) return true;
  }
  return false;
}

void jcs_number_into(double v, std::string& out) {
  if (!std::isfinite(v)) throw JcsError("nan and infinity cannot be canonicalized");
  if (v == 0) {  // also -0
    out += '0';
    return;
  }
  // Shortest round-trip digits (the same requirement as ECMAScript's "k as small as
  // possible"), in scientific form: d[.ddd]e±x.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  bool negative = sci[0] == '-';
  if (negative) sci.remove_prefix(1);
  auto epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos)) {
    if (c != '.') digits += c;
  }
  int exp10 = 0;
  std::from_chars(sci.data() + epos + (sci[epos + 1] == '+' ? 2 : 1), sci.data() + sci.size(),
                  exp10);
  int k = static_cast<int>(digits.size());
  int n = exp10 + 1;  // ECMAScript: value = digits × 10^(n−k)
  if (negative) out += '-';
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out += '.';
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += 'e';
    out += (n - 1 >= 0) ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
}

void jcs_integer_into(std::int64_t value, std::string& out) {
  // Exact as a double: print the integer directly (same text ECMAScript gives).
  if (value > -(std::int64_t{1} << 53) && value < (std::int64_t{1} << 53)) {
    out += std::to_string(value);
  } else {
    jcs_number_into(static_cast<double>(value), out);
  }
}

void jcs_integer_into(std::uint64_t value, std::string& out) {
  if (value < (std::uint64_t{1} << 53)) {
    out += std::to_string(value);
  } else {
    jcs_number_into(static_cast<double>(value), out);
  }
}

std::string jcs_number(double value) {
  std::string out;
  jcs_number_into(value, out);
  return out;
}

void canonicalize_into(const nlohmann::json& value, std::string& out) {
  value_into(value, out, 0);
}

std::string canonicalize(const nlohmann::json& value) {
  std::string out;
  canonicalize_into(value, out);
  return out;
}

}  // namespace gt::gov::audit
