#include "governance/audit/verifier.hpp"

#include <algorithm>
#include <deque>
#include <thread>
#include <unordered_set>

#include "governance/audit/dsse.hpp"
#include "governance/audit/fsutil.hpp"
#include "governance/audit/merkle.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/time.hpp"

namespace gt::gov::audit {

namespace fs = std::filesystem;

std::string_view to_string(Damage d) {
  switch (d) {
    case Damage::None:
      return "intact";
    case Damage::Edited:
      return "edited";
    case Damage::Deleted:
      return "deleted";
    case Damage::Inserted:
      return "inserted";
    case Damage::Reordered:
      return "reordered";
    case Damage::Truncated:
      return "truncated";
    case Damage::WrongKey:
      return "wrong key";
    case Damage::OtherLog:
      return "other log";
    case Damage::Unsealed:
      return "unsealed";
  }
  return "unknown";
}

namespace {

enum class SigStatus {
  Ok,
  BadType,
  KeyidMismatch,
  UnknownKey,
  BadSig,
  OtherKey,
  NotAgentKey,
  Window
};

struct LineInfo {
  std::string_view bytes;
  std::uint64_t line_no = 0;
  bool terminated = true;
  bool parsed = false;
  std::string error;
  ParsedRecord rec;
  std::string hash_hex;
  Digest leaf{};
  SigStatus sig = SigStatus::Ok;
  std::string sig_detail;
  std::string signer_key;
  std::optional<CheckpointCheck> seal;  // a v2 `seal`: its note, checked against the keyring
};

void check_key_of(LineInfo& li, const Keyring& ring);

// Everything about one line that does not depend on the lines before it.
void examine(LineInfo& li, const Keyring& ring) {
  li.hash_hex = to_hex(sha256(li.bytes));
  li.leaf = merkle_leaf_hash(li.bytes);
  // Decisions and results without a payload tree: `fields` has what the checks read.
  auto r = parse_record(li.bytes, &li.error, PayloadNeed::ExceptRoutine);
  if (!r) return;
  li.parsed = true;
  li.rec = std::move(*r);
  const auto& env = li.rec.envelope;
  const auto& p = li.rec.payload;
  if (li.rec.version == kRecordV2) {
    // Not signed alone: the seal after it must carry a signature of this key (check_line);
    // here only that the key is in the keyring, the agent's, and valid at the record's time.
    if (li.rec.kind == "seal") {
      li.seal = verify_checkpoint_note(str_member(p, "note"), ring, str_member(p, "tenant"));
    }
    check_key_of(li, ring);
    return;
  }
  if (env.payload_type != kReceiptPayloadType) {
    li.sig = SigStatus::BadType;
    li.sig_detail =
        "payload type `" + env.payload_type + "` is not `" + std::string(kReceiptPayloadType) + "`";
    return;
  }
  const auto& sig = env.signatures.front();
  thread_local std::string message;  // reused: one PAE buffer per verifying thread
  message.clear();
  pae_into(message, env.payload_type, env.payload);
  auto cands = ring.find(li.rec.key_id);
  if (cands.empty() || !ed25519_verify(cands.front()->public_key, message, sig.sig)) {
    // Which key did sign it, if any we know?
    for (const auto& e : ring.entries) {
      if (e.key_id != li.rec.key_id && ed25519_verify(e.public_key, message, sig.sig)) {
        li.sig = SigStatus::OtherKey;
        li.sig_detail = "signed by key " + e.key_id + " although it names key " + li.rec.key_id;
        return;
      }
    }
    if (cands.empty()) {
      li.sig = SigStatus::UnknownKey;
      li.sig_detail = "signed with key " + li.rec.key_id + ", which is not in the keyring";
    } else {
      li.sig = SigStatus::BadSig;
      li.sig_detail = "the signature does not match the payload";
    }
    return;
  }
  li.signer_key = li.rec.key_id;
  if (!sig.keyid.empty() && sig.keyid != li.rec.key_id) {
    // The envelope's keyid is an unsigned hint; a wrong one means the envelope was altered.
    li.sig = SigStatus::KeyidMismatch;
    li.sig_detail = "the envelope names key " + sig.keyid + " but the signed payload names key " +
                    li.rec.key_id;
    return;
  }
  check_key_of(li, ring);
}

// The record's key (`key_id`) is a keyring key of its tenant and agent (or `signed_by`),
// valid at the record's `ts`.
void check_key_of(LineInfo& li, const Keyring& ring) {
  const auto& f = li.rec.fields;
  auto cands = ring.find(li.rec.key_id);
  if (cands.empty()) {
    li.sig = SigStatus::UnknownKey;
    li.sig_detail = "names key " + li.rec.key_id + ", which is not in the keyring";
    return;
  }
  li.signer_key = li.rec.key_id;
  const std::string& tenant = f.tenant;
  const std::string& signer = f.signed_by ? *f.signed_by : f.agent;
  auto ts = parse_rfc3339(f.ts);
  if (!ts) {
    li.sig = SigStatus::BadSig;
    li.sig_detail = "the payload has no valid `ts`";
    return;
  }
  std::string window_error;
  bool covered = false;
  for (const auto* e : cands) {
    if (!key_covers(*e, tenant, signer)) continue;
    covered = true;
    std::string w = key_window_error(*e, *ts);
    if (w.empty()) return;  // Ok
    window_error = w;
  }
  if (!covered) {
    li.sig = SigStatus::NotAgentKey;
    li.sig_detail = "key " + li.rec.key_id + " is not a key of agent `" + signer + "` of tenant `" +
                    tenant + "`";
  } else {
    li.sig = SigStatus::Window;
    li.sig_detail = window_error + " (record time " + f.ts + ")";
  }
}

void examine_all(std::vector<LineInfo>& lines, const Keyring& ring, unsigned threads) {
  if (threads <= 1 || lines.size() < 64) {
    for (auto& li : lines)
      examine(li, ring);
    return;
  }
  std::vector<std::thread> pool;
  std::size_t per = (lines.size() + threads - 1) / threads;
  for (unsigned t = 1; t < threads; ++t) {
    std::size_t lo = t * per, hi = std::min(lines.size(), lo + per);
    if (lo >= hi) break;
    pool.emplace_back([&, lo, hi] {
      for (std::size_t i = lo; i < hi; ++i)
        examine(lines[i], ring);
    });
  }
  for (std::size_t i = 0; i < std::min(per, lines.size()); ++i)
    examine(lines[i], ring);
  for (auto& th : pool)
    th.join();
}

class Verifier {
 public:
  Verifier(const std::vector<fs::path>& files, const VerifyOptions& opts)
      : files_(files), opts_(opts) {
    threads_ = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  }

  VerifyReport run() {
    if (opts_.checkpoint_note && !load_external()) return finish();
    for (fi_ = 0; fi_ < files_.size() && !failed(); ++fi_) {
      std::string content;
      try {
        content = fsutil::read_file(files_[fi_]);
      } catch (const std::exception& e) {
        fail(Damage::Truncated, 0, std::nullopt, std::string("cannot read the file: ") + e.what());
        break;
      }
      ++report_.files;
      auto views = split_lines(content);
      bool ends_with_newline = views.back().empty();
      if (ends_with_newline) views.pop_back();
      if (views.empty() || (views.size() == 1 && views[0].empty() && ends_with_newline)) {
        report_.warnings.push_back(files_[fi_].string() + " is empty");
        continue;
      }
      const std::size_t chunk = 4096;
      for (std::size_t base = 0; base < views.size() && !failed(); base += chunk) {
        std::size_t n = std::min(chunk, views.size() - base);
        std::vector<LineInfo> lines(n);
        for (std::size_t i = 0; i < n; ++i) {
          lines[i].bytes = views[base + i];
          lines[i].line_no = base + i + 1;
          lines[i].terminated = ends_with_newline || base + i + 1 < views.size();
        }
        examine_all(lines, opts_.keyring, threads_);
        for (std::size_t i = 0; i < n && !failed(); ++i) {
          const LineInfo* next = i + 1 < n ? &lines[i + 1] : nullptr;
          LineInfo next_li;
          if (!next && base + n < views.size()) {
            next_li.bytes = views[base + n];
            examine(next_li, opts_.keyring);
            next = &next_li;
          }
          check_line(lines[i], next);
        }
      }
    }
    if (!failed()) check_end();
    return finish();
  }

 private:
  bool failed() const { return report_.first.damage != Damage::None; }

  void fail(Damage d, std::uint64_t line, std::optional<std::uint64_t> seq, std::string msg,
            std::size_t file_index = SIZE_MAX) {
    if (failed()) return;
    std::size_t f = file_index == SIZE_MAX ? fi_ : file_index;
    report_.first.damage = d;
    report_.first.file = f < files_.size() ? files_[f].string() : opts_.checkpoint_name;
    report_.first.line = line;
    report_.first.seq = seq;
    report_.first.message = std::move(msg);
  }

  bool load_external() {
    auto c = verify_checkpoint_note(*opts_.checkpoint_note, opts_.keyring);
    if (!c.ok) {
      fail(c.error.find("malformed") == 0 ? Damage::Edited : Damage::WrongKey, 0, std::nullopt,
           "the checkpoint cannot be trusted: " + c.error, files_.size());
      return false;
    }
    external_ = c.checkpoint;
    return true;
  }

  void check_external_at_current_size() {
    if (external_ && !external_checked_ && tree_.size() == external_->size && started_) {
      external_checked_ = true;
      if (!external_is_ours()) {
        fail_other_log_checkpoint();
      } else if (tree_.root() != external_->root) {
        fail(Damage::Edited, prev_line_,
             tree_.size() ? std::optional(tree_.size() - 1) : std::nullopt,
             "the first " + std::to_string(external_->size) +
                 " records differ from the external checkpoint `" + opts_.checkpoint_name +
                 "` (history was rewritten)",
             prev_file_);
      }
    }
  }

  // Looks past the current position for a record with `seq`, and for an exact copy of
  // `bytes`. Only used once damage is found, so it may re-read files.
  std::pair<bool, bool> look_ahead(std::uint64_t seq, std::string_view bytes,
                                   std::uint64_t from_line) {
    bool found_seq = false, found_copy = false;
    for (std::size_t f = fi_; f < files_.size() && !(found_seq && found_copy); ++f) {
      std::string content;
      try {
        content = fsutil::read_file(files_[f]);
      } catch (const std::exception&) {
        continue;
      }
      auto views = split_lines(content);
      for (std::size_t i = (f == fi_ ? from_line : 0); i < views.size(); ++i) {
        if (views[i] == bytes) found_copy = true;
        auto r = parse_record(views[i]);
        if (r && r->seq == seq) found_seq = true;
      }
    }
    return {found_seq, found_copy};
  }

  void check_line(const LineInfo& li, const LineInfo* next) {
    const bool last_line = fi_ + 1 == files_.size() && !next;
    if (!li.terminated) {
      if (last_line) {
        fail(Damage::Truncated, li.line_no, std::nullopt,
             "the last line is incomplete (" + std::to_string(li.bytes.size()) +
                 " bytes, no newline): a torn write, e.g. after a crash; glasstape moves it aside "
                 "and records a recovery event at its next start");
      } else {
        fail(Damage::Edited, li.line_no, std::nullopt,
             "a line without a newline before the end of the log");
      }
      return;
    }
    if (!li.parsed) {
      fail(Damage::Edited, li.line_no, std::nullopt, "not a valid record: " + li.error);
      return;
    }
    const auto& rec = li.rec;
    const auto& p = rec.payload;
    if (li.sig != SigStatus::Ok) {
      bool chain_skips_it = next && next->parsed && started_ && next->rec.seq == expected_seq_ &&
                            next->rec.prev == expected_prev_;
      switch (li.sig) {
        case SigStatus::UnknownKey:
        case SigStatus::OtherKey:
        case SigStatus::NotAgentKey:
        case SigStatus::Window:
          fail(Damage::WrongKey, li.line_no, rec.seq,
               li.sig_detail +
                   (chain_skips_it ? " (the chain continues without it: an inserted record)" : ""));
          return;
        default:
          if (chain_skips_it) {
            fail(Damage::Inserted, li.line_no, rec.seq,
                 "a record that is not part of the chain (" + li.sig_detail + ")");
          } else {
            fail(Damage::Edited, li.line_no, rec.seq, li.sig_detail);
          }
          return;
      }
    }
    if (!started_) {
      report_.first_seq = rec.seq;
      report_.tenant = rec.fields.tenant;
      if (rec.seq != 0) {
        if (!opts_.partial) {
          fail(Damage::Deleted, li.line_no, rec.seq,
               "the log starts at seq " + std::to_string(rec.seq) + ": records 0.." +
                   std::to_string(rec.seq - 1) +
                   " are missing (give all files in order, or --partial to verify from here)");
          return;
        }
        if (rec.kind != "open") {
          fail(
              Damage::Deleted, li.line_no, rec.seq,
              "--partial needs a log that starts with an `open` record (the first line of a file)");
          return;
        }
        std::vector<Digest> frontier;
        for (const auto& h : p.value("frontier", nlohmann::json::array())) {
          Digest d{};
          if (h.is_string() && digest_from_base64(h.get<std::string>(), d)) frontier.push_back(d);
        }
        if (!tree_.restore(rec.seq, std::move(frontier))) {
          fail(Damage::Edited, li.line_no, rec.seq,
               "the `open` record's frontier does not match its seq");
          return;
        }
        expected_prev_ = rec.prev;
        report_.warnings.push_back(
            "partial log: records before seq " + std::to_string(rec.seq) +
            " were not checked; the first record's `prev` is taken on trust");
      } else {
        expected_prev_ = std::string(kGenesisPrev);
      }
      expected_seq_ = rec.seq;
      started_ = true;
    }
    if (rec.seq > expected_seq_) {
      auto [found_seq, found_copy] = look_ahead(expected_seq_, li.bytes, li.line_no);
      if (found_seq && found_copy) {
        fail(Damage::Inserted, li.line_no, rec.seq,
             "a copy of record seq " + std::to_string(rec.seq) + " inserted before seq " +
                 std::to_string(expected_seq_));
      } else if (found_seq) {
        fail(Damage::Reordered, li.line_no, rec.seq,
             "record seq " + std::to_string(rec.seq) + " comes before seq " +
                 std::to_string(expected_seq_) + ", which appears later");
      } else {
        std::string range = rec.seq - expected_seq_ == 1
                                ? "record seq " + std::to_string(expected_seq_) + " is"
                                : "records seq " + std::to_string(expected_seq_) + ".." +
                                      std::to_string(rec.seq - 1) + " are";
        fail(Damage::Deleted, li.line_no, rec.seq, range + " missing before this record");
      }
      return;
    }
    if (rec.seq < expected_seq_) {
      fail(Damage::Inserted, li.line_no, rec.seq,
           "a second record with seq " + std::to_string(rec.seq) + " (expected seq " +
               std::to_string(expected_seq_) + ")");
      return;
    }
    if (rec.prev != expected_prev_) {
      if (prev_line_ > 0) {
        fail(Damage::Edited, prev_line_, expected_seq_ - 1,
             "record seq " + std::to_string(expected_seq_ - 1) +
                 " was altered after it was chained: its hash no longer matches `prev` of seq " +
                 std::to_string(expected_seq_),
             prev_file_);
      } else {
        fail(Damage::Edited, li.line_no, rec.seq, "`prev` does not match the previous record");
      }
      return;
    }
    if (!check_log_id(li, rec)) return;
    if (rec.version == kRecordV1 && saw_v2_) {
      fail(Damage::Inserted, li.line_no, rec.seq,
           "a v1 (individually signed) record after the log switched to sealed batches");
      return;
    }
    check_external_at_current_size();
    if (failed()) return;
    // Per-kind checks, before this record joins the tree.
    if (rec.version == kRecordV2) {
      saw_v2_ = true;
      if (rec.kind == "seal") {
        if (!check_seal(li)) return;
      } else if (pending_.size() >= kMaxUnsealed) {
        fail(Damage::Unsealed, li.line_no, rec.seq,
             "more than " + std::to_string(kMaxUnsealed) + " records without a seal");
        return;
      } else {
        pending_.push_back({rec.seq, rec.key_id, li.line_no, fi_});
      }
    }
    if (rec.kind == "seal") {
      // checked above
    } else if (rec.kind == "checkpoint") {
      Digest root{};
      auto size = p.value("tree_size", std::uint64_t{0});
      if (size != rec.seq || !digest_from_base64(str_member(p, "root"), root) ||
          root != tree_.root()) {
        fail(Damage::Edited, li.line_no, rec.seq,
             "the checkpoint does not match the records before it (tree size " +
                 std::to_string(rec.seq) + ")");
        return;
      }
      auto c = verify_checkpoint_note(str_member(p, "note"), opts_.keyring, report_.tenant);
      if (!c.ok || c.checkpoint.size != size || c.checkpoint.root != root) {
        fail(c.ok ? Damage::Edited : Damage::WrongKey, li.line_no, rec.seq,
             "the checkpoint's signed note does not verify: " +
                 (c.ok ? std::string("it names another tree") : c.error));
        return;
      }
      if (c.checkpoint.origin != origin()) {
        fail(Damage::OtherLog, li.line_no, rec.seq,
             "the checkpoint names log `" + c.checkpoint.origin + "`, not this log's `" + origin() +
                 "`");
        return;
      }
      ++report_.checkpoints;
    } else if (rec.kind == "open") {
      nlohmann::json want = nlohmann::json::array();
      for (const auto& d : tree_.frontier())
        want.push_back(to_base64(d));
      if (p.value("tree_size", std::uint64_t{0}) != rec.seq ||
          p.value("frontier", nlohmann::json()) != want) {
        fail(Damage::Edited, li.line_no, rec.seq,
             "the `open` record's tree does not match the records before it");
        return;
      }
      if (li.line_no != 1) {
        report_.warnings.push_back(files_[fi_].string() + ":" + std::to_string(li.line_no) +
                                   ": an `open` record inside a file (files joined?)");
      }
    } else if (rec.kind == "decision") {
      ++report_.decisions;
      bool denied = rec.fields.decision == "deny";
      if (denied) ++report_.denials;
      const std::string& agent = rec.fields.agent;
      auto a = report_.agents.find(agent);
      if (a == report_.agents.end() && report_.agents.size() < VerifyReport::kMaxAgentsListed)
        a = report_.agents.emplace(agent, VerifyReport::AgentTally{}).first;
      if (a == report_.agents.end()) {
        ++report_.agents_unlisted;
      } else {
        ++a->second.decisions;
        if (denied) ++a->second.denials;
        auto& ks = a->second.key_ids;
        if (ks.size() < 16 && std::find(ks.begin(), ks.end(), li.signer_key) == ks.end())
          ks.push_back(li.signer_key);
      }
      remember_decision(rec.fields.id);
    } else if (rec.kind == "result") {
      ++report_.results;
      const std::string& did = rec.fields.decision_id;
      if (!decision_ids_.count(did) && !opts_.partial && report_.first_seq == 0) {
        report_.warnings.push_back(files_[fi_].string() + ":" + std::to_string(li.line_no) +
                                   ": result for decision `" + did +
                                   "`, not found earlier in the log");
      }
    } else if (rec.kind == "recovery") {
      ++report_.recoveries;
      report_.warnings.push_back(files_[fi_].string() + ":" + std::to_string(li.line_no) +
                                 ": recovery event `" + str_member(p, "event") + "` at " +
                                 str_member(p, "ts") + describe_recovery(p));
    }
    if (li.line_no == 1 && rec.kind != "open") {
      report_.warnings.push_back(files_[fi_].string() + " does not start with an `open` record");
    }
    if (!report_.tenant.empty() && rec.fields.tenant != report_.tenant) {
      fail(Damage::Inserted, li.line_no, rec.seq,
           "a record of tenant `" + rec.fields.tenant + "` in the log of tenant `" +
               report_.tenant + "`");
      return;
    }
    if (std::find(report_.key_ids.begin(), report_.key_ids.end(), li.signer_key) ==
        report_.key_ids.end()) {
      report_.key_ids.push_back(li.signer_key);
    }
    tree_.append(li.leaf);
    expected_prev_ = li.hash_hex;
    expected_seq_ = rec.seq + 1;
    prev_line_ = li.line_no;
    prev_file_ = fi_;
    ++report_.records;
  }

  static std::string describe_recovery(const nlohmann::json& p) {
    std::string out;
    if (p.contains("bytes"))
      out += ", " + p["bytes"].dump() + " byte(s) kept as `" + str_member(p, "evidence") + "`";
    if (p.contains("denied"))
      out += ", " + p["denied"].dump() + " call(s) denied while the log failed";
    if (p.contains("dropped") && p["dropped"] != 0)
      out += ", " + p["dropped"].dump() + " denial(s) not recorded";
    return out;
  }

  void remember_decision(const std::string& id) {
    decision_ids_.insert(id);
    decision_order_.push_back(id);
    if (decision_order_.size() > 1000000) {
      decision_ids_.erase(decision_order_.front());
      decision_order_.pop_front();
    }
  }

  // A v2 seal: the tree it signs is the tree of every line before it, its note verifies with
  // a keyring key and names this log, and it carries a signature of the key of every record
  // since the previous seal.
  bool check_seal(const LineInfo& li) {
    const auto& rec = li.rec;
    const auto& p = rec.payload;
    Digest root{};
    auto size = p.value("tree_size", std::uint64_t{0});
    if (size != rec.seq || !digest_from_base64(str_member(p, "root"), root) ||
        root != tree_.root()) {
      fail(Damage::Edited, li.line_no, rec.seq,
           "the seal does not match the records before it (tree size " + std::to_string(rec.seq) +
               ")");
      return false;
    }
    const CheckpointCheck& c = *li.seal;
    if (!c.ok || c.checkpoint.size != size || c.checkpoint.root != root) {
      fail(c.ok ? Damage::Edited : Damage::WrongKey, li.line_no, rec.seq,
           "the seal's signed note does not verify: " +
               (c.ok ? std::string("it names another tree") : c.error));
      return false;
    }
    // Notes since chain heads: the signed head must be the line before the seal (its `prev`,
    // which the chain check has tied to that line). The root already covers every line; this
    // checks what a reader that follows the log without the tree relies on.
    if (!c.checkpoint.chain_head.empty() && c.checkpoint.chain_head != rec.prev) {
      fail(Damage::Edited, li.line_no, rec.seq,
           "the seal's signed chain head is not the hash of the line before it");
      return false;
    }
    if (c.checkpoint.origin != origin()) {
      fail(Damage::OtherLog, li.line_no, rec.seq,
           "the seal names log `" + c.checkpoint.origin + "`, not this log's `" + origin() + "`");
      return false;
    }
    if (std::find(c.key_ids.begin(), c.key_ids.end(), rec.key_id) == c.key_ids.end()) {
      fail(Damage::WrongKey, li.line_no, rec.seq,
           "the seal is not signed by the key it names (" + rec.key_id + ")");
      return false;
    }
    for (const auto& u : pending_) {
      if (std::find(c.key_ids.begin(), c.key_ids.end(), u.key_id) != c.key_ids.end()) continue;
      fail(Damage::WrongKey, u.line_no, u.seq,
           "record seq " + std::to_string(u.seq) + " names key " + u.key_id +
               ", but the seal that covers it (seq " + std::to_string(rec.seq) +
               ") carries no signature of that key",
           u.file);
      return false;
    }
    pending_.clear();
    ++report_.seals;
    return true;
  }

  void check_end() {
    if (!started_) {
      fail(Damage::Truncated, 0, std::nullopt, "the log has no records",
           files_.empty() ? SIZE_MAX : 0);
      return;
    }
    if (!pending_.empty()) {
      const auto& u = pending_.front();
      fail(Damage::Unsealed, u.line_no, u.seq,
           std::to_string(pending_.size()) + " record(s) from seq " + std::to_string(u.seq) +
               " at the end are covered by no seal, so no signature vouches for them: their "
               "seal was cut off, or they were appended by someone without the key (a running "
               "proxy seals each batch as it writes it; verify again)",
           u.file);
      return;
    }
    if (external_ && !external_is_ours()) {
      fail_other_log_checkpoint();
      return;
    }
    check_external_at_current_size();
    if (failed()) return;
    if (external_ && !external_checked_) {
      if (external_->size > tree_.size()) {
        fail(Damage::Truncated, prev_line_, expected_seq_ - 1,
             "the external checkpoint `" + opts_.checkpoint_name + "` covers " +
                 std::to_string(external_->size) + " records but the log has only " +
                 std::to_string(tree_.size()) + ": records " + std::to_string(tree_.size()) + ".." +
                 std::to_string(external_->size - 1) + " were removed from the end",
             prev_file_);
      } else {
        report_.warnings.push_back("the external checkpoint (size " +
                                   std::to_string(external_->size) +
                                   ") predates the verified part of the log and was not checked");
      }
      return;
    }
  }

  // The checkpoint origin of the records read so far: with the log id once one appeared.
  std::string origin() const { return checkpoint_origin(report_.tenant, log_id_); }

  // An external checkpoint names this log: its origin now, or the origin it had before it got
  // its id (a checkpoint kept from then).
  bool external_is_ours() const {
    return external_->origin == origin() ||
           (saw_v1_ && external_->origin == checkpoint_origin(report_.tenant));
  }
  void fail_other_log_checkpoint() {
    // Another log's checkpoint (a new log in the same directory, another host with the same
    // key) says nothing about this one: checking against it would only look reassuring.
    fail(Damage::OtherLog, 0, std::nullopt,
         "the checkpoint `" + opts_.checkpoint_name + "` is of log `" + external_->origin +
             "`, not of this log (`" + origin() + "`); it cannot vouch for this log",
         SIZE_MAX);
  }

  // Every record of a log carries its id, from its first record on (or, for a log written
  // before logs had ids, from the `upgrade` record that gave it one). A record with another
  // id, or none after the log has one, belongs to another log.
  bool check_log_id(const LineInfo& li, const ParsedRecord& rec) {
    const bool first = !id_checked_any_;
    id_checked_any_ = true;
    if (log_id_.empty()) {
      if (rec.log_id.empty()) {
        saw_v1_ = true;
        return true;
      }
      if (rec.seq == 0 || rec.kind == "upgrade" || (first && opts_.partial)) {
        log_id_ = rec.log_id;
        report_.log_id = log_id_;
        return true;
      }
      fail(Damage::OtherLog, li.line_no, rec.seq,
           "a record of log `" + rec.log_id +
               "` in a log without an id (only a log's first record, or an `upgrade` record, "
               "gives a log its id)");
      return false;
    }
    if (rec.log_id == log_id_) return true;
    fail(Damage::OtherLog, li.line_no, rec.seq,
         rec.log_id.empty()
             ? "a record without this log's id `" + log_id_ + "`"
             : "a record of log `" + rec.log_id + "`, not of this log (`" + log_id_ + "`)");
    return false;
  }

  VerifyReport finish() {
    report_.ok = !failed();
    report_.next_seq = expected_seq_;
    report_.root = tree_.root();
    if (external_checked_) report_.external = external_;
    return report_;
  }

  const std::vector<fs::path>& files_;
  const VerifyOptions& opts_;
  unsigned threads_ = 1;
  std::size_t fi_ = 0;
  VerifyReport report_;
  bool started_ = false;
  std::uint64_t expected_seq_ = 0;
  std::string expected_prev_;
  std::uint64_t prev_line_ = 0;
  std::size_t prev_file_ = 0;
  CompactRange tree_;
  std::optional<Checkpoint> external_;
  bool external_checked_ = false;
  std::string log_id_;
  bool saw_v1_ = false;  // records without a log id were read
  bool saw_v2_ = false;  // sealed-batch records were read
  // v2 records since the last seal: the next seal must be signed by each one's key.
  struct Unsealed {
    std::uint64_t seq = 0;
    std::string key_id;
    std::uint64_t line_no = 0;
    std::size_t file = 0;
  };
  static constexpr std::size_t kMaxUnsealed = 1000000;
  std::vector<Unsealed> pending_;
  bool id_checked_any_ = false;
  std::unordered_set<std::string> decision_ids_;
  std::deque<std::string> decision_order_;
};

}  // namespace

VerifyReport verify_log(const std::vector<fs::path>& files, const VerifyOptions& opts) {
  return Verifier(files, opts).run();
}

}  // namespace gt::gov::audit
