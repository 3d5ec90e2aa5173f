// A stdio MCP server as a child process, in its own process group.
//   stdin/stdout → a LineChannel (JSON-RPC lines)
//   stderr       → on_stderr, one line at a time (the proxy logs it; never the client's stdout)
// The child is started with default signal dispositions and an empty signal mask, so a
// proxy that ignores SIGPIPE does not pass that on.
#pragma once

#include <sys/types.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "transport/line_channel.hpp"

namespace gt::transport {

// The child's environment. GlassTape's own variables (every name starting with `GT_`) hold
// its configuration and its secrets, such as the audit signing key; a server, often code
// fetched at run time, never sees them:
//   - without `env_passthrough`, the child inherits the proxy's environment minus every `GT_`
//     variable;
//   - with it, the child inherits only the variables it names: `NAME` (exact) or `PREFIX*`;
//     a `GT_` variable only when named exactly, never through a pattern;
//   - `env` is then set on top (the operator wrote those values);
//   - a secret (kSecretEnvVars) never reaches the child, whatever the spec says.
// The server's PATH lookup (posix_spawnp) uses the proxy's PATH.
struct ChildSpec {
  std::vector<std::string> argv;           // argv[0] is looked up on PATH
  std::map<std::string, std::string> env;  // set in the child, over what it inherits
  std::string cwd;                         // empty: inherit
  std::optional<std::vector<std::string>> env_passthrough;  // unset: all but `GT_*`
};

// Variables that hold GlassTape secrets. They never reach a child, and a config may not name
// them (`env_passthrough`) or expand them (`${...}`).
inline constexpr std::array<std::string_view, 1> kSecretEnvVars = {"GT_ED25519_PRIVATE_KEY"};
bool is_secret_env_var(std::string_view name);
// `pattern` is an env_passthrough entry: `NAME`, or `PREFIX*` (`*` alone: every name). A
// pattern never matches a `GT_` name; only the exact name does.
bool env_pattern_matches(std::string_view pattern, std::string_view name);
// Empty when `pattern` is a valid env_passthrough entry, else why not.
std::string env_pattern_error(std::string_view pattern);
// The child's environment (`NAME=value` strings) built from `parent` (as `environ`), by the
// rules above.
std::vector<std::string> child_environment(const char* const* parent, const ChildSpec& spec);

class ChildProcess {
 public:
  // Spawns the child. Throws std::system_error with a readable message on failure.
  ChildProcess(boost::asio::any_io_executor ex, const ChildSpec& spec, std::size_t max_line);
  ~ChildProcess();  // kills the group (SIGKILL) if still running and reaps it

  pid_t pid() const { return pid_; }
  const std::shared_ptr<LineChannel>& channel() const { return io_; }
  // Starts reading stderr; every line goes to `on_line`.
  void start_stderr(std::function<void(std::string_view)> on_line);
  // Sends `sig` to the whole process group.
  void signal_group(int sig) const;
  // Non-blocking reap: true once the child has exited (status in exit_status()).
  bool try_reap();
  bool exited() const { return exited_; }
  int exit_status() const { return status_; }
  std::string describe_exit() const;  // "exited with status 1", "killed by signal 9"
  // Children of this process started and not yet reaped, over all ChildProcess objects: a
  // front that is stopping waits for this to reach 0 rather than for a fixed grace period.
  static std::size_t running();

 private:
  void reaped();
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::shared_ptr<LineChannel> io_;
  std::shared_ptr<LineChannel> err_;
};

}  // namespace gt::transport
