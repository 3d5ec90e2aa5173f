// C2SP signed-note checkpoints.
#include <catch2/catch.hpp>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/merkle.hpp"

using namespace gt::gov::audit;

namespace {
Keyring ring_of(const SigningKey& k, const std::string& tenant = "*") {
  Keyring r;
  KeyringEntry e;
  e.key_id = k.key_id();
  e.public_key = k.public_key();
  e.tenant = tenant;
  r.entries.push_back(e);
  return r;
}
}  // namespace

TEST_CASE("checkpoint: the note has the C2SP layout", "[checkpoint]") {
  SigningKey k = SigningKey::generate();
  CompactRange t;
  t.append(merkle_leaf_hash("a"));
  Checkpoint cp{checkpoint_origin("acme"), 1, t.root(), {}};
  std::string note = sign_checkpoint(cp, k);
  auto lines = std::vector<std::string>();
  std::string cur;
  for (char c : note) {
    if (c == '\n') {
      lines.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == "glasstape/audit/acme");
  CHECK(lines[1] == "1");
  CHECK(lines[2] == to_base64(t.root()));
  CHECK(lines[3].empty());
  CHECK(lines[4].rfind("\xE2\x80\x94 glasstape/audit/acme ", 0) == 0);
  // Signature = 4-byte key hash (big-endian) || Ed25519 signature over the text.
  auto blob = base64_decode(lines[4].substr(lines[4].rfind(' ') + 1));
  REQUIRE(blob);
  REQUIRE(blob->size() == 68);
  std::uint32_t kh = note_key_hash(cp.origin, k.public_key());
  CHECK(static_cast<unsigned char>((*blob)[0]) == (kh >> 24));
  CHECK(static_cast<unsigned char>((*blob)[3]) == (kh & 0xff));
  CHECK(ed25519_verify(k.public_key(), checkpoint_text(cp), blob->substr(4)));
  // The key hash is SHA-256(name || 0x0A || 0x01 || key)[:4].
  std::string pre = cp.origin + "\n\x01" +
                    std::string(reinterpret_cast<const char*>(k.public_key().bytes.data()), 32);
  CHECK(sha256_hex(pre).substr(0, 8) ==
        note_verifier_key(cp.origin, k.public_key()).substr(cp.origin.size() + 1, 8));

  auto ok = verify_checkpoint_note(note, ring_of(k), "acme");
  CHECK(ok.ok);
  CHECK(ok.checkpoint.size == 1);
  CHECK(ok.checkpoint.root == t.root());
  CHECK(ok.key_id == k.key_id());
}

TEST_CASE("checkpoint: tampering and unknown keys are rejected", "[checkpoint]") {
  SigningKey k = SigningKey::generate();
  Checkpoint cp{checkpoint_origin("acme"), 10, merkle_empty_root(), {}};
  std::string note = sign_checkpoint(cp, k);
  std::string edited = note;
  edited.replace(edited.find("\n10\n"), 4, "\n11\n");
  CHECK_FALSE(verify_checkpoint_note(edited, ring_of(k)).ok);
  CHECK_THAT(verify_checkpoint_note(edited, ring_of(k)).error, Catch::Contains("does not verify"));
  CHECK_FALSE(verify_checkpoint_note(note, ring_of(SigningKey::generate())).ok);
  CHECK_FALSE(verify_checkpoint_note(note, ring_of(k, "other"), "acme").ok);
  CHECK_FALSE(verify_checkpoint_note("glasstape/audit/acme\n10\n", ring_of(k)).ok);
  CHECK_FALSE(verify_checkpoint_note(note.substr(0, note.size() - 1), ring_of(k)).ok);
  std::string err;
  CHECK_FALSE(parse_checkpoint_text("o\n01\nAAAA\n", &err));
  CHECK_FALSE(parse_checkpoint_text("o\n1\nnot-a-hash\n", &err));
  CHECK(parse_checkpoint_text("o\n0\n" + to_base64(merkle_empty_root()) + "\next\n", &err));
}

TEST_CASE("checkpoint: a seal's chain head is a signed extension line", "[checkpoint]") {
  SigningKey k = SigningKey::generate();
  CompactRange t;
  t.append(merkle_leaf_hash("a"));
  const std::string head = sha256_hex("a");
  Checkpoint cp{checkpoint_origin("acme", "0123abcd"), 1, t.root(), head};
  const std::string text = checkpoint_text(cp);
  CHECK(text == cp.origin + "\n1\n" + to_base64(t.root()) + "\nchain-head " + head + "\n");
  auto ok = verify_checkpoint_note(sign_checkpoint(cp, k), ring_of(k), "acme");
  REQUIRE(ok.ok);
  CHECK(ok.checkpoint.chain_head == head);

  // It is under the signature: changed, the note no longer verifies.
  std::string note = sign_checkpoint(cp, k);
  note.replace(note.find(head), 64, std::string(64, '0'));
  CHECK_FALSE(verify_checkpoint_note(note, ring_of(k), "acme").ok);

  // Notes without one (older seals, other logs' checkpoints) still parse; other extension
  // lines are passed over, as C2SP allows.
  CHECK(parse_checkpoint_text("o\n1\n" + to_base64(t.root()) + "\n")->chain_head.empty());
  CHECK(parse_checkpoint_text("o\n1\n" + to_base64(t.root()) + "\nother thing\n"));
  std::string err;
  CHECK_FALSE(parse_checkpoint_text(
      "o\n1\n" + to_base64(t.root()) + "\nchain-head " + head + "\nchain-head " + head + "\n",
      &err));
  CHECK(err == "more than one chain-head line");
  CHECK_FALSE(parse_checkpoint_text("o\n1\n" + to_base64(t.root()) + "\nchain-head ABC\n", &err));
  CHECK(err == "chain-head is not 64 lowercase hex digits");
}

TEST_CASE("checkpoint: a key bound to one origin verifies no other log's notes", "[checkpoint]") {
  // A C2SP verifier key names the log it is for; a key given that way must not vouch for a
  // checkpoint of another log the same key signed (another host, a new log in the directory).
  SigningKey k = SigningKey::generate();
  const std::string ours = checkpoint_origin("acme", "aaaa"),
                    theirs = checkpoint_origin("acme", "bbbb");
  Keyring bound = ring_of(k);
  bound.entries[0].origin = ours;
  CHECK(verify_checkpoint_note(sign_checkpoint({ours, 1, merkle_empty_root(), {}}, k), bound).ok);
  auto other =
      verify_checkpoint_note(sign_checkpoint({theirs, 1, merkle_empty_root(), {}}, k), bound);
  CHECK_FALSE(other.ok);
  CHECK(other.error == "no signature by a known key named `" + theirs + "`");
  // The same key without a name vouches for both.
  CHECK(verify_checkpoint_note(sign_checkpoint({theirs, 1, merkle_empty_root(), {}}, k), ring_of(k))
            .ok);
}
