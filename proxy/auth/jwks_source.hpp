// Where an issuer's signing keys come from: a JWKS file (re-read when it changes) or the
// issuer's jwks_uri, fetched over HTTP(S) on this front's executor. When to fetch is
// governance/auth/jwks_cache.hpp's decision (age, an unknown kid at most once per
// min_interval, max_stale); this file does the I/O.
//
// keys(kid, done) answers at once when the keys in force will do; it waits for a fetch only
// when there are no keys yet or the token's kid is unknown and a fetch for it is running. At
// most kMaxWaiters requests wait; more are answered with no keys (the front says 503).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "governance/auth/jwk.hpp"
#include "governance/auth/jwks_cache.hpp"
#include "proxy/auth/auth_settings.hpp"
#include "transport/http_client.hpp"

namespace gt::proxy {

class JwksSource : public std::enable_shared_from_this<JwksSource> {
 public:
  static constexpr std::size_t kMaxWaiters = 4096;
  static constexpr std::chrono::milliseconds kFetchTimeout{10000};
  // (keys, why): keys is nullptr when none can be had (why says so).
  using Done = std::function<void(const auth::KeySet*, const std::string&)>;

  // Throws ConfigError when a jwks_file cannot be read or parsed, or the client cannot be set
  // up (an unreadable ca_file).
  JwksSource(boost::asio::any_io_executor ex, const IssuerSettings& issuer);
  void start();  // the first fetch, so the first client need not wait for it
  void stop();
  void keys(std::string_view kid, Done done);
  // Whether keys are in force now (a jwks_file, or a fetched set not stale past max_stale),
  // starting a fetch when the set is due by age: a token remembered from before must not
  // outlive its issuer's keys, and a steady stream of remembered tokens must still keep the
  // set fresh.
  bool in_force();

 private:
  void fetch();
  void fetched(std::optional<std::string> doc, const std::string& why);
  void reload_file();

  boost::asio::any_io_executor ex_;
  const IssuerSettings& issuer_;
  // jwks_file
  std::shared_ptr<const auth::KeySet> file_keys_;
  std::chrono::steady_clock::time_point file_checked_{};
  std::int64_t file_mtime_ns_ = 0;
  // jwks_uri
  std::optional<transport::Url> url_;
  std::shared_ptr<transport::http::Client> client_;
  std::shared_ptr<transport::http::Call> call_;
  auth::JwksCache cache_;
  bool fetching_ = false;
  std::string last_error_;
  std::vector<std::pair<std::string, Done>> waiters_;  // (kid, done)
  bool stopped_ = false;
};

}  // namespace gt::proxy
