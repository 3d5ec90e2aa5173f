// When to fetch an issuer's JWKS again. The fetch itself is I/O and lives with the HTTP
// client in proxy/; this is only the decision and the keys in force, so it is testable
// without a network:
//   - a set older than max_age is fetched again (keys are rotated at the issuer);
//   - a token naming a kid the set lacks asks for a fetch at once (the issuer may have just
//     rotated), but at most once per min_interval, so tokens with made-up kids cannot make
//     GlassTape hammer the issuer: between fetches they are refused as unknown keys;
//   - a document that cannot be used (unreachable, invalid) keeps the last good set in force
//     until max_stale, after which every token is refused (fail closed): an issuer that
//     revoked a key must not be outlived by a cache forever.
// Not thread-safe: one per issuer, used from the thread that serves requests.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "governance/auth/jwk.hpp"

namespace gt::auth {

struct JwksPolicy {
  std::chrono::seconds max_age{600};      // fetch again after this
  std::chrono::seconds min_interval{30};  // no two fetches closer than this
  std::chrono::seconds max_stale{86400};  // a set this old is no longer used
};

class JwksCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit JwksCache(JwksPolicy policy = {}) : policy_(policy) {}

  // The keys to verify with now, or nullptr (never fetched, or stale past max_stale).
  const KeySet* keys(Clock::time_point now) const;
  // True when a fetch should start now: none yet, the set is older than max_age, or a token
  // named `kid` (non-empty) that the set lacks; never within min_interval of the last fetch,
  // nor while one is in flight. A true answer marks a fetch in flight.
  bool want_fetch(Clock::time_point now, std::string_view kid = {});
  // The end of a fetch: the document's text, or nullopt with why it failed. A document that
  // does not parse keeps the set in force. False (with `why`) when nothing changed.
  bool fetched(Clock::time_point now, const std::optional<std::string>& document, std::string& why);

 private:
  JwksPolicy policy_;
  std::shared_ptr<const KeySet> set_;
  std::optional<Clock::time_point> loaded_;      // when set_ was fetched
  std::optional<Clock::time_point> last_fetch_;  // when the last fetch started
  bool in_flight_ = false;
};

}  // namespace gt::auth
