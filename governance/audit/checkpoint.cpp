#include "governance/audit/checkpoint.hpp"

#include <charconv>

#include "governance/audit/encoding.hpp"
#include "governance/audit/nonce_pool.hpp"

namespace gt::gov::audit {

namespace {
constexpr std::string_view kEmDash = "\xE2\x80\x94";  // U+2014
}

std::string checkpoint_origin(const std::string& tenant, std::string_view log_id) {
  std::string origin = "glasstape/audit/" + tenant;
  if (!log_id.empty()) {
    origin += '/';
    origin += log_id;
  }
  return origin;
}

std::string checkpoint_text(const Checkpoint& cp) {
  std::string text = cp.origin + "\n" + std::to_string(cp.size) + "\n" + to_base64(cp.root) + "\n";
  if (!cp.chain_head.empty()) {
    text += kChainHeadPrefix;
    text += cp.chain_head;
    text += '\n';
  }
  return text;
}

std::uint32_t note_key_hash(std::string_view name, const PublicKey& pk) {
  std::string buf(name);
  buf += '\n';
  buf += '\x01';
  buf.append(reinterpret_cast<const char*>(pk.bytes.data()), pk.bytes.size());
  Digest d = sha256(buf);
  return (std::uint32_t{d[0]} << 24) | (std::uint32_t{d[1]} << 16) | (std::uint32_t{d[2]} << 8) |
         std::uint32_t{d[3]};
}

std::string note_verifier_key(std::string_view name, const PublicKey& pk) {
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", note_key_hash(name, pk));
  std::string raw("\x01");
  raw.append(reinterpret_cast<const char*>(pk.bytes.data()), pk.bytes.size());
  return std::string(name) + "+" + hash + "+" + base64_encode(raw);
}

std::string sign_checkpoint(const Checkpoint& cp, const SigningKey& key) {
  return sign_checkpoint(cp, std::vector<const SigningKey*>{&key});
}

std::string sign_checkpoint(const Checkpoint& cp, const std::vector<const SigningKey*>& keys,
                            NoncePool* nonces) {
  std::string text = checkpoint_text(cp);
  std::string out = text + "\n";
  for (const SigningKey* key : keys) {
    std::uint32_t kh = note_key_hash(cp.origin, key->public_key());
    std::string blob(4 + 64, '\0');
    blob[0] = static_cast<char>(kh >> 24);
    blob[1] = static_cast<char>(kh >> 16);
    blob[2] = static_cast<char>(kh >> 8);
    blob[3] = static_cast<char>(kh);
    auto* sig = reinterpret_cast<std::uint8_t*>(blob.data() + 4);
    Nonce nonce;
    if (nonces && nonces->take(nonce)) {
      key->sign_with(nonce, text, sig);
    } else {
      key->sign(text, sig);
    }
    out += kEmDash;
    out += ' ';
    out += cp.origin;
    out += ' ';
    out += base64_encode(blob);
    out += '\n';
  }
  return out;
}

std::optional<SignedNote> parse_note(std::string_view note, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<SignedNote> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (note.size() > 1 << 16) return fail("note larger than 64 KiB");
  for (char c : note) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') return fail("control character in note");
  }
  if (note.empty() || note.back() != '\n') return fail("note does not end with a newline");
  auto sep = note.rfind("\n\n");
  if (sep == std::string_view::npos) return fail("no blank line before the signatures");
  SignedNote out;
  out.text = std::string(note.substr(0, sep + 1));
  std::string_view rest = note.substr(sep + 2);
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    if (line.substr(0, kEmDash.size()) != kEmDash || line.size() < kEmDash.size() + 1 ||
        line[kEmDash.size()] != ' ') {
      return fail("a signature line does not start with `— `");
    }
    line.remove_prefix(kEmDash.size() + 1);
    auto sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0) return fail("a signature line has no key name");
    NoteSignature s;
    s.name = std::string(line.substr(0, sp));
    auto blob = base64_decode(line.substr(sp + 1));
    if (!blob || blob->size() < 5)
      return fail("a signature is not valid base64 of at least 5 bytes");
    auto b = reinterpret_cast<const unsigned char*>(blob->data());
    s.key_hash = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                 (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
    s.sig = blob->substr(4);
    out.signatures.push_back(std::move(s));
    if (out.signatures.size() > 64) return fail("more than 64 signatures");
  }
  if (out.signatures.empty()) return fail("no signature lines");
  return out;
}

std::optional<Checkpoint> parse_checkpoint_text(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<Checkpoint> {
    if (error) *error = why;
    return std::nullopt;
  };
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) return fail("checkpoint text does not end with a newline");
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  if (lines.size() < 3) return fail("checkpoint text has fewer than three lines");
  Checkpoint cp;
  cp.origin = std::string(lines[0]);
  if (cp.origin.empty()) return fail("empty origin");
  auto sz = lines[1];
  if (sz.empty() || (sz.size() > 1 && sz[0] == '0')) return fail("bad tree size");
  auto r = std::from_chars(sz.data(), sz.data() + sz.size(), cp.size);
  if (r.ec != std::errc() || r.ptr != sz.data() + sz.size()) return fail("bad tree size");
  if (!digest_from_base64(lines[2], cp.root)) return fail("root hash is not base64 of 32 bytes");
  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return fail("empty extension line");
    if (lines[i].substr(0, kChainHeadPrefix.size()) != kChainHeadPrefix) continue;  // not ours
    auto hex = lines[i].substr(kChainHeadPrefix.size());
    if (!cp.chain_head.empty()) return fail("more than one chain-head line");
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string_view::npos)
      return fail("chain-head is not 64 lowercase hex digits");
    cp.chain_head = std::string(hex);
  }
  return cp;
}

CheckpointCheck verify_checkpoint_note(std::string_view note, const Keyring& keyring,
                                       const std::string& tenant) {
  CheckpointCheck out;
  std::string err;
  auto parsed = parse_note(note, &err);
  if (!parsed) {
    out.error = "malformed signed note: " + err;
    return out;
  }
  auto cp = parse_checkpoint_text(parsed->text, &err);
  if (!cp) {
    out.error = "malformed checkpoint: " + err;
    return out;
  }
  out.checkpoint = *cp;
  for (const auto& s : parsed->signatures) {
    if (s.name != cp->origin) continue;
    for (const auto& e : keyring.entries) {
      if (!tenant.empty() && e.tenant != "*" && e.tenant != tenant) continue;
      if (!e.origin.empty() && e.origin != s.name) continue;  // a key given for another log
      if (note_key_hash(s.name, e.public_key) != s.key_hash) continue;
      if (!ed25519_verify(e.public_key, parsed->text, s.sig)) {
        out.ok = false;
        out.key_id = e.key_id;
        out.error = "the checkpoint signature of key " + e.key_id + " does not verify";
        return out;
      }
      out.ok = true;
      out.key_id = e.key_id;
      out.key_ids.push_back(e.key_id);
    }
  }
  if (!out.ok) out.error = "no signature by a known key named `" + cp->origin + "`";
  return out;
}

}  // namespace gt::gov::audit
