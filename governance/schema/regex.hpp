// ECMA-262 regular expressions (the dialect JSON Schema names) on RE2.
//
// RE2 runs in time linear in the input and with bounded memory, which is what a gateway
// needs for patterns chosen by a server and strings chosen by a model. ECMA-262 syntax is
// translated where the meaning is the same (\d, \w, \s, \uXXXX, \u{X}, \cX, \p{Letter},
// named groups, the dot) and refused where RE2 cannot express it exactly (lookaround,
// backreferences, unknown escapes): a refused pattern makes the schema unsupported.
// There is no fallback to a backtracking engine, and std::regex is never used.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <re2/re2.h>

namespace gt::gov::schema::detail {

// Translates an ECMA-262 (u-mode) pattern to RE2 syntax. On failure returns false and sets
// `error` to a one-line reason.
bool translate_ecma_regex(std::string_view pattern, std::string& out, std::string& error);

struct CompiledRegex {
  std::shared_ptr<const RE2> re;  // null on error
  std::string error;
};
CompiledRegex compile_ecma_regex(std::string_view pattern, std::int64_t max_mem);

// Unanchored search, as JSON Schema's `pattern` requires.
inline bool regex_search(const RE2& re, std::string_view text) {
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), re);
}

}  // namespace gt::gov::schema::detail
