#include "governance/audit/dsse.hpp"

#include <nlohmann/json.hpp>

#include "governance/audit/encoding.hpp"
#include "governance/audit/nonce_pool.hpp"

namespace gt::gov::audit {

void pae_into(std::string& out, std::string_view type, std::string_view body) {
  out += "DSSEv1 ";
  out += std::to_string(type.size());
  out += ' ';
  out += type;
  out += ' ';
  out += std::to_string(body.size());
  out += ' ';
  out += body;
}

std::string pae(std::string_view type, std::string_view body) {
  std::string out;
  out.reserve(body.size() + type.size() + 32);
  pae_into(out, type, body);
  return out;
}

void append_envelope(std::string& out, std::string& scratch, std::string_view type,
                     std::string_view body, const SigningKey& key, NoncePool* nonces) {
  scratch.clear();
  pae_into(scratch, type, body);
  std::uint8_t sig[64];
  Nonce nonce;
  if (nonces && nonces->take(nonce))
    key.sign_with(nonce, scratch, sig);
  else
    key.sign(scratch, sig);
  // Built by hand, in JCS member order: base64 and our key ids and payload types need no
  // escaping (the type is a fixed constant; see kReceiptPayloadType).
  out += "{\"payload\":\"";
  out += base64_encode(body);
  out += "\",\"payloadType\":\"";
  out += type;
  out += "\",\"signatures\":[{\"keyid\":\"";
  out += key.key_id();
  out += "\",\"sig\":\"";
  out += base64_encode(sig, sizeof sig);
  out += "\"}]}";
}

std::string make_envelope(std::string_view type, std::string_view body, const SigningKey& key) {
  std::string out, scratch;
  append_envelope(out, scratch, type, body, key);
  return out;
}

namespace {

// The exact layout append_envelope() writes, read without a JSON parser (verification spends
// most of its non-crypto time here otherwise). Anything else takes the general path below.
std::optional<Envelope> parse_canonical(std::string_view line) {
  auto take = [&](std::string_view expect) {
    if (line.substr(0, expect.size()) != expect) return false;
    line.remove_prefix(expect.size());
    return true;
  };
  auto until_quote = [&](std::string_view& out) {
    auto q = line.find('"');
    if (q == std::string_view::npos) return false;
    out = line.substr(0, q);
    if (out.find('\\') != std::string_view::npos) return false;  // escapes: general path
    line.remove_prefix(q);
    return true;
  };
  std::string_view payload, type, keyid, sig;
  if (!take("{\"payload\":\"") || !until_quote(payload) || !take("\",\"payloadType\":\"") ||
      !until_quote(type) || !take("\",\"signatures\":[{\"keyid\":\"") || !until_quote(keyid) ||
      !take("\",\"sig\":\"") || !until_quote(sig) || !take("\"}]}") || !line.empty()) {
    return std::nullopt;
  }
  auto body = base64_decode(payload);
  auto raw_sig = base64_decode(sig);
  if (!body || !raw_sig) return std::nullopt;
  Envelope env;
  env.payload_type = std::string(type);
  env.payload = std::move(*body);
  env.signatures.push_back({std::string(keyid), std::move(*raw_sig)});
  return env;
}

}  // namespace

std::optional<Envelope> parse_envelope(std::string_view line, std::string* error) {
  if (auto env = parse_canonical(line)) return env;
  auto fail = [&](const char* why) -> std::optional<Envelope> {
    if (error) *error = why;
    return std::nullopt;
  };
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded()) return fail("not valid json");
  if (!j.is_object()) return fail("not a json object");
  auto p = j.find("payload");
  auto t = j.find("payloadType");
  auto s = j.find("signatures");
  if (p == j.end() || !p->is_string()) return fail("no `payload` string");
  if (t == j.end() || !t->is_string()) return fail("no `payloadType` string");
  if (s == j.end() || !s->is_array() || s->empty()) return fail("no `signatures`");
  Envelope env;
  env.payload_type = t->get<std::string>();
  auto body = base64_decode(p->get_ref<const std::string&>());
  if (!body) return fail("`payload` is not valid base64");
  env.payload = std::move(*body);
  for (const auto& sj : *s) {
    if (!sj.is_object() || !sj.contains("sig") || !sj["sig"].is_string()) {
      return fail("a signature without `sig`");
    }
    Envelope::Signature sig;
    if (sj.contains("keyid")) {
      if (!sj["keyid"].is_string()) return fail("`keyid` is not a string");
      sig.keyid = sj["keyid"].get<std::string>();
    }
    auto raw = base64_decode(sj["sig"].get_ref<const std::string&>());
    if (!raw) return fail("`sig` is not valid base64");
    sig.sig = std::move(*raw);
    env.signatures.push_back(std::move(sig));
  }
  return env;
}

bool verify_envelope_signature(const Envelope& env, const Envelope::Signature& sig,
                               const PublicKey& pk) {
  return ed25519_verify(pk, pae(env.payload_type, env.payload), sig.sig);
}

}  // namespace gt::gov::audit
