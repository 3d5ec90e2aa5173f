#include "proxy/auth/jwks_source.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>
#include <boost/beast/http/verb.hpp>

#include "transport/rate_limited_log.hpp"

namespace gt::proxy {

namespace {

std::optional<std::string> read_small(const std::filesystem::path& p, std::string& why) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    why = "cannot read `" + p.string() + "`";
    return std::nullopt;
  }
  std::string s;
  s.resize(auth::KeySet::kMaxBytes + 1);
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(in.gcount()));
  if (s.size() > auth::KeySet::kMaxBytes) {
    why =
        "`" + p.string() + "` is larger than " + std::to_string(auth::KeySet::kMaxBytes) + " bytes";
    return std::nullopt;
  }
  return s;
}

std::int64_t mtime_ns(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

JwksSource::JwksSource(boost::asio::any_io_executor ex, const IssuerSettings& issuer)
    : ex_(std::move(ex)), issuer_(issuer), cache_(issuer.jwks) {
  const std::string where = "http.auth issuer `" + issuer.issuer + "`";
  if (!issuer.jwks_file.empty()) {
    std::string why;
    auto doc = read_small(issuer.jwks_file, why);
    if (!doc) throw ConfigError(where + ": jwks_file: " + why);
    auto set = auth::KeySet::parse(*doc, why);
    if (!set) throw ConfigError(where + ": jwks_file `" + issuer.jwks_file.string() + "`: " + why);
    for (const auto& s : set->skipped())
      spdlog::warn("auth: issuer `{}`: jwks_file: skipped {}", issuer.issuer, s);
    file_keys_ = std::make_shared<const auth::KeySet>(std::move(*set));
    file_mtime_ns_ = mtime_ns(issuer.jwks_file);
    file_checked_ = std::chrono::steady_clock::now();
    return;
  }
  std::string err;
  url_ = transport::Url::parse(issuer.jwks_uri, &err);
  if (!url_) throw ConfigError(where + ": jwks_uri: " + err);
  transport::http::ClientOptions o;
  o.max_connections = 1;
  o.ca_file = issuer.ca_file;
  try {
    client_ = std::make_shared<transport::http::Client>(ex_, *url_, o);
  } catch (const std::exception& e) {
    throw ConfigError(where + ": " + e.what());
  }
}

void JwksSource::start() {
  if (client_ && cache_.want_fetch(std::chrono::steady_clock::now())) fetch();
}

void JwksSource::stop() {
  stopped_ = true;
  if (call_) call_->cancel();
  if (client_) client_->close();
  waiters_.clear();
}

void JwksSource::reload_file() {
  // A key file is re-read when it changes, checked at most once a second.
  auto now = std::chrono::steady_clock::now();
  if (now - file_checked_ < std::chrono::seconds(1)) return;
  file_checked_ = now;
  auto m = mtime_ns(issuer_.jwks_file);
  if (m == file_mtime_ns_) return;
  file_mtime_ns_ = m;
  std::string why;
  auto doc = read_small(issuer_.jwks_file, why);
  std::optional<auth::KeySet> set;
  if (doc) set = auth::KeySet::parse(*doc, why);
  if (!set) {
    // The keys in force stay: a half-written file must not lock every client out.
    spdlog::error(
        "auth: issuer `{}`: jwks_file changed but cannot be used ({}); keeping the "
        "previous keys",
        issuer_.issuer, why);
    return;
  }
  spdlog::info("auth: issuer `{}`: jwks_file re-read ({} keys)", issuer_.issuer, set->size());
  file_keys_ = std::make_shared<const auth::KeySet>(std::move(*set));
}

bool JwksSource::in_force() {
  if (file_keys_) return true;
  auto now = std::chrono::steady_clock::now();
  if (!fetching_ && !stopped_ && cache_.want_fetch(now)) fetch();
  return cache_.keys(now) != nullptr;
}

void JwksSource::keys(std::string_view kid, Done done) {
  if (file_keys_) {
    reload_file();
    done(file_keys_.get(), {});
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (!fetching_ && cache_.want_fetch(now, kid)) fetch();
  const auth::KeySet* ks = cache_.keys(now);
  bool unknown_kid = ks && !kid.empty() && !ks->find(kid);
  if (fetching_ && (!ks || unknown_kid)) {
    // The fetch under way may bring the keys (or this kid): wait for it.
    if (waiters_.size() >= kMaxWaiters) {
      done(nullptr, "too many requests are waiting for the issuer's keys");
      return;
    }
    waiters_.emplace_back(std::string(kid), std::move(done));
    return;
  }
  done(ks, ks ? std::string()
              : "the issuer's keys are not available" +
                    (last_error_.empty() ? "" : " (" + last_error_ + ")"));
}

void JwksSource::fetch() {
  fetching_ = true;
  transport::http::ClientRequest req;
  req.method = boost::beast::http::verb::get;
  req.target = url_->target;
  req.headers = {{"Accept", "application/jwk-set+json, application/json"}};
  req.timeout = kFetchTimeout;
  auto body = std::make_shared<std::string>();
  auto status = std::make_shared<unsigned>(0);
  auto too_big = std::make_shared<bool>(false);
  std::weak_ptr<JwksSource> w = weak_from_this();
  transport::http::ResponseHandlers h;
  h.on_head = [status](const transport::http::ResponseHead& head) { *status = head.status; };
  h.on_data = [body, too_big, w](std::string_view chunk) {
    if (*too_big) return;
    if (body->size() + chunk.size() > auth::KeySet::kMaxBytes) {
      *too_big = true;
      body->clear();
      return;
    }
    body->append(chunk);
  };
  h.on_end = [w, body, status, too_big](const transport::http::Outcome& o) {
    auto self = w.lock();
    if (!self || self->stopped_) return;
    self->call_.reset();
    if (!o.ok()) {
      self->fetched(std::nullopt, o.error);
    } else if (*status != 200) {
      self->fetched(std::nullopt, "HTTP status " + std::to_string(*status));
    } else if (*too_big) {
      self->fetched(std::nullopt, "the document is larger than " +
                                      std::to_string(auth::KeySet::kMaxBytes) + " bytes");
    } else {
      self->fetched(std::move(*body), {});
    }
  };
  call_ = client_->request(std::move(req), std::move(h));
}

void JwksSource::fetched(std::optional<std::string> doc, const std::string& fetch_error) {
  static transport::RateLimitedLog failures(spdlog::level::err);
  fetching_ = false;
  auto now = std::chrono::steady_clock::now();
  std::string why;
  if (!cache_.fetched(now, doc, why)) {
    if (!doc) why = fetch_error;
    last_error_ = "fetching " + issuer_.jwks_uri + ": " + why;
    failures("auth: issuer `{}`: cannot use its JWKS from {}: {}", issuer_.issuer, issuer_.jwks_uri,
             why);
  } else {
    last_error_.clear();
    if (const auth::KeySet* ks = cache_.keys(now))
      spdlog::info("auth: issuer `{}`: {} signing keys from {}", issuer_.issuer, ks->size(),
                   issuer_.jwks_uri);
  }
  auto waiters = std::move(waiters_);
  waiters_.clear();
  const auth::KeySet* ks = cache_.keys(now);
  for (auto& [kid, done] : waiters) {
    done(ks, ks ? std::string() : "the issuer's keys are not available (" + last_error_ + ")");
  }
}

}  // namespace gt::proxy
