// A log line that may repeat without bound (a refused connection, a failed accept, a client
// that sent garbage) goes through a RateLimitedLog: the first occurrence is written at once,
// later ones at most once per interval, each carrying the number suppressed since the last
// one written. So a flood costs one line per interval, and the count says how big it was:
//
//   static RateLimitedLog refused(spdlog::level::warn);   // one per call site
//   refused("http: connection limit ({}) reached; refusing a client", max);
//   → "http: connection limit (4096) reached; refusing a client
//     [1234 more like this suppressed since the last one logged]"
//
// Thread-safe (a mutex, taken only on the logging path). The clock can be injected for tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

namespace gt::transport {

class RateLimitedLog {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kDefaultInterval{10};

  explicit RateLimitedLog(spdlog::level::level_enum level,
                          Clock::duration interval = kDefaultInterval,
                          std::function<Clock::time_point()> now = {})
      : level_(level), interval_(interval), now_(std::move(now)) {}

  // Whether an occurrence now may be written: the number of occurrences suppressed since the
  // last written one, or nothing when this one is suppressed (and counted).
  std::optional<std::size_t> admit();

  // The occurrences suppressed so far and not yet reported.
  std::size_t pending() const;

  template <class... Args>
  void operator()(spdlog::format_string_t<Args...> fmt, Args&&... args) {
    if (!spdlog::default_logger_raw()->should_log(level_)) return;
    auto suppressed = admit();
    if (!suppressed) return;
    write(fmt::format(fmt, std::forward<Args>(args)...), *suppressed);
  }

 private:
  void write(std::string msg, std::size_t suppressed) const;

  spdlog::level::level_enum level_;
  Clock::duration interval_;
  std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::optional<Clock::time_point> last_;  // when the last line was written
  std::size_t suppressed_ = 0;
};

}  // namespace gt::transport
