// What the parts of the audit log writer share (log_writer.cpp and the log_*.cpp files it is
// split into); not part of the log's interface.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "governance/audit/fsutil.hpp"
#include "governance/audit/time.hpp"

namespace gt::gov::audit::detail {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

// The largest tail we examine for torn or unparseable lines at startup.
inline constexpr std::uint64_t kTailWindow = 64ull << 20;
// How many unparseable complete lines at the very end count as torn (a crash can leave a
// few lines of zeros on some file systems); more than that is damage, not a crash.
inline constexpr int kMaxTornLines = 16;
// A signed checkpoint is a few hundred bytes; a larger `checkpoint` file is not read.
inline constexpr off_t kMaxCheckpointFile = 64 << 10;

// "20250601T123456Z": file name stamps for evidence kept aside.
inline std::string compact_stamp() {
  std::string t = rfc3339_utc(Clock::now());  // 2025-06-01T12:34:56.789012Z
  std::string out;
  for (char c : t.substr(0, 19)) {
    if (c != '-' && c != ':') out += c;
  }
  return out + "Z";
}

inline std::string err_text(int err, const std::string& what) {
  return what + ": " + fsutil::errno_text(err);
}

// Set while this thread holds some log's writer role: a record callback that appends again
// (to any log) then queues instead of writing inline, so no role mutex is taken twice.
inline thread_local int tl_roles_held = 0;

struct RoleHeld {
  RoleHeld() { ++tl_roles_held; }
  ~RoleHeld() { --tl_roles_held; }
  RoleHeld(const RoleHeld&) = delete;
  RoleHeld& operator=(const RoleHeld&) = delete;
};

}  // namespace gt::gov::audit::detail
