#include "governance/schema/json_util.hpp"

#include <cmath>
#include <vector>

#include <boost/container/small_vector.hpp>

namespace gt::gov::schema::detail {

using json = nlohmann::json;

namespace {

int rank(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return 0;
    case json::value_t::boolean:
      return 1;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return 2;
    case json::value_t::string:
      return 3;
    case json::value_t::array:
      return 4;
    case json::value_t::object:
      return 5;
    default:
      return 6;  // binary, discarded: never produced by the JSON parser
  }
}

template <class T>
int cmp3(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Numbers by mathematical value. long double holds every int64, uint64 and double exactly
// on x86-64 (64-bit mantissa), so mixed comparisons are exact there; elsewhere they are
// as exact as the platform's long double.
int compare_numbers(const json& a, const json& b) {
  if (a.is_number_integer() && !a.is_number_unsigned() && b.is_number_integer() &&
      !b.is_number_unsigned()) {
    return cmp3(a.get_ref<const json::number_integer_t&>(),
                b.get_ref<const json::number_integer_t&>());
  }
  if (a.is_number_unsigned() && b.is_number_unsigned()) {
    return cmp3(a.get_ref<const json::number_unsigned_t&>(),
                b.get_ref<const json::number_unsigned_t&>());
  }
  auto ld = [](const json& v) -> long double {
    if (v.is_number_unsigned()) return static_cast<long double>(v.get<std::uint64_t>());
    if (v.is_number_integer()) return static_cast<long double>(v.get<std::int64_t>());
    return static_cast<long double>(v.get<double>());
  };
  return cmp3(ld(a), ld(b));
}

}  // namespace

int json_compare(const json& a, const json& b, std::uint64_t& work) {
  ++work;
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return cmp3(a.get<bool>(), b.get<bool>());
    case 2:
      return compare_numbers(a, b);
    case 3: {
      const auto& sa = a.get_ref<const std::string&>();
      const auto& sb = b.get_ref<const std::string&>();
      work += (std::min(sa.size(), sb.size()) >> 6);
      int c = sa.compare(sb);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case 4: {
      std::size_t n = std::min(a.size(), b.size());
      for (std::size_t i = 0; i < n; ++i) {
        int c = json_compare(a[i], b[i], work);
        if (c) return c;
      }
      return cmp3(a.size(), b.size());
    }
    case 5: {
      if (a.size() != b.size()) return cmp3(a.size(), b.size());
      // nlohmann objects are std::map: keys iterate in sorted order.
      auto ia = a.begin(), ib = b.begin();
      for (; ia != a.end(); ++ia, ++ib) {
        int c = ia.key().compare(ib.key());
        if (c) return c < 0 ? -1 : 1;
      }
      for (ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
        int c2 = json_compare(ia.value(), ib.value(), work);
        if (c2) return c2;
      }
      return 0;
    }
    default:
      return 0;
  }
}

Measure measure(const json& root, std::size_t max_depth, std::size_t max_nodes,
                std::size_t max_string, std::size_t max_bytes) {
  Measure m;
  struct Frame {
    const json* v;
    std::size_t depth;
  };
  boost::container::small_vector<Frame, 64> stack;  // no allocation for typical arguments
  stack.push_back({&root, 0});
  while (!stack.empty()) {
    Frame f = stack.back();
    stack.pop_back();
    ++m.nodes;
    m.bytes += 8;
    if (f.depth > m.depth) m.depth = f.depth;
    if (m.depth > max_depth) {
      m.exceeded = "instance nesting depth exceeds " + std::to_string(max_depth);
      return m;
    }
    if (m.nodes > max_nodes) {
      m.exceeded = "instance has more than " + std::to_string(max_nodes) + " values";
      return m;
    }
    const json& v = *f.v;
    if (v.is_string()) {
      std::size_t n = v.get_ref<const std::string&>().size();
      m.bytes += n;
      if (n > m.max_string) m.max_string = n;
    } else if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::size_t n = it.key().size();
        m.bytes += n;
        if (n > m.max_string) m.max_string = n;
        stack.push_back({&it.value(), f.depth + 1});
      }
    } else if (v.is_array()) {
      for (const auto& e : v)
        stack.push_back({&e, f.depth + 1});
    }
    if (m.max_string > max_string) {
      m.exceeded = "instance has a string of " + std::to_string(m.max_string) +
                   " bytes, more than the limit of " + std::to_string(max_string);
      return m;
    }
    if (m.bytes > max_bytes) {
      m.exceeded = "instance is larger than " + std::to_string(max_bytes) + " bytes";
      return m;
    }
  }
  return m;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

void append_pointer_token(std::string& out, std::string_view token) {
  out.push_back('/');
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
}

std::string quote(std::string_view text, std::size_t max) {
  std::string out;
  bool cut = text.size() > max;
  if (cut) {
    text = text.substr(0, max);
    // Do not split a UTF-8 sequence.
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) {
      text.remove_suffix(1);
    }
    if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.remove_suffix(1);
  }
  static const char* hex = "0123456789abcdef";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '`') {
      out += "\\`";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  if (cut) out += "...";
  return out;
}

std::string short_value(const json& v, std::size_t max) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return "\"" + quote(s, max) + "\"";
  }
  if (v.is_array() || v.is_object()) {
    if (v.empty()) return v.is_array() ? "[]" : "{}";
    // Containers in messages come from schemas (const/enum), whose depth compile() bounds.
    std::string d = v.dump(-1, ' ', false, json::error_handler_t::replace);
    return quote(d, max);
  }
  return quote(v.dump(), max);
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float: {
      double d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d ? "integer" : "number";
    }
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "unknown";
  }
}

}  // namespace gt::gov::schema::detail
