#include "governance/audit/keys.hpp"

// Low-level SHA-512: see sha512_of() below.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <fcntl.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <system_error>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "governance/audit/encoding.hpp"
#include "governance/audit/fsutil.hpp"
#include "governance/audit/nonce_pool.hpp"
#include "governance/audit/sha256.hpp"
#include "governance/audit/time.hpp"
#include "governance/audit/trust.hpp"

namespace gt::gov::audit {

namespace fs = std::filesystem;

namespace {
constexpr std::size_t kMaxKeyFileBytes = 4096;
constexpr std::size_t kMaxKeyringBytes = 16u << 20;
}  // namespace

std::string PublicKey::base64() const {
  return base64_encode(bytes.data(), bytes.size());
}

std::string key_id_of(const PublicKey& pk) {
  Digest d = sha256(std::string_view(reinterpret_cast<const char*>(pk.bytes.data()), 32));
  return hex_encode(d.data(), 8);
}

std::optional<PublicKey> public_key_from_base64(std::string_view b64) {
  auto raw = base64_decode(b64);
  if (!raw || raw->size() != 32) return std::nullopt;
  PublicKey pk;
  std::memcpy(pk.bytes.data(), raw->data(), 32);
  return pk;
}

bool ed25519_verify(const PublicKey& pk, std::string_view message, std::string_view sig) {
  ensure_sodium();
  if (sig.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), pk.bytes.data()) == 0;
}

// --- SigningKey -----------------------------------------------------------------------------

SigningKey SigningKey::generate() {
  ensure_sodium();
  std::uint8_t seed[32];
  randombytes_buf(seed, sizeof seed);
  SigningKey k = from_seed(seed);
  sodium_memzero(seed, sizeof seed);
  return k;
}

SigningKey SigningKey::from_seed(const std::uint8_t* seed32) {
  ensure_sodium();
  SigningKey k;
  crypto_sign_seed_keypair(k.pk_.bytes.data(), k.sk_.data(), seed32);
  k.expand();
  k.id_ = key_id_of(k.pk_);
  return k;
}

SigningKey SigningKey::parse(std::string_view text, const std::string& what) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  auto raw = base64_decode_secret(text);
  if (!raw)
    throw KeyError(what + ": not valid base64 (expected a 32-byte seed or a 64-byte secret key)");
  if (raw->size() != 32 && raw->size() != 64) {
    std::size_t n = raw->size();
    sodium_memzero(raw->data(), raw->size());
    throw KeyError(what + ": decodes to " + std::to_string(n) +
                   " bytes; expected a 32-byte seed or a 64-byte secret key");
  }
  SigningKey k = from_seed(reinterpret_cast<const std::uint8_t*>(raw->data()));
  if (raw->size() == 64 && std::memcmp(raw->data() + 32, k.pk_.bytes.data(), 32) != 0) {
    sodium_memzero(raw->data(), raw->size());
    throw KeyError(what + ": the public half of the 64-byte secret key does not match its seed");
  }
  sodium_memzero(raw->data(), raw->size());
  return k;
}

SigningKey::SigningKey(SigningKey&& o) noexcept
    : sk_(o.sk_), expanded_(o.expanded_), pk_(o.pk_), id_(std::move(o.id_)) {
  o.wipe();
}

SigningKey& SigningKey::operator=(SigningKey&& o) noexcept {
  if (this != &o) {
    wipe();
    sk_ = o.sk_;
    expanded_ = o.expanded_;
    pk_ = o.pk_;
    id_ = std::move(o.id_);
    o.wipe();
  }
  return *this;
}

SigningKey::~SigningKey() {
  wipe();
}

void SigningKey::wipe() {
  sodium_memzero(sk_.data(), sk_.size());
  sodium_memzero(expanded_.data(), expanded_.size());
}

void SigningKey::expand() {
  crypto_hash_sha512(expanded_.data(), sk_.data(), 32);
  expanded_[0] &= 248;
  expanded_[31] &= 127;
  expanded_[31] |= 64;
}

namespace {

// SHA-512 for signing: OpenSSL's assembly through the low-level interface (no provider
// lookup, no allocation, and no provider initialisation; see sha256.cpp). libsodium 1.0.18's
// portable SHA-512 is about a third slower, and the message is hashed twice per signature.
bool sha512_of(std::uint8_t out[64], std::string_view a, std::string_view b, std::string_view m) {
  SHA512_CTX ctx;
  bool ok = SHA512_Init(&ctx) == 1 && SHA512_Update(&ctx, a.data(), a.size()) == 1 &&
            (b.empty() || SHA512_Update(&ctx, b.data(), b.size()) == 1) &&
            SHA512_Update(&ctx, m.data(), m.size()) == 1 && SHA512_Final(out, &ctx) == 1;
  sodium_memzero(&ctx, sizeof ctx);  // the nonce hash absorbed the secret prefix
  return ok;
}

std::string_view bytes(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

}  // namespace

void SigningKey::sign(std::string_view message, std::uint8_t sig[64]) const {
  // RFC 8032 5.1.6 with the expanded key kept from construction, built from libsodium's
  // Ed25519 primitives: r = H(prefix || M) mod L, R = rB, k = H(R || A || M) mod L,
  // S = r + k*s mod L. Deterministic, so the signature is byte for byte the one
  // crypto_sign_detached() makes (crypto_test checks this); it is about 8% faster, which is
  // most of the audit writer's time. Any primitive failing falls back to libsodium.
  std::uint8_t h[64], r[32], k[32], ks[32];
  bool ok = sha512_of(h, bytes(expanded_.data() + 32, 32), {}, message);
  if (ok) {
    crypto_core_ed25519_scalar_reduce(r, h);
    ok = crypto_scalarmult_ed25519_base_noclamp(sig, r) == 0 &&
         sha512_of(h, bytes(sig, 32), bytes(pk_.bytes.data(), 32), message);
  }
  if (ok) {
    crypto_core_ed25519_scalar_reduce(k, h);
    crypto_core_ed25519_scalar_mul(ks, k, expanded_.data());
    crypto_core_ed25519_scalar_add(sig + 32, ks, r);
  } else {
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), sk_.data());
  }
  sodium_memzero(h, sizeof h);
  sodium_memzero(r, sizeof r);
  sodium_memzero(ks, sizeof ks);
}

void SigningKey::sign_with(Nonce& nonce, std::string_view message, std::uint8_t sig[64]) const {
  // R = rB was computed with the nonce; S = r + k*s mod L with k = H(R || A || M) mod L.
  std::uint8_t h[64], k[32], ks[32];
  std::memcpy(sig, nonce.R_point.data(), 32);
  if (sha512_of(h, bytes(sig, 32), bytes(pk_.bytes.data(), 32), message)) {
    crypto_core_ed25519_scalar_reduce(k, h);
    crypto_core_ed25519_scalar_mul(ks, k, expanded_.data());
    crypto_core_ed25519_scalar_add(sig + 32, ks, nonce.r.data());
  } else {
    sign(message, sig);
  }
  sodium_memzero(&nonce, sizeof nonce);
  sodium_memzero(h, sizeof h);
  sodium_memzero(ks, sizeof ks);
}

std::string SigningKey::sign(std::string_view message) const {
  std::string out(64, '\0');
  sign(message, reinterpret_cast<std::uint8_t*>(out.data()));
  return out;
}

std::string SigningKey::seed_base64() const {
  return base64_encode_secret(sk_.data(), 32);
}

// --- key files ------------------------------------------------------------------------------

void check_key_name(const std::string& what, const std::string& name) {
  if (name.empty() || name == "." || name == ".." ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos) {
    throw KeyError(what + " `" + name +
                   "` must be non-empty and use only letters, digits, `.`, `_`, `-`");
  }
}

void check_agent_name(const std::string& agent) {
  bool ok = !agent.empty() && agent.size() <= 256;
  for (unsigned char c : agent)
    if (c < 0x20 || c == 0x7f) ok = false;
  if (!ok) {
    throw KeyError("agent id must be 1 to 256 bytes without control characters");
  }
}

std::string agent_key_dir(const std::string& agent) {
  check_agent_name(agent);
  bool safe =
      agent.size() <= 128 && agent != "." && agent != ".." &&
      agent.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == std::string::npos;
  return safe ? agent : "agent-" + sha256_hex(agent).substr(0, 32);
}

fs::path default_keys_root() {
  if (const char* d = std::getenv(kKeysDirEnvVar); d && *d) return fs::path(d);
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/") / ".glasstape" / "keys";
}

fs::path agent_key_path(const fs::path& root, const std::string& tenant, const std::string& agent) {
  check_key_name("tenant", tenant);
  return root / tenant / agent_key_dir(agent) / "agent.key";
}

fs::path keyring_path(const fs::path& root, const std::string& tenant) {
  check_key_name("tenant", tenant);
  return root / tenant / "keyring.json";
}

namespace {

// Trust failures and read errors of key material are KeyErrors.
template <typename F>
auto key_errors(F&& f) {
  try {
    return f();
  } catch (const UntrustedFile& e) {
    throw KeyError(e.what());
  } catch (const std::system_error& e) {
    throw KeyError(e.what());
  }
}

}  // namespace

SigningKey read_key_file(const fs::path& file) {
  std::string text =
      key_errors([&] { return read_trusted(file, Trust::Secret, "key file", kMaxKeyFileBytes); });
  try {
    SigningKey k = SigningKey::parse(text, "key file `" + file.string() + "`");
    sodium_memzero(text.data(), text.size());
    return k;
  } catch (...) {
    sodium_memzero(text.data(), text.size());
    throw;
  }
}

std::optional<SigningKey> env_key() {
  const char* v = std::getenv(kKeyEnvVar);
  if (!v) return std::nullopt;
  return SigningKey::parse(v, kKeyEnvVar);
}

namespace {

// Writes a new key file exactly once: an O_EXCL temp file, fsynced, then link()ed into place
// (link fails with EEXIST if another process won the race). Returns false when it exists.
bool create_key_file(const fs::path& file, const SigningKey& key) {
  // Never write a key where someone else could take it or swap it: check the directories
  // that exist, create the rest 0700, and check again (one may have been swapped meanwhile).
  key_errors([&] { check_trusted_dirs(file, "key file"); });
  fsutil::make_dirs(file.parent_path(), 0700);
  key_errors([&] { check_trusted_dirs(file, "key file"); });
  std::random_device rd;
  fs::path tmp = file;
  tmp += ".new-" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    throw KeyError("cannot create key file `" + tmp.string() + "`: " + fsutil::errno_text(errno));
  }
  std::string text = key.seed_base64() + "\n";
  try {
    ::fchmod(fd, 0600);
    fsutil::write_all(fd, text, "cannot write key file `" + tmp.string() + "`");
    if (::fsync(fd) != 0) throw KeyError("cannot sync key file `" + tmp.string() + "`");
  } catch (const std::system_error& e) {
    sodium_memzero(text.data(), text.size());
    ::close(fd);
    ::unlink(tmp.c_str());
    throw KeyError(e.what());
  } catch (...) {
    sodium_memzero(text.data(), text.size());
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  int rc = ::link(tmp.c_str(), file.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (err == EEXIST) return false;
    throw KeyError("cannot create key file `" + file.string() + "`: " + fsutil::errno_text(err));
  }
  fsutil::fsync_dir(file.parent_path());
  return true;
}

// Throws KeyError when the keyring, or the directories that hold it, cannot be trusted.
void check_keyring_usable(const fs::path& ring) {
  key_errors([&] { check_trusted_dirs(ring, "keyring"); });
  struct stat st {};
  if (::lstat(ring.c_str(), &st) == 0) Keyring::load(ring);
}

KeyringEntry entry_for(const SigningKey& k, const std::string& tenant, const std::string& agent,
                       const std::string& not_before) {
  KeyringEntry e;
  e.key_id = k.key_id();
  e.public_key = k.public_key();
  e.tenant = tenant;
  e.agent = agent;
  e.not_before = not_before;
  return e;
}

}  // namespace

AgentKey load_agent_key(const fs::path& root, const std::string& tenant, const std::string& agent,
                        bool create) {
  check_key_name("tenant", tenant);
  check_agent_name(agent);
  if (auto k = env_key()) {
    if (create) {
      // Publish the env key's public half so `glasstape verify` finds it. Best effort: a
      // deployment that passes the key by environment may have no writable home.
      try {
        fsutil::make_dirs(root / tenant, 0700);
        keyring_add(keyring_path(root, tenant), entry_for(*k, tenant, "*", ""));
      } catch (const std::exception& e) {
        spdlog::warn("audit: cannot record the public key {} in the keyring of tenant `{}`: {}",
                     k->key_id(), tenant, e.what());
      }
    }
    return AgentKey{std::move(*k), KeySource::Env, {}};
  }
  fs::path file = agent_key_path(root, tenant, agent);
  struct stat st {};
  if (::lstat(file.c_str(), &st) == 0 || errno != ENOENT) {
    return AgentKey{read_key_file(file), KeySource::File, file};
  }
  if (!create)
    throw KeyError("no key for agent `" + agent + "` of tenant `" + tenant + "` at `" +
                   file.string() + "`");
  // A key is only usable once its keyring lists it: refuse before creating it when the
  // keyring cannot be written.
  check_keyring_usable(keyring_path(root, tenant));
  SigningKey k = SigningKey::generate();
  std::string now = rfc3339_utc(Clock::now());
  if (!create_key_file(file, k)) {
    // Another process created it first: use theirs.
    return AgentKey{read_key_file(file), KeySource::File, file};
  }
  keyring_add(keyring_path(root, tenant), entry_for(k, tenant, agent, now));
  return AgentKey{std::move(k), KeySource::Generated, file};
}

AgentKey generate_agent_key(const fs::path& root, const std::string& tenant,
                            const std::string& agent) {
  if (std::getenv(kKeyEnvVar)) {
    throw KeyError(std::string("the signing key comes from ") + kKeyEnvVar +
                   "; unset it to manage key files");
  }
  fs::path file = agent_key_path(root, tenant, agent);
  struct stat st {};
  if (::lstat(file.c_str(), &st) == 0) {
    throw KeyError("a key exists already at `" + file.string() + "` (use `glasstape keys rotate`)");
  }
  check_keyring_usable(keyring_path(root, tenant));
  SigningKey k = SigningKey::generate();
  std::string now = rfc3339_utc(Clock::now());
  if (!create_key_file(file, k)) throw KeyError("a key exists already at `" + file.string() + "`");
  keyring_add(keyring_path(root, tenant), entry_for(k, tenant, agent, now));
  return AgentKey{std::move(k), KeySource::Generated, file};
}

Rotation rotate_agent_key(const fs::path& root, const std::string& tenant,
                          const std::string& agent) {
  if (std::getenv(kKeyEnvVar)) {
    throw KeyError(std::string("the signing key comes from ") + kKeyEnvVar +
                   "; rotate it where that variable is set");
  }
  fs::path file = agent_key_path(root, tenant, agent);
  SigningKey old_key = read_key_file(file);
  fs::path ring = keyring_path(root, tenant);
  // Make sure the old key is listed before its window is closed.
  keyring_add(ring, entry_for(old_key, tenant, agent, ""));
  SigningKey k = SigningKey::generate();
  // The new key is valid from before it is in place, the old one until after: the windows
  // overlap, so a running proxy that switches keys between two batches never signs outside
  // a window (see kNotBeforeGraceSeconds for records queued across the switch).
  std::string not_before = rfc3339_utc(Clock::now());
  std::random_device rd;
  fs::path tmp = file;
  tmp += ".new-" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw KeyError("cannot create `" + tmp.string() + "`: " + fsutil::errno_text(errno));
  std::string text = k.seed_base64() + "\n";
  bool ok = ::fchmod(fd, 0600) == 0;
  try {
    fsutil::write_all(fd, text, "cannot write `" + tmp.string() + "`");
  } catch (...) {
    ok = false;
  }
  ok = ok && ::fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw KeyError("cannot replace key file `" + file.string() + "`");
  }
  fsutil::fsync_dir(file.parent_path());
  std::string not_after = rfc3339_utc(Clock::now());
  keyring_retire(ring, old_key.key_id(), not_after);
  keyring_add(ring, entry_for(k, tenant, agent, not_before));
  return Rotation{old_key.key_id(), AgentKey{std::move(k), KeySource::Generated, file}};
}

// --- keyring --------------------------------------------------------------------------------

Keyring Keyring::parse(std::string_view text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw KeyError(where + ": not valid json: " + e.what());
  }
  if (!j.is_object() || !j.contains("keys") || !j["keys"].is_array()) {
    throw KeyError(where + ": expected an object with a `keys` array");
  }
  Keyring r;
  std::size_t i = 0;
  for (const auto& k : j["keys"]) {
    std::string at = where + ": keys[" + std::to_string(i++) + "]";
    if (!k.is_object() || !k.contains("public_key") || !k["public_key"].is_string()) {
      throw KeyError(at + ": needs a `public_key` string");
    }
    KeyringEntry e;
    auto pk = public_key_from_base64(k["public_key"].get<std::string>());
    if (!pk) throw KeyError(at + ": `public_key` must be base64 of 32 bytes");
    e.public_key = *pk;
    e.key_id = key_id_of(*pk);
    if (k.contains("key_id") && k["key_id"] != e.key_id) {
      throw KeyError(at + ": `key_id` does not match the public key (expected `" + e.key_id + "`)");
    }
    auto str = [&](const char* name, std::string& out) {
      if (!k.contains(name) || k[name].is_null()) return;
      if (!k[name].is_string())
        throw KeyError(at + ": `" + std::string(name) + "` must be a string");
      out = k[name].get<std::string>();
    };
    str("tenant", e.tenant);
    str("agent", e.agent);
    str("not_before", e.not_before);
    str("not_after", e.not_after);
    if (e.tenant.empty()) e.tenant = "*";
    if (e.agent.empty()) e.agent = "*";
    for (const auto* t : {&e.not_before, &e.not_after}) {
      if (!t->empty() && !parse_rfc3339(*t)) {
        throw KeyError(at + ": `" + *t + "` is not an rfc 3339 timestamp");
      }
    }
    r.entries.push_back(std::move(e));
  }
  return r;
}

Keyring Keyring::load(const fs::path& file) {
  std::string text =
      key_errors([&] { return read_trusted(file, Trust::Public, "keyring", kMaxKeyringBytes); });
  return parse(text, file.string());
}

std::string Keyring::to_json() const {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& e : entries) {
    nlohmann::json k = {{"key_id", e.key_id},         {"public_key", e.public_key.base64()},
                        {"tenant", e.tenant},         {"agent", e.agent},
                        {"not_before", e.not_before}, {"not_after", e.not_after}};
    if (e.not_before.empty()) k["not_before"] = nullptr;
    if (e.not_after.empty()) k["not_after"] = nullptr;
    keys.push_back(std::move(k));
  }
  nlohmann::json j = {{"format", "glasstape.keyring/1"}, {"keys", keys}};
  return j.dump(2) + "\n";
}

void Keyring::merge(const Keyring& other) {
  for (const auto& e : other.entries) {
    bool dup = std::any_of(entries.begin(), entries.end(), [&](const KeyringEntry& x) {
      return x.key_id == e.key_id && x.tenant == e.tenant && x.agent == e.agent &&
             x.not_before == e.not_before && x.not_after == e.not_after && x.origin == e.origin;
    });
    if (!dup) entries.push_back(e);
  }
}

std::vector<const KeyringEntry*> Keyring::find(std::string_view key_id) const {
  std::vector<const KeyringEntry*> out;
  for (const auto& e : entries) {
    if (e.key_id == key_id) out.push_back(&e);
  }
  return out;
}

bool key_covers(const KeyringEntry& e, const std::string& tenant, const std::string& agent) {
  return (e.tenant == "*" || e.tenant == tenant) && (e.agent == "*" || e.agent == agent);
}

std::string key_window_error(const KeyringEntry& e, std::int64_t ts) {
  if (!e.not_before.empty()) {
    auto nb = parse_rfc3339(e.not_before);
    if (nb && ts < *nb - kNotBeforeGraceSeconds * 1000000) {
      return "key " + e.key_id + " is not valid before " + e.not_before;
    }
  }
  if (!e.not_after.empty()) {
    auto na = parse_rfc3339(e.not_after);
    if (na && ts > *na) return "key " + e.key_id + " was retired at " + e.not_after;
  }
  return {};
}

namespace {
template <typename F>
void keyring_update(const fs::path& file, F&& change) {
  // The keyring decides which keys verify: never merge into one that others could have
  // written, nor write one where they could replace it.
  key_errors([&] { check_trusted_dirs(file, "keyring"); });
  fsutil::make_dirs(file.parent_path(), 0700);
  key_errors([&] { check_trusted_dirs(file, "keyring"); });
  fs::path lock_file = file;
  lock_file += ".lock";
  try {
    fsutil::FileLock lock(lock_file);
    fsutil::LockGuard held(lock);
    Keyring ring;
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0) ring = Keyring::load(file);
    if (change(ring)) fsutil::atomic_write(file, ring.to_json(), 0644);
  } catch (const std::system_error& e) {
    throw KeyError(e.what());
  }
}
}  // namespace

void keyring_add(const fs::path& file, const KeyringEntry& entry) {
  keyring_update(file, [&](Keyring& ring) {
    for (const auto& e : ring.entries) {
      if (e.key_id == entry.key_id && e.tenant == entry.tenant && e.agent == entry.agent)
        return false;
    }
    ring.entries.push_back(entry);
    return true;
  });
}

void keyring_retire(const fs::path& file, const std::string& key_id, const std::string& not_after) {
  keyring_update(file, [&](Keyring& ring) {
    bool changed = false;
    for (auto& e : ring.entries) {
      if (e.key_id == key_id && e.not_after.empty()) {
        e.not_after = not_after;
        changed = true;
      }
    }
    return changed;
  });
}

}  // namespace gt::gov::audit
