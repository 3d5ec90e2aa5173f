// A receipt bundle: everything a caller needs to check one decision offline, without the
// log. It is one JSON object, written in JCS form (jcs.hpp):
//
//   {
//     "format":     "glasstape.receipt-bundle/1",
//     "receipt_id": the record's payload `id`,
//     "seq":        the record's payload `seq` (= its leaf index in the Merkle tree),
//     "log_id":     the record's payload `log_id` (omitted when the record has none),
//     "record":     the exact log line (the DSSE envelope as written, without its newline),
//     "leaf_hash":  base64 of SHA-256(0x00 || record),
//     "inclusion":  {"tree_size": N, "hashes": [base64, ...]},   RFC 9162 §2.1.3 proof
//     "checkpoint": a signed note (C2SP signed-note, checkpoint.hpp) of size N,
//     "consistency": {"from_checkpoint": an older signed note of size M <= N,   (optional)
//                     "hashes": [base64, ...]}                  RFC 9162 §2.1.4 proof M -> N
//   }
//
// A bundle is checked by verify_receipt_bundle(): leaf hash, inclusion proof against the
// checkpoint's root and size, the checkpoint's Ed25519 signature, the record's payload id and
// seq, the record's own DSSE signature when its key is in the keyring, and the consistency
// proof. A newer bundle with a consistency proof from an older one's checkpoint shows that
// the log still holds everything the older checkpoint covered.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "governance/audit/keys.hpp"

namespace gt::gov::audit {

inline constexpr std::string_view kReceiptBundleFormat = "glasstape.receipt-bundle/1";

// A bundle cannot be built; what() is one readable line.
struct BundleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct BundleOptions {
  // The text of an older bundle of the same log: the new bundle then carries a consistency
  // proof from that bundle's checkpoint to its own.
  std::optional<std::string> since_bundle;
};

// Finds the record whose payload `id` is `receipt_id` in the log directory `dir` and proves
// it against the latest signed checkpoint that covers it: the directory's `checkpoint` file
// when its size is greater than the record's seq, else the first `checkpoint` record after
// it. Reads the log files twice, one line at a time (memory O(log n) plus one line), and
// checks that the checkpoint's root is the root of the records read. Throws BundleError.
std::string build_receipt_bundle(const std::filesystem::path& dir, std::string_view receipt_id,
                                 const BundleOptions& opts = {});

struct BundleReport {
  bool ok = false;
  std::string error;  // why not, when !ok: one readable line

  // Facts, filled as far as the check got.
  std::string receipt_id, log_id, kind, tenant, agent, decision, tool, server, ts;
  std::uint64_t seq = 0;
  std::string origin;  // the checkpoint's origin line
  std::uint64_t checkpoint_size = 0;
  std::string checkpoint_key_id;                 // the keyring key that verified the checkpoint
  std::string record_key_id;                     // the key the record names
  bool record_signature_checked = false;         // false: its key is not in the keyring
  std::optional<std::uint64_t> consistent_from;  // the older checkpoint's size, when proved
};

// Never throws: malformed input is a report with ok == false.
BundleReport verify_receipt_bundle(std::string_view bundle, const Keyring& keyring);

}  // namespace gt::gov::audit
