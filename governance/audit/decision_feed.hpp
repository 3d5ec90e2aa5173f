// Decisions read back from a live audit log, for the decisions page (`glasstape serve`):
// each decision record of the active file, as it is appended, reduced to what an operator
// reads (who, which tool, the outcome, the rule, the receipt) and with its signature checked
// against the tenant's keyring. What the page shows is what the log holds, not what the
// proxy meant to write.
//
// Bounded: the last `keep` decisions are kept, at most `keep` records are decoded per poll,
// and at start only the last `backlog_bytes` of the active file are read. A caller that stops
// polling for long should drop the feed and make a new one rather than drain what piled up.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/audit/keys.hpp"
#include "governance/audit/log_reader.hpp"
#include "governance/audit/records.hpp"

namespace gt::gov::audit {

// The page's view of one decision record line, or null when the line is not a decision.
// `signature`:
//   "verified"     a keyring key for the record's key id, tenant and agent signed it: the record
//                  itself (v1), or the seal after it (v2), whose signed chain head is tied to the
//                  record by hashes (each line from the record on is the `prev` of the next);
//   "invalid"      the signature does not verify, the seal carries none of its key, or the
//                  hashes do not lead from the record to the seal's chain head (a line was
//                  inserted, removed or changed: `glasstape verify` says which);
//   "unknown key"  no keyring entry for it (also when `keyring` is null);
//   "unsealed"     a v2 line read without its seal (decision_view);
//   "seal signed"  the seal's note is from before chain heads: its signature is checked, the
//                  record's place under it is not (`glasstape verify` checks the tree);
//   "not linked"   the feed passed over lines between the record and its seal (a burst longer
//                  than `keep`), so it cannot tie them.
nlohmann::json decision_view(std::string_view line, const Keyring* keyring);

// How a v2 decision waiting for its seal is tied to the lines a feed read after it.
enum class SealLink { Linked, Broken, PassedOver };

class DecisionFeed {
 public:
  // `dir`: the tenant's audit directory; `keyring`: its keyring file (may not exist yet: it is
  // read again, at most once a second, when a record names a key it does not hold).
  DecisionFeed(std::filesystem::path dir, std::filesystem::path keyring, std::size_t keep = 500,
               std::size_t backlog_bytes = 1u << 20);
  ~DecisionFeed();
  DecisionFeed(const DecisionFeed&) = delete;
  DecisionFeed& operator=(const DecisionFeed&) = delete;

  // Decisions appended since the last call (also kept in recent()).
  std::vector<nlohmann::json> poll();
  const std::deque<nlohmann::json>& recent() const { return recent_; }
  // Records of bursts longer than `keep` between two polls that were passed over.
  std::size_t skipped() const { return skipped_; }

 private:
  void add(std::string_view line, std::vector<nlohmann::json>* out);
  void show(nlohmann::json view, std::vector<nlohmann::json>* out);
  const Keyring* keyring_for(const ParsedRecord& record);
  void load_keyring();

  std::filesystem::path dir_, keyring_path_;
  std::size_t keep_;
  std::size_t skipped_ = 0;
  std::unique_ptr<LogFollower> follower_;
  std::deque<nlohmann::json> recent_;
  struct Pending {
    ParsedRecord record;
    std::string hash;  // SHA-256 hex of its line
    SealLink link;
  };
  std::deque<Pending> unsealed_;  // v2 decisions read, waiting for their seal
  std::string last_hash_;         // of the last line read; "" at start or after lines passed over
  std::unique_ptr<Keyring> keyring_;
  std::chrono::steady_clock::time_point keyring_loaded_{};
};

}  // namespace gt::gov::audit
