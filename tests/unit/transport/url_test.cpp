#include <catch2/catch.hpp>

#include "transport/url.hpp"

using gt::transport::Url;

TEST_CASE("url: parse http and https with defaults") {
  auto u = Url::parse("https://Example.COM/mcp");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->host == "example.com");
  CHECK(u->port == "443");
  CHECK(u->target == "/mcp");
  CHECK(u->tls());
  CHECK(u->host_header() == "example.com");
  CHECK(u->origin() == "https://example.com:443");

  auto v = Url::parse("http://127.0.0.1:8080");
  REQUIRE(v);
  CHECK(v->target == "/");
  CHECK(v->port == "8080");
  CHECK(v->host_header() == "127.0.0.1:8080");
  CHECK(!v->tls());
}

TEST_CASE("url: query kept, fragment dropped, IPv6 literal") {
  auto u = Url::parse("http://[::1]:3000/a/b?x=1&y=2#frag");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->ipv6());
  CHECK(u->port == "3000");
  CHECK(u->target == "/a/b?x=1&y=2");
  CHECK(u->host_header() == "[::1]:3000");
  CHECK(u->str() == "http://[::1]:3000/a/b?x=1&y=2");
}

TEST_CASE("url: refused forms say why") {
  std::string err;
  CHECK_FALSE(Url::parse("ftp://x/y", &err));
  CHECK(err.find("unsupported URL scheme `ftp`") != std::string::npos);
  CHECK_FALSE(Url::parse("http://user:pw@host/x", &err));
  CHECK(err.find("credentials") != std::string::npos);
  CHECK_FALSE(Url::parse("http://host:99999/", &err));
  CHECK(err.find("bad port") != std::string::npos);
  CHECK_FALSE(Url::parse("http://host:0/", &err));
  CHECK_FALSE(Url::parse("/relative", &err));
  CHECK_FALSE(Url::parse("http:///nohost", &err));
  CHECK_FALSE(Url::parse("http://ho st/", &err));
}

TEST_CASE("url: resolving references (the legacy SSE endpoint event)") {
  auto base = Url::parse("http://h:1/mcp/sse?token=1");
  REQUIRE(base);
  CHECK(base->resolve("/messages?sessionId=abc")->str() == "http://h:1/messages?sessionId=abc");
  CHECK(base->resolve("messages?s=1")->str() == "http://h:1/mcp/messages?s=1");
  CHECK(base->resolve("../x/./y")->str() == "http://h:1/x/y");
  CHECK(base->resolve("?q=2")->str() == "http://h:1/mcp/sse?q=2");
  CHECK(base->resolve("https://other:2/z")->origin() == "https://other:2");
  CHECK(base->resolve("//evil.example/p")->host == "evil.example");
  CHECK(base->resolve("/m")->origin() == base->origin());
}
