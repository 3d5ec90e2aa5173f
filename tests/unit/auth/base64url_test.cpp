// base64url as JOSE uses it: the RFC 4648 vectors without padding, and one spelling per value.
#include <catch2/catch.hpp>

#include "governance/auth/base64url.hpp"

using namespace gt::auth;

TEST_CASE("base64url: RFC 4648 vectors, unpadded", "[base64url]") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64url_encode(plain) == encoded);
    CHECK(base64url_decode(encoded) == std::optional<std::string>(plain));
  }
  // The two characters that differ from standard base64.
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK(base64url_decode("-_8") == std::optional<std::string>("\xfb\xff"));
}

TEST_CASE("base64url: decoding is strict", "[base64url]") {
  CHECK_FALSE(base64url_decode("Zg=="));    // padding
  CHECK_FALSE(base64url_decode("Zm9v="));   // padding
  CHECK_FALSE(base64url_decode("+/8"));     // the standard alphabet
  CHECK_FALSE(base64url_decode("Zm9 v"));   // whitespace
  CHECK_FALSE(base64url_decode("Zm9v\n"));  // newline
  CHECK_FALSE(base64url_decode("Zm9vY"));   // 4k+1 characters hold no whole byte
  CHECK_FALSE(base64url_decode("Zh"));      // non-zero trailing bits: another spelling of "f"
  CHECK_FALSE(base64url_decode("Zm9"));     // the same for "fo", which is Zm8
  CHECK(base64url_decode("Zm8"));
  CHECK_FALSE(base64url_decode(std::string("Zm\0v", 4)));  // NUL
}

TEST_CASE("base64url: every byte round-trips", "[base64url]") {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    const std::string s = all.substr(0, n);
    CHECK(base64url_decode(base64url_encode(s)) == std::optional<std::string>(s));
  }
}
