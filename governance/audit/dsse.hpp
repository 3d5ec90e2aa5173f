// DSSE v1 envelopes (github.com/secure-systems-lab/dsse): the signature is Ed25519 over
//   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
// where LEN is the byte length in ASCII decimal and SP one space (0x20). Our envelope is one
// JSON line, itself in JCS form (members sorted, no whitespace):
//   {"payload":"<base64
//   body>","payloadType":"<type>","signatures":[{"keyid":"<id>","sig":"<base64>"}]}
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "governance/audit/keys.hpp"

namespace gt::gov::audit {

class NoncePool;  // nonce_pool.hpp

inline constexpr std::string_view kReceiptPayloadType = "application/vnd.glasstape.receipt+json";

std::string pae(std::string_view type, std::string_view body);
void pae_into(std::string& out, std::string_view type, std::string_view body);

// Signs `body` and appends the envelope line (no newline) to `out`. `scratch` is reused for
// the PAE bytes so the hot path does not allocate. With a `nonces` pool that has one ready,
// the signature uses a precomputed nonce (see nonce_pool.hpp); otherwise RFC 8032 signing.
void append_envelope(std::string& out, std::string& scratch, std::string_view type,
                     std::string_view body, const SigningKey& key, NoncePool* nonces = nullptr);
std::string make_envelope(std::string_view type, std::string_view body, const SigningKey& key);

struct Envelope {
  std::string payload_type;
  std::string payload;  // decoded body
  struct Signature {
    std::string keyid;
    std::string sig;  // raw bytes
  };
  std::vector<Signature> signatures;
};

// Parses one envelope line. nullopt (and `error`) on anything malformed.
std::optional<Envelope> parse_envelope(std::string_view line, std::string* error = nullptr);
bool verify_envelope_signature(const Envelope& env, const Envelope::Signature& sig,
                               const PublicKey& pk);

}  // namespace gt::gov::audit
