#include "proxy/auth/authenticator.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "governance/audit/sha256.hpp"
#include "governance/auth/base64url.hpp"
#include "governance/auth/challenge.hpp"
#include "governance/auth/introspection.hpp"
#include "governance/auth/quote.hpp"
#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace {

constexpr std::size_t kMaxLoggedPeers = 1024;
constexpr std::chrono::seconds kPeerLogInterval{60};

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// The `iss` of a compact JWS, unverified: only to choose which issuer's rules verify it.
std::optional<std::string> peek_issuer(std::string_view token) {
  auto a = token.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = token.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  auto payload = auth::base64url_decode(token.substr(a + 1, b - a - 1));
  if (!payload) return std::nullopt;
  auto j = nlohmann::json::parse(*payload, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto it = j.find("iss");
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// A checked token's `exp` in unix seconds (check_claims made sure it is a finite number), or
// 0 when it cannot be used as one.
std::int64_t exp_of(const gov::Principal& p) {
  auto exp = p.claims.find("exp");
  double e = exp != p.claims.end() && exp->is_number() ? exp->get<double>() : 0;
  return e > 0 && e < 1e11 ? static_cast<std::int64_t>(e) : 0;
}

std::string digest_key(std::string_view token) {
  auto d = gov::audit::sha256(token);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

Authenticator::Authenticator(boost::asio::any_io_executor ex, AuthSettings settings,
                             std::set<std::string> tenants)
    : ex_(std::move(ex)), settings_(std::move(settings)), tenants_(std::move(tenants)) {
  auth::ProtectedResource pr;
  pr.resource = settings_.resource;
  pr.name = settings_.resource_name;
  pr.scopes = settings_.scopes;
  for (const auto& is : settings_.issuers)
    pr.authorization_servers.push_back(is.issuer);
  metadata_ = auth::resource_metadata(pr);
  introspecting_ = settings_.issuers.size();
  for (std::size_t i = 0; i < settings_.issuers.size(); ++i) {
    const auto& is = settings_.issuers[i];
    bool keys = !is.jwks_uri.empty() || !is.jwks_file.empty();
    sources_.push_back(keys ? std::make_shared<JwksSource>(ex_, is) : nullptr);
    bool in = !is.introspection_endpoint.empty();
    introspectors_.push_back(in ? std::make_shared<Introspector>(ex_, is) : nullptr);
    if (in && introspecting_ == settings_.issuers.size()) introspecting_ = i;
  }
  if (!settings_.api_keys.empty()) {
    try {
      api_keys_ = std::make_unique<auth::ApiKeyFile>(settings_.api_keys.string());
    } catch (const std::exception& e) {
      throw ConfigError(std::string("http.auth.api_keys: ") + e.what());
    }
  }
}

void Authenticator::start() {
  for (auto& s : sources_)
    if (s) s->start();
}

void Authenticator::stop() {
  for (auto& s : sources_)
    if (s) s->stop();
  for (auto& i : introspectors_)
    if (i) i->stop();
}

AuthResult Authenticator::refused(unsigned status, std::string message, std::string error,
                                  bool with_scope) const {
  AuthResult r;
  r.status = status;
  r.message = std::move(message);
  if (status == 401 || status == 403) {
    auth::Challenge c;
    c.metadata_url = settings_.metadata_url;
    c.error = std::move(error);
    if (!c.error.empty()) {
      // The description is the reason alone: the status already says Unauthorized/Forbidden.
      std::string_view d = r.message;
      for (std::string_view lead : {"Unauthorized: ", "Forbidden: "})
        if (d.substr(0, lead.size()) == lead) d.remove_prefix(lead.size());
      c.description = std::string(d);
    }
    if (with_scope || c.error.empty()) c.scopes = settings_.scopes;
    r.www_authenticate = auth::www_authenticate(c);
  }
  return r;
}

AuthResult Authenticator::admitted(gov::Principal p, const std::string& way) {
  if (!tenants_.count(p.tenant)) {
    return refused(403, "Forbidden: agent " + auth::quote(p.id) + " belongs to tenant " +
                            auth::quote(p.tenant) + ", which this server does not serve");
  }
  AuthResult r;
  r.status = 200;
  r.binding = p.tenant + '\n' + way + '\n' + p.id;
  r.principal = std::make_shared<const gov::Principal>(std::move(p));
  return r;
}

void Authenticator::authenticate(const transport::http::Request& req, const std::string& peer,
                                 std::function<void(AuthResult)> done) {
  std::string_view authz(req[boost::beast::http::field::authorization]);
  std::string_view api_key = trim(req["X-API-Key"]);
  std::string_view bearer;
  auto refuse_now = [&](AuthResult r) {
    log_refusal(peer, r);
    done(std::move(r));
  };
  if (!authz.empty()) {
    if (!iequals_prefix(authz, "Bearer ")) {
      refuse_now(refused(401, "Unauthorized: the Authorization header must be `Bearer <token>`",
                         "invalid_request"));
      return;
    }
    bearer = trim(authz.substr(7));
  }
  if (bearer.empty() && api_key.empty()) {
    refuse_now(refused(401,
                       "Unauthorized: this server needs a credential (Authorization: Bearer "
                       "<token>); see " +
                           settings_.metadata_url));
    return;
  }
  if (!bearer.empty() && !api_key.empty()) {
    refuse_now(refused(401,
                       "Unauthorized: send one credential, not both Authorization and X-API-Key",
                       "invalid_request"));
    return;
  }
  std::string_view credential = bearer.empty() ? api_key : bearer;
  if (credential.size() > auth::kMaxTokenBytes) {
    refuse_now(refused(401,
                       "Unauthorized: the credential is larger than " +
                           std::to_string(auth::kMaxTokenBytes) + " bytes",
                       "invalid_token"));
    return;
  }
  // A JWS has exactly two dots; an API key (gtk_…, base64url) has none.
  if (api_key.empty() && std::count(credential.begin(), credential.end(), '.') == 2) {
    verify_jwt(std::string(credential), peer, std::move(done));
    return;
  }
  // An API key (the X-API-Key header takes nothing else), or else an opaque token for the
  // issuer that introspects them.
  bool unknown = false;
  std::optional<AuthResult> r;
  if (api_keys_ || !api_key.empty()) r = from_api_key(credential, unknown);
  if (api_key.empty() && (!r || unknown) && introspecting_ < introspectors_.size()) {
    introspect(std::string(credential), peer, std::move(done));
    return;
  }
  if (!r) {
    r = refused(401,
                "Unauthorized: the credential is not a JWT, and this server takes no API keys or "
                "opaque tokens",
                "invalid_token");
  }
  if (!r->ok()) log_refusal(peer, *r);
  done(std::move(*r));
}

AuthResult Authenticator::from_api_key(std::string_view key, bool& unknown) {
  unknown = false;
  if (!api_keys_)
    return refused(401, "Unauthorized: this server takes no API keys", "invalid_token");
  auto res = api_keys_->lookup(key, auth::Clock::now());
  unknown = !res.ok && res.refusal == auth::ApiKeyResult::Refusal::Unknown;
  if (!res.ok) return refused(401, "Unauthorized: " + res.why, "invalid_token");
  gov::Principal p = std::move(res.principal);
  p.claims = nlohmann::json::object();
  p.credential = {"api_key", "", res.key_id};
  return admitted(std::move(p), "api_key");
}

bool Authenticator::cached(const std::string& hash, const std::function<void(AuthResult)>& done) {
  auto it = cache_.find(hash);
  if (it == cache_.end()) return false;
  if (std::chrono::system_clock::now() >= it->second.expires) {
    cache_.erase(it);
    return false;
  }
  // A token verified with keys that are no longer in force (stale past max_stale) is verified
  // again, which refuses it until the issuer's keys can be had again.
  std::size_t k = it->second.keys_of;
  if (k < sources_.size() && sources_[k] && !sources_[k]->in_force()) return false;
  AuthResult r;
  r.status = 200;
  r.principal = it->second.principal;
  r.binding = it->second.binding;
  done(std::move(r));
  return true;
}

void Authenticator::verify_jwt(std::string token, const std::string& peer,
                               std::function<void(AuthResult)> done) {
  auto refuse_now = [&](AuthResult r) {
    log_refusal(peer, r);
    done(std::move(r));
  };
  if (std::none_of(sources_.begin(), sources_.end(), [](const auto& s) { return bool(s); })) {
    refuse_now(
        refused(401, "Unauthorized: this server takes no JWT access tokens", "invalid_token"));
    return;
  }
  std::string key = digest_key(token);
  if (cached(key, done)) return;
  // The issuer whose rules verify it: the one its `iss` names (checked again, verified, by
  // verify_token), or the only one there is.
  std::size_t which = sources_.size();
  if (auto iss = peek_issuer(token)) {
    for (std::size_t i = 0; i < settings_.issuers.size(); ++i)
      if (settings_.issuers[i].issuer == *iss) which = i;
    if (which == sources_.size() && sources_.size() > 1) {
      refuse_now(refused(
          401, "Unauthorized: the token's issuer " + auth::quote(*iss) + " is not trusted here",
          "invalid_token"));
      return;
    }
  }
  if (which == sources_.size()) which = 0;
  if (!sources_[which]) {
    refuse_now(refused(401,
                       "Unauthorized: issuer " + auth::quote(settings_.issuers[which].issuer) +
                           " is configured for opaque tokens only",
                       "invalid_token"));
    return;
  }
  auto kid = auth::peek_kid(token).value_or("");
  sources_[which]->keys(kid,
                        [this, token = std::move(token), key = std::move(key), which, peer,
                         done = std::move(done)](const auth::KeySet* keys, const std::string& why) {
                          AuthResult r = finish_jwt(token, which, keys, why);
                          if (r.ok()) {
                            remember(key, r, exp_of(*r.principal), which);
                          } else {
                            log_refusal(peer, r);
                          }
                          done(std::move(r));
                        });
}

AuthResult Authenticator::finish_jwt(const std::string& token, std::size_t issuer,
                                     const auth::KeySet* keys, const std::string& keys_why) {
  if (!keys) {
    AuthResult r;
    r.status = 503;
    r.message = "Service Unavailable: cannot verify the token: " + keys_why;
    return r;
  }
  return from_checked(auth::verify_token(token, *keys, settings_.issuers[issuer].rules,
                                         std::chrono::system_clock::now()),
                      issuer, "jwt");
}

AuthResult Authenticator::from_checked(auth::TokenResult v, std::size_t issuer,
                                       const std::string& method) {
  const IssuerSettings& is = settings_.issuers[issuer];
  if (!v.ok) {
    if (v.error == auth::TokenError::InsufficientScope) {
      return refused(403, "Forbidden: " + v.why, "insufficient_scope", true);
    }
    return refused(401, "Unauthorized: " + v.why, std::string(auth::oauth_error_code(v.error)));
  }
  std::string why;
  auto p = is.claims.map(v.claims, why);
  if (!p) {
    return refused(401, "Unauthorized: the token names no agent this server accepts: " + why,
                   "invalid_token");
  }
  p->claims = std::move(v.claims);
  p->credential = {method, is.issuer, v.jti};
  // JWT or introspection: one way in per issuer, so a session outlives the token's format.
  return admitted(std::move(*p), "token\n" + is.issuer);
}

void Authenticator::introspect(std::string token, const std::string& peer,
                               std::function<void(AuthResult)> done) {
  std::string key = digest_key(token);
  if (cached(key, done)) return;
  std::size_t which = introspecting_;
  introspectors_[which]->introspect(
      token, [this, key = std::move(key), which, peer, done = std::move(done)](
                 std::optional<std::string> answer, const std::string& why) {
        AuthResult r;
        if (!answer) {
          r.status = 503;
          r.message = "Service Unavailable: cannot introspect the token: " + why;
        } else {
          const IssuerSettings& is = settings_.issuers[which];
          r = from_checked(
              auth::read_introspection(*answer, is.rules, std::chrono::system_clock::now()), which,
              "introspection");
          if (r.ok() && is.introspection_cache.count() > 0) {
            // Trusted until exp, and no longer than cache_s: asking again is how a revoked
            // opaque token is found out.
            auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
            remember(
                key, r,
                std::min<std::int64_t>(exp_of(*r.principal), now + is.introspection_cache.count()));
          }
        }
        if (!r.ok()) log_refusal(peer, r);
        done(std::move(r));
      });
}

void Authenticator::remember(const std::string& hash, const AuthResult& r, std::int64_t until,
                             std::size_t keys_of) {
  if (settings_.token_cache == 0 || until <= 0) return;
  if (cache_.size() >= settings_.token_cache) {
    // Full: drop what has expired, and if that is not enough, everything (cheap to rebuild:
    // one signature check per token).
    auto now = std::chrono::system_clock::now();
    for (auto it = cache_.begin(); it != cache_.end();)
      it = it->second.expires <= now ? cache_.erase(it) : std::next(it);
    if (cache_.size() >= settings_.token_cache) cache_.clear();
  }
  // Kept until `exp` at most (verify_token allows `skew` beyond it): the cache never admits a
  // token verify_token would refuse as expired.
  cache_[hash] =
      Cached{r.principal, r.binding,
             std::chrono::system_clock::time_point(std::chrono::seconds(until)), keys_of};
}

void Authenticator::log_refusal(const std::string& peer, const AuthResult& r) {
  static transport::RateLimitedLog many(spdlog::level::warn);
  auto now = std::chrono::steady_clock::now();
  auto it = logged_.find(peer);
  if (it != logged_.end() && now - it->second < kPeerLogInterval) return;
  if (it == logged_.end() && logged_.size() >= kMaxLoggedPeers) {
    // Many clients refused at once: one line for all of them, every 10 s.
    many("auth: refused requests from more than {} client addresses; latest {} ({}): {}",
         kMaxLoggedPeers, peer, r.status, r.message);
    for (auto i = logged_.begin(); i != logged_.end();)
      i = now - i->second >= kPeerLogInterval ? logged_.erase(i) : std::next(i);
    return;
  }
  logged_[peer] = now;
  spdlog::warn("auth: refused a request from {} ({}): {}", peer, r.status, r.message);
}

}  // namespace gt::proxy
