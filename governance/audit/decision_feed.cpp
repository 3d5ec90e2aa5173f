#include "governance/audit/decision_feed.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/sha256.hpp"

namespace gt::gov::audit {

namespace {

std::string str(const nlohmann::json& p, const char* name) {
  auto it = p.find(name);
  return it != p.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The last `bytes` of `file`, from its first complete line.
std::vector<std::string> last_lines(const std::filesystem::path& file, std::size_t bytes) {
  std::vector<std::string> out;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return out;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::uint64_t from = size > bytes ? size - bytes : 0;
  std::string buf(static_cast<std::size_t>(size - from), '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    auto n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(from + got));
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf.resize(got);
  auto lines = split_lines(buf);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {  // the last one is unterminated
    if (i == 0 && from > 0) continue;                   // cut in the middle
    out.emplace_back(lines[i]);
  }
  return out;
}

}  // namespace

namespace {

// Whether a keyring entry may vouch for a record of `p`'s tenant and agent.
bool for_record(const KeyringEntry& e, const nlohmann::json& p) {
  return (e.tenant == "*" || e.tenant == str(p, "tenant")) &&
         (e.agent == "*" || e.agent == str(p, "agent"));
}

// The view of a parsed decision record, with the status of what vouches for it.
nlohmann::json view_with(const ParsedRecord& r, std::string status) {
  const auto& p = r.payload;
  nlohmann::json v = {
      {"seq", r.seq},
      {"ts", str(p, "ts")},
      {"tenant", str(p, "tenant")},
      {"agent", str(p, "agent")},
      {"server", str(p, "server")},
      {"tool", str(p, "tool")},
      {"method", p.contains("method") ? str(p, "method") : "tools/call"},
      {"decision", str(p, "decision")},
      {"mode", str(p, "mode")},
      {"would_deny", p.value("would_deny", false)},
      {"code", str(p, "code")},
      {"reason", str(p, "reason")},
      {"decided_by", str(p, "decided_by")},
      {"rule_id", str(p, "rule_id")},
      {"policy_id",
       p.contains("policy") && p["policy"].is_object() ? str(p["policy"], "id") : std::string()},
      {"receipt_id", str(p, "id")},
      {"key_id", r.key_id}};
  v["signature"] = std::move(status);
  return v;
}

// A v1 record: its own signature.
nlohmann::json view_of(const ParsedRecord& r, const Keyring* keyring) {
  std::string status = "unknown key";
  if (keyring && !r.envelope.signatures.empty()) {
    const auto& sig = r.envelope.signatures.front();
    for (const auto* e : keyring->find(sig.keyid)) {
      if (!for_record(*e, r.payload)) continue;
      status = verify_envelope_signature(r.envelope, sig, e->public_key) ? "verified" : "invalid";
      if (status == "verified") break;
    }
  }
  return view_with(r, std::move(status));
}

// A v2 record: the seal after it must carry a valid signature of its key, and its place under
// that seal must be shown by hashes: each line from the record to the seal is the `prev` of the
// next, and the seal's signed chain head is the hash of the line before it (`linked`).
nlohmann::json view_sealed(const ParsedRecord& r, const CheckpointCheck* seal, SealLink link,
                           const Keyring* keyring) {
  std::string status = "unknown key";
  if (!seal) {
    status = "unsealed";
  } else if (keyring) {
    bool known = false;
    for (const auto* e : keyring->find(r.key_id))
      known = known || for_record(*e, r.payload);
    const bool signed_it = seal->ok && std::find(seal->key_ids.begin(), seal->key_ids.end(),
                                                 r.key_id) != seal->key_ids.end();
    if (known) {
      if (!signed_it || link == SealLink::Broken) {
        status = "invalid";
      } else if (link == SealLink::PassedOver) {
        status = "not linked";  // this feed did not read every line up to the seal
      } else if (seal->checkpoint.chain_head.empty()) {
        status = "seal signed";  // a note from before chain heads: only its signature is known
      } else {
        status = "verified";
      }
    }
  }
  return view_with(r, std::move(status));
}

}  // namespace

nlohmann::json decision_view(std::string_view line, const Keyring* keyring) {
  auto r = parse_record(line);
  if (!r || r->kind != "decision") return nullptr;
  if (r->version == kRecordV2) return view_sealed(*r, nullptr, SealLink::Linked, keyring);
  return view_of(*r, keyring);
}

DecisionFeed::DecisionFeed(std::filesystem::path dir, std::filesystem::path keyring,
                           std::size_t keep, std::size_t backlog_bytes)
    : dir_(std::move(dir)), keyring_path_(std::move(keyring)), keep_(keep) {
  const auto active = dir_ / kActiveLogName;
  // Start at the end; what came before is read from the file's last bytes only.
  follower_ = std::make_unique<LogFollower>(active, true);
  for (const auto& line : last_lines(active, backlog_bytes))
    add(line, nullptr);
}

DecisionFeed::~DecisionFeed() = default;

void DecisionFeed::load_keyring() {
  keyring_loaded_ = std::chrono::steady_clock::now();
  try {
    keyring_ = std::make_unique<Keyring>(Keyring::load(keyring_path_));
  } catch (const std::exception&) {
    // Not there yet, or not trusted: records show "unknown key" until it can be read.
  }
}

const Keyring* DecisionFeed::keyring_for(const ParsedRecord& r) {
  // A key the keyring does not hold yet (a new agent): read it again, at most once a second.
  const bool unknown = !keyring_ || keyring_->find(r.key_id).empty();
  if (unknown && std::chrono::steady_clock::now() - keyring_loaded_ >= std::chrono::seconds(1))
    load_keyring();
  return keyring_.get();
}

// Each line is parsed once: records other than decisions stop here, before any keyring work.
void DecisionFeed::add(std::string_view line, std::vector<nlohmann::json>* out) {
  auto r = parse_record(line);
  std::string hash = sha256_hex(line);
  if (r && r->version == kRecordV2 && !last_hash_.empty() && r->prev != last_hash_) {
    // This line does not continue from the one read before it: a line was inserted, removed or
    // changed. Decisions up to the one it does name (if any) are still tied to it; the ones
    // after it (all of them, when it names none) are not.
    for (auto it = unsealed_.rbegin(); it != unsealed_.rend() && it->hash != r->prev; ++it)
      it->link = SealLink::Broken;
  }
  last_hash_ = std::move(hash);
  if (!r) return;
  if (r->version == kRecordV2) {
    // Sealed batches: a decision is shown once the seal after it is read (the same write as
    // the decision, so at once), with the status of the seal's signature of its key and of
    // the hashes that tie it to the seal.
    if (r->kind == "decision") {
      unsealed_.push_back({std::move(*r), last_hash_, SealLink::Linked});
      if (unsealed_.size() > keep_) unsealed_.pop_front();
    } else if (r->kind == "seal" && !unsealed_.empty()) {
      const Keyring* ring = keyring_for(unsealed_.front().record);
      std::optional<CheckpointCheck> seal;
      if (ring)
        seal = verify_checkpoint_note(str(r->payload, "note"), *ring, str(r->payload, "tenant"));
      // The signed chain head must be the line before the seal, which the seal's `prev` is
      // (checked above against what was read).
      const bool head_ok =
          seal && (seal->checkpoint.chain_head.empty() || seal->checkpoint.chain_head == r->prev);
      for (auto& d : unsealed_) {
        if (!head_ok) d.link = SealLink::Broken;
        show(view_sealed(d.record, seal ? &*seal : nullptr, d.link, ring), out);
      }
      unsealed_.clear();
    }
    return;
  }
  if (r->kind != "decision") return;
  show(view_of(*r, keyring_for(*r)), out);
}

void DecisionFeed::show(nlohmann::json v, std::vector<nlohmann::json>* out) {
  recent_.push_back(v);
  while (recent_.size() > keep_)
    recent_.pop_front();
  if (out) out->push_back(std::move(v));
}

std::vector<nlohmann::json> DecisionFeed::poll() {
  std::vector<nlohmann::json> out;
  auto lines = follower_->poll();
  // Only the newest `keep` lines can stay in recent(): the older ones of a burst are not
  // decoded or verified at all (counted in skipped()).
  std::size_t first = lines.size() > keep_ ? lines.size() - keep_ : 0;
  skipped_ += first;
  if (first > 0) {
    // What is waiting for a seal can no longer be tied to it by hashes through what was not read.
    for (auto& d : unsealed_)
      if (d.link == SealLink::Linked) d.link = SealLink::PassedOver;
    last_hash_.clear();
  }
  for (std::size_t i = first; i < lines.size(); ++i)
    add(lines[i], &out);
  return out;
}

}  // namespace gt::gov::audit
