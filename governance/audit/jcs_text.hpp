// RFC 8785 (JCS) straight from JSON text, through simdjson's DOM instead of an nlohmann tree.
// Tool results are the largest thing the proxy canonicalizes (a file's contents, a query's
// rows), and nlohmann::json::parse allocates a node per value; simdjson parses in a few
// passes over the bytes into one reusable tape. The output is defined to be exactly
// canonicalize(nlohmann::json::parse(text)), including for duplicate member names (the last
// one wins, as nlohmann keeps it); tests compare both paths.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gt::gov::audit {

// A JSON document parsed for canonicalization. Valid only while the JcsText that made it lives
// and until its next parse().
class JcsText {
 public:
  JcsText();
  ~JcsText();
  JcsText(const JcsText&) = delete;
  JcsText& operator=(const JcsText&) = delete;

  // False when simdjson refuses the text: not JSON, invalid UTF-8, an integer beyond 64 bits,
  // a number out of double range, or nesting deeper than simdjson's limit. Callers then take
  // the nlohmann path, which decides what such text means (it accepts big integers as
  // doubles, for one).
  bool parse(std::string_view text);

  // The root is an object with member `name` (the last one if repeated).
  bool root_has(std::string_view name) const;
  // root[name][member] is the boolean true (used for `result.isError`).
  bool root_member_is_true(std::string_view name, std::string_view member) const;
  // JCS of root[name]. Throws JcsError (NaN cannot occur here; depth over kJcsMaxDepth can).
  std::string canonical_member(std::string_view name) const;
  // JCS of the whole document.
  std::string canonical() const;
  // Frees the memory of a large document (parse() of one over 64 KB uses a parser of its own);
  // the document is gone afterwards.
  void release();

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace gt::gov::audit
