// Witnessing: checkpoints pushed to a directory and to a command, with the failures an
// operator must hear about (a command that fails, hangs or is missing), no secret in the
// command's environment, and the last checkpoint pushed when the witness goes away.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "proxy/audit_witness.hpp"

using gt::proxy::Witness;
using gt::proxy::WitnessOptions;
namespace fs = std::filesystem;

namespace {

struct Tmp {
  fs::path path;
  Tmp() {
    std::string t = (fs::temp_directory_path() / "gt-witness-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~Tmp() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kId(32, 'a');
const std::string kNote = "glasstape/audit/acme/" + kId + "\n3\nAAAA\n\n\xE2\x80\x94 sig\n";

}  // namespace

TEST_CASE("witness: the latest checkpoint goes to the directory and the command", "[witness]") {
  Tmp t;
  WitnessOptions o;
  o.dir = t.path / "elsewhere";
  o.command = {"/bin/sh", "-c", "cat > \"$0\"", (t.path / "via-command").string()};
  o.interval = std::chrono::milliseconds(50);
  {
    Witness w(o, "acme");
    w.offer(kId, "old\n");
    w.offer(kId, kNote);  // only the latest is pushed
    for (int i = 0; i < 200 && w.stats().pushed == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(w.stats().pushed == 1);
    CHECK(slurp(gt::proxy::witness_checkpoint_path(o.dir, "acme", kId)) == kNote);
    CHECK(slurp(t.path / "via-command") == kNote);
    // Nothing new: nothing pushed again.
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    CHECK(w.stats().pushed == 1);
    w.offer(kId, kNote + "final\n");
  }  // destroyed before the next interval: the last note is pushed on the way out
  CHECK(slurp(t.path / "via-command") == kNote + "final\n");
}

TEST_CASE("witness: a failing, hanging or missing command is a failed push, retried", "[witness]") {
  Tmp t;
  WitnessOptions o;
  o.interval = std::chrono::milliseconds(30);
  o.timeout = std::chrono::milliseconds(300);
  const int kind = GENERATE(0, 1, 2);
  if (kind == 0) o.command = {"/bin/sh", "-c", "echo nope >&2; exit 3"};
  if (kind == 1) o.command = {"/bin/sh", "-c", "exec sleep 30"};  // hangs
  if (kind == 2) o.command = {(t.path / "no-such-program").string()};
  auto start = std::chrono::steady_clock::now();
  {
    Witness w(o, "acme");
    w.offer(kId, kNote);
    for (int i = 0; i < 300 && w.stats().failed < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(w.stats().failed >= 2);  // retried at the next interval
    CHECK(w.stats().pushed == 0);
  }
  // A hanging command is killed at its timeout, not waited for (bounded work: at most a few
  // timeouts, never the command's 30 s).
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
}

TEST_CASE("witness: the command never sees GlassTape's secrets or own variables", "[witness]") {
  Tmp t;
  ::setenv("GT_ED25519_PRIVATE_KEY", "secret-seed", 1);
  ::setenv("GT_KEYS_DIR", "/keys", 1);
  ::setenv("WITNESS_TEST_VISIBLE", "yes", 1);
  WitnessOptions o;
  o.command = {"/bin/sh", "-c", "env > \"$0\"", (t.path / "env").string()};
  o.interval = std::chrono::milliseconds(20);
  {
    Witness w(o, "acme");
    w.offer(kId, kNote);
  }
  ::unsetenv("GT_ED25519_PRIVATE_KEY");
  ::unsetenv("GT_KEYS_DIR");
  ::unsetenv("WITNESS_TEST_VISIBLE");
  std::string env = slurp(t.path / "env");
  CHECK(env.find("WITNESS_TEST_VISIBLE=yes") != std::string::npos);
  CHECK(env.find("secret-seed") == std::string::npos);
  CHECK(env.find("GT_KEYS_DIR") == std::string::npos);
}

TEST_CASE("witness: an unwritable directory is a failed push", "[witness]") {
  Tmp t;
  // A regular file where the directory should be: not writable even for root.
  std::ofstream(t.path / "not-a-dir") << "x";
  WitnessOptions o;
  o.dir = t.path / "not-a-dir";
  o.interval = std::chrono::milliseconds(20);
  {
    Witness w(o, "acme");
    w.offer(kId, kNote);
    for (int i = 0; i < 200 && w.stats().failed == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(w.stats().failed >= 1);
    CHECK(w.stats().pushed == 0);
  }
}
