#include "proxy/cli/audit_paths.hpp"

#include <cstdlib>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/fsutil.hpp"
#include "proxy/config.hpp"
#include "proxy/interceptors/audit_recorder.hpp"

namespace gt::proxy::cli {

namespace audit = gov::audit;
namespace fs = std::filesystem;

fs::path default_audit_dir(const std::string& tenant) {
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/") / ".glasstape" / "audit" / tenant;
}

ConfigPaths paths_from_config(const std::string& file, const std::string& tenant_id) {
  Config c = load_config(file);
  const TenantConfig& t = tenant_id.empty() ? c.tenants.front() : c.tenant(tenant_id);
  InterceptorEnv env{c, t, false};
  AuditSettings s = parse_audit_settings(env, t.governance["audit"]);
  return {t.id, t.principal.id.empty() ? kDefaultAgent : t.principal.id, s.log.dir, s.keys_dir,
          s.witness.dir};
}

audit::Keyring keyring_from_public_key_file(const fs::path& file) {
  std::string text;
  try {
    text = audit::fsutil::read_file(file);
  } catch (const std::exception& e) {
    throw audit::KeyError(e.what());
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  std::optional<audit::PublicKey> pk = audit::public_key_from_base64(text);
  // A verifier key: `name+hash+key`, where the name has no `+` (base64 may have some), and
  // the key is base64 of the algorithm byte (1 = Ed25519) and the 32 key bytes. As in C2SP
  // signed notes, it verifies only signatures under its name: checkpoints of that one log.
  std::string origin;
  auto p1 = text.find('+');
  auto p2 = p1 == std::string::npos ? p1 : text.find('+', p1 + 1);
  if (!pk && p2 != std::string::npos) {
    auto raw = audit::base64_decode(std::string_view(text).substr(p2 + 1));
    if (raw && raw->size() == 33 && (*raw)[0] == 0x01) {
      pk = audit::public_key_from_base64(audit::base64_encode(raw->substr(1)));
    }
    if (pk) {
      origin = text.substr(0, p1);
      if (origin.empty() || audit::note_verifier_key(origin, *pk) != text) {
        throw audit::KeyError("`" + file.string() +
                              "`: the verifier key's hash does not match its name and key (it "
                              "was changed; copy it again from `glasstape keys show`)");
      }
    }
  }
  if (!pk) {
    throw audit::KeyError("`" + file.string() +
                          "` holds no Ed25519 public key (base64 of 32 bytes, or a checkpoint "
                          "verifier key from `glasstape keys show`)");
  }
  audit::Keyring ring;
  audit::KeyringEntry e;
  e.key_id = audit::key_id_of(*pk);
  e.public_key = *pk;
  e.origin = std::move(origin);
  ring.entries.push_back(e);
  return ring;
}

}  // namespace gt::proxy::cli
