// API keys, for agents that cannot do OAuth. The proxy never holds a key: the operator's keys
// file lists each key's SHA-256 and the principal it stands for, and a presented key is
// hashed and looked up. Rotation is editing the file; ApiKeyFile picks the edit up without a
// restart.
//
// The keys file (YAML):
//
//   keys:
//     - id: ci-bot-2026-12          # key id: appears in receipts and logs (never the key)
//       sha256: 3f2a...             # lowercase hex SHA-256 of the key's bytes (64 hex digits)
//       principal:
//         id: ci-bot                # required
//         tenant: acme              # required: no tenant, no access
//         roles: [deployer]
//         attributes: {team: infra}
//       expires: 2027-06-30T00:00:00Z   # optional, RFC 3339 in UTC (`Z`)
//       revoked: true                    # optional; a revoked key is refused with its own reason
//
// `glasstape keys api-key` prints a new key (new_api_key) and its `sha256:` line
// (api_key_hash). The file is read strictly, and a file with any problem is refused whole:
//   - only `keys` at the top, a list (`keys: []` for none) of at most 10,000 entries;
//   - in an entry only the keys above, each once; in `principal` only id, tenant, roles and
//     attributes;
//   - a key id is 1 to 64 letters, digits, `.`, `_`, `-`, not starting with `.`, and unique;
//   - `sha256` is 64 lowercase hex digits and unique (two ids for one key would make the
//     receipt's key id a guess). A bad value is never echoed: it may be a key pasted there
//     by mistake;
//   - the principal meets the rules of claims_map.hpp: an agent id of at most 256 bytes
//     without control characters, a safe tenant id, at most 64 roles of at most 256 bytes,
//     each attribute at most 4 KiB serialized;
//   - `revoked` is `true` or `false`, `expires` a valid date-time ending in `Z`.
// Errors read "api keys file `PATH`, line L, column C: keys[I].FIELD: problem". The file is
// at most 1 MiB and read under the trust rules of governance/audit/trust.hpp (owned by us or
// root, and neither it nor a directory above it writable by others): whoever can write it
// can let themselves in as any principal.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "governance/audit/sha256.hpp"
#include "governance/principal.hpp"

namespace gt::auth {

using Clock = std::chrono::system_clock;

struct ApiKeyResult {
  enum class Refusal {
    None,     // ok: `principal` is who the caller is
    Unknown,  // no such key (or a length no key has); `key_id` is empty
    Revoked,  // the key's entry says `revoked: true` (checked before expiry)
    Expired,  // `now` is at or after the entry's `expires`
  };
  bool ok = false;
  Refusal refusal = Refusal::Unknown;
  std::string why;           // one line for the client and the log; never contains the key
  std::string key_id;        // the matching entry's id, also when it is refused
  gov::Principal principal;  // set when ok
};

class ApiKeyStore {
 public:
  static constexpr std::size_t kMaxFileBytes = 1 << 20;
  static constexpr std::size_t kMaxKeys = 10000;
  // A presented key outside these lengths is Unknown before it is hashed: ours are 47
  // bytes, and a megabyte header is not worth hashing.
  static constexpr std::size_t kMinKeyBytes = 16;
  static constexpr std::size_t kMaxKeyBytes = 512;

  // Reads and checks the keys file; nullopt and why when it cannot be read, cannot be
  // trusted, or has any problem.
  static std::optional<ApiKeyStore> load(const std::string& path, std::string& why);
  // The same from text; `name` leads the error messages (load passes "api keys file `PATH`").
  static std::optional<ApiKeyStore> parse(std::string_view yaml, const std::string& name,
                                          std::string& why);

  ApiKeyResult lookup(std::string_view presented, Clock::time_point now) const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string id;
    gov::audit::Digest digest;
    gov::Principal principal;
    std::optional<Clock::time_point> expires;
    bool revoked = false;
  };
  struct DigestHash {
    std::size_t operator()(const gov::audit::Digest& d) const;
  };
  struct DigestEqual {  // constant time: the digest of a presented key is compared
    bool operator()(const gov::audit::Digest& a, const gov::audit::Digest& b) const;
  };

  std::vector<Entry> entries_;
  std::unordered_map<gov::audit::Digest, std::size_t, DigestHash, DigestEqual> by_digest_;
};

struct ApiKeyFileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The keys file, reloaded when it changes. current(now) re-stats the file at most once per
// second of `now` (or whenever `now` went backwards), and reloads it when its device, inode,
// size, mtime or ctime changed. An edited file that cannot be loaded (invalid, untrusted or
// unreadable) does not replace the last good one: the keys loaded before stay in force, and
// the reason is logged once per version of the file (spdlog::error), until a good version is
// in place. So a typo never locks every agent out; to revoke a key, mark it `revoked` and
// check the log for "api keys file" errors. A removed file is different: it is the way to
// stop every key at once, so every key is refused (fail closed) until the file is back.
//
// Edit the file by writing a new one and renaming it over the old (as `sed -i` and most
// deployment tools do): a file rewritten in place can be read half-written.
//
// Thread-safe. A store handed out stays valid for as long as its holder keeps it, also after
// a reload replaced it.
class ApiKeyFile {
 public:
  // Loads the file; throws ApiKeyFileError with the reason when it cannot (a file missing at
  // start is an error: an empty keys file is written `keys: []`).
  explicit ApiKeyFile(std::string path);

  std::shared_ptr<const ApiKeyStore> current(Clock::time_point now);
  // current(now)->lookup(presented, now).
  ApiKeyResult lookup(std::string_view presented, Clock::time_point now);
  const std::string& path() const { return path_; }

 private:
  struct Version {  // what tells one version of the file from the next
    bool exists = false;
    int error = 0;  // errno of a failed stat
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    timespec mtime{}, ctime{};
    bool operator==(const Version& o) const;
  };
  Version stat_file() const;

  std::string path_;
  std::mutex mu_;
  std::shared_ptr<const ApiKeyStore> store_;
  Version seen_;  // the version last loaded or last refused
  std::optional<Clock::time_point> checked_;
};

// A new key: `gtk_` and 32 random bytes in base64url without padding (47 characters).
std::string new_api_key();
// The lowercase hex SHA-256 of `key`: the `sha256:` value of its entry in the keys file.
std::string api_key_hash(std::string_view key);

}  // namespace gt::auth
