// Receipt payloads: what a record says, before the log chains and signs it.
//
// A payload is a JSON object serialized with JCS (jcs.hpp). PayloadBuilder keeps each
// member already canonical and sorted, so the log writer only splices in the three chain
// members it owns ("key_id", "log_id", "prev", "seq") and never re-serializes on its hot path.
// The member list of each record kind is documented in the README (section audit).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/audit/time.hpp"

namespace gt::gov::audit {

// Records of sealed logs (records.hpp: v2). v1 logs (one signature per record) said
// "glasstape.receipt/1".
inline constexpr std::string_view kReceiptFormat = "glasstape.receipt/2";
inline constexpr std::string_view kReceiptFormatV1 = "glasstape.receipt/1";

enum class ArgsMode { Full, Redact, HashOnly };
std::string_view to_string(ArgsMode m);
std::optional<ArgsMode> parse_args_mode(std::string_view s);

class PayloadBuilder;

// The members the log writer adds to every payload ("chain members"), in sorted order:
// key_id < log_id < prev < seq. `log_id` is left out when empty (only tests do that; the
// writer always has one).
struct ChainMembers {
  std::string_view key_id;
  std::string_view log_id;
  std::string_view prev_hex;
  std::uint64_t seq = 0;
};

// A finished payload without its chain members, as one string: the members that sort before
// "key_id", between "key_id" and "log_id", between "log_id" and "prev", between "prev" and
// "seq", and after "seq". The log writer only splices the chain members in (one allocation
// per record to free, not fifty).
struct FrozenPayload {
  std::string text;
  std::uint32_t ends[5] = {0, 0, 0, 0, 0};  // end offsets of the five segments in `text`
  void finish_into(std::string& out, const ChainMembers& chain) const;
  void finish_into(std::string& out, std::uint64_t seq, std::string_view prev_hex,
                   std::string_view key_id) const {
    finish_into(out, ChainMembers{key_id, {}, prev_hex, seq});
  }
  PayloadBuilder thaw() const;  // back to an editable builder (failure paths only)
};

class PayloadBuilder {
 public:
  FrozenPayload freeze() const;
  // Each setter replaces a member of the same name. Names are ASCII.
  void set(std::string_view key, const nlohmann::json& value);    // canonicalizes (JcsError)
  void set_string(std::string_view key, std::string_view value);  // invalid UTF-8 → U+FFFD
  void set_int(std::string_view key, std::int64_t value);
  void set_bool(std::string_view key, bool value);
  void set_null(std::string_view key);
  void set_raw(std::string_view key, std::string canonical_value);
  void erase(std::string_view key);
  // The canonical text of a member's value, or nullptr.
  const std::string* raw(std::string_view key) const;
  // The string value of a member (decoded), or "" when absent or not a string.
  std::string get_string(std::string_view key) const;

  // The whole payload with the chain members added, appended to `out`.
  void finish_into(std::string& out, const ChainMembers& chain) const;
  void finish_into(std::string& out, std::uint64_t seq, std::string_view prev_hex,
                   std::string_view key_id) const {
    finish_into(out, ChainMembers{key_id, {}, prev_hex, seq});
  }
  std::string finish(const ChainMembers& chain) const;
  std::string finish(std::uint64_t seq, std::string_view prev_hex, std::string_view key_id) const {
    return finish(ChainMembers{key_id, {}, prev_hex, seq});
  }

 private:
  std::vector<std::pair<std::string, std::string>> members_;  // sorted by name
};

// What the proxy decided for one tools/call (mirrors gt::proxy::Decision, without the proxy).
struct DecisionInput {
  std::string receipt_id;
  Clock::time_point ts;
  std::string tenant, agent, session, server, tool;
  nlohmann::json request_id;                  // the client's JSON-RPC id
  std::string_view raw_arguments = "{}";      // exact bytes of params.arguments
  const nlohmann::json* arguments = nullptr;  // parsed, for full/redact
  ArgsMode args_mode = ArgsMode::HashOnly;
  const std::vector<std::string>* redact = nullptr;
  bool allowed = true;
  bool would_deny = false;  // monitor mode: forwarded although a policy would deny
  std::string mode = "enforce";
  std::string reason, code, decided_by;
  std::string policy_id, policy_version, policy_sha256, rule_id;
  std::string schema_outcome = "skipped";
  // The MCP protocol version the call was made in (the session's negotiated version, or a
  // 2026-07-28 request's own), and its W3C `traceparent` from params._meta; each recorded
  // only when known.
  std::string protocol_version, traceparent;
  // An MCP 2026-07-28 retry of a call that returned input_required: the receipt id of the
  // exchange's first decision. Recorded only when the call is one.
  std::string retry_of;
  // The request judged when it is not a tools/call ("resources/read", "prompts/get"); `tool`
  // then holds the resource's URI or the prompt's name. Recorded as `method` only when set.
  std::string method;
  // How the client authenticated (an HTTP front with `http.auth`): "jwt" or "introspection"
  // (an opaque token) with the token's issuer and jti, or "api_key" with the key's id;
  // recorded as `auth` only when set. Never the credential itself.
  std::string auth_method, auth_issuer, auth_id;
};

// The decision's `auth` member as JCS text ({"key_id"} for an api_key, else {"issuer","jti"},
// each with "method"), or "" when `auth_method` is empty.
std::string auth_member(const DecisionInput& in);

struct ResultInput {
  std::string receipt_id;
  std::string decision_id;  // receipt id of the decision this result belongs to
  Clock::time_point ts;
  std::string tenant, agent, session, server, tool;
  const nlohmann::json* response = nullptr;  // the JSON-RPC response object
  // Or the response as the exact text the server sent (used when `response` is null): read
  // with simdjson (jcs_text.hpp), falling back to nlohmann::json::parse for text simdjson
  // refuses. Text that is not JSON at all is recorded with a null hash and a note.
  std::string_view response_text;
};

// A decision's payload, written straight into its frozen form, member by member in JCS order:
// this runs on the proxy's I/O thread for every call, where a builder's 25 sorted inserts
// cost several microseconds. receipt_test holds it byte-equal to an independent builder-based
// reference.
FrozenPayload decision_frozen(const DecisionInput& in);
// The same as an editable builder (tests, and payloads that are changed before they are
// written).
PayloadBuilder decision_payload(const DecisionInput& in);
PayloadBuilder result_payload(const ResultInput& in);
// A decision that could not be written when it was made, recorded later as the denial the
// client actually got (same receipt id; the original verdict kept as `intended_decision`).
PayloadBuilder late_denial_payload(const PayloadBuilder& original, const std::string& error,
                                   Clock::time_point now);

// Replaces the values of the listed fields with "[redacted]". A field is a member name
// (matched at any depth) or a JSON Pointer starting with `/`.
nlohmann::json redact_arguments(const nlohmann::json& args, const std::vector<std::string>& fields);

// A UUIDv7 (RFC 9562): time-ordered, 74 random bits.
std::string new_receipt_id();
std::string sanitize_utf8(std::string_view s);

}  // namespace gt::gov::audit
