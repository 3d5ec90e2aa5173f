// A log line that may repeat without bound (a refused connection, a failed accept, a client
// that sent garbage) goes through a RateLimitedLog: at most `burst` lines are written per
// interval (1 unless told), the first of a new interval carrying the number suppressed since
// the last one written. So a flood costs `burst` lines per interval, and the count says how big
// it was:
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
                          Clock::duration interval = kDefaultInterval, std::size_t burst = 1,
                          std::function<Clock::time_point()> now = {})
      : level_(level), interval_(interval), burst_(burst < 1 ? 1 : burst), now_(std::move(now)) {}

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
  std::size_t burst_;
  std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::optional<Clock::time_point> window_;  // when the current interval began
  std::size_t written_ = 0;                  // lines written in the current interval
  std::size_t suppressed_ = 0;
};

}  // namespace gt::transport
