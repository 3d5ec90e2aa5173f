// glasstape: an MCP governance proxy. See README.md.
#include <malloc.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "proxy/cli/commands.hpp"
#include "transport/child_process.hpp"

extern char** environ;

namespace {

// `serve` holds a socket per client and three pipes per isolated session's server: 1,000
// sessions need more descriptors than the usual soft limit of 1024. The hard limit is the
// administrator's ceiling; the soft one is only a default, so it is raised to the hard one.
void raise_descriptor_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// A proxy is a long-running process that now and then carries a message of megabytes (a
// file written through a tool, up to the 16 MiB line limit). glibc's default mmap threshold
// adapts upwards after such a block is freed, so the next ones are carved from the heap and
// stay resident after they are freed: one 5 MB message left 5 MB behind. A fixed threshold
// keeps blocks of 256 KB and more in their own mappings, returned to the system on free.
void bound_heap_retention() {
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

// Upstream servers run as children of this process, as the same user. Their environment
// never holds a GlassTape secret (transport/child_process.hpp), but a child could still read
// ours: /proc/<ppid>/environ shows the environment block the process started with, and
// /proc/<ppid>/mem its memory. So (1) the process is made non-dumpable, as ssh-agent does:
// its /proc files then belong to root, it cannot be ptrace-attached by its own user, and it
// leaves no core dump holding a key; (2) each secret's value is moved out of the initial
// block (setenv copies it to the heap, where getenv() finds it) and wiped there.
void hide_secrets() {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  for (auto name : gt::transport::kSecretEnvVars) {
    std::string prefix = std::string(name) + "=";
    for (char** e = environ; e && *e; ++e) {
      if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) continue;
      char* original = *e + prefix.size();
      std::string value = original;
      if (::setenv(std::string(name).c_str(), value.c_str(), 1) != 0) break;
      ::explicit_bzero(original, value.size());
      ::explicit_bzero(value.data(), value.size());
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  hide_secrets();
  raise_descriptor_limit();
  bound_heap_retention();
  CLI::App app{"glasstape: validates, decides, signs and logs every MCP tool call"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "glasstape 0.1.0");
  int exit_code = 0;
  gt::proxy::cli::add_run_commands(app, exit_code);
  gt::proxy::cli::add_policy_commands(app, exit_code);
  gt::proxy::cli::add_audit_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glasstape: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
