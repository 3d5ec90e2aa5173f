#include "transport/rate_limited_log.hpp"

#include <algorithm>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <catch2/catch.hpp>

using gt::transport::RateLimitedLog;
using namespace std::chrono_literals;

namespace {

// Routes the default logger into a string for the test's life.
struct Captured {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
  Captured() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~Captured() { spdlog::set_default_logger(saved); }
  std::size_t lines() const {
    auto s = out.str();
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  }
};

}  // namespace

TEST_CASE("RateLimitedLog admits one occurrence per interval and counts the rest") {
  auto now = RateLimitedLog::Clock::time_point{} + 1h;
  RateLimitedLog log(spdlog::level::warn, 10s, 1, [&] { return now; });
  CHECK(log.admit() == std::optional<std::size_t>(0));
  for (int i = 0; i < 1000; ++i) {
    now += 1ms;
    CHECK_FALSE(log.admit());
  }
  CHECK(log.pending() == 1000);
  now += 10s;
  CHECK(log.admit() == std::optional<std::size_t>(1000));
  CHECK(log.pending() == 0);
  now += 9s;
  CHECK_FALSE(log.admit());
  now += 1s;
  CHECK(log.admit() == std::optional<std::size_t>(1));
}

TEST_CASE("a flood through RateLimitedLog writes one line per interval with the count") {
  Captured cap;
  auto now = RateLimitedLog::Clock::time_point{} + 1h;
  RateLimitedLog log(spdlog::level::warn, 1s, 1, [&] { return now; });
  // A million failures over 10 simulated seconds: ten lines, not a million.
  for (int i = 0; i < 1000000; ++i) {
    if (i % 100000 == 0 && i > 0) now += 1s;
    log("accept failed: {} ({})", "Too many open files", i);
  }
  CHECK(cap.lines() == 10);
  auto text = cap.out.str();
  CHECK(text.rfind("warning accept failed: Too many open files (0)\n", 0) == 0);
  CHECK(text.find("(100000) [99999 more like this suppressed since the last one logged]") !=
        std::string::npos);
}

TEST_CASE("RateLimitedLog below the logger's level neither writes nor counts") {
  Captured cap;
  RateLimitedLog log(spdlog::level::debug, 1s);
  for (int i = 0; i < 10; ++i)
    log("hidden {}", i);
  CHECK(cap.lines() == 0);
  CHECK(log.pending() == 0);
}

TEST_CASE("RateLimitedLog with a burst writes that many lines per interval, then counts") {
  Captured cap;
  auto now = RateLimitedLog::Clock::time_point{} + 1h;
  RateLimitedLog log(spdlog::level::warn, 10s, 5, [&] { return now; });
  // 100 lines in each of three intervals: 5 written per interval, 95 counted.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) {
      log("server line {}", round * 100 + i);
      now += 1ms;
    }
    now += 10s;
  }
  CHECK(cap.lines() == 15);
  auto text = cap.out.str();
  CHECK(text.find("server line 4\n") != std::string::npos);
  CHECK(text.find("server line 5\n") == std::string::npos);
  CHECK(text.find("server line 100 [95 more like this suppressed since the last one logged]") !=
        std::string::npos);
  CHECK(text.find("server line 101\n") != std::string::npos);
  CHECK(log.pending() == 95);
}
