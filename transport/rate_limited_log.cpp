#include "transport/rate_limited_log.hpp"

namespace gt::transport {

std::optional<std::size_t> RateLimitedLog::admit() {
  auto now = now_ ? now_() : Clock::now();
  std::lock_guard lock(mu_);
  if (window_ && now - *window_ < interval_) {
    if (written_ >= burst_) {
      ++suppressed_;
      return std::nullopt;
    }
    ++written_;
    return std::size_t{0};
  }
  window_ = now;
  written_ = 1;
  return std::exchange(suppressed_, 0);
}

std::size_t RateLimitedLog::pending() const {
  std::lock_guard lock(mu_);
  return suppressed_;
}

void RateLimitedLog::write(std::string msg, std::size_t suppressed) const {
  if (suppressed > 0) {
    msg += fmt::format(" [{} more like this suppressed since the last one logged]", suppressed);
  }
  spdlog::log(level_, "{}", msg);
}

}  // namespace gt::transport
