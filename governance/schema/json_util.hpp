// JSON helpers for the validator: JSON equality and a total order (numbers compare by
// mathematical value, 1 == 1.0), an iterative instance measurement, pointers and quoting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gt::gov::schema::detail {

// Total order over JSON values consistent with JSON Schema equality: null < bool < number
// < string < array < object; numbers by value; arrays lexicographic; objects by sorted
// keys then values. Recursive: callers bound the depth first (measure()). `work` is
// incremented per visited value so that callers can charge comparisons to a budget.
int json_compare(const nlohmann::json& a, const nlohmann::json& b, std::uint64_t& work);
inline bool json_equal(const nlohmann::json& a, const nlohmann::json& b, std::uint64_t& work) {
  return json_compare(a, b, work) == 0;
}

struct Measure {
  std::size_t depth = 0;  // max nesting (scalar root = 0)
  std::size_t nodes = 0;
  std::size_t max_string = 0;  // longest string or key, bytes
  std::size_t bytes = 0;       // strings + keys + 8 per value
  std::string exceeded;        // empty, or which limit stopped the walk
};
// Walks `j` with an explicit stack (no recursion) and stops as soon as a limit is exceeded.
Measure measure(const nlohmann::json& j, std::size_t max_depth, std::size_t max_nodes,
                std::size_t max_string, std::size_t max_bytes);

// Number of Unicode code points in valid or invalid UTF-8 (continuation bytes not counted).
std::size_t utf8_length(std::string_view s);

// RFC 6901 escaping of one reference token.
void append_pointer_token(std::string& out, std::string_view token);

// `text` for a message: control characters escaped, cut to `max` bytes with "...".
std::string quote(std::string_view text, std::size_t max = 64);
// A short rendering of a JSON value for a message (dump, truncated).
std::string short_value(const nlohmann::json& v, std::size_t max = 64);

// The name of the value's JSON Schema type ("integer" for integral numbers).
const char* type_name(const nlohmann::json& v);

}  // namespace gt::gov::schema::detail
