// glasstape: an MCP governance proxy. See README.md.
#include <cstdio>
#include <exception>

#include "proxy/cli/commands.hpp"

int main(int argc, char** argv) {
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
