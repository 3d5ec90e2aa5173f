// What the offline audit commands (audit_commands.cpp, receipt_commands.cpp) share: where a
// config puts a tenant's log and keys, and reading the public keys a verifier is given.
#pragma once

#include <filesystem>
#include <string>

#include "governance/audit/keys.hpp"

namespace gt::proxy::cli {

inline constexpr const char* kDefaultAgent = "glasstape-agent";

// ~/.glasstape/audit/<tenant>: the proxy's default log directory.
std::filesystem::path default_audit_dir(const std::string& tenant);

// Where a config puts a tenant's log and keys (`governance.audit.dir`, `.keys_dir`, the
// identity's agent id), so the offline tools read what the proxy wrote. `tenant_id` empty:
// the config's first tenant. Throws ConfigError.
struct ConfigPaths {
  std::string tenant, agent;
  std::filesystem::path audit_dir, keys_dir;
  std::filesystem::path witness_dir;  // governance.audit.witness.dir, when set
};
ConfigPaths paths_from_config(const std::string& file, const std::string& tenant_id);

// A keyring of one public key read from `file`: the base64 of the 32-byte Ed25519 key (as
// `glasstape keys show` prints it), or a signed-note verifier key
// `<name>+<hex key hash>+<base64(0x01 || key)>`. The key may sign for any tenant and agent.
// Throws KeyError.
gov::audit::Keyring keyring_from_public_key_file(const std::filesystem::path& file);

}  // namespace gt::proxy::cli
