// Pinned tool definitions (issue 18): the first time GlassTape sees a tool it records a hash of
// the tool's definition; a server that later presents a different definition (a "rug pull":
// the description or schema changed after the user approved the server) is caught by
// comparing hashes. Pure: the proxy reads and writes the pin files and decides what to do.
//
// What is pinned: name, title, description, inputSchema, outputSchema and annotations (the
// members a model reads or a client acts on), canonicalized with RFC 8785 (JCS) and hashed with
// SHA-256, so member order and number spelling do not matter and nothing else does. `_meta`,
// `icons` and members a future revision adds are not pinned.
//
// A pin file holds one server's pins for one tenant, as JSON an operator can review, diff and
// commit (members sorted, two-space indent, one tool per key):
//
//   {"format": "glasstape.pins/1", "server": "fs", "tools": {
//     "read_file": {"sha256": "…", "pinned_at": "2026-12-06T10:00:00Z",
//                   "definition": {…the pinned members, canonical…}}}}
//
// The definition is kept so `glasstape tools diff` can show what changed. Bounded: a pin file
// is at most kMaxFileBytes and kMaxTools tools; diff() reports at most kMaxDiffLines lines.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::gov::tools {

inline constexpr std::size_t kMaxPinFileBytes = 16u << 20;
inline constexpr std::size_t kMaxPinnedTools = 10000;
inline constexpr std::size_t kMaxDiffLines = 200;

// pins: enforce | warn | off | approve-new (README "Pinned tool definitions").
enum class PinMode { Off, Warn, Enforce, ApproveNew };
std::optional<PinMode> parse_pin_mode(std::string_view s);
std::string_view to_string(PinMode m);

// The pinned members of a tool definition (absent ones stay absent).
nlohmann::json pinned_members(const nlohmann::json& tool);
// Lowercase hex SHA-256 of the JCS form of pinned_members(tool). Throws std::runtime_error
// when the definition cannot be canonicalized (not an object, a non-finite number, too deep).
std::string definition_hash(const nlohmann::json& tool);

struct Pin {
  std::string sha256;
  std::string pinned_at;      // RFC 3339 UTC
  nlohmann::json definition;  // pinned_members() of the approved definition
};

enum class PinStatus { New, Same, Changed };

class PinSet {
 public:
  explicit PinSet(std::string server = {}) : server_(std::move(server)) {}
  // nullopt with `why` (naming `where`) when the text is not a valid pin file.
  static std::optional<PinSet> parse(std::string_view text, const std::string& where,
                                     std::string& why);
  std::string to_text() const;  // the file's content; parse(to_text()) gives the same set

  const std::string& server() const { return server_; }
  std::size_t size() const { return pins_.size(); }
  const Pin* find(const std::string& tool) const;
  // The tool's state against its pin; `hash` (when given) receives its current hash.
  PinStatus check(const nlohmann::json& tool, std::string* hash = nullptr) const;
  // The same for a definition whose hash (definition_hash) the caller already has.
  PinStatus check(const std::string& tool, const std::string& sha256) const;
  // Pins the tool's current definition (first sight, or an operator's approval). False when
  // the set is full (kMaxPinnedTools) and the tool is new.
  bool pin(const nlohmann::json& tool, std::chrono::system_clock::time_point now);
  bool remove(const std::string& tool);

 private:
  std::string server_;
  std::map<std::string, Pin> pins_;  // by tool name
};

// What changed between two definitions, one line per JSON Pointer, e.g.
//   changed /description: "Reads a file." -> "Reads a file. <IMPORTANT>…"
//   added /inputSchema/properties/sidenote: {"type":"string"}
//   removed /annotations/readOnlyHint: true
// Values are shown as compact JSON cut at 120 bytes, non-printable bytes escaped.
std::vector<std::string> diff(const nlohmann::json& before, const nlohmann::json& after);

}  // namespace gt::gov::tools
