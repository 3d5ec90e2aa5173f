// A policy public key file is read under the audit keys' trust rules
// (governance/audit/trust.hpp): refused when someone else could have written it.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include <catch2/catch.hpp>

#include <sodium.h>

#include "governance/policy/manifest.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;
using gt_test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("signing: a public key file others could write is refused", "[signing][trust]") {
  REQUIRE(sodium_init() >= 0);
  TempDir t;
  fs::path dir = t.path / "keys";
  fs::create_directory(dir);
  ::chmod(dir.c_str(), 0700);
  fs::path file = dir / "policy.pub";
  unsigned char seed[32];
  randombytes_buf(seed, sizeof seed);
  SecretKey sk;
  std::string err;
  REQUIRE(parse_secret_key(base64_encode(std::string_view(reinterpret_cast<char*>(seed), 32)), sk,
                           err));
  PublicKey want = public_key_of(sk);
  std::ofstream(file) << base64_encode(std::string_view(reinterpret_cast<char*>(want.data()), 32))
                      << "\n";
  ::chmod(file.c_str(), 0644);

  PublicKey pk{};
  REQUIRE(parse_public_key(file.string(), pk, err));
  CHECK(pk == want);

  ::chmod(file.c_str(), 0666);
  CHECK_FALSE(parse_public_key(file.string(), pk, err));
  CHECK_THAT(err, Catch::Contains("public key file `" + file.string() +
                                  "` is writable by group or others (mode 0666)") &&
                      Catch::Contains("chmod go-w " + file.string()));

  ::chmod(file.c_str(), 0644);
  ::chmod(dir.c_str(), 0777);
  CHECK_FALSE(parse_public_key(file.string(), pk, err));
  CHECK_THAT(err, Catch::Contains("directory `" + dir.string() + "` above public key file `" +
                                  file.string() + "` is writable by group or others"));

  ::chmod(dir.c_str(), 0700);
  if (::chown(file.c_str(), 65534, static_cast<gid_t>(-1)) == 0) {
    CHECK_FALSE(parse_public_key(file.string(), pk, err));
    CHECK_THAT(err, Catch::Contains("is owned by uid 65534"));
  } else {
    WARN("not root: the ownership check is not exercised");
  }
}
