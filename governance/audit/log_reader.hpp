// Reading a live log for `glasstape tail`: following the active file across rotations, and
// rendering decisions as one readable (optionally coloured) line each. Tail shows; it does
// not verify signatures (that is `glasstape verify`).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::gov::audit {

struct TailFilter {
  bool denied_only = false;  // deny and monitor would-deny decisions only
  std::string tool_glob;     // fnmatch(3) pattern on `tool` or `server/tool`; "" = any
};

// The decoded payload of a log line, or nullopt when it is not a record.
std::optional<nlohmann::json> decode_payload(std::string_view line);
// Decisions (and recovery/failure events unless filtered) pass; open/start/checkpoint and
// result records do not.
bool tail_matches(const nlohmann::json& payload, const TailFilter& filter);
// "2025-06-01T12:34:56Z  agent  server/tool  DENY  rule-id  reason  [receipt id]"
std::string format_tail_line(const nlohmann::json& payload, bool color);

// Follows a log file: poll() returns the complete lines appended since the last call. When
// the path is replaced (rotation), the rest of the old file comes first, then any files
// rotated in between (found by seq in the same directory), then the new file.
class LogFollower {
 public:
  // Starts at the end of the file when `from_end`, else at its beginning.
  LogFollower(std::filesystem::path file, bool from_end);
  ~LogFollower();
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;
  std::vector<std::string> poll();

 private:
  void reopen();
  std::vector<std::string> drain();
  void note_seq(const std::vector<std::string>& lines);
  std::filesystem::path file_;
  int fd_ = -1;
  ino_t ino_ = 0;
  std::uint64_t offset_ = 0;
  std::string partial_;
  std::optional<std::uint64_t> last_seq_;
};

}  // namespace gt::gov::audit
