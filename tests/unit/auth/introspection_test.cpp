// RFC 7662 introspection answers (governance/auth/introspection.hpp): only an active token
// whose answer shows this issuer, this resource, an expiry and the required scopes is
// admitted; everything else fails closed with its own reason.
#include <catch2/catch.hpp>

#include "governance/auth/introspection.hpp"

using gt::auth::introspection_request_body;
using gt::auth::read_introspection;
using gt::auth::TokenError;
using gt::auth::TokenRules;
using nlohmann::json;

namespace {

const auto kNow = std::chrono::system_clock::time_point{} + std::chrono::seconds(1796083200);

TokenRules rules() {
  TokenRules r;
  r.issuer = "https://login.example.com";
  r.audience = "https://mcp.example.com/mcp";
  r.required_scopes = {"mcp:tools"};
  return r;
}

json active() {
  return {{"active", true},
          {"iss", "https://login.example.com"},
          {"aud", "https://mcp.example.com/mcp"},
          {"exp", 1796083200 + 300},
          {"scope", "mcp:tools other"},
          {"sub", "ci-agent"},
          {"client_id", "ci-agent"},
          {"jti", "j-1"}};
}

}  // namespace

TEST_CASE("introspection: the request body is form-urlencoded", "[introspection]") {
  CHECK(introspection_request_body("abc-._~XYZ09") ==
        "token=abc-._~XYZ09&token_type_hint=access_token");
  CHECK(introspection_request_body("a+b/c=d&e f") ==
        "token=a%2Bb%2Fc%3Dd%26e%20f&token_type_hint=access_token");
}

TEST_CASE("introspection: an active token for this resource is admitted", "[introspection]") {
  auto r = read_introspection(active().dump(), rules(), kNow);
  INFO(r.why);
  REQUIRE(r.ok);
  CHECK(r.jti == "j-1");
  CHECK(r.claims["sub"] == "ci-agent");
  CHECK_FALSE(r.claims.contains("active"));
}

TEST_CASE("introspection: every other answer is refused with its reason", "[introspection]") {
  auto error_of = [](const json& j) {
    auto r = read_introspection(j.dump(), rules(), kNow);
    CHECK_FALSE(r.ok);
    return r.error;
  };
  CHECK(error_of({{"active", false}}) == TokenError::Inactive);
  CHECK(error_of(json::object()) == TokenError::Inactive);
  json j = active();
  j["active"] = "true";  // a string is not true
  CHECK(error_of(j) == TokenError::Inactive);
  CHECK(error_of(json::array({active()})) == TokenError::Malformed);
  j = active();
  j.erase("exp");  // no expiry: it could not be known until when to trust it
  CHECK(error_of(j) == TokenError::Malformed);
  j = active();
  j["exp"] = 1796083200 - 3600;
  CHECK(error_of(j) == TokenError::Expired);
  j = active();
  j.erase("aud");  // no audience: it could be another resource's token
  CHECK(error_of(j) == TokenError::Audience);
  j = active();
  j["aud"] = "https://other.example.com/mcp";
  CHECK(error_of(j) == TokenError::Audience);
  j = active();
  j["iss"] = "https://evil.example.com";
  CHECK(error_of(j) == TokenError::Issuer);
  j = active();
  j["scope"] = "other";
  CHECK(error_of(j) == TokenError::InsufficientScope);
  CHECK_FALSE(read_introspection("not json", rules(), kNow).ok);
  std::string huge = "{\"active\":true,\"pad\":\"" + std::string(70000, 'x') + "\"}";
  auto r = read_introspection(huge, rules(), kNow);
  CHECK(r.error == TokenError::Malformed);
  CHECK(r.why.find("too large") != std::string::npos);
}
