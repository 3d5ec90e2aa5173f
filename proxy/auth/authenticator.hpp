// Who is calling: the HTTP front's authentication step (`http.auth`), run on every request to
// an MCP path before anything else looks at it. A credential is turned into the principal the
// call is judged as, or into the refusal the client gets:
//
//   Authorization: Bearer <jwt>  ─► issuer by `iss` ─► its keys (JwksSource) ─► verify_token
//                                    ─► ClaimsMap ─► principal (+ claims, jti)
//   Authorization: Bearer gtk_…  │ X-API-Key: gtk_…  ─► ApiKeyFile ─► principal (+ key id)
//   Authorization: Bearer <opaque> (not an API key)  ─► RFC 7662 introspection (Introspector)
//                                    ─► the same claim checks and ClaimsMap as a JWT
//   nothing                      ─► 401 with the RFC 9728 metadata URL
//
// The principal's tenant must be one the front serves (else 403). A verified token is kept,
// by its SHA-256, until it expires (at most `token_cache` entries), so verifying signatures
// does not show in the throughput. The credential itself is never stored, logged, recorded or
// passed upstream. Refusals are logged once per client address a minute.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "governance/auth/api_keys.hpp"
#include "governance/principal.hpp"
#include "proxy/auth/auth_settings.hpp"
#include "proxy/auth/introspector.hpp"
#include "proxy/auth/jwks_source.hpp"
#include "transport/http_server.hpp"

namespace gt::proxy {

struct AuthResult {
  // 200: go on; 401, 403 or 503: refused with `message`, `www_authenticate` when set.
  unsigned status = 401;
  std::string message;
  std::string www_authenticate;
  std::shared_ptr<const gov::Principal> principal;  // when status is 200
  // Who a session belongs to: the tenant, the way in (issuer or API keys) and the agent id.
  // A session id presented with another binding is unknown.
  std::string binding;
  bool ok() const { return status == 200; }
};

class Authenticator {
 public:
  // Throws ConfigError (an unreadable API keys or JWKS file, a bad CA file).
  Authenticator(boost::asio::any_io_executor ex, AuthSettings settings,
                std::set<std::string> tenants);
  void start();
  void stop();

  const AuthSettings& settings() const { return settings_; }
  // The protected resource metadata document (RFC 9728), served at settings().metadata_path.
  const std::string& metadata_document() const { return metadata_; }

  // Calls `done` once, at once when it can (a cached token, an API key), else when the
  // issuer's keys have been fetched. `peer` is the client's address, for the log.
  void authenticate(const transport::http::Request& req, const std::string& peer,
                    std::function<void(AuthResult)> done);

  std::size_t cached_tokens() const { return cache_.size(); }

 private:
  struct Cached {
    std::shared_ptr<const gov::Principal> principal;
    std::string binding;
    std::chrono::system_clock::time_point expires;
    std::size_t keys_of = SIZE_MAX;  // the issuer whose JWKS verified it (SIZE_MAX: none)
  };

  void verify_jwt(std::string token, const std::string& peer, std::function<void(AuthResult)> done);
  void introspect(std::string token, const std::string& peer, std::function<void(AuthResult)> done);
  AuthResult finish_jwt(const std::string& token, std::size_t issuer, const auth::KeySet* keys,
                        const std::string& keys_why);
  // A token's claims, checked (verify_token or read_introspection), as the principal.
  AuthResult from_checked(auth::TokenResult v, std::size_t issuer, const std::string& method);
  AuthResult from_api_key(std::string_view key, bool& unknown);
  AuthResult admitted(gov::Principal p, const std::string& way);
  AuthResult refused(unsigned status, std::string message, std::string error = {},
                     bool with_scope = false) const;
  // Keeps a verified token's result until `until` (unix seconds; <= 0: not kept).
  void remember(const std::string& hash, const AuthResult& r, std::int64_t until,
                std::size_t keys_of = SIZE_MAX);
  bool cached(const std::string& hash, const std::function<void(AuthResult)>& done);
  void log_refusal(const std::string& peer, const AuthResult& r);

  boost::asio::any_io_executor ex_;
  AuthSettings settings_;
  std::set<std::string> tenants_;
  std::string metadata_;
  std::vector<std::shared_ptr<JwksSource>> sources_;  // per issuer (null: introspection only)
  std::vector<std::shared_ptr<Introspector>> introspectors_;  // per issuer (null: none)
  std::size_t introspecting_ = 0;  // index of the issuer asked about opaque tokens, or size()
  std::unique_ptr<auth::ApiKeyFile> api_keys_;
  std::unordered_map<std::string, Cached> cache_;  // by SHA-256 of the token
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> logged_;  // by peer
};

}  // namespace gt::proxy
