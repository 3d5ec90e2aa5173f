// Parsing one log line (records.hpp). Two readers of the same text:
//   - the tree path (nlohmann) for every caller that wants `payload`, and for v1 envelopes;
//   - a simdjson path for v2 `decision` and `result` lines when the caller needs only the
//     checked members and `fields` (the verifier): no tree of maps, no allocation per member.
// The simdjson path answers only for lines it fully understands; anything else (another kind,
// an envelope, a line over kFastLineLimit, a number it will not read) goes the tree path, so
// the two cannot disagree on what a record says. The audit_verify fuzzer checks that.
#include <simdjson.h>

#include <iterator>

#include "governance/audit/records.hpp"

namespace gt::gov::audit {

namespace {

// Longer lines go the tree path: the per-thread simdjson parser keeps the capacity of the
// largest document it read, so this bounds what it holds (records are a few hundred bytes).
constexpr std::size_t kFastLineLimit = 64 * 1024;

std::optional<ParsedRecord> failed(std::string* error, const char* why) {
  if (error) *error = why;
  return std::nullopt;
}

bool routine_kind(std::string_view kind) {
  return kind == "decision" || kind == "result";
}

void fields_from_tree(const nlohmann::json& p, RecordFields& f) {
  f.tenant = str_member(p, "tenant");
  f.agent = str_member(p, "agent");
  f.ts = str_member(p, "ts");
  if (p.contains("signed_by")) f.signed_by = str_member(p, "signed_by");
  f.decision = str_member(p, "decision");
  f.id = str_member(p, "id");
  f.decision_id = str_member(p, "decision_id");
}

std::optional<ParsedRecord> parse_tree(std::string_view line, std::string* error) {
  ParsedRecord r;
  bool envelope = line.substr(0, 12) == R"({"payload":")";
  if (!envelope) {
    r.payload = nlohmann::json::parse(line, nullptr, false);
    // An envelope not in the writer's form (whitespace, another member order) is still one.
    envelope = r.payload.is_object() && r.payload.contains("payloadType");
  }
  if (envelope) {
    std::string err;
    auto env = parse_envelope(line, &err);
    if (!env) {
      if (error) *error = err;
      return std::nullopt;
    }
    r.version = kRecordV1;
    r.envelope = std::move(*env);
    r.payload = nlohmann::json::parse(r.envelope.payload, nullptr, false);
  } else {
    r.version = kRecordV2;
  }
  if (r.payload.is_discarded() || !r.payload.is_object())
    return failed(error, r.version == kRecordV1 ? "the payload is not a json object"
                                                : "the line is not a json object");
  const auto& p = r.payload;
  auto seq = p.find("seq");
  auto prev = p.find("prev");
  auto kid = p.find("key_id");
  auto kind = p.find("kind");
  if (seq == p.end() || !seq->is_number_unsigned()) {
    if (!(seq != p.end() && seq->is_number_integer() && seq->get<std::int64_t>() >= 0)) {
      return failed(error, "the payload has no `seq`");
    }
  }
  if (prev == p.end() || !prev->is_string()) return failed(error, "the payload has no `prev`");
  if (kid == p.end() || !kid->is_string()) return failed(error, "the payload has no `key_id`");
  if (kind == p.end() || !kind->is_string()) return failed(error, "the payload has no `kind`");
  r.seq = seq->get<std::uint64_t>();
  r.prev = prev->get<std::string>();
  r.key_id = kid->get<std::string>();
  if (auto lid = p.find("log_id"); lid != p.end()) {
    if (!lid->is_string() || !valid_log_id(lid->get<std::string>()))
      return failed(error, "the payload's `log_id` is malformed");
    r.log_id = lid->get<std::string>();
  }
  r.kind = kind->get<std::string>();
  fields_from_tree(p, r.fields);
  return r;
}

enum class Fast { Parsed, Failed, UseTree };

// The members parse_fast() reads, by index into kNames.
enum Member {
  Seq,
  Prev,
  KeyId,
  Kind,
  LogId,
  Tenant,
  Agent,
  Ts,
  SignedBy,
  Decision,
  Id,
  DecisionId
};
constexpr std::string_view kNames[] = {"seq",       "prev",     "key_id", "kind",
                                       "log_id",    "tenant",   "agent",  "ts",
                                       "signed_by", "decision", "id",     "decision_id"};
constexpr std::size_t kMembers = std::size(kNames);
static_assert(kMembers == DecisionId + 1, "a name for every Member");

// The simdjson path: UseTree unless the line is a v2 decision or result it read completely.
Fast parse_fast(std::string_view line, ParsedRecord& r, std::string* error) {
  using simdjson::dom::element;
  using simdjson::dom::element_type;
  if (line.size() > kFastLineLimit || line.substr(0, 12) == R"({"payload":")") return Fast::UseTree;
  thread_local simdjson::dom::parser parser;
  auto doc = parser.parse(line.data(), line.size(), true);
  if (doc.error() != simdjson::SUCCESS) return Fast::UseTree;
  element root = doc.value_unsafe();
  if (root.type() != element_type::OBJECT) return Fast::UseTree;
  // The last value of each name, as the tree keeps it.
  element v[kMembers];
  bool has[kMembers] = {};
  for (auto field : simdjson::dom::object(root)) {
    if (field.key == "payloadType") return Fast::UseTree;  // an envelope in another order
    for (std::size_t i = 0; i < kMembers; ++i) {
      if (field.key == kNames[i]) {
        v[i] = field.value;
        has[i] = true;
        break;
      }
    }
  }
  auto is_string = [&](Member m) { return has[m] && v[m].type() == element_type::STRING; };
  auto text = [&](Member m) {
    return is_string(m) ? std::string(std::string_view(v[m])) : std::string();
  };
  auto fail = [&](const char* why) {
    if (error) *error = why;
    return Fast::Failed;
  };
  // Only the kinds whose payload the caller may go without.
  if (!is_string(Kind) || !routine_kind(std::string_view(v[Kind]))) return Fast::UseTree;
  if (has[Seq] && v[Seq].type() == element_type::UINT64) {
    r.seq = std::uint64_t(v[Seq]);
  } else if (has[Seq] && v[Seq].type() == element_type::INT64 && std::int64_t(v[Seq]) >= 0) {
    r.seq = static_cast<std::uint64_t>(std::int64_t(v[Seq]));
  } else {
    return fail("the payload has no `seq`");
  }
  if (!is_string(Prev)) return fail("the payload has no `prev`");
  if (!is_string(KeyId)) return fail("the payload has no `key_id`");
  if (has[LogId] && (!is_string(LogId) || !valid_log_id(std::string_view(v[LogId]))))
    return fail("the payload's `log_id` is malformed");
  r.version = kRecordV2;
  r.prev = text(Prev);
  r.key_id = text(KeyId);
  r.kind = text(Kind);
  r.log_id = text(LogId);
  r.fields.tenant = text(Tenant);
  r.fields.agent = text(Agent);
  r.fields.ts = text(Ts);
  if (has[SignedBy]) r.fields.signed_by = text(SignedBy);
  r.fields.decision = text(Decision);
  r.fields.id = text(Id);
  r.fields.decision_id = text(DecisionId);
  return Fast::Parsed;
}

}  // namespace

std::string str_member(const nlohmann::json& p, const char* name) {
  auto it = p.find(name);
  return it != p.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<ParsedRecord> parse_record(std::string_view line, std::string* error,
                                         PayloadNeed need) {
  if (need == PayloadNeed::ExceptRoutine) {
    ParsedRecord r;
    switch (parse_fast(line, r, error)) {
      case Fast::Parsed:
        return r;
      case Fast::Failed:
        return std::nullopt;
      case Fast::UseTree:
        break;
    }
  }
  return parse_tree(line, error);
}

}  // namespace gt::gov::audit
