// A stdio MCP server as a child process, in its own process group.
//   stdin/stdout → a LineChannel (JSON-RPC lines)
//   stderr       → on_stderr, one line at a time (the proxy logs it; never the client's stdout)
// The child is started with default signal dispositions and an empty signal mask, so a
// proxy that ignores SIGPIPE does not pass that on.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "transport/line_channel.hpp"

namespace gt::transport {

struct ChildSpec {
  std::vector<std::string> argv;           // argv[0] is looked up on PATH
  std::map<std::string, std::string> env;  // added to (or replacing in) the inherited env
  std::string cwd;                         // empty: inherit
};

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

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::shared_ptr<LineChannel> io_;
  std::shared_ptr<LineChannel> err_;
};

}  // namespace gt::transport
