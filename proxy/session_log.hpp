// The Session's operator log lines, shared by its translation units (session.cpp,
// session_era.cpp). Internal to proxy/.
#pragma once

#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "transport/rate_limited_log.hpp"

namespace gt::proxy::session_log {

inline std::string shorten(std::string_view s, std::size_t n = 120) {
  return s.size() <= n ? std::string(s) : std::string(s.substr(0, n)) + "…";
}

// Lines a client or a server can repeat at will go through a RateLimitedLog: per kind, at most
// kLogBurst per 10 s across all sessions, then one line with the count suppressed. So a client
// sending a million bad messages costs the operator's log a few lines, not a million.
inline constexpr std::size_t kLogBurst = 20;
inline transport::RateLimitedLog& client_faults() {
  static transport::RateLimitedLog log(spdlog::level::warn,
                                       transport::RateLimitedLog::kDefaultInterval, kLogBurst);
  return log;
}
inline transport::RateLimitedLog& server_faults() {
  static transport::RateLimitedLog log(spdlog::level::warn,
                                       transport::RateLimitedLog::kDefaultInterval, kLogBurst);
  return log;
}
inline transport::RateLimitedLog& timeouts() {
  static transport::RateLimitedLog log(spdlog::level::warn,
                                       transport::RateLimitedLog::kDefaultInterval, kLogBurst);
  return log;
}

}  // namespace gt::proxy::session_log
