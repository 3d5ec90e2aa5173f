#include "proxy/audit_witness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <spdlog/spdlog.h>

#include "governance/audit/fsutil.hpp"
#include "transport/child_process.hpp"

extern char** environ;

namespace gt::proxy {

namespace fs = std::filesystem;
namespace fsutil = gov::audit::fsutil;
using SteadyClock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kMaxCommandOutput = 4096;
}

fs::path witness_checkpoint_path(const fs::path& dir, const std::string& tenant,
                                 const std::string& log_id) {
  return dir / tenant / (log_id.empty() ? std::string("no-log-id") : log_id) / "checkpoint";
}

Witness::Witness(WitnessOptions opts, std::string tenant)
    : opts_(std::move(opts)), tenant_(std::move(tenant)) {
  thread_ = std::thread([this] { loop(); });
}

Witness::~Witness() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  push_latest();  // the last checkpoint offered: the log's final one when it closed first
}

void Witness::offer(const std::string& log_id, std::string note) {
  std::lock_guard lk(mu_);
  latest_ = std::move(note);
  latest_log_id_ = log_id;
  ++offered_;
}

Witness::Stats Witness::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void Witness::loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait_for(lk, opts_.interval, [&] { return stop_; });
    if (stop_) return;
    lk.unlock();
    push_latest();
    lk.lock();
  }
}

bool Witness::push_latest() {
  std::string note, log_id;
  std::uint64_t seq = 0;
  {
    std::lock_guard lk(mu_);
    if (offered_ == pushed_seq_) return true;
    note = latest_;
    log_id = latest_log_id_;
    seq = offered_;
  }
  std::string error;
  if (!opts_.dir.empty()) error = push_to_dir(log_id, note);
  if (error.empty() && !opts_.command.empty()) error = run_command(note);
  std::lock_guard lk(mu_);
  if (!error.empty()) {
    ++stats_.failed;
    if (!failing_) {
      spdlog::error(
          "audit witness: cannot push the checkpoint of tenant `{}`: {}; retrying every {} ms "
          "(until then, records cut from the end of the log would go unnoticed)",
          tenant_, error, opts_.interval.count());
    }
    failing_ = true;
    return false;
  }
  if (failing_) spdlog::info("audit witness: checkpoints of tenant `{}` pushed again", tenant_);
  failing_ = false;
  ++stats_.pushed;
  pushed_seq_ = seq;
  return true;
}

std::string Witness::push_to_dir(const std::string& log_id, const std::string& note) const {
  const fs::path file = witness_checkpoint_path(opts_.dir, tenant_, log_id);
  try {
    fsutil::make_dirs(file.parent_path(), 0755);
    fsutil::atomic_write(file, note, 0644, true);
  } catch (const std::exception& e) {
    return "`" + file.string() + "`: " + e.what();
  }
  return {};
}

std::string Witness::run_command(const std::string& note) const {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return "pipe: " + fsutil::errno_text(errno);
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return "pipe: " + fsutil::errno_text(errno);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP})
    sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // killed as a group on timeout
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const auto& a : opts_.command)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The proxy's environment without GlassTape's own variables and secrets (the signing key
  // may be in GT_ED25519_PRIVATE_KEY): the same rule as for MCP servers.
  auto env_strings = transport::child_environment(environ, transport::ChildSpec{});
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    return "cannot run `" + opts_.command[0] + "`: " + fsutil::errno_text(rc);
  }
  // A note is a few hundred bytes: it fits the pipe, so this write does not block. A command
  // that exits without reading makes it fail with EPIPE; the SIGPIPE that comes with it is
  // blocked and taken back here, so it never reaches the process (whatever its disposition).
  sigset_t pipe_only, old_mask;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  bool wrote = ::write(in[1], note.data(), note.size()) == static_cast<ssize_t>(note.size());
  if (!wrote) {
    sigset_t pending;
    sigpending(&pending);
    const timespec zero{0, 0};
    if (sigismember(&pending, SIGPIPE) == 1) sigtimedwait(&pipe_only, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::close(in[1]);
  std::string output;
  const auto deadline = SteadyClock::now() + opts_.timeout;
  bool timed_out = false;
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[1024];
    ssize_t got = ::read(out[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the command closed its output (normally: it exited)
    if (output.size() < kMaxCommandOutput)
      output.append(buf, std::min<std::size_t>(got, kMaxCommandOutput - output.size()));
  }
  ::close(out[0]);
  if (timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // The command's output, on one line, for the operator's log.
  for (auto& c : output)
    if (c == '\n' || c == '\r' || static_cast<unsigned char>(c) < 0x20) c = ' ';
  const std::string said = output.empty() ? "" : " (it said: " + output + ")";
  if (timed_out) {
    return "`" + opts_.command[0] + "` did not finish within " +
           std::to_string(opts_.timeout.count()) + " ms and was killed" + said;
  }
  if (!wrote) return "could not give `" + opts_.command[0] + "` the checkpoint on stdin" + said;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFSIGNALED(status)) {
    return "`" + opts_.command[0] + "` was killed by signal " + std::to_string(WTERMSIG(status)) +
           said;
  }
  return "`" + opts_.command[0] + "` exited with status " + std::to_string(WEXITSTATUS(status)) +
         said;
}

}  // namespace gt::proxy
