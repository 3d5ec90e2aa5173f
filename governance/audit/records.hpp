// Reading records back: log file naming and order, and parsing one line into its envelope
// and payload. Shared by the writer's crash recovery, the verifier and `glasstape tail`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/audit/dsse.hpp"

namespace gt::gov::audit {

inline constexpr const char* kActiveLogName = "audit.jsonl";
inline constexpr const char* kCheckpointFileName = "checkpoint";
inline constexpr std::string_view kGenesisPrev =
    "0000000000000000000000000000000000000000000000000000000000000000";

// "audit-000000001234.jsonl": a rotated file, named after its first sequence number.
std::string rotated_log_name(std::uint64_t first_seq);
bool is_rotated_log_name(const std::string& name);
// The log files of a directory in chain order: rotated files by name, then the active one.
std::vector<std::filesystem::path> log_files_in(const std::filesystem::path& dir);

// A log id: 128 random bits as 32 lowercase hex digits, made once when a log is created (or
// when a log written before log ids existed is continued). Every record carries it as
// `log_id`, and it is part of the checkpoint origin (checkpoint.hpp).
std::string new_log_id();
bool valid_log_id(std::string_view id);
// The id of the log in `dir`, from the last record of its newest file; "" when there is no
// log or it has no id yet. Reads at most the last MiB.
std::string current_log_id(const std::filesystem::path& dir);

// Two forms of line:
//   v1 (glasstape.receipt/1): a DSSE envelope (dsse.hpp) whose payload is the record, signed
//       one by one; logs written before sealed batches.
//   v2 (glasstape.receipt/2): the record itself, one JCS object per line, not signed alone:
//       a `seal` record after each batch signs the Merkle root over every line before it
//       (README: audit). A line that starts with `{"payload":"` is read as v1.
inline constexpr int kRecordV1 = 1, kRecordV2 = 2;

// String members that decisions and results carry and a verifier reads from every record;
// "" when absent or not a string. A repeated name keeps its last value, as `payload` does.
struct RecordFields {
  std::string tenant, agent, ts;
  std::optional<std::string> signed_by;  // present only in records signed for another agent
  std::string decision, id, decision_id;
};

struct ParsedRecord {
  int version = kRecordV2;
  Envelope envelope;       // v1 only
  nlohmann::json payload;  // the record: the decoded envelope payload (v1) or the line (v2)
  std::uint64_t seq = 0;
  std::string prev;
  std::string key_id;
  std::string kind;
  std::string log_id;  // "" in records written before the log had one (v1)
  RecordFields fields;
};

// p[name] when it is a string, else "". Every reader of record members uses this one.
std::string str_member(const nlohmann::json& p, const char* name);

// Whether `payload` is filled. `ExceptRoutine` leaves it null for `decision` and `result`
// records (nearly every line of a log), whose `fields` say all a verifier needs: a v2 line of
// those kinds is then read with simdjson alone, several times faster than building the tree.
enum class PayloadNeed { Always, ExceptRoutine };

// Parses a line of either form; checks the members every record has.
std::optional<ParsedRecord> parse_record(std::string_view line, std::string* error = nullptr,
                                         PayloadNeed need = PayloadNeed::Always);

// Splits a buffer into lines; the last element is the unterminated tail ("" when the buffer
// ends with a newline).
std::vector<std::string_view> split_lines(std::string_view buf);

}  // namespace gt::gov::audit
