// The audit directory lock and the lease of a log that appends alone (dir_lock.hpp).
#include "governance/audit/dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <catch2/catch.hpp>

#include "log_fixture.hpp"

using namespace gt::gov::audit;
using namespace gt::gov::audit::test;
using namespace std::chrono_literals;

namespace {

// Whether another open file description (another process, to flock) could take the lock now.
bool flock_free(const std::filesystem::path& dir) {
  int fd = ::open((dir / ".lock").c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  bool got = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);  // releases it
  return got;
}

}  // namespace

TEST_CASE("dir lock: a log alone keeps the flock from one batch to the next", "[dirlock]") {
  TempDir d;
  DirLock a(d.path, 1h);
  CHECK(a.sole());
  CHECK(flock_free(d.path));  // not taken before the first batch
  REQUIRE(a.lock(true));
  CHECK_FALSE(a.continued());  // the first batch catches up
  a.unlock();
  CHECK_FALSE(flock_free(d.path));
  REQUIRE(a.lock(false));
  CHECK(a.continued());  // nobody can have written in between
  a.unlock();
  CHECK(a.leases_given_up() == 0);
}

TEST_CASE("dir lock: a second log makes a sole one give the lease up", "[dirlock]") {
  TempDir d;
  DirLock a(d.path, 1h);
  a.lock(true);
  a.unlock();
  REQUIRE_FALSE(flock_free(d.path));
  // Returns (does not wait for ever): a hears the touch and lets go.
  DirLock b(d.path, 1h);
  CHECK_FALSE(a.sole());
  CHECK_FALSE(b.sole());
  CHECK(a.leases_given_up() == 1);
  CHECK(flock_free(d.path));
  // Both now take and release the flock for every batch, and neither may skip the catch-up.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(b.lock(true));
    CHECK_FALSE(b.continued());
    CHECK_FALSE(a.lock(false));  // b holds it
    b.unlock();
    CHECK(flock_free(d.path));
    REQUIRE(a.lock(true));
    CHECK_FALSE(a.continued());
    a.unlock();
    CHECK(flock_free(d.path));
  }
}

TEST_CASE("dir lock: a batch being written keeps the flock until it ends", "[dirlock]") {
  TempDir d;
  DirLock a(d.path, 1h);
  REQUIRE(a.lock(true));  // a batch in progress
  std::optional<DirLock> b;
  std::thread joiner([&] { b.emplace(d.path, 1h); });
  joiner.join();  // b has joined: a is no longer sole...
  CHECK_FALSE(a.sole());
  CHECK_FALSE(flock_free(d.path));  // ...but its batch still holds the flock
  a.unlock();
  CHECK(flock_free(d.path));
  REQUIRE(b->lock(false));
  b->unlock();
}

TEST_CASE("dir lock: a log left alone becomes sole again, not before", "[dirlock]") {
  TempDir d;
  DirLock a(d.path, 10ms);
  {
    DirLock b(d.path, 10ms);
    CHECK_FALSE(a.sole());
    std::this_thread::sleep_for(30ms);
    a.lock(true);  // tries again: b still holds `.writers`
    a.unlock();
    CHECK_FALSE(a.sole());
    CHECK(flock_free(d.path));
  }
  std::this_thread::sleep_for(30ms);
  a.lock(true);
  a.unlock();
  CHECK(a.sole());
  CHECK_FALSE(flock_free(d.path));
  // And gives it up again to the next one.
  DirLock c(d.path, 10ms);
  CHECK_FALSE(a.sole());
  CHECK(a.leases_given_up() == 2);
}

TEST_CASE("dir lock: a writer outside the protocol blocks, it never writes alongside",
          "[dirlock]") {
  // Anything else that appends takes the flock (e.g. an older GlassTape, which does not know
  // `.writers`): while a sole log holds it, that writer waits; it is never let in unchecked.
  TempDir d;
  DirLock a(d.path, 1h);
  a.lock(true);
  a.unlock();
  CHECK_FALSE(flock_free(d.path));
  // The protocol's own way in (touching `.lock`) is what makes a let go.
  int fd = ::open((d.path / ".lock").c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::futimens(fd, nullptr) == 0);
  for (int i = 0; i < 2000 && a.sole(); ++i)
    std::this_thread::sleep_for(1ms);
  CHECK_FALSE(a.sole());
  CHECK(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  ::close(fd);
}
