// JSON Web Keys (RFC 7517) for verifying access-token signatures: an issuer's published key
// set, `{"keys":[...]}`, parsed once into OpenSSL public keys. Pure: the caller fetches the
// document; this file only reads it.
//
// Accepted key types, each checked when the set is parsed rather than when a token arrives:
//   RSA  `n`, `e`; at least 2048 and at most 8192 bits, `e` odd, above 1, at most 64 bits;
//   EC   `crv` P-256 with 32-byte `x` and `y` naming a point on the curve;
//   OKP  `crv` Ed25519 with a 32-byte `x`.
// A key that does not qualify (too short, another curve, a symmetric `oct` key, one that
// carries private members, a repeated kid, ...) is skipped and the reason kept in skipped(),
// so one bad entry does not take the issuer's other keys down. The document itself is
// refused whole when it is not a JSON object with a `keys` array, is over 1 MiB, or lists
// more than 100 keys.
//
// A parsed KeySet is immutable; verifying with it from several threads at once is safe
// (OpenSSL only reads a public EVP_PKEY).
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gt::auth {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct Jwk {
  std::string kid;  // empty when the entry has none
  std::string kty;  // "RSA", "EC" or "OKP"
  std::string crv;  // "P-256" or "Ed25519"; empty for RSA
  std::string alg;  // empty: any algorithm that fits the key type
  std::string use;  // empty when absent
  // False when `use` is not "sig" or `key_ops` lacks "verify": the key stays in the set (so
  // a token naming it gets a precise reason) but never verifies a signature.
  bool for_signatures = true;
  int bits = 0;  // RSA modulus size; 256 for P-256 and Ed25519
  PkeyPtr key;
};

class KeySet {
 public:
  static constexpr std::size_t kMaxBytes = std::size_t{1} << 20;
  static constexpr std::size_t kMaxKeys = 100;

  // nullopt, with `why`, when the document is refused whole. Keys skipped one by one are
  // listed in skipped(); a set may end up empty.
  static std::optional<KeySet> parse(std::string_view jwks_json, std::string& why);

  // The key with this kid; nullptr when there is none (or for an empty kid).
  const Jwk* find(std::string_view kid) const;
  std::size_t size() const { return keys_.size(); }
  const std::vector<Jwk>& keys() const { return keys_; }
  // One readable line per entry that was not taken, for the operator log.
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::vector<Jwk> keys_;
  std::vector<std::string> skipped_;
};

}  // namespace gt::auth
