#include "governance/auth/jwks_cache.hpp"

namespace gt::auth {

const KeySet* JwksCache::keys(Clock::time_point now) const {
  if (!set_ || !loaded_ || now - *loaded_ > policy_.max_stale) return nullptr;
  return set_.get();
}

bool JwksCache::want_fetch(Clock::time_point now, std::string_view kid) {
  if (in_flight_) return false;
  if (last_fetch_ && now - *last_fetch_ < policy_.min_interval) return false;
  const bool due = !set_ || !loaded_ || now - *loaded_ >= policy_.max_age ||
                   (!kid.empty() && set_->find(kid) == nullptr);
  if (!due) return false;
  in_flight_ = true;
  last_fetch_ = now;
  return true;
}

bool JwksCache::fetched(Clock::time_point now, const std::optional<std::string>& document,
                        std::string& why) {
  in_flight_ = false;
  if (!document) {
    why = "the JWKS could not be fetched";
    return false;
  }
  auto set = KeySet::parse(*document, why);
  if (!set) return false;
  set_ = std::make_shared<const KeySet>(std::move(*set));
  loaded_ = now;
  return true;
}

}  // namespace gt::auth
