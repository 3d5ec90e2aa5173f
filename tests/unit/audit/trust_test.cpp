// Trusted files (governance/audit/trust.hpp): keys, keyrings and the directories above them
// are refused, as ssh's StrictModes refuses them, when someone else could have written them.
// The tests run as root in CI: files "owned by someone else" are chowned to uid 65534.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "audit_test_util.hpp"
#include "governance/audit/keys.hpp"
#include "governance/audit/trust.hpp"

using namespace gt::gov::audit;
using gt::gov::audit::test::ScopedEnv;
using gt::gov::audit::test::spit;
using gt::gov::audit::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr uid_t kOtherUid = 65534;  // nobody

std::string euid() {
  return std::to_string(::geteuid());
}

// Chowns to another user; false (and a warning) when this process may not.
bool give_away(const fs::path& p) {
  if (::chown(p.c_str(), kOtherUid, static_cast<gid_t>(-1)) == 0) return true;
  WARN("cannot chown " << p << " to uid 65534 (not root?): skipping that check");
  return false;
}

std::string refusal(const fs::path& file, Trust trust) {
  try {
    read_trusted(file, trust, "keyring", 1 << 20);
  } catch (const UntrustedFile& e) {
    return e.what();
  }
  return "trusted";
}

// A file holding `text` in a fresh 0700 directory of its own.
struct Fixture {
  TempDir tmp;
  fs::path dir, file;
  explicit Fixture(const std::string& text = "{}", unsigned mode = 0644) {
    dir = tmp.path / "keys";
    fs::create_directory(dir);
    ::chmod(dir.c_str(), 0700);
    file = dir / "keyring.json";
    spit(file, text);
    ::chmod(file.c_str(), mode);
  }
};

}  // namespace

TEST_CASE("trust: a file of our own in directories of our own is read", "[trust]") {
  Fixture f("hello");
  CHECK(read_trusted(f.file, Trust::Public, "keyring", 100) == "hello");
  ::chmod(f.file.c_str(), 0600);
  CHECK(read_trusted(f.file, Trust::Secret, "key file", 100) == "hello");
  ::chmod(f.file.c_str(), 0400);
  CHECK(read_trusted(f.file, Trust::Secret, "key file", 100) == "hello");
  // A root-owned sticky directory such as /tmp is fine above it (TempDir lives in one).
  CHECK_THROWS_AS(read_trusted(f.file, Trust::Public, "keyring", 4), std::system_error);
  CHECK_THROWS_AS(read_trusted(f.dir / "missing", Trust::Public, "keyring", 4), std::system_error);
}

TEST_CASE("trust: a file others can write is refused, with the fix", "[trust]") {
  for (unsigned mode : {0666u, 0664u, 0646u, 0620u}) {
    Fixture f("{}", mode);
    auto msg = refusal(f.file, Trust::Public);
    CHECK_THAT(msg, Catch::Contains("keyring `" + f.file.string() +
                                    "` is writable by group or "
                                    "others") &&
                        Catch::Contains("chmod go-w " + f.file.string()));
  }
  // Readable by others is fine for a public file, not for a private key.
  Fixture f("{}", 0644);
  CHECK(refusal(f.file, Trust::Public) == "trusted");
  for (unsigned mode : {0640u, 0604u, 0644u, 0660u}) {
    ::chmod(f.file.c_str(), mode);
    CHECK_THAT(refusal(f.file, Trust::Secret),
               Catch::Contains("is accessible by group or others") &&
                   Catch::Contains("chmod 600 " + f.file.string()));
  }
}

TEST_CASE("trust: a file owned by another user is refused, with the fix", "[trust]") {
  Fixture f("{}", 0666);
  if (!give_away(f.file)) return;
  // The owner is named first: chmod would not help.
  CHECK(refusal(f.file, Trust::Public) ==
        "keyring `" + f.file.string() + "` is owned by uid 65534, not by the current user (uid " +
            euid() + ") or root; refusing it (run `chown " + euid() + " " + f.file.string() +
            "` if you trust its content)");
  ::chmod(f.file.c_str(), 0600);
  CHECK_THAT(refusal(f.file, Trust::Secret), Catch::Contains("is owned by uid 65534"));
}

TEST_CASE("trust: a directory above the file that others can write is refused", "[trust]") {
  Fixture f;
  SECTION("the directory holding it") {
    ::chmod(f.dir.c_str(), 0777);
    CHECK(refusal(f.file, Trust::Public) ==
          "directory `" + f.dir.string() + "` above keyring `" + f.file.string() +
              "` is writable by group or others (mode 0777); refusing it (run `chmod go-w " +
              f.dir.string() + "`)");
  }
  SECTION("group-writable") {
    ::chmod(f.dir.c_str(), 0770);
    CHECK_THAT(refusal(f.file, Trust::Public), Catch::Contains("(mode 0770)"));
  }
  SECTION("further up") {
    ::chmod(f.tmp.path.c_str(), 0777);
    CHECK_THAT(refusal(f.file, Trust::Public),
               Catch::Contains("directory `" + f.tmp.path.string() + "` above keyring") &&
                   Catch::Contains("chmod go-w " + f.tmp.path.string()));
  }
  SECTION("world-writable with the sticky bit, owned by us") {
    // Only root's sticky directories (such as /tmp) are exempt.
    ::chmod(f.dir.c_str(), 01777);
    if (::geteuid() == 0) {
      CHECK(refusal(f.file, Trust::Public) == "trusted");
    } else {
      CHECK_THAT(refusal(f.file, Trust::Public), Catch::Contains("(mode 1777)"));
    }
  }
  SECTION("owned by another user") {
    if (!give_away(f.dir)) return;
    CHECK(refusal(f.file, Trust::Public) ==
          "directory `" + f.dir.string() + "` above keyring `" + f.file.string() +
              "` is owned by uid 65534, not by the current user (uid " + euid() +
              ") or root; refusing it (run `chown " + euid() + " " + f.dir.string() +
              "`, or keep the file in a directory of your own)");
  }
  SECTION("a sticky directory owned by another user") {
    ::chmod(f.dir.c_str(), 01777);
    if (!give_away(f.dir)) return;
    CHECK_THAT(refusal(f.file, Trust::Public), Catch::Contains("is owned by uid 65534"));
  }
}

TEST_CASE("trust: symbolic links are followed for public files, and checked both ways", "[trust]") {
  Fixture f;
  fs::path open = f.tmp.path / "open";
  fs::create_directory(open);
  ::chmod(open.c_str(), 0700);
  SECTION("a link in a safe directory to a file in an unsafe one") {
    fs::path target = open / "real.json";
    spit(target, "{}");
    ::chmod(target.c_str(), 0644);
    fs::path link = f.dir / "linked.json";
    fs::create_symlink(target, link);
    CHECK(read_trusted(link, Trust::Public, "keyring", 100) == "{}");
    ::chmod(open.c_str(), 0777);
    CHECK_THAT(refusal(link, Trust::Public),
               Catch::Contains("directory `" + open.string() + "` above keyring `" + link.string() +
                               "` is writable by group or others"));
  }
  SECTION("a link to a safe directory, inside an unsafe one") {
    fs::create_directory_symlink(f.dir, open / "keys");
    fs::path via = open / "keys" / "keyring.json";
    CHECK(read_trusted(via, Trust::Public, "keyring", 100) == "{}");
    ::chmod(open.c_str(), 0777);
    CHECK_THAT(refusal(via, Trust::Public), Catch::Contains("directory `" + open.string() + "`"));
  }
  SECTION("a private key is never read through a link") {
    ::chmod(f.file.c_str(), 0600);
    fs::path link = f.dir / "agent.key";
    fs::create_symlink(f.file, link);
    CHECK_THAT(refusal(link, Trust::Secret), Catch::Contains("is a symbolic link; refusing it"));
  }
}

TEST_CASE("trust: keys and keyrings in untrusted places are refused", "[trust][keys]") {
  TempDir d;
  ScopedEnv env(kKeyEnvVar, nullptr);
  fs::path root = d.path / "keys";
  AgentKey k = load_agent_key(root, "t", "a", true);
  auto file = agent_key_path(root, "t", "a");
  auto ring = keyring_path(root, "t");

  SECTION("a world-writable keys directory") {
    ::chmod(root.c_str(), 0777);
    CHECK_THROWS_WITH(load_agent_key(root, "t", "a", true),
                      Catch::Contains("directory `" + root.string() + "` above key file `" +
                                      file.string() + "` is writable by group or others") &&
                          Catch::Contains("chmod go-w " + root.string()));
    // No new key is written there either, and the keyring is not trusted.
    CHECK_THROWS_WITH(load_agent_key(root, "t", "b", true), Catch::Contains("chmod go-w"));
    CHECK_FALSE(fs::exists(agent_key_path(root, "t", "b")));
    CHECK_THROWS_WITH(Keyring::load(ring), Catch::Contains("above keyring"));
    CHECK_THROWS_WITH(rotate_agent_key(root, "t", "a"), Catch::Contains("chmod go-w"));
  }
  SECTION("a keyring others can write") {
    ::chmod(ring.c_str(), 0666);
    CHECK_THROWS_WITH(Keyring::load(ring), Catch::Contains("keyring `" + ring.string() +
                                                           "` is writable by group or "
                                                           "others (mode 0666)"));
    // Nothing is merged into it (an entry someone else put there would be laundered).
    KeyringEntry e;
    e.key_id = k.key.key_id();
    e.public_key = k.key.public_key();
    e.agent = "other";
    CHECK_THROWS_WITH(keyring_add(ring, e), Catch::Contains("writable by group or others"));
    // A new agent's key is not created while its keyring cannot be written.
    CHECK_THROWS_WITH(load_agent_key(root, "t", "c", true), Catch::Contains("(mode 0666)"));
    CHECK_FALSE(fs::exists(agent_key_path(root, "t", "c")));
  }
  SECTION("a keyring owned by another user, mode 0666") {
    ::chmod(ring.c_str(), 0666);
    if (!give_away(ring)) return;
    CHECK_THROWS_WITH(Keyring::load(ring),
                      Catch::Contains("keyring `" + ring.string() + "` is owned by uid 65534"));
  }
  SECTION("a key file owned by another user") {
    if (!give_away(file)) return;
    CHECK_THROWS_WITH(load_agent_key(root, "t", "a", true),
                      Catch::Contains("key file `" + file.string() + "` is owned by uid 65534") &&
                          Catch::Contains("chown " + euid() + " " + file.string()));
  }
  SECTION("an agent directory owned by another user") {
    if (!give_away(file.parent_path())) return;
    CHECK_THROWS_WITH(
        load_agent_key(root, "t", "a", true),
        Catch::Contains("directory `" + file.parent_path().string() + "` above key file") &&
            Catch::Contains("owned by uid 65534"));
  }
}
