#include "proxy/logging.hpp"

#include <unistd.h>

#include <stdexcept>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace gt::proxy {

void setup_logging(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level `" + level + "`");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (::isatty(2)) {
    logger = spdlog::stderr_color_mt("glasstape");
  } else {
    logger = spdlog::stderr_logger_mt("glasstape");
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ glasstape: %v");
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace gt::proxy
