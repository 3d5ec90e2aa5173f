// Offline verification of an audit log: every signature (DSSE, Ed25519, against a public
// keyring with validity windows), the hash chain, sequence continuity, the Merkle
// checkpoints inside the log, and optionally a checkpoint kept elsewhere (which is what
// detects a truncated tail). Stops at the first damage, names the record and the kind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/keys.hpp"

namespace gt::gov::audit {

enum class Damage {
  None,
  Edited,     // a record's bytes changed after it was signed or chained
  Deleted,    // records missing from the middle (a gap in seq)
  Inserted,   // a record that is not part of the chain (a copy, or a forgery)
  Reordered,  // records present but out of order
  Truncated,  // records missing from the end (torn last line, or shorter than a checkpoint)
  WrongKey,   // signed by a key not in the keyring, not the agent's, or outside its window
  OtherLog,   // a record or checkpoint of another log (another log id or origin)
  Unsealed,   // sealed-batch records at the end that no seal covers
};
std::string_view to_string(Damage d);

struct Finding {
  Damage damage = Damage::None;
  std::string file;
  std::uint64_t line = 0;            // 1-based; 0 when not about one line
  std::optional<std::uint64_t> seq;  // the record's seq when known
  std::string message;
};

struct VerifyOptions {
  Keyring keyring;
  std::optional<std::string> checkpoint_note;  // a signed checkpoint kept elsewhere
  std::string checkpoint_name = "checkpoint";  // for messages
  bool partial = false;                        // accept a log whose first file starts after seq 0
  unsigned threads = 0;                        // signature checks in parallel; 0 = one per core
};

struct VerifyReport {
  bool ok = false;
  Finding first;  // the first damage, when !ok
  std::vector<std::string> warnings;
  std::string tenant;
  std::string log_id;  // "" for a log written before logs had ids
  std::uint64_t files = 0, records = 0, decisions = 0, denials = 0, results = 0;
  std::uint64_t checkpoints = 0, seals = 0, recoveries = 0;
  std::uint64_t first_seq = 0, next_seq = 0;
  Digest root{};                       // Merkle root over all records read
  std::optional<Checkpoint> external;  // the external checkpoint, when it was checked
  std::vector<std::string> key_ids;    // keys that signed records
  // Decisions by the agent they were made for (each signed with that agent's key, checked
  // against the keyring). At most kMaxAgentsListed agents; decisions of others are counted in
  // agents_unlisted.
  struct AgentTally {
    std::uint64_t decisions = 0, denials = 0;
    std::vector<std::string> key_ids;
  };
  static constexpr std::size_t kMaxAgentsListed = 1000;
  std::map<std::string, AgentTally> agents;
  std::uint64_t agents_unlisted = 0;
};

VerifyReport verify_log(const std::vector<std::filesystem::path>& files, const VerifyOptions& opts);

}  // namespace gt::gov::audit
