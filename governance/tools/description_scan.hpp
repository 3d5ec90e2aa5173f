// Poisoned tool descriptions (issue 18): a server's tool, prompt and resource descriptions go
// to the model verbatim, so a malicious or compromised server can hide instructions there
// ("tool poisoning"). This scans the text a server presents for the signs of it:
//
//   invisible      characters a reader does not see but a model reads: Unicode tag characters
//                  (U+E0000-E007F, "ASCII smuggling"), zero-width and joiner characters,
//                  variation selectors, soft hyphen, fillers, C0/C1 controls (but tab, LF, CR),
//                  and bytes that are not UTF-8
//   bidi           bidirectional overrides, embeddings and isolates (U+202A-202E, U+2066-2069):
//                  text that displays in another order than it is read
//   markup         instruction-like blocks and phrases: <IMPORTANT>, <system>, <instructions>,
//                  "ignore previous instructions", "do not tell the user", "before using this
//                  tool you must…"
//   secret         references to credentials and their usual places: ~/.ssh, id_rsa, .env,
//                  /etc/passwd, .aws/credentials, mcp.json, private key, password, api key
//   tool-reference the name of another tool (of this or another server): a description that
//                  steers the model toward a different tool ("shadowing")
//
// It is a pattern scan and says so: it finds the known shapes above, in any string of the
// definition (title, description, and every string inside the input and output schemas and the
// annotations), and nothing it has no pattern for: a plainly worded malicious instruction, a
// paraphrase, another language, or a payload in a tool's results (which are not descriptions).
// Every regular expression is RE2 (linear time on untrusted text). Bounded: at most
// kMaxStrings strings and kMaxBytes bytes of one definition are read, kMaxDepth levels deep,
// and at most kMaxFindings findings are kept (the rest are counted).
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::gov::tools {

enum class FindingKind { Invisible, Bidi, Markup, Secret, ToolReference };
std::string_view to_string(
    FindingKind k);  // "invisible", "bidi", "markup", "secret", "tool-reference"

struct Finding {
  FindingKind kind;
  std::string where;    // JSON Pointer of the string in the definition, e.g.
                        // /inputSchema/properties/path/description
  std::size_t offset;   // byte offset in that string
  std::string excerpt;  // what was found, printable ASCII (others as \uXXXX), at most 80 bytes
};

struct ScanReport {
  std::vector<Finding> findings;
  std::size_t more = 0;    // findings beyond kMaxFindings, counted only
  bool truncated = false;  // the definition was larger than the scan bounds: not all was read
  bool clean() const { return findings.empty() && more == 0; }
};

inline constexpr std::size_t kMaxStrings = 10000;
inline constexpr std::size_t kMaxBytes = 1u << 20;
inline constexpr std::size_t kMaxDepth = 64;
inline constexpr std::size_t kMaxFindings = 32;
// Names with a character that is not a letter, digit, `_` or `-` (such as `.`) cannot be found
// by whole words: each is searched for in the text, so at most this many are looked for.
inline constexpr std::size_t kMaxPunctuatedNames = 64;

// The tool names whose mention is a tool reference, prepared once for any number of scans:
// a name made of letters, digits, `_` and `-` is found by looking up each whole word of the text
// (linear in the text, whatever the number of names). Names shorter than 4 bytes, and plain
// lowercase words of under 8 letters (`echo`, `fetch`), are left out: they are words first.
class ToolNames {
 public:
  ToolNames() = default;
  explicit ToolNames(const std::vector<std::string>& names)
      : ToolNames(names.begin(), names.end()) {}
  // The index points into the names: moved, never copied.
  ToolNames(const ToolNames&) = delete;
  ToolNames& operator=(const ToolNames&) = delete;
  ToolNames(ToolNames&&) = default;
  ToolNames& operator=(ToolNames&&) = default;
  template <class It>
  ToolNames(It first, It last) {
    for (; first != last; ++first)
      add(*first);
  }
  void add(const std::string& name);

 private:
  friend struct NameScan;
  std::deque<std::string> names_;  // in the order given (a deque: the keys below stay valid)
  std::unordered_map<std::string_view, std::size_t> word_;  // word → index in names_
  std::vector<std::size_t> punctuated_;                     // indexes, at most kMaxPunctuatedNames
};

// Scans one string; `where` names it in the findings. `other_tools` are names whose mention,
// as a whole word, is a tool reference; names shorter than 4 bytes, and plain lowercase words
// of under 8 letters (`echo`, `fetch`), are not looked for: they are words first.
// `self` (the scanned tool's own name) is never a reference.
void scan_text(std::string_view text, const std::string& where,
               const std::vector<std::string>& other_tools, ScanReport& out);
void scan_text(std::string_view text, const std::string& where, const ToolNames& other_tools,
               ScanReport& out, std::string_view self = {});

// Scans a tool (or prompt, or resource) definition as a server lists it: every string value
// but the top-level `name`, `uri` and `mimeType` (identifiers, checked elsewhere) and, for
// invisible and bidi characters only, every member name (a property named with hidden
// characters is as suspect as a description).
ScanReport scan_definition(const nlohmann::json& definition,
                           const std::vector<std::string>& other_tools);
ScanReport scan_definition(const nlohmann::json& definition, const ToolNames& other_tools,
                           std::string_view self = {});

}  // namespace gt::gov::tools
