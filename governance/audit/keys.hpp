// Ed25519 signing keys (libsodium), key files, and the public keyring.
//
// Where an agent's key comes from, in order:
//   1. GT_ED25519_PRIVATE_KEY: base64 of a 32-byte seed or a 64-byte libsodium secret key
//      (seed || public key). One key for every tenant and agent of the process. A malformed
//      value is an error (never a silent fallback).
//   2. <root>/<tenant>/<agent>/agent.key, where <root> is $GT_KEYS_DIR or
//      ~/.glasstape/keys. The file holds the base64 seed. Directories are created 0700, the
//      file 0600, exactly once (an O_EXCL temp file linked into place).
// Key files and keyrings are read, and written, only where trust.hpp trusts them (as ssh's
// StrictModes: owned by us or root, nobody else can write them or a directory above them,
// and a private key nobody else can read).
// The key id is the lowercase hex of the first 8 bytes of SHA-256(32-byte public key).
//
// The keyring, <root>/<tenant>/keyring.json (public, 0644), lists every public key the
// tenant's agents have used, with validity windows. `keys rotate` closes the old key's
// window and opens the new one's, so old receipts stay verifiable. Private keys are never
// logged, never put into a receipt, and exist on disk only as agent.key.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gt::gov::audit {

struct Nonce;  // nonce_pool.hpp

struct KeyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kKeyEnvVar = "GT_ED25519_PRIVATE_KEY";
inline constexpr const char* kKeysDirEnvVar = "GT_KEYS_DIR";

struct PublicKey {
  std::array<std::uint8_t, 32> bytes{};
  std::string base64() const;
  bool operator==(const PublicKey&) const = default;
};

std::string key_id_of(const PublicKey& pk);
std::optional<PublicKey> public_key_from_base64(std::string_view b64);
// `sig` is the raw 64-byte signature.
bool ed25519_verify(const PublicKey& pk, std::string_view message, std::string_view sig);

class SigningKey {
 public:
  static SigningKey generate();
  static SigningKey from_seed(const std::uint8_t* seed32);
  // base64 of a 32-byte seed or a 64-byte secret key; `what` names the source in errors.
  // The value itself never appears in an error message.
  static SigningKey parse(std::string_view base64_text, const std::string& what);

  SigningKey(SigningKey&& o) noexcept;
  SigningKey& operator=(SigningKey&& o) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  const PublicKey& public_key() const { return pk_; }
  const std::string& key_id() const { return id_; }
  // RFC 8032 signing: deterministic, byte for byte what crypto_sign_detached() makes.
  void sign(std::string_view message, std::uint8_t sig[64]) const;
  std::string sign(std::string_view message) const;  // 64 raw bytes
  // The same signature scheme with a nonce made in advance (nonce_pool.hpp): only the
  // hash of R || A || M and two scalar operations remain. `nonce` must never be used again;
  // it is wiped here.
  void sign_with(Nonce& nonce, std::string_view message, std::uint8_t sig[64]) const;
  // For writing agent.key only.
  std::string seed_base64() const;

 private:
  SigningKey() = default;
  void wipe();
  void expand();
  std::array<std::uint8_t, 64> sk_{};  // libsodium secret key: seed || public key
  // RFC 8032 5.1.5, computed once: the clamped secret scalar `s` (32 bytes) and the nonce
  // prefix (32 bytes). libsodium 1.0.18 re-derives both from the seed on every signature.
  std::array<std::uint8_t, 64> expanded_{};
  PublicKey pk_;
  std::string id_;
};

// Tenant and agent names become path components: letters, digits, `.`, `_`, `-`, not `.`/`..`.
void check_key_name(const std::string& what, const std::string& name);
// An agent id may be any non-empty text of at most 256 bytes without control characters (an
// authenticated client's `sub` may be `auth0|42` or `bot@example.com`). Throws KeyError
// otherwise.
void check_agent_name(const std::string& agent);
// The directory an agent's key lives in under its tenant: the id itself when it is a safe
// path component of at most 128 bytes (check_key_name), else `agent-` and the first 32 hex
// digits of its SHA-256, so no id can leave the tenant's directory.
std::string agent_key_dir(const std::string& agent);

std::filesystem::path default_keys_root();  // $GT_KEYS_DIR or $HOME/.glasstape/keys
std::filesystem::path agent_key_path(const std::filesystem::path& root, const std::string& tenant,
                                     const std::string& agent);
std::filesystem::path keyring_path(const std::filesystem::path& root, const std::string& tenant);

// Reads a key file, refusing one that trust.hpp does not trust as a secret (a regular file,
// not a link, owned by us or root, mode 0600 or stricter, in directories nobody else can
// write).
SigningKey read_key_file(const std::filesystem::path& file);

enum class KeySource { Env, File, Generated };

struct AgentKey {
  SigningKey key;
  KeySource source;
  std::filesystem::path file;  // empty for Env
};

// The env key when GT_ED25519_PRIVATE_KEY is set; else the agent's key file, generated when
// missing and `create` is true. Records a keyring entry for a key seen for the first time.
AgentKey load_agent_key(const std::filesystem::path& root, const std::string& tenant,
                        const std::string& agent, bool create);
// The env key, when the variable is set (throws KeyError when malformed).
std::optional<SigningKey> env_key();

struct KeyringEntry {
  std::string key_id;
  PublicKey public_key;
  std::string tenant = "*";  // "*" = any
  std::string agent = "*";
  std::string not_before;  // RFC 3339; "" = since always
  std::string not_after;   // RFC 3339; "" = still valid
  // The one checkpoint origin (signed-note name) this key may sign for; "" = any. Set from a
  // C2SP verifier key (`name+hash+key`), which binds its key to its name.
  std::string origin;
};

// Seconds before `not_before` during which a key is still accepted: records queued just
// before a rotation may be signed with the new key a moment later.
inline constexpr std::int64_t kNotBeforeGraceSeconds = 60;

struct Keyring {
  std::vector<KeyringEntry> entries;

  static Keyring parse(std::string_view json_text, const std::string& where);  // throws KeyError
  // Throws KeyError, also when trust.hpp does not trust the file.
  static Keyring load(const std::filesystem::path& file);
  std::string to_json() const;
  void merge(const Keyring& other);
  // Entries for this key id (a key may be listed for several agents).
  std::vector<const KeyringEntry*> find(std::string_view key_id) const;
};

// Why a key may not sign a record at time `ts_micros` for tenant/agent (empty = it may).
std::string key_window_error(const KeyringEntry& e, std::int64_t ts_micros);
bool key_covers(const KeyringEntry& e, const std::string& tenant, const std::string& agent);

// Read-modify-write of a tenant keyring under an exclusive lock, written atomically.
void keyring_add(const std::filesystem::path& file, const KeyringEntry& entry);
void keyring_retire(const std::filesystem::path& file, const std::string& key_id,
                    const std::string& not_after);

struct Rotation {
  std::string old_key_id;
  AgentKey new_key;
};
// Replaces the agent's key file with a new key and updates the keyring. Refused when the key
// comes from GT_ED25519_PRIVATE_KEY.
Rotation rotate_agent_key(const std::filesystem::path& root, const std::string& tenant,
                          const std::string& agent);
// Creates the agent's key; KeyError when one exists already.
AgentKey generate_agent_key(const std::filesystem::path& root, const std::string& tenant,
                            const std::string& agent);

}  // namespace gt::gov::audit
