// Placeholder: the audit command group is being written (see commands.hpp). Registers nothing yet.
#include "proxy/cli/commands.hpp"

namespace gt::proxy::cli {

void add_audit_commands(CLI::App& /*app*/, int& /*exit_code*/) {}

}  // namespace gt::proxy::cli
