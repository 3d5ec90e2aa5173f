// RFC 8785 JSON Canonicalization Scheme (JCS), written here because nlohmann::json::dump()
// is not JCS (it prints doubles with 17 significant digits, sorts keys by UTF-8 bytes and
// escapes differently). Receipts are signed over these bytes, so any verifier that
// implements RFC 8785 (e.g. the npm `canonicalize` package) reproduces them exactly.
//
//   - no whitespace;
//   - object members sorted by the UTF-16 code units of their names (§3.2.3);
//   - strings: only `"`, `\`, and U+0000..U+001F are escaped; \b \t \n \f \r use their
//     short forms, other controls \u00xx in lowercase hex; everything else is literal UTF-8;
//   - numbers: as IEEE 754 doubles, printed as ECMAScript Number.prototype.toString
//     (§3.2.2.3); integers beyond 2^53 therefore lose precision, exactly as in JavaScript.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gt::gov::audit {

struct JcsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Nesting deeper than this is refused (JcsError) rather than risk the stack.
inline constexpr int kJcsMaxDepth = 512;

// Throws JcsError for NaN/Infinity, invalid UTF-8, binary values or excessive depth.
std::string canonicalize(const nlohmann::json& value);
void canonicalize_into(const nlohmann::json& value, std::string& out);

// The ECMAScript rendering of a finite double ("1e+21", "0.000001", "5e-324", "0" for -0).
std::string jcs_number(double value);
// The same, appended to `out` (JcsError for NaN and infinities).
void jcs_number_into(double value, std::string& out);
// An integer as JCS writes it: exact below 2^53, beyond that as the double it rounds to.
void jcs_integer_into(std::int64_t value, std::string& out);
void jcs_integer_into(std::uint64_t value, std::string& out);
// True when UTF-8 `s` holds a supplementary-plane character (U+10000 and up): only such
// names sort differently by UTF-16 code units than by bytes.
bool has_supplementary(std::string_view s);
// Appends `s` as a JCS string literal, quotes included. Throws JcsError on invalid UTF-8.
void jcs_string_into(std::string_view s, std::string& out);
// True when `a` sorts before `b` by UTF-16 code units (both valid UTF-8).
bool utf16_less(std::string_view a, std::string_view b);

}  // namespace gt::gov::audit
