#include "governance/policy/manifest.hpp"

#include <sodium.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "governance/audit/trust.hpp"
#include "governance/policy/limits.hpp"
#include "governance/policy/policy.hpp"
#include "governance/policy/yaml_load.hpp"

namespace gt::gov::policy {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

bool hex_decode(const std::string& s, std::string& out) {
  if (s.size() % 2) return false;
  out.resize(s.size() / 2);
  size_t len = 0;
  return sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), s.data(),
                        s.size(), nullptr, &len, nullptr) == 0 &&
         len == out.size();
}

// The manifest, its signature, key files and the files it hashes are read under the same size
// limit as policy files (yaml_load.hpp).
bool read_file(const fs::path& p, std::string& out, size_t max_bytes = kDefaultMaxYamlBytes) {
  std::string error;
  return read_text_file(p, max_bytes, out, error);
}

bool write_atomic(const fs::path& p, const std::string& data) {
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << data;
    out.flush();
    if (!out) return false;
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  return !ec;
}

// Key text → bytes: JSON wrapper, hex, or base64.
bool key_bytes(std::string_view text, std::initializer_list<const char*> fields, std::string& out) {
  std::string t = trim(text);
  if (!t.empty() && t[0] == '{') {
    auto j = nlohmann::json::parse(t, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return false;
    for (const char* f : fields) {
      auto it = j.find(f);
      if (it != j.end() && it->is_string()) return key_bytes(it->get<std::string>(), {}, out);
    }
    return false;
  }
  if ((t.size() == 64 || t.size() == 128) && hex_decode(t, out)) return true;
  return base64_decode(t, out);
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  if (sodium_init() < 0) return {};
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  if (sodium_init() < 0) return false;
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    out.assign(text.size(), '\0');
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                          text.size(), nullptr, &len, &end, variant) == 0 &&
        end == text.data() + text.size()) {
      out.resize(len);
      return true;
    }
  }
  out.clear();
  return false;
}

bool parse_secret_key(std::string_view text, SecretKey& sk, std::string& error) {
  if (sodium_init() < 0) {
    error = "libsodium failed to initialize";
    return false;
  }
  std::string raw;
  if (!key_bytes(text, {"private_key", "secret_key", "seed", "key"}, raw) ||
      (raw.size() != 32 && raw.size() != 64)) {
    sodium_memzero(raw.data(), raw.size());
    error = "the private key must be the base64 of a 32-byte Ed25519 seed or a 64-byte secret key";
    return false;
  }
  PublicKey pk;
  crypto_sign_seed_keypair(pk.data(), sk.data(),
                           reinterpret_cast<const unsigned char*>(raw.data()));
  if (raw.size() == 64 && sodium_memcmp(pk.data(), raw.data() + 32, 32) != 0) {
    sodium_memzero(raw.data(), raw.size());
    sodium_memzero(sk.data(), sk.size());
    error = "the 64-byte secret key is inconsistent (its public half does not match its seed)";
    return false;
  }
  sodium_memzero(raw.data(), raw.size());
  return true;
}

bool parse_public_key(std::string_view text_or_file, PublicKey& pk, std::string& error) {
  std::string raw;
  if (key_bytes(text_or_file, {"public_key", "key"}, raw) && raw.size() == 32) {
    std::copy(raw.begin(), raw.end(), pk.begin());
    return true;
  }
  std::string content;
  std::error_code ec;
  std::string path = trim(text_or_file);
  if (!path.empty() && fs::is_regular_file(path, ec)) {
    // The key that decides which policies load: read under the audit keys' trust rules.
    try {
      content = audit::read_trusted(path, audit::Trust::Public, "public key file", 1 << 16);
    } catch (const std::exception& e) {
      error = e.what();
      return false;
    }
    if (key_bytes(content, {"public_key", "key"}, raw) && raw.size() == 32) {
      std::copy(raw.begin(), raw.end(), pk.begin());
      return true;
    }
    if (content.size() == 32) {
      std::copy(content.begin(), content.end(), pk.begin());
      return true;
    }
    error =
        "public key file `" + path + "` does not hold a 32-byte Ed25519 public key (base64 or hex)";
    return false;
  }
  error = "public key `" + path +
          "` is neither a base64/hex 32-byte Ed25519 key nor a readable key file";
  return false;
}

PublicKey public_key_of(const SecretKey& sk) {
  PublicKey pk;
  std::copy(sk.begin() + 32, sk.end(), pk.begin());
  return pk;
}

SignResult sign_policy_dir(const fs::path& dir, const SecretKey& sk) {
  SignResult r;
  if (sodium_init() < 0) {
    r.error = "libsodium failed to initialize";
    return r;
  }
  std::string lerr;
  auto files = list_policy_files(dir, lerr);
  if (!lerr.empty()) {
    r.error = lerr;
    return r;
  }
  // Test files beside the policies are signed too, so `policy test` runs what was reviewed.
  auto tests = list_files(dir, &is_test_file, lerr);
  if (!lerr.empty()) {
    r.error = lerr;
    return r;
  }
  files.insert(files.end(), tests.begin(), tests.end());
  nlohmann::json m;
  m["type"] = "glasstape.policy-manifest/v1";
  nlohmann::json fm = nlohmann::json::object();
  for (const auto& rel : files) {
    std::string text;
    if (!read_file(dir / rel, text)) {
      r.error = "cannot read `" + rel.generic_string() + "`";
      return r;
    }
    fm[rel.generic_string()] = sha256_hex(text);
  }
  m["files"] = fm;
  PublicKey pk = public_key_of(sk);
  r.public_key =
      base64_encode(std::string_view(reinterpret_cast<const char*>(pk.data()), pk.size()));
  m["public_key"] = r.public_key;
  m["signed_at"] = format_utc(std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
  std::string bytes = m.dump(2) + "\n";
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(bytes.data()),
                       bytes.size(), sk.data());
  std::string sig_b64 =
      base64_encode(std::string_view(reinterpret_cast<const char*>(sig), sizeof sig)) + "\n";
  if (!write_atomic(dir / kManifestFile, bytes) || !write_atomic(dir / kSignatureFile, sig_b64)) {
    r.error = "cannot write the manifest into `" + dir.string() + "`";
    return r;
  }
  r.files = files.size();
  r.ok = true;
  return r;
}

VerifyResult verify_manifest(const fs::path& dir, const PublicKey& pk) {
  VerifyResult r;
  if (sodium_init() < 0) {
    r.error = "libsodium failed to initialize";
    return r;
  }
  std::string bytes, sig_text, sig;
  if (!read_file(dir / kManifestFile, bytes)) {
    r.error = std::string("no signed manifest (`") + kManifestFile + "`) in the policy directory";
    return r;
  }
  if (!read_file(dir / kSignatureFile, sig_text)) {
    r.error =
        std::string("no manifest signature (`") + kSignatureFile + "`) in the policy directory";
    return r;
  }
  if (!base64_decode(trim(sig_text), sig) || sig.size() != crypto_sign_BYTES) {
    r.error = "the manifest signature is not a base64 Ed25519 signature";
    return r;
  }
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  bytes.size(), pk.data()) != 0) {
    r.error = "the manifest signature does not verify with the configured public key";
    return r;
  }
  auto m = nlohmann::json::parse(bytes, nullptr, false);
  if (m.is_discarded() || !m.is_object() || !m.contains("files") || !m["files"].is_object()) {
    r.error = "the signed manifest is not a valid manifest";
    return r;
  }
  for (auto it = m["files"].begin(); it != m["files"].end(); ++it) {
    if (it->is_string()) r.files[it.key()] = it->get<std::string>();
  }
  r.ok = true;
  return r;
}

}  // namespace gt::gov::policy
