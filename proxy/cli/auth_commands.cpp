// Client authentication commands: `glasstape keys api-key` makes a new API key for an agent
// that cannot do OAuth. The key is printed once and never stored; the keys file gets only its
// SHA-256 (governance/auth/api_keys.hpp has the file's format).
#include <iostream>
#include <memory>
#include <string>

#include "governance/auth/api_keys.hpp"
#include "governance/auth/claims_map.hpp"
#include "proxy/cli/commands.hpp"

namespace gt::proxy::cli {

namespace {

struct ApiKeyArgs {
  std::string id;
  std::string agent;
  std::string tenant;
};

int run_api_key(const ApiKeyArgs& a) {
  if (a.tenant.empty() || !auth::is_safe_tenant(a.tenant)) {
    std::cerr << "glasstape: --tenant `" << a.tenant
              << "` is not a tenant id (1 to 64 letters, digits, `.`, `_`, `-`, not starting "
                 "with `.`)\n";
    return 2;
  }
  if (!auth::is_valid_agent_id(a.agent)) {
    std::cerr << "glasstape: --agent must be 1 to 256 bytes without control characters\n";
    return 2;
  }
  const std::string id = a.id.empty() ? a.agent + "-key" : a.id;
  if (!auth::is_safe_tenant(id)) {  // key ids follow the tenant alphabet
    std::cerr << "glasstape: key id `" << id
              << "` must be 1 to 64 letters, digits, `.`, `_`, `-` (give one with --id)\n";
    return 2;
  }
  const std::string key = auth::new_api_key();
  // The key on stdout's first line alone (for scripts); the entry for the keys file after it.
  std::cout << key << "\n"
            << "# Give the key above to the agent (it is not stored anywhere), and add this\n"
            << "# entry to the API keys file:\n"
            << "  - id: " << id << "\n"
            << "    sha256: " << auth::api_key_hash(key) << "\n"
            << "    principal:\n"
            << "      id: " << nlohmann::json(a.agent).dump() << "\n"
            << "      tenant: " << a.tenant << "\n";
  return 0;
}

}  // namespace

void add_auth_commands(CLI::App& app, int& exit_code) {
  auto* keys = app.get_subcommand("keys");
  auto args = std::make_shared<ApiKeyArgs>();
  auto* sub = keys->add_subcommand(
      "api-key", "Make a new API key for an agent; print it once, and its keys-file entry");
  sub->add_option("--agent", args->agent, "The agent (principal id) the key stands for")
      ->required();
  sub->add_option("--tenant", args->tenant, "Its tenant")->required();
  sub->add_option("--id", args->id, "Key id, shown in receipts and logs (default AGENT-key)");
  sub->footer(
      "Example:\n  glasstape keys api-key --agent ci-bot --tenant acme --id ci-bot-2026-12");
  sub->callback([args, &exit_code] { exit_code = run_api_key(*args); });
}

}  // namespace gt::proxy::cli
