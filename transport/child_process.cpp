#include "transport/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <system_error>

extern char** environ;

namespace gt::transport {

namespace {

std::atomic<std::size_t> g_running{0};  // ChildProcess::running()

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe");
  }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  int release(int i) {
    int f = fd[i];
    fd[i] = -1;
    return f;
  }
};

constexpr std::string_view kOwnPrefix = "GT_";

bool own_var(std::string_view name) {
  return name.substr(0, kOwnPrefix.size()) == kOwnPrefix;
}

}  // namespace

bool is_secret_env_var(std::string_view name) {
  for (auto s : kSecretEnvVars)
    if (s == name) return true;
  return false;
}

bool env_pattern_matches(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return !own_var(name) && name.substr(0, pattern.size()) == pattern;
  }
  return pattern == name;
}

std::string env_pattern_error(std::string_view pattern) {
  std::string_view name = pattern;
  if (!name.empty() && name.back() == '*') name.remove_suffix(1);
  bool ok = pattern != "" && (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0])));
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!ok) {
    return "`" + std::string(pattern) +
           "` is not a variable name (letters, digits, `_`), optionally ending in `*`";
  }
  if (is_secret_env_var(pattern)) {
    return "`" + std::string(pattern) + "` holds a GlassTape secret and is never given to a server";
  }
  if (pattern.back() == '*' && own_var(name)) {
    return "`" + std::string(pattern) +
           "` would match GlassTape's own `GT_` variables, which a pattern never passes: name "
           "each one that the server needs";
  }
  return {};
}

std::vector<std::string> child_environment(const char* const* parent, const ChildSpec& spec) {
  std::vector<std::string> out;
  for (const char* const* e = parent; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = kv.substr(0, eq);
    if (is_secret_env_var(key) || spec.env.count(std::string(key))) continue;
    bool pass = false;
    if (!spec.env_passthrough) {
      pass = !own_var(key);
    } else {
      for (const auto& p : *spec.env_passthrough)
        pass = pass || env_pattern_matches(p, key);
    }
    if (pass) out.emplace_back(kv);
  }
  for (const auto& [k, v] : spec.env)
    if (!is_secret_env_var(k)) out.push_back(k + "=" + v);
  return out;
}

ChildProcess::ChildProcess(boost::asio::any_io_executor ex, const ChildSpec& spec,
                           std::size_t max_line) {
  if (spec.argv.empty()) throw std::system_error(EINVAL, std::generic_category(), "empty command");
  Pipe in, out, err;

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.fd[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err.fd[1], 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT})
    sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // its own process group: we signal the whole tree
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  for (auto& a : spec.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto env_strings = child_environment(environ, spec);
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int rc = posix_spawnp(&pid_, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw std::system_error(rc, std::generic_category(), "cannot start `" + spec.argv[0] + "`");
  }
  g_running.fetch_add(1);
  io_ = std::make_shared<LineChannel>(ex, out.release(0), in.release(1), max_line);
  err_ = std::make_shared<LineChannel>(ex, err.release(0), -1, 64 * 1024);
}

ChildProcess::~ChildProcess() {
  if (io_) io_->close();
  if (err_) err_->close();
  if (!exited_ && pid_ > 0) {
    signal_group(SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    reaped();
  }
}

void ChildProcess::reaped() {
  exited_ = true;
  g_running.fetch_sub(1);
}

std::size_t ChildProcess::running() {
  return g_running.load();
}

void ChildProcess::start_stderr(std::function<void(std::string_view)> on_line) {
  LineChannel::Handlers h;
  h.on_line = std::move(on_line);
  h.on_oversize = [](std::string_view, std::size_t) {};
  err_->start(std::move(h));
}

void ChildProcess::signal_group(int sig) const {
  if (pid_ > 0) ::kill(-pid_, sig);
}

bool ChildProcess::try_reap() {
  if (exited_) return true;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped();
    status_ = st;
  }
  return exited_;
}

std::string ChildProcess::describe_exit() const {
  if (!exited_) return "still running";
  if (WIFEXITED(status_)) return "exited with status " + std::to_string(WEXITSTATUS(status_));
  if (WIFSIGNALED(status_)) {
    return "killed by signal " + std::to_string(WTERMSIG(status_)) + " (" +
           ::strsignal(WTERMSIG(status_)) + ")";
  }
  return "ended";
}

}  // namespace gt::transport
