// The one form in which a client's message travels on: its JSON text with the whitespace
// between tokens removed. Every token is kept byte for byte (strings with their escapes,
// numbers as written, members in the order sent), so any JSON parser reads the compact
// text exactly as it reads the original; but the compact text has no raw LF or CR byte
// (JSON forbids them inside strings), so a line-based server cannot split it into two
// messages, whatever its idea of a line end.
//
// The same pass refuses the other way two parsers can disagree about one text: an object
// that repeats a member name, at any depth. Names are compared after unescaping, so "a" and
// "\u0061" are the same name. (Which copy wins differs between parsers: the proxy would
// judge one value and the server run another.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gt::transport {

struct CompactError {
  std::string message;  // empty: no error
  explicit operator bool() const { return !message.empty(); }
};

// Writes the compact form of `json` into `out` (replacing its contents; `out` never grows
// beyond json.size()). Fails on a repeated member name in any object, on nesting deeper
// than `max_depth`, and where removing whitespace would join two tokens into one (`1 2`
// would become `12`). It does not otherwise validate the text: the compact text is valid
// JSON exactly when the original is, and callers validate it (inspect()). Iterative.
CompactError compact(std::string_view json, std::string& out, std::size_t max_depth);

// True when `json` has no whitespace between tokens (compact() would return it unchanged,
// duplicates aside). Cheap: callers use it in assertions and tests.
bool is_compact(std::string_view json);

}  // namespace gt::transport
