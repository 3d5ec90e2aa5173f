// Signed policy bundles (as OPA signs bundles): a manifest lists every policy file's
// SHA-256, and an Ed25519 signature (libsodium) covers the manifest's exact bytes.
//
//   <dir>/glasstape.manifest.json {"type":"glasstape.policy-manifest/v1","files":{"a.yaml":"<sha256
//   hex>",...},
//                                    "public_key":"<base64>","signed_at":"<RFC 3339>"}
//   <dir>/glasstape.manifest.sig    base64 of the 64-byte detached signature over the manifest
//   bytes
//
// Keys follow the audit log's conventions: a private key is the base64 of a 32-byte seed or
// of a 64-byte libsodium secret key (GT_ED25519_PRIVATE_KEY, or a key file holding that
// text); a public key is the base64 (or hex) of 32 bytes.
#pragma once

#include <array>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace gt::gov::policy {

inline constexpr const char* kManifestFile = "glasstape.manifest.json";
inline constexpr const char* kSignatureFile = "glasstape.manifest.sig";

using SecretKey = std::array<unsigned char, 64>;
using PublicKey = std::array<unsigned char, 32>;

std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text,
                   std::string& out);  // standard or URL-safe, padding optional

// Text (base64 of a 32-byte seed or 64-byte secret key; JSON {"private_key"|"secret_key"|"seed":
// ...} also accepted). Error messages never include the key material.
bool parse_secret_key(std::string_view text, SecretKey& sk, std::string& error);
// Text: base64 or hex of 32 bytes, or JSON {"public_key": ...}; or a path to a file holding that.
bool parse_public_key(std::string_view text_or_file, PublicKey& pk, std::string& error);
PublicKey public_key_of(const SecretKey& sk);

struct SignResult {
  bool ok = false;
  std::string error;
  size_t files = 0;
  std::string public_key;  // base64
};
// Writes the manifest and signature for every policy file (and *_test.yaml file) in `dir`.
SignResult sign_policy_dir(const std::filesystem::path& dir, const SecretKey& sk);

struct VerifyResult {
  bool ok = false;                           // the manifest is present and its signature valid
  std::string error;                         // why not
  std::map<std::string, std::string> files;  // relative path → sha256 hex (when ok)
};
VerifyResult verify_manifest(const std::filesystem::path& dir, const PublicKey& pk);

}  // namespace gt::gov::policy
