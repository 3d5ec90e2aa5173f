// The validator's parts: ECMA-262 to RE2 translation, format checks, URI resolution, JSON
// equality and order.
#include <catch2/catch.hpp>

#include "governance/schema/format.hpp"
#include "governance/schema/json_util.hpp"
#include "governance/schema/regex.hpp"
#include "governance/schema/uri.hpp"

using nlohmann::json;
namespace d = gt::gov::schema::detail;

namespace {
bool search(const char* pattern, const std::string& text) {
  auto c = d::compile_ecma_regex(pattern, 1 << 20);
  INFO(pattern << ": " << c.error);
  REQUIRE(c.re);
  return d::regex_search(*c.re, text);
}
std::string translate(const char* p) {
  std::string out, err;
  if (!d::translate_ecma_regex(p, out, err)) return "error: " + err;
  return out;
}
}  // namespace

TEST_CASE("ECMA-262 patterns on RE2") {
  CHECK(search("^\\d+$", "0123"));
  CHECK_FALSE(search("^\\d+$", "\xd9\xa3"));  // ARABIC-INDIC DIGIT THREE is not \d
  CHECK(search("^\\s$", "\xc2\xa0"));         // NBSP is ECMA whitespace
  CHECK(search("^\\S$", "x"));
  CHECK(search("^\\u0041\\u{1F600}$", "A\xf0\x9f\x98\x80"));
  CHECK(search("^\\uD83D\\uDE00$", "\xf0\x9f\x98\x80"));
  CHECK(search("^(?<year>\\d{4})$", "2025"));
  CHECK(search("^\\cJ$", "\n"));
  CHECK(search("^[[:a]+$", "[:a"));  // '[' is a literal inside a class
  CHECK(search("^a.c$", "abc"));
  CHECK_FALSE(search("^a.c$", "a\rc"));  // the dot excludes line terminators
  CHECK(search("^\\p{Lu}\\P{Lu}$", "Ab"));
  CHECK(search("^\\p{Script=Greek}+$", "\xce\xb1\xce\xb2"));
  CHECK(search("^\\/$", "/"));
  CHECK(translate("(?=x)").rfind("error: lookaround", 0) == 0);
  CHECK(translate("(a)\\1").rfind("error: backreferences", 0) == 0);
  CHECK(translate("\\C").rfind("error: unsupported escape", 0) == 0);
  CHECK(translate("[a").rfind("error: unterminated", 0) == 0);
  CHECK(translate("\\p{Alphabetic}").rfind("error: unsupported property", 0) == 0);
  // RE2's own limits surface as errors too (e.g. a repeat count over 1000).
  CHECK_FALSE(d::compile_ecma_regex("a{5000}", 1 << 20).re);
  // Bounded memory: a tiny budget makes a big pattern fail instead of growing.
  CHECK_FALSE(d::compile_ecma_regex("(\\w{1,1000}){1,1000}", 64 << 10).re);
}

TEST_CASE("formats") {
  CHECK(d::is_date_time("2025-11-25T10:20:30.5+01:00"));
  CHECK(d::is_date_time("1990-12-31T23:59:60Z"));
  CHECK_FALSE(d::is_date_time("1990-12-31T22:59:60Z"));
  CHECK_FALSE(d::is_date_time("2025-11-25 10:20:30Z"));
  CHECK_FALSE(d::is_date_time("2025-11-25T10:20:30"));
  CHECK(d::is_date("2024-02-29"));
  CHECK_FALSE(d::is_date("2023-02-29"));
  CHECK_FALSE(d::is_date("2023-13-01"));
  CHECK(d::is_time("08:30:06Z"));
  CHECK_FALSE(d::is_time("24:00:00Z"));
  CHECK(d::is_email("joe.bloggs@example.com"));
  CHECK(d::is_email("\"joe bloggs\"@example.com"));
  CHECK_FALSE(d::is_email("joe..bloggs@example.com"));
  CHECK_FALSE(d::is_email("@example.com"));
  CHECK(d::is_hostname("www.example.com"));
  CHECK(d::is_hostname("xn--4gbwdl.xn--wgbh1c"));
  CHECK_FALSE(d::is_hostname("-a.com"));
  CHECK_FALSE(d::is_hostname(std::string(64, 'a') + ".com"));
  CHECK(d::is_ipv4("192.168.0.1"));
  CHECK_FALSE(d::is_ipv4("192.168.0.01"));
  CHECK_FALSE(d::is_ipv4("256.1.1.1"));
  CHECK_FALSE(d::is_ipv4("1.1.1"));
  CHECK(d::is_ipv6("::1"));
  CHECK(d::is_ipv6("2001:db8::8a2e:370:7334"));
  CHECK(d::is_ipv6("::ffff:192.168.0.1"));
  CHECK_FALSE(d::is_ipv6("12345::"));
  CHECK_FALSE(d::is_ipv6("1::2::3"));
  CHECK_FALSE(d::is_ipv6("1:2:3:4:5:6:7:8:9"));
  CHECK(d::is_uri("https://example.com/a?b=c#d"));
  CHECK(d::is_uri("urn:isbn:0451450523"));
  CHECK_FALSE(d::is_uri("//example.com"));
  CHECK_FALSE(d::is_uri("http://exa mple.com"));
  CHECK_FALSE(d::is_uri("http://example.com/%zz"));
  CHECK(d::is_uuid("2eb8aa08-aa98-11ea-b4aa-73b441d16380"));
  CHECK_FALSE(d::is_uuid("2eb8aa08aa9811eab4aa73b441d16380"));
}

TEST_CASE("URI reference resolution follows RFC 3986 5.4") {
  const char* base = "http://a/b/c/d;p?q";
  CHECK(d::resolve_uri(base, "g") == "http://a/b/c/g");
  CHECK(d::resolve_uri(base, "./g") == "http://a/b/c/g");
  CHECK(d::resolve_uri(base, "g/") == "http://a/b/c/g/");
  CHECK(d::resolve_uri(base, "/g") == "http://a/g");
  CHECK(d::resolve_uri(base, "//g") == "http://g");
  CHECK(d::resolve_uri(base, "?y") == "http://a/b/c/d;p?y");
  CHECK(d::resolve_uri(base, "#s") == "http://a/b/c/d;p?q#s");
  CHECK(d::resolve_uri(base, "..") == "http://a/b/");
  CHECK(d::resolve_uri(base, "../g") == "http://a/b/g");
  CHECK(d::resolve_uri(base, "../../g") == "http://a/g");
  CHECK(d::resolve_uri(base, "../../../g") == "http://a/g");
  CHECK(d::resolve_uri(base, "g;x=1/../y") == "http://a/b/c/y");
  CHECK(d::resolve_uri("urn:uuid:1234", "#foo") == "urn:uuid:1234#foo");
  std::string out;
  CHECK(d::percent_decode("a%25b%22", out));
  CHECK(out == "a%b\"");
  CHECK_FALSE(d::percent_decode("%2", out));
}

TEST_CASE("JSON equality and order") {
  std::uint64_t w = 0;
  CHECK(d::json_equal(json(1), json(1.0), w));
  CHECK(d::json_equal(json::parse("{\"a\":[1,2.0]}"), json::parse("{\"a\":[1.0,2]}"), w));
  CHECK_FALSE(d::json_equal(json(0), json(false), w));
  CHECK_FALSE(d::json_equal(json::array({1, 2}), json::array({2, 1}), w));
  CHECK(d::json_compare(json(std::numeric_limits<std::uint64_t>::max()), json(-1), w) > 0);
  CHECK(d::json_compare(json(9007199254740993LL), json(9007199254740992.0), w) > 0);
  CHECK(std::string(d::type_name(json(2.0))) == "integer");
  CHECK(std::string(d::type_name(json(2.5))) == "number");
  CHECK(d::utf8_length("\xcf\x80x") == 2);
}
