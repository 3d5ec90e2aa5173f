// The HTTP front's authentication step (proxy/auth): `http.auth` parsing, and what a request
// with each kind of credential becomes — a principal with its tenant, claims and credential
// id, or the exact refusal (status, WWW-Authenticate) the client gets. Keys come from a JWKS
// file here (no network); the jwks_uri path is covered end to end (tests/e2e/auth_http).
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "governance/auth/api_keys.hpp"
#include "proxy/auth/authenticator.hpp"
#include "proxy/config.hpp"
#include "tests/unit/audit/audit_test_util.hpp"
#include "tests/unit/auth/jwt_test_util.hpp"

using gt::gov::audit::test::spit;
using gt::gov::audit::test::TempDir;
using gt::proxy::Authenticator;
using gt::proxy::AuthResult;
using gt::proxy::AuthSettings;
using gt::proxy::ConfigError;
using gt::proxy::parse_auth_settings;
using nlohmann::json;
namespace at = gt::auth::test;
namespace http = boost::beast::http;

namespace {

const std::string kIssuer = "https://login.example.com";
const std::string kResource = "http://127.0.0.1:8787/mcp";

gt::proxy::Config config_in(const std::filesystem::path& dir) {
  return gt::proxy::parse_config("servers:\n  s:\n    command: [/bin/true]\n", dir);
}

AuthSettings settings(const std::string& yaml, const std::filesystem::path& dir) {
  auto c = config_in(dir);
  auto s = parse_auth_settings(YAML::Load(yaml), c);
  REQUIRE(s);
  return std::move(*s);
}

std::string config_error(const std::string& yaml) {
  TempDir d;
  try {
    auto c = config_in(d.path);
    parse_auth_settings(YAML::Load(yaml), c);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "accepted";
}

json claims(long long exp_in = 300) {
  long long now = at::unix_seconds(std::chrono::system_clock::now());
  return {{"iss", kIssuer},       {"aud", kResource}, {"sub", "agent-7"},
          {"exp", now + exp_in},  {"iat", now},       {"jti", "jti-42"},
          {"scope", "mcp:tools"}, {"org", "acme"},    {"roles", {"analyst"}}};
}

std::string token(const json& payload, EVP_PKEY* key = at::keys().ec.get(),
                  const std::string& kid = "ec-1") {
  return at::make_token({{"alg", "ES256"}, {"typ", "at+jwt"}, {"kid", kid}}, payload.dump(), key);
}

struct Fixture {
  TempDir dir;
  boost::asio::io_context ioc;
  std::unique_ptr<Authenticator> auth;
  std::string api_key = gt::auth::new_api_key();

  explicit Fixture(const std::string& extra = "", std::set<std::string> tenants = {"acme"}) {
    spit(dir.path / "jwks.json", at::jwks({at::ec_jwk(at::keys().ec.get(), "ec-1")}).dump());
    spit(dir.path / "keys.yaml",
         "keys:\n  - id: ci-key\n    sha256: " + gt::auth::api_key_hash(api_key) +
             "\n    principal: {id: ci-bot, tenant: acme, roles: [ci]}\n");
    std::string yaml =
        "resource: " + kResource +
        "\nscopes: [mcp:tools]\napi_keys: keys.yaml\nissuers:\n  - issuer: " + kIssuer +
        "\n    jwks_file: jwks.json\n    claims: {id: sub, tenant: org, roles: "
        "roles}\n" +
        extra;
    auth = std::make_unique<Authenticator>(ioc.get_executor(), settings(yaml, dir.path),
                                           std::move(tenants));
  }

  AuthResult run(const std::vector<std::pair<std::string, std::string>>& headers) {
    gt::transport::http::Request req{http::verb::post, "/mcp", 11};
    for (const auto& [k, v] : headers)
      req.set(k, v);
    std::optional<AuthResult> out;
    auth->authenticate(req, "127.0.0.1", [&](AuthResult r) { out = std::move(r); });
    ioc.run();
    ioc.restart();
    REQUIRE(out);
    return std::move(*out);
  }
  AuthResult bearer(const std::string& t) { return run({{"Authorization", "Bearer " + t}}); }
};

}  // namespace

TEST_CASE("auth settings: every problem names its key", "[auth]") {
  CHECK(config_error("issuers: []\napi_keys: k.yaml\n").find("`resource` is required") !=
        std::string::npos);
  CHECK(config_error("resource: " + kResource + "\n").find("at least one way in") !=
        std::string::npos);
  CHECK(config_error("resource: ftp://x/mcp\napi_keys: k.yaml\n").find("http.auth.resource") !=
        std::string::npos);
  CHECK(config_error("resource: " + kResource + "\napi_keys: k.yaml\nbogus: 1\n")
            .find("unknown key `bogus`") != std::string::npos);
  CHECK(config_error("resource: " + kResource + "\nissuers: [{issuer: " + kIssuer +
                     ", jwks_file: a, jwks_uri: 'http://x/j', claims: {tenant_value: t}}]\n")
            .find("one of `jwks_uri` and `jwks_file`, not both") != std::string::npos);
  CHECK(config_error("resource: " + kResource + "\nissuers: [{issuer: " + kIssuer +
                     ", claims: {tenant_value: t}}]\n")
            .find("`introspection` (opaque tokens) is required") != std::string::npos);
  CHECK(config_error("resource: " + kResource + "\nissuers: [{issuer: " + kIssuer +
                     ", introspection: {endpoint: 'http://x/i', client_id: gt}, "
                     "claims: {tenant_value: t}}]\n")
            .find("`endpoint`, `client_id` and `client_secret_env` are required") !=
        std::string::npos);
  CHECK(config_error("resource: " + kResource + "\nissuers: [{issuer: " + kIssuer +
                     ", introspection: {endpoint: 'http://x/i', client_id: gt, "
                     "client_secret_env: GT_TEST_SURELY_UNSET_VARIABLE}, "
                     "claims: {tenant_value: t}}]\n")
            .find("`GT_TEST_SURELY_UNSET_VARIABLE` is not set") != std::string::npos);
  CHECK(config_error("resource: " + kResource + "\nissuers: [{issuer: " + kIssuer +
                     ", jwks_file: a, algorithms: [HS256], claims: {tenant_value: t}}]\n")
            .find("`HS256` is not supported") != std::string::npos);
  CHECK(config_error("resource: " + kResource + "\nissuers: [{issuer: " + kIssuer +
                     ", jwks_file: a}]\n")
            .find("http.auth.issuers[0].claims") != std::string::npos);
  CHECK(config_error("resource: " + kResource + "\nscopes: ['a\"b']\napi_keys: k.yaml\n")
            .find("not a valid scope token") != std::string::npos);
  TempDir d;
  auto s = settings("resource: " + kResource + "\napi_keys: k.yaml\n", d.path);
  CHECK(s.metadata_url == "http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp");
  CHECK(s.metadata_path == "/.well-known/oauth-protected-resource/mcp");
  CHECK(s.api_keys == d.path / "k.yaml");
  CHECK(parse_auth_settings(YAML::Node(), config_in(d.path)) == std::nullopt);
}

TEST_CASE("auth: no credential is a 401 pointing at the metadata", "[auth]") {
  Fixture f;
  auto r = f.run({});
  CHECK(r.status == 401);
  CHECK(r.www_authenticate ==
        "Bearer resource_metadata=\"http://127.0.0.1:8787/.well-known/oauth-protected-resource/"
        "mcp\", scope=\"mcp:tools\"");
  auto m = json::parse(f.auth->metadata_document());
  CHECK(m["resource"] == kResource);
  CHECK(m["authorization_servers"] == json::array({kIssuer}));
  CHECK(m["scopes_supported"] == json::array({"mcp:tools"}));
  // Another scheme, or two credentials at once, are refused as bad requests.
  auto basic = f.run({{"Authorization", "Basic dXNlcjpwYXNz"}});
  CHECK(basic.status == 401);
  CHECK(basic.www_authenticate.find("error=\"invalid_request\"") != std::string::npos);
  auto both = f.run({{"Authorization", "Bearer " + token(claims())}, {"X-API-Key", f.api_key}});
  CHECK(both.status == 401);
  CHECK(both.www_authenticate.find("error=\"invalid_request\"") != std::string::npos);
}

TEST_CASE("auth: a valid token becomes its principal, once verified then cached", "[auth]") {
  Fixture f;
  std::string t = token(claims());
  auto r = f.bearer(t);
  REQUIRE(r.ok());
  CHECK(r.principal->id == "agent-7");
  CHECK(r.principal->tenant == "acme");
  CHECK(r.principal->roles == std::vector<std::string>{"analyst"});
  CHECK(r.principal->claims["scope"] == "mcp:tools");
  CHECK(r.principal->credential.method == "jwt");
  CHECK(r.principal->credential.issuer == kIssuer);
  CHECK(r.principal->credential.id == "jti-42");
  CHECK(f.auth->cached_tokens() == 1);
  auto again = f.bearer(t);
  REQUIRE(again.ok());
  CHECK(again.principal == r.principal);  // the cached verification
  CHECK(again.binding == r.binding);
  // The scheme is case-insensitive (RFC 9110 §11.1).
  CHECK(f.run({{"Authorization", "bearer " + t}}).ok());
}

TEST_CASE("auth: each bad token gets 401 invalid_token and is not cached", "[auth]") {
  Fixture f;
  auto expect_invalid = [&](const std::string& t, const std::string& in_why) {
    auto r = f.bearer(t);
    INFO(r.message);
    CHECK(r.status == 401);
    CHECK(r.www_authenticate.find("error=\"invalid_token\"") != std::string::npos);
    CHECK(r.message.find(in_why) != std::string::npos);
    CHECK(r.www_authenticate.find(t) == std::string::npos);
  };
  json c = claims();
  c["aud"] = "http://127.0.0.1:9999/other";
  expect_invalid(token(c), "aud");
  expect_invalid(token(claims(-3600)), "expired");
  c = claims();
  c["iss"] = "https://evil.example.com";
  expect_invalid(token(c), "iss");
  expect_invalid(token(claims(), at::keys().ec2.get(), "ec-1"), "signature");
  expect_invalid(token(claims(), at::keys().ec2.get(), "ec-unknown"), "ec-unknown");
  c = claims();
  c.erase("org");
  expect_invalid(token(c), "no agent");
  // alg none, and HS256 keyed with the public key: the classic confusions.
  std::string none = at::signing_input({{"alg", "none"}, {"kid", "ec-1"}}, claims().dump()) + ".";
  expect_invalid(none, "none");
  json hs_header = {{"alg", "HS256"}, {"kid", "ec-1"}};
  std::string input = at::signing_input(hs_header, claims().dump());
  expect_invalid(
      input + "." +
          gt::auth::base64url_encode(at::hmac_sha256(at::public_pem(at::keys().ec.get()), input)),
      "HS256");
  CHECK(f.auth->cached_tokens() == 0);
}

TEST_CASE("auth: a missing scope is 403 insufficient_scope naming the scope", "[auth]") {
  Fixture f;
  json c = claims();
  c["scope"] = "other";
  auto r = f.bearer(token(c));
  CHECK(r.status == 403);
  CHECK(r.www_authenticate.find("error=\"insufficient_scope\"") != std::string::npos);
  CHECK(r.www_authenticate.find("scope=\"mcp:tools\"") != std::string::npos);
}

TEST_CASE("auth: a tenant the front does not serve is 403", "[auth]") {
  Fixture f("", {"globex"});
  auto r = f.bearer(token(claims()));
  CHECK(r.status == 403);
  CHECK(r.message.find("`acme`") != std::string::npos);
  auto k = f.run({{"X-API-Key", f.api_key}});
  CHECK(k.status == 403);
}

TEST_CASE("auth: API keys, as Bearer or X-API-Key; unknown ones are refused", "[auth]") {
  Fixture f;
  auto r = f.bearer(f.api_key);
  REQUIRE(r.ok());
  CHECK(r.principal->id == "ci-bot");
  CHECK(r.principal->tenant == "acme");
  CHECK(r.principal->credential.method == "api_key");
  CHECK(r.principal->credential.id == "ci-key");
  CHECK(r.principal->claims == json::object());
  auto h = f.run({{"X-API-Key", f.api_key}});
  REQUIRE(h.ok());
  CHECK(h.binding == r.binding);
  auto bad = f.bearer(gt::auth::new_api_key());
  CHECK(bad.status == 401);
  CHECK(bad.www_authenticate.find("error=\"invalid_token\"") != std::string::npos);
}

TEST_CASE("auth: bindings tell principals, tenants and ways in apart", "[auth]") {
  Fixture f;
  json other = claims();
  other["sub"] = "agent-8";
  auto a = f.bearer(token(claims()));
  auto b = f.bearer(token(other));
  auto k = f.bearer(f.api_key);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(k.ok());
  CHECK(a.binding != b.binding);
  CHECK(a.binding != k.binding);
  json same = claims();
  same["jti"] = "another-token";
  CHECK(f.bearer(token(same)).binding == a.binding);  // a new token of the same agent
}
