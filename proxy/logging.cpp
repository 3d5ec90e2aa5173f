#include "proxy/logging.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace gt::proxy {

namespace {

bool json_logs = false;  // set by setup_logging

// RFC 3339 UTC with milliseconds.
std::string utc_millis(spdlog::log_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  std::time_t t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line =
        json_log_line(utc_millis(msg.time), std::string_view(level.data(), level.size()),
                      std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                      std::string_view(msg.payload.data(), msg.payload.size()));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::string json_log_line(std::string_view time, std::string_view level, std::string_view logger,
                          std::string_view msg) {
  nlohmann::ordered_json j;
  j["time"] = std::string(time);
  j["level"] = std::string(level);
  j["logger"] = std::string(logger);
  j["msg"] = std::string(msg);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_fatal(std::string_view message) {
  if (json_logs) {
    auto line =
        json_log_line(utc_millis(spdlog::log_clock::now()), "critical", "glasstape", message);
    std::fprintf(stderr, "%s\n", line.c_str());
  } else {
    std::fprintf(stderr, "glasstape: %.*s\n", static_cast<int>(message.size()), message.data());
  }
}

void setup_logging(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level `" + level + "`");
  }
  if (format != "text" && format != "json") {
    throw std::invalid_argument("unknown log format `" + format + "` (text or json)");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (format == "text" && ::isatty(2)) {
    logger = spdlog::stderr_color_mt("glasstape");
  } else {
    logger = spdlog::stderr_logger_mt("glasstape");
  }
  json_logs = format == "json";
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ glasstape: %v");
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace gt::proxy
