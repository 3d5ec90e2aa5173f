// The glasstape command line is assembled from command groups, one file each:
//   run_commands.cpp     run (stdio front), serve (HTTP front)
//   policy_commands.cpp  policy check | test | sign
//   audit_commands.cpp   verify, tail, recover, keys generate | show | rotate
//   receipt_commands.cpp receipt, verify-receipt (one receipt, provable without the log)
//   auth_commands.cpp    keys api-key (after the audit group, which makes `keys`)
//   tools_commands.cpp   tools diff | approve | pins
//   wrap_commands.cpp    wrap (a client's config file → servers behind glasstape run)
//   init_commands.cpp    init (a starter config and policy set for a client's servers)
// Each group adds its subcommands to the app. A subcommand's callback stores its process
// exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace gt::proxy::cli {

void add_run_commands(CLI::App& app, int& exit_code);
void add_policy_commands(CLI::App& app, int& exit_code);
void add_audit_commands(CLI::App& app, int& exit_code);
void add_receipt_commands(CLI::App& app, int& exit_code);
void add_auth_commands(CLI::App& app, int& exit_code);
void add_tools_commands(CLI::App& app, int& exit_code);
void add_wrap_commands(CLI::App& app, int& exit_code);
void add_init_commands(CLI::App& app, int& exit_code);

}  // namespace gt::proxy::cli
