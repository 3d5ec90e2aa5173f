#include "governance/audit/receipt_bundle.hpp"

#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/encoding.hpp"
#include "governance/audit/jcs.hpp"
#include "governance/audit/merkle.hpp"
#include "governance/audit/merkle_proof.hpp"
#include "governance/audit/receipt.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/time.hpp"

namespace gt::gov::audit {

namespace fs = std::filesystem;

namespace {

// The most hashes a proof over a tree of up to 2^64 leaves can hold.
constexpr std::size_t kMaxProofHashes = 64;

// The complete lines of a log directory's files in chain order, one at a time; `index` is
// the line's position across all files (its leaf index). A last line without its newline is
// a torn or still-being-written record, never part of a checkpoint, and is not returned.
class LineStream {
 public:
  explicit LineStream(std::vector<fs::path> files) : files_(std::move(files)) {}

  bool next(std::string& line) {
    for (;;) {
      if (!in_.is_open()) {
        if (file_ >= files_.size()) return false;
        in_.open(files_[file_], std::ios::binary);
        if (!in_) throw BundleError("cannot read `" + files_[file_].string() + "`");
      }
      if (std::getline(in_, line) && !in_.eof()) {
        ++index_;
        return true;
      }
      in_.close();
      in_.clear();
      ++file_;
    }
  }
  // The index of the line next() returned last.
  std::uint64_t index() const { return index_ - 1; }
  std::uint64_t count() const { return index_; }

 private:
  std::vector<fs::path> files_;
  std::size_t file_ = 0;
  std::ifstream in_;
  std::uint64_t index_ = 0;
};

// The record of a line: a v2 line is the record itself; a v1 line is an envelope, written in
// JCS form, so its payload is the first member (anything else goes through the full parser).
std::optional<std::string> payload_of(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"payload\":\"";
  if (line.substr(0, kPrefix.size()) != kPrefix) return std::string(line);
  {
    auto end = line.find('"', kPrefix.size());
    if (end == std::string_view::npos) return std::nullopt;
    return base64_decode(line.substr(kPrefix.size(), end - kPrefix.size()));
  }
  auto env = parse_envelope(line);
  if (!env) return std::nullopt;
  return std::move(env->payload);
}

// True when JCS `payload` has the member `"name":<value literal>` at its top level or in a
// nested object. Cheap prefilter only: a hit is confirmed by parsing.
bool has_member(std::string_view payload, const std::string& member) {
  for (auto at = payload.find(member); at != std::string_view::npos;
       at = payload.find(member, at + 1)) {
    if (at > 0 && (payload[at - 1] == '{' || payload[at - 1] == ',')) return true;
  }
  return false;
}

struct Found {
  std::uint64_t seq = 0;
  std::string line;
  nlohmann::json payload;
  std::string note;  // the signed checkpoint to prove against
  Checkpoint checkpoint;
  std::string checkpoint_name;  // for messages
};

std::optional<Checkpoint> checkpoint_of_note(std::string_view note) {
  auto n = parse_note(note);
  if (!n) return std::nullopt;
  return parse_checkpoint_text(n->text);
}

// Pass one: the record and the checkpoint that covers it.
Found find_record(const fs::path& dir, const std::vector<fs::path>& files,
                  std::string_view receipt_id, bool own_seal) {
  std::string needle = "\"id\":";
  try {
    jcs_string_into(receipt_id, needle);
  } catch (const JcsError&) {
    throw BundleError("the receipt id is not valid UTF-8");
  }
  // The latest checkpoint, read before the log so that it can only be older than what is read.
  std::optional<std::string> file_note;
  std::optional<Checkpoint> file_cp;
  std::error_code ec;
  if (fs::exists(dir / kCheckpointFileName, ec)) {
    std::ifstream in(dir / kCheckpointFileName, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    file_cp = checkpoint_of_note(text);
    if (file_cp) file_note = std::move(text);
  }

  LineStream lines(files);
  std::string line;
  std::optional<Found> found;
  bool sealed = false;
  while (lines.next(line)) {
    if (lines.index() == 0) {
      auto first = parse_record(line);
      if (first && first->seq != 0) {
        throw BundleError("the log in `" + dir.string() + "` starts at seq " +
                          std::to_string(first->seq) +
                          " (older files are kept elsewhere): a proof needs every record "
                          "from seq 0");
      }
    }
    auto payload = payload_of(line);
    if (!payload) continue;
    if (!found) {
      if (!has_member(*payload, needle)) continue;
      auto p = nlohmann::json::parse(*payload, nullptr, false);
      if (!p.is_object() || str_member(p, "id") != receipt_id) continue;
      auto seq = p.find("seq");
      if (seq == p.end() || !seq->is_number_unsigned() ||
          seq->get<std::uint64_t>() != lines.index()) {
        throw BundleError("the record of receipt `" + std::string(receipt_id) +
                          "` is not at its seq in the log (line " +
                          std::to_string(lines.index() + 1) +
                          " of the files in order): run `glasstape verify`");
      }
      found = Found{lines.index(), line, std::move(p), {}, {}, {}};
      // A sealed-batch (v2) record is vouched for by its own seal, the first after it: that
      // one carries its agent's signature. Later checkpoints only hold the log's.
      sealed = str_member(found->payload, "format") != kReceiptFormatV1;
      if ((!sealed || !own_seal) && file_cp && file_cp->size > found->seq) {
        found->note = std::move(*file_note);
        found->checkpoint = *file_cp;
        found->checkpoint_name = (dir / kCheckpointFileName).string();
        return std::move(*found);
      }
      continue;
    }
    // A checkpoint or seal record after the receipt: tree_size is its own seq, so it covers it.
    if (!has_member(*payload, "\"kind\":\"checkpoint\"") &&
        !has_member(*payload, "\"kind\":\"seal\""))
      continue;
    auto p = nlohmann::json::parse(*payload, nullptr, false);
    if (!p.is_object() ||
        (str_member(p, "kind") != "checkpoint" && str_member(p, "kind") != "seal"))
      continue;
    std::string note = str_member(p, "note");
    auto cp = checkpoint_of_note(note);
    if (!cp || cp->size <= found->seq) continue;
    found->note = std::move(note);
    found->checkpoint = *cp;
    found->checkpoint_name =
        "the " + str_member(p, "kind") + " record at seq " + std::to_string(lines.index());
    return std::move(*found);
  }
  if (!found) {
    throw BundleError("no record with receipt id `" + std::string(receipt_id) + "` in `" +
                      dir.string() + "`");
  }
  if (file_cp && file_cp->size > found->seq) {
    // Its own seal is gone, yet the directory's checkpoint covers it: proving against that
    // checkpoint names what is wrong (the log is shorter than its checkpoint).
    found->note = std::move(*file_note);
    found->checkpoint = *file_cp;
    found->checkpoint_name = (dir / kCheckpointFileName).string();
    return std::move(*found);
  }
  throw BundleError("receipt `" + std::string(receipt_id) + "` (seq " + std::to_string(found->seq) +
                    ") is not yet covered by a checkpoint; the next one is written within "
                    "checkpoint_ms (or after checkpoint_every records): try again then");
}

nlohmann::json hashes_json(const std::vector<Digest>& hashes) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : hashes)
    out.push_back(to_base64(h));
  return out;
}

}  // namespace

std::string build_receipt_bundle(const fs::path& dir, std::string_view receipt_id,
                                 const BundleOptions& opts) {
  if (receipt_id.empty()) throw BundleError("the receipt id is empty");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw BundleError("`" + dir.string() + "` is not a directory");
  auto files = log_files_in(dir);
  if (files.empty()) {
    throw BundleError("no audit log files (audit.jsonl, audit-*.jsonl) in `" + dir.string() + "`");
  }
  // The older checkpoint first: a bad --since fails before the log is read.
  std::optional<Checkpoint> old_cp;
  std::string old_note;
  if (opts.since_bundle) {
    auto old = nlohmann::json::parse(*opts.since_bundle, nullptr, false);
    if (!old.is_object() || str_member(old, "format") != kReceiptBundleFormat) {
      throw BundleError("the older bundle is not a " + std::string(kReceiptBundleFormat) +
                        " document");
    }
    old_note = str_member(old, "checkpoint");
    old_cp = checkpoint_of_note(old_note);
    if (!old_cp) throw BundleError("the older bundle has no valid `checkpoint`");
  }

  Found f = find_record(dir, files, receipt_id, !opts.since_bundle);
  const std::uint64_t n = f.checkpoint.size;
  if (old_cp) {
    if (old_cp->origin != f.checkpoint.origin) {
      throw BundleError("the older bundle is from another log (origin `" + old_cp->origin +
                        "`; this log's checkpoint has `" + f.checkpoint.origin + "`)");
    }
    if (old_cp->size > n) {
      throw BundleError("the older bundle's checkpoint (size " + std::to_string(old_cp->size) +
                        ") is newer than the one this receipt is proved against (size " +
                        std::to_string(n) + ")");
    }
  }

  // Pass two: the leaves 0..n-1 through the proof builders and a tree that must end at the
  // checkpoint's root.
  auto inclusion = ProofBuilder::inclusion(f.seq, n);
  std::optional<ProofBuilder> consistency;
  if (old_cp) consistency = ProofBuilder::consistency(old_cp->size, n);
  CompactRange tree;
  LineStream lines(files);
  std::string line;
  const Digest leaf = merkle_leaf_hash(f.line);
  while (tree.size() < n && lines.next(line)) {
    Digest h = merkle_leaf_hash(line);
    if (lines.index() == f.seq && h != leaf) {
      throw BundleError("the log changed while it was read (seq " + std::to_string(f.seq) +
                        " is no longer the same record): try again");
    }
    inclusion->add(h);
    if (consistency) consistency->add(h);
    tree.append(h);
    if (old_cp && tree.size() == old_cp->size && tree.root() != old_cp->root) {
      throw BundleError(
          "the log does not match the older bundle's checkpoint: the root of its "
          "first " +
          std::to_string(old_cp->size) + " records is " + to_base64(tree.root()) +
          ", the checkpoint says " + to_base64(old_cp->root));
    }
  }
  if (tree.size() < n) {
    throw BundleError("the log has only " + std::to_string(tree.size()) + " records, fewer than " +
                      f.checkpoint_name + " covers (" + std::to_string(n) +
                      "): run `glasstape verify`");
  }
  if (tree.root() != f.checkpoint.root) {
    throw BundleError("the log does not match its checkpoint: the root of its first " +
                      std::to_string(n) + " records is " + to_base64(tree.root()) + ", " +
                      f.checkpoint_name + " says " + to_base64(f.checkpoint.root) +
                      ": run `glasstape verify`");
  }

  nlohmann::json b = {
      {"format", kReceiptBundleFormat},
      {"receipt_id", receipt_id},
      {"seq", f.seq},
      {"record", f.line},
      {"leaf_hash", to_base64(leaf)},
      {"inclusion", {{"tree_size", n}, {"hashes", hashes_json(inclusion->proof())}}},
      {"checkpoint", f.note},
  };
  if (auto id = f.payload.find("log_id"); id != f.payload.end() && id->is_string())
    b["log_id"] = *id;
  if (consistency) {
    b["consistency"] = {{"from_checkpoint", old_note},
                        {"hashes", hashes_json(consistency->proof())}};
  }
  return canonicalize(b);
}

// --- verification ----------------------------------------------------------------------------

namespace {

bool hashes_from(const nlohmann::json& j, std::vector<Digest>& out) {
  if (!j.is_array() || j.size() > kMaxProofHashes) return false;
  for (const auto& h : j) {
    Digest d;
    if (!h.is_string() || !digest_from_base64(h.get<std::string>(), d)) return false;
    out.push_back(d);
  }
  return true;
}

bool uint_member(const nlohmann::json& j, const char* name, std::uint64_t& out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned()) return false;
  out = it->get<std::uint64_t>();
  return true;
}

std::string key_fits_record(const ParsedRecord& r, const std::vector<const KeyringEntry*>& cands);

// The record's own DSSE signature, with the keyring's entries for the key it names: the
// same checks as `glasstape verify` makes per record (key of this tenant and signer, valid at
// the record's time). Empty when fine; sets `checked` when the key was in the keyring.
std::string check_record_signature(const ParsedRecord& r, const Keyring& keyring, bool& checked) {
  checked = false;
  auto cands = keyring.find(r.key_id);
  if (cands.empty()) return {};
  checked = true;
  if (r.envelope.signatures.size() != 1) return "the record has not exactly one signature";
  const auto& sig = r.envelope.signatures.front();
  if (!sig.keyid.empty() && sig.keyid != r.key_id) {
    return "the record's envelope names key " + sig.keyid + " but its payload names key " +
           r.key_id;
  }
  if (!verify_envelope_signature(r.envelope, sig, cands.front()->public_key))
    return "the record's signature does not verify with key " + r.key_id;
  return key_fits_record(r, cands);
}

// The key is the record's tenant's and signer's, and valid at the record's time.
std::string key_fits_record(const ParsedRecord& r, const std::vector<const KeyringEntry*>& cands) {
  const auto& p = r.payload;
  std::string tenant = str_member(p, "tenant");
  std::string signer =
      p.contains("signed_by") ? str_member(p, "signed_by") : str_member(p, "agent");
  auto ts = parse_rfc3339(str_member(p, "ts"));
  if (!ts) return "the record has no valid `ts`";
  std::string window_error;
  for (const auto* e : cands) {
    if (!key_covers(*e, tenant, signer)) continue;
    std::string w = key_window_error(*e, *ts);
    if (w.empty()) return {};
    window_error = w;
  }
  if (!window_error.empty())
    return "the record's key: " + window_error + " (record time " + str_member(p, "ts") + ")";
  return "key " + r.key_id + " is not a key of agent `" + signer + "` of tenant `" + tenant + "`";
}

// A v2 record is not signed alone: its own seal carries its key's signature. That seal is the
// bundle's checkpoint, or (a bundle renewed with --since) the older checkpoint it grew from.
std::string check_record_seal(const ParsedRecord& r, const Keyring& keyring,
                              const CheckpointCheck& cp, const CheckpointCheck* older,
                              bool& checked) {
  checked = false;
  auto cands = keyring.find(r.key_id);
  if (cands.empty()) return {};
  checked = true;
  auto signs = [&](const CheckpointCheck& c) {
    return c.ok && c.checkpoint.size > r.seq &&
           std::find(c.key_ids.begin(), c.key_ids.end(), r.key_id) != c.key_ids.end();
  };
  if (!signs(cp) && !(older && signs(*older))) {
    return "no checkpoint of the bundle carries a signature of the record's key " + r.key_id +
           " (a sealed record is vouched for by its own seal)";
  }
  return key_fits_record(r, cands);
}

}  // namespace

BundleReport verify_receipt_bundle(std::string_view text, const Keyring& keyring) {
  BundleReport rep;
  auto fail = [&](std::string why) {
    rep.ok = false;
    rep.error = std::move(why);
    return rep;
  };
  auto b = nlohmann::json::parse(text, nullptr, false);
  if (b.is_discarded() || !b.is_object()) return fail("not a receipt bundle: not a JSON object");
  if (str_member(b, "format") != kReceiptBundleFormat)
    return fail("not a receipt bundle: `format` is not `" + std::string(kReceiptBundleFormat) +
                "`");
  rep.receipt_id = str_member(b, "receipt_id");
  std::string record = str_member(b, "record");
  std::string note = str_member(b, "checkpoint");
  Digest leaf;
  std::uint64_t tree_size = 0;
  std::vector<Digest> path;
  if (rep.receipt_id.empty()) return fail("the bundle has no `receipt_id`");
  if (!uint_member(b, "seq", rep.seq)) return fail("the bundle has no valid `seq`");
  if (record.empty()) return fail("the bundle has no `record`");
  if (!digest_from_base64(str_member(b, "leaf_hash"), leaf))
    return fail("the bundle has no valid `leaf_hash`");
  auto inc = b.find("inclusion");
  if (inc == b.end() || !inc->is_object() || !uint_member(*inc, "tree_size", tree_size) ||
      !inc->contains("hashes") || !hashes_from((*inc)["hashes"], path)) {
    return fail("the bundle has no valid `inclusion` ({\"tree_size\", \"hashes\"})");
  }
  if (note.empty()) return fail("the bundle has no `checkpoint`");

  // The record: its leaf hash, then what it says about itself.
  if (merkle_leaf_hash(record) != leaf)
    return fail("the record does not match the bundle's `leaf_hash` (the record was edited)");
  std::string err;
  auto r = parse_record(record, &err);
  if (!r) return fail("the record is not a valid log record: " + err);
  const auto& p = r->payload;
  rep.kind = r->kind;
  rep.record_key_id = r->key_id;
  rep.tenant = str_member(p, "tenant");
  rep.agent = str_member(p, "agent");
  rep.decision = str_member(p, "decision");
  rep.tool = str_member(p, "tool");
  rep.server = str_member(p, "server");
  rep.ts = str_member(p, "ts");
  rep.log_id = str_member(p, "log_id");
  if (str_member(p, "id") != rep.receipt_id) {
    return fail("the record's id `" + str_member(p, "id") + "` is not the bundle's receipt id `" +
                rep.receipt_id + "`");
  }
  if (r->seq != rep.seq) {
    return fail("the record's seq " + std::to_string(r->seq) + " is not the bundle's seq " +
                std::to_string(rep.seq));
  }
  if (b.contains("log_id") && str_member(b, "log_id") != rep.log_id)
    return fail("the bundle's `log_id` is not the record's");

  // The checkpoint: signed by a key of the keyring, and the proof leads to its root.
  auto cc = verify_checkpoint_note(note, keyring, rep.tenant);
  rep.origin = cc.checkpoint.origin;
  rep.checkpoint_size = cc.checkpoint.size;
  if (!cc.ok) return fail("the checkpoint does not verify: " + cc.error);
  rep.checkpoint_key_id = cc.key_id;
  if (tree_size != cc.checkpoint.size) {
    return fail("the inclusion proof is for a tree of " + std::to_string(tree_size) +
                " records but the checkpoint covers " + std::to_string(cc.checkpoint.size));
  }
  if (rep.seq >= tree_size) {
    return fail("the checkpoint (size " + std::to_string(tree_size) +
                ") does not cover the record (seq " + std::to_string(rep.seq) + ")");
  }
  if (!verify_inclusion(rep.seq, tree_size, leaf, path, cc.checkpoint.root)) {
    return fail(
        "the inclusion proof does not lead to the checkpoint's root: the record is not "
        "in the log the checkpoint signs");
  }

  // The record's own signature (v1), or its seal's signature of its key (v2), when the keyring
  // knows its key.
  std::optional<CheckpointCheck> older;
  if (auto con = b.find("consistency"); con != b.end() && con->is_object())
    older = verify_checkpoint_note(str_member(*con, "from_checkpoint"), keyring, rep.tenant);
  std::string sig_error = r->version == kRecordV1
                              ? check_record_signature(*r, keyring, rep.record_signature_checked)
                              : check_record_seal(*r, keyring, cc, older ? &*older : nullptr,
                                                  rep.record_signature_checked);
  if (!sig_error.empty()) return fail(sig_error);

  if (auto con = b.find("consistency"); con != b.end()) {
    std::vector<Digest> hashes;
    if (!con->is_object() || !con->contains("hashes") || !hashes_from((*con)["hashes"], hashes))
      return fail("the bundle has no valid `consistency` ({\"from_checkpoint\", \"hashes\"})");
    auto old = verify_checkpoint_note(str_member(*con, "from_checkpoint"), keyring, rep.tenant);
    if (!old.ok) return fail("the older checkpoint does not verify: " + old.error);
    if (old.checkpoint.origin != cc.checkpoint.origin) {
      return fail("the older checkpoint is from another log (origin `" + old.checkpoint.origin +
                  "`, not `" + cc.checkpoint.origin + "`)");
    }
    if (!verify_consistency(old.checkpoint.size, cc.checkpoint.size, old.checkpoint.root,
                            cc.checkpoint.root, hashes)) {
      return fail("the consistency proof does not show that the log of " +
                  std::to_string(old.checkpoint.size) + " records grew into the log of " +
                  std::to_string(cc.checkpoint.size) + " records");
    }
    rep.consistent_from = old.checkpoint.size;
  }
  rep.ok = true;
  return rep;
}

}  // namespace gt::gov::audit
