// RFC 7662 token introspection over HTTP(S): asks an issuer's introspection endpoint about an
// opaque access token, authenticating as the configured client (HTTP Basic, RFC 6749
// §2.3.1). What the answer means is governance/auth/introspection.hpp's.
//
// Bounded: at most kMaxInFlight questions at once (more are answered "busy", the front says
// 503), answers of at most 64 KiB, kTimeout each. The token goes only to the endpoint the
// operator configured; the client secret comes from an environment variable and is never
// logged.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "proxy/auth/auth_settings.hpp"
#include "transport/http_client.hpp"

namespace gt::proxy {

class Introspector : public std::enable_shared_from_this<Introspector> {
 public:
  static constexpr std::size_t kMaxInFlight = 64;
  static constexpr std::chrono::milliseconds kTimeout{10000};
  // (answer, why): the answer's body on HTTP 200, or nullopt and why there is none.
  using Done = std::function<void(std::optional<std::string>, const std::string&)>;

  // Throws ConfigError when the client cannot be set up (an unreadable ca_file).
  Introspector(boost::asio::any_io_executor ex, const IssuerSettings& issuer);
  void introspect(const std::string& token, Done done);
  void stop();

 private:
  const IssuerSettings& issuer_;
  transport::Url url_;
  std::shared_ptr<transport::http::Client> client_;
  std::string authorization_;  // "Basic …"
  std::size_t in_flight_ = 0;
  bool stopped_ = false;
};

}  // namespace gt::proxy
