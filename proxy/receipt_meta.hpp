// `dev.glasstape/receipt`: where the record of a governed call's decision sits in the audit log,
// added to the answer the client gets (governance.audit.receipt_meta, on by default):
//
//   {"receipt_id": "<the record's payload id>", "seq": <its seq>,
//    "leaf_hash": "<base64 of SHA-256(0x00 || the record's line)>", "log_id": "<the log's id>"}
//
// A bare id only names a record; with seq and leaf_hash the holder of an answer can find
// exactly that line in the log and check it is the one (a checkpoint's inclusion proof then
// ties the line to the signed tree). `log_id` is left out when the log has none.
//
// Where it goes: a result object gets it in `result._meta` (made when absent; the members
// already there stay), a JSON-RPC error in `error.data` (made when absent; kept as is when
// `data` is not an object). A result that is not an object, or a `_meta`/`data` that is not
// an object, gets none: nothing of the server's answer is changed to make room for it.
//
// The answer is spliced, not re-serialized: the server's bytes stay as they are, around one
// inserted member. Only an answer that already carries a `dev.glasstape/receipt` (a server
// forging one) or repeats `_meta` (or `data`) is parsed and written out again, with the
// repeated member's last copy (what JavaScript's and nlohmann's parsers keep), so that the
// client can never read a receipt the proxy did not write.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "proxy/pipeline.hpp"

namespace gt::proxy::receipt_meta {

inline constexpr const char* kKey = "dev.glasstape/receipt";
// The member a denial's answer carries (session.cpp); in an allowed answer only a server could
// have put it there, and it is dropped.
inline constexpr const char* kDecisionKey = "dev.glasstape/decision";

// The member's value for a decision, or null when its record was not written (no receipt
// yet, or a write that failed: such a denial is written later, somewhere not known now).
nlohmann::json value(const Decision& d);

// The JSON-RPC response `message` (valid JSON, as the session forwards it) with `receipt`
// added (a null receipt: receipt_meta is off), and any `dev.glasstape/receipt` or
// `dev.glasstape/decision` the server put in the same place removed; nullopt when nothing
// changes (see above), and the message is to be sent as it is.
// `max_depth` bounds the parse of the rare answer that is written out again.
std::optional<std::string> add(std::string_view message, const nlohmann::json& receipt,
                               std::size_t max_depth);

// The same on a parsed message (an answer an interceptor replaced). False when it gets none.
bool add(nlohmann::json& message, const nlohmann::json& receipt);

}  // namespace gt::proxy::receipt_meta
