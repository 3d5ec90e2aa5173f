// The environment of an upstream server (transport/child_process.hpp): GlassTape's own `GT_`
// variables and its secrets never reach it; `env_passthrough` gives a clean environment.
#include <algorithm>
#include <set>

#include <catch2/catch.hpp>

#include "transport/child_process.hpp"

using namespace gt::transport;

namespace {

const char* const kParent[] = {
    "PATH=/usr/bin:/bin",
    "HOME=/home/me",
    "LANG=C.UTF-8",
    "LC_ALL=C",
    "LC_CTYPE=C",
    "AWS_SECRET_ACCESS_KEY=aws",
    "GT_ED25519_PRIVATE_KEY=c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw==",
    "GT_KEYS_DIR=/keys",
    "GT_FUTURE_SECRET=later",
    "GTK_THEME=Adwaita",
    "NOEQUALS",
    nullptr,
};

std::set<std::string> env_of(const ChildSpec& spec) {
  auto v = child_environment(kParent, spec);
  return {v.begin(), v.end()};
}

bool has_name(const std::set<std::string>& env, const std::string& name) {
  return std::any_of(env.begin(), env.end(),
                     [&](const std::string& kv) { return kv.rfind(name + "=", 0) == 0; });
}

}  // namespace

TEST_CASE("child env: by default every GT_ variable is withheld, the rest inherited", "[env]") {
  ChildSpec spec;
  auto env = env_of(spec);
  CHECK(env == std::set<std::string>{"PATH=/usr/bin:/bin", "HOME=/home/me", "LANG=C.UTF-8",
                                     "LC_ALL=C", "LC_CTYPE=C", "AWS_SECRET_ACCESS_KEY=aws",
                                     "GTK_THEME=Adwaita"});
}

TEST_CASE("child env: `env` adds to and overrides the inherited environment", "[env]") {
  ChildSpec spec;
  spec.env = {{"HOME", "/srv"}, {"LOG_LEVEL", "warn"}, {"GT_KEYS_DIR", "/given"}};
  auto env = env_of(spec);
  CHECK(env.count("HOME=/srv"));
  CHECK_FALSE(env.count("HOME=/home/me"));
  CHECK(env.count("LOG_LEVEL=warn"));
  // The operator named it: it is set (from the config's value, not the proxy's).
  CHECK(env.count("GT_KEYS_DIR=/given"));
  CHECK_FALSE(env.count("GT_KEYS_DIR=/keys"));
  CHECK_FALSE(has_name(env, "GT_ED25519_PRIVATE_KEY"));
  CHECK(std::count_if(env.begin(), env.end(),
                      [](const std::string& kv) { return kv.rfind("HOME=", 0) == 0; }) == 1);
}

TEST_CASE("child env: env_passthrough gives a clean environment", "[env]") {
  ChildSpec spec;
  spec.env_passthrough = std::vector<std::string>{"PATH", "LC_*"};
  spec.env = {{"TOKEN", "t"}};
  CHECK(env_of(spec) ==
        std::set<std::string>{"PATH=/usr/bin:/bin", "LC_ALL=C", "LC_CTYPE=C", "TOKEN=t"});

  SECTION("an empty list: only `env`") {
    spec.env_passthrough = std::vector<std::string>{};
    CHECK(env_of(spec) == std::set<std::string>{"TOKEN=t"});
  }
  SECTION("`*`: everything but GlassTape's own variables") {
    spec.env_passthrough = std::vector<std::string>{"*"};
    spec.env.clear();
    CHECK(env_of(spec) == env_of(ChildSpec{}));
  }
  SECTION("a GT_ variable passes only when named exactly") {
    spec.env_passthrough = std::vector<std::string>{"G*", "GT_KEYS_DIR"};
    auto env = env_of(spec);
    CHECK(env.count("GT_KEYS_DIR=/keys"));
    CHECK(env.count("GTK_THEME=Adwaita"));
    CHECK_FALSE(has_name(env, "GT_FUTURE_SECRET"));
    CHECK_FALSE(has_name(env, "GT_ED25519_PRIVATE_KEY"));
  }
}

TEST_CASE("child env: a secret never reaches the child, whatever the spec says", "[env]") {
  ChildSpec spec;
  spec.env_passthrough =
      std::vector<std::string>{"GT_ED25519_PRIVATE_KEY", "GT_*", "*", "GT_ED25519_PRIVATE_*"};
  spec.env = {{"GT_ED25519_PRIVATE_KEY", "x"}};
  auto env = env_of(spec);
  CHECK_FALSE(has_name(env, "GT_ED25519_PRIVATE_KEY"));
  for (const auto& kv : env)
    CHECK(kv.find("c2VjcmV0") == std::string::npos);
  CHECK(is_secret_env_var("GT_ED25519_PRIVATE_KEY"));
  CHECK_FALSE(is_secret_env_var("GT_KEYS_DIR"));
}

TEST_CASE("child env: env_passthrough entries are checked", "[env]") {
  CHECK(env_pattern_error("PATH").empty());
  CHECK(env_pattern_error("LC_*").empty());
  CHECK(env_pattern_error("*").empty());
  CHECK(env_pattern_error("GT_KEYS_DIR").empty());
  CHECK(env_pattern_error("GTK_*").empty());
  CHECK_THAT(env_pattern_error("GT_ED25519_PRIVATE_KEY"), Catch::Contains("GlassTape secret"));
  CHECK_THAT(env_pattern_error("GT_*"), Catch::Contains("name each one"));
  CHECK_THAT(env_pattern_error("GT_ED*"), Catch::Contains("name each one"));
  for (const char* bad : {"", "A B", "A=B", "*A", "A*B", "1A", "**"})
    CHECK_THAT(env_pattern_error(bad), Catch::Contains("is not a variable name"));
  CHECK(env_pattern_matches("LC_*", "LC_ALL"));
  CHECK_FALSE(env_pattern_matches("LC_*", "LANG"));
  CHECK_FALSE(env_pattern_matches("PATH", "PATHS"));
  CHECK_FALSE(env_pattern_matches("*", "GT_KEYS_DIR"));
  CHECK(env_pattern_matches("GT_KEYS_DIR", "GT_KEYS_DIR"));
}
