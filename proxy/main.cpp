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
#include "proxy/logging.hpp"
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

// The subcommand the user reached last (`glasstape policy` for `glasstape policy frob`).
const CLI::App* deepest_parsed(const CLI::App& app) {
  const CLI::App* at = &app;
  for (;;) {
    auto subs = at->get_subcommands();
    if (subs.empty()) return at;
    at = subs.front();
  }
}

// "run, serve, policy, ...": the subcommands `at` offers.
std::string subcommand_list(const CLI::App& at) {
  std::string out;
  for (const auto* s : at.get_subcommands([](const CLI::App*) { return true; }))
    out += (out.empty() ? "" : ", ") + s->get_name();
  return out;
}

}  // namespace

// Exit codes (README "Exit codes"): 0 ok; 1 a check failed (damaged log, policy errors,
// failing policy tests, a denial from `policy eval`); 2 usage error or cannot run (bad
// arguments, unknown command, unreadable config, port in use). CLI11's own codes (105-114
// for parse errors) are folded into 2.
int main(int argc, char** argv) {
  hide_secrets();
  raise_descriptor_limit();
  bound_heap_retention();
  CLI::App app{"glasstape: validates, decides, signs and logs every MCP tool call"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "glasstape 0.1.0");
  app.footer(
      "Example:\n  glasstape run --config glasstape.yaml -- npx -y "
      "@modelcontextprotocol/server-filesystem /tmp\n\nExit codes: 0 ok, 1 check failed, 2 "
      "usage error or cannot run. `glasstape COMMAND --help` for each command.");
  int exit_code = 0;
  gt::proxy::cli::add_run_commands(app, exit_code);
  gt::proxy::cli::add_policy_commands(app, exit_code);
  gt::proxy::cli::add_audit_commands(app, exit_code);
  gt::proxy::cli::add_receipt_commands(app, exit_code);
  gt::proxy::cli::add_auth_commands(app, exit_code);
  gt::proxy::cli::add_tools_commands(app, exit_code);
  gt::proxy::cli::add_wrap_commands(app, exit_code);
  gt::proxy::cli::add_init_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A command group reached without a known subcommand: say which ones there are.
    const CLI::App* at = deepest_parsed(app);
    bool needs_sub = !at->get_subcommands([](const CLI::App*) { return true; }).empty() &&
                     at->get_subcommands().empty();
    if (e.get_exit_code() != 0 && needs_sub) {
      std::string prefix = at == &app ? "glasstape" : "glasstape " + at->get_name();
      auto rest = at->remaining();
      if (!rest.empty() && !rest.front().empty() && rest.front()[0] != '-') {
        std::fprintf(stderr, "%s: unknown command `%s`\n", prefix.c_str(), rest.front().c_str());
      } else {
        std::fprintf(stderr, "%s: a command is required\n", prefix.c_str());
      }
      std::fprintf(stderr, "commands: %s\nRun `%s --help` for more.\n",
                   subcommand_list(*at).c_str(), prefix.c_str());
      return 2;
    }
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    gt::proxy::print_fatal(e.what());
    return 2;
  }
  return exit_code;
}
