#include "governance/auth/challenge.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace gt::auth;

TEST_CASE("challenge: the metadata URL inserts the well-known path (RFC 9728 §3.1)",
          "[challenge]") {
  CHECK(metadata_url("https://mcp.example.com/mcp") ==
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
  CHECK(metadata_url("http://127.0.0.1:8080/a/b") ==
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b");
  CHECK(metadata_url("https://h.example") ==
        "https://h.example/.well-known/oauth-protected-resource");
  CHECK(metadata_url("https://h.example/") ==
        "https://h.example/.well-known/oauth-protected-resource");
  CHECK_FALSE(metadata_url("ftp://h/mcp"));
  CHECK_FALSE(metadata_url("https:///mcp"));
  CHECK_FALSE(metadata_url("https://h/mcp?x=1"));
  CHECK_FALSE(metadata_url("https://h/mcp#f"));
  CHECK_FALSE(metadata_url("/mcp"));
}

TEST_CASE("challenge: the protected resource metadata document", "[challenge]") {
  auto j = nlohmann::json::parse(resource_metadata(
      {"https://mcp.example.com/mcp", {"https://idp.example.com"}, {"mcp:tools"}, "GlassTape"}));
  CHECK(j["resource"] == "https://mcp.example.com/mcp");
  CHECK(j["authorization_servers"] == nlohmann::json::array({"https://idp.example.com"}));
  CHECK(j["scopes_supported"] == nlohmann::json::array({"mcp:tools"}));
  CHECK(j["bearer_methods_supported"] == nlohmann::json::array({"header"}));
  CHECK(j["resource_name"] == "GlassTape");
  auto bare = nlohmann::json::parse(resource_metadata({"https://h/mcp", {}, {}, ""}));
  CHECK_FALSE(bare.contains("scopes_supported"));
  CHECK_FALSE(bare.contains("resource_name"));
  CHECK_FALSE(bare.contains("authorization_servers"));  // API keys only: no server to name
}

TEST_CASE("challenge: WWW-Authenticate values stay inside RFC 6750's grammar", "[challenge]") {
  CHECK(www_authenticate({"https://h/.well-known/oauth-protected-resource/mcp", "", "", {}}) ==
        R"(Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp")");
  CHECK(www_authenticate({"https://h/m",
                          "insufficient_scope",
                          "scope `mcp:admin` is missing",
                          {"mcp:tools", "mcp:admin"}}) ==
        R"(Bearer resource_metadata="https://h/m", error="insufficient_scope", )"
        R"(error_description="scope `mcp:admin` is missing", scope="mcp:tools mcp:admin")");
  // A quote, a backslash, a newline or non-ASCII cannot end the value or split the header.
  auto h =
      www_authenticate({"https://h/m", "invalid_token", "bad \"kid\"\\\r\nX-Evil: 1 \xc3\xa9", {}});
  CHECK(h == R"(Bearer resource_metadata="https://h/m", error="invalid_token", )"
             R"(error_description="bad ?kid????X-Evil: 1 ??")");
  CHECK(h.find('\n') == std::string::npos);
  // Bounded.
  auto longer = www_authenticate({"https://h/m", "invalid_token", std::string(5000, 'a'), {}});
  CHECK(longer.size() < 700);
}
