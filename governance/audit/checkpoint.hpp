// Checkpoints in C2SP tlog-checkpoint form (c2sp.org/tlog-checkpoint), as C2SP signed notes
// (c2sp.org/signed-note) with an Ed25519 signature:
//
//   glasstape/audit/<tenant>/<log id> origin (v1 logs, before they had a log id:
//                                     glasstape/audit/<tenant>)
//   1234                              tree size (records 0..1233)
//   <base64 RFC 6962 root hash>
//   chain-head <hex>                  v2 seals since 0.1.0's chain heads: SHA-256 (lowercase hex)
//                                     of the last line the tree covers, i.e. the `prev` of the
//                                     next line (a C2SP extension line; absent in older notes)
//                                     (blank line)
//   — glasstape/audit/<tenant> <base64(4-byte key hash || 64-byte signature)>
//
// The key name is the origin; the 4-byte key hash is SHA-256(name || 0x0A || 0x01 ||
// public key)[:4] (big-endian), and the signature covers the note text (the three or four
// lines, final newline included). The chain head lets a reader that follows the log from any
// point (the decisions page) tie each line to a signature by hashing forward to the seal,
// without the whole tree. Any signed-note verifier (e.g. golang.org/x/mod/sumdb/note)
// accepts it with the verifier key "<name>+<hex key hash>+<base64(0x01 || public key)>".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "governance/audit/keys.hpp"
#include "governance/audit/sha256.hpp"

namespace gt::gov::audit {

class NoncePool;

struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  Digest root{};
  std::string chain_head;  // lowercase hex SHA-256 of line size-1; "" when the note has none
};

inline constexpr std::string_view kChainHeadPrefix = "chain-head ";

// The origin of a tenant's log: with its random log id, so a new log, or another host's log
// signed with the same key, never has the same origin. An empty log id gives the v1 origin.
std::string checkpoint_origin(const std::string& tenant, std::string_view log_id = {});
std::string checkpoint_text(const Checkpoint& cp);
std::uint32_t note_key_hash(std::string_view name, const PublicKey& pk);
// The signed-note verifier key string for `name`.
std::string note_verifier_key(std::string_view name, const PublicKey& pk);
std::string sign_checkpoint(const Checkpoint& cp, const SigningKey& key);
// The same note with one signature line per key, in the order given (a seal: the log's key,
// then the key of every agent whose records it covers). With a nonce pool that has nonces
// ready, signatures use precomputed nonces (nonce_pool.hpp).
std::string sign_checkpoint(const Checkpoint& cp, const std::vector<const SigningKey*>& keys,
                            NoncePool* nonces = nullptr);

struct NoteSignature {
  std::string name;
  std::uint32_t key_hash = 0;
  std::string sig;  // raw signature bytes (after the 4-byte key hash)
};

struct SignedNote {
  std::string text;  // includes its final newline
  std::vector<NoteSignature> signatures;
};

std::optional<SignedNote> parse_note(std::string_view note, std::string* error = nullptr);
std::optional<Checkpoint> parse_checkpoint_text(std::string_view text,
                                                std::string* error = nullptr);

struct CheckpointCheck {
  bool ok = false;
  Checkpoint checkpoint;
  std::string key_id;                // the keyring key that verified it (the last one)
  std::vector<std::string> key_ids;  // every keyring key whose signature verified
  std::string error;
};

// Parses a signed checkpoint and verifies a signature named after its origin with a key of
// `keyring` (entries whose tenant is `*` or matches `tenant`, when `tenant` is non-empty).
// A known key whose signature fails rejects the note.
CheckpointCheck verify_checkpoint_note(std::string_view note, const Keyring& keyring,
                                       const std::string& tenant = {});

}  // namespace gt::gov::audit
