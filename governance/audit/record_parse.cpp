// Parsing one log line (records.hpp). Two readers of the same text:
//   - the tree path (nlohmann) for every caller that wants `payload`, and for v1 envelopes;
//   - a simdjson path for v2 `decision` and `result` lines when the caller needs only the
//     checked members and `fields` (the verifier): no tree of maps, no allocation per member.
// The simdjson path answers only for lines it fully understands; anything else (another kind,
// an envelope, a line over kFastLineLimit, a number it will not read) goes the tree path, so
// the two cannot disagree on what a record says. The audit_verify fuzzer checks that.
#include <simdjson.h>

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
  auto str = [&](const char* name) {
    auto it = p.find(name);
    return it != p.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  f.tenant = str("tenant");
  f.agent = str("agent");
  f.ts = str("ts");
  if (p.contains("signed_by")) f.signed_by = str("signed_by");
  f.decision = str("decision");
  f.id = str("id");
  f.decision_id = str("decision_id");
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
  element seq, prev, kid, kind, lid;
  bool has_seq = false, has_prev = false, has_kid = false, has_kind = false, has_lid = false;
  struct Str {
    explicit Str(std::string_view n) : name(n) {}
    std::string_view name;
    element value;
    bool present = false;
  };
  Str strs[] = {Str("tenant"),   Str("agent"), Str("ts"),         Str("signed_by"),
                Str("decision"), Str("id"),    Str("decision_id")};
  for (auto field : simdjson::dom::object(root)) {
    const std::string_view k = field.key;
    if (k == "seq") {
      seq = field.value, has_seq = true;
    } else if (k == "prev") {
      prev = field.value, has_prev = true;
    } else if (k == "key_id") {
      kid = field.value, has_kid = true;
    } else if (k == "kind") {
      kind = field.value, has_kind = true;
    } else if (k == "log_id") {
      lid = field.value, has_lid = true;
    } else if (k == "payloadType") {
      return Fast::UseTree;  // an envelope in another member order
    } else {
      for (auto& s : strs) {
        if (k == s.name) s.value = field.value, s.present = true;
      }
    }
  }
  // Only the kinds whose payload the caller may go without.
  if (!has_kind || kind.type() != element_type::STRING || !routine_kind(std::string_view(kind)))
    return Fast::UseTree;
  if (has_seq && seq.type() == element_type::UINT64) {
    r.seq = std::uint64_t(seq);
  } else if (has_seq && seq.type() == element_type::INT64 && std::int64_t(seq) >= 0) {
    r.seq = static_cast<std::uint64_t>(std::int64_t(seq));
  } else {
    failed(error, "the payload has no `seq`");
    return Fast::Failed;
  }
  if (!has_prev || prev.type() != element_type::STRING) {
    failed(error, "the payload has no `prev`");
    return Fast::Failed;
  }
  if (!has_kid || kid.type() != element_type::STRING) {
    failed(error, "the payload has no `key_id`");
    return Fast::Failed;
  }
  r.version = kRecordV2;
  r.prev = std::string_view(prev);
  r.key_id = std::string_view(kid);
  r.kind = std::string_view(kind);
  if (has_lid) {
    if (lid.type() != element_type::STRING || !valid_log_id(std::string_view(lid))) {
      failed(error, "the payload's `log_id` is malformed");
      return Fast::Failed;
    }
    r.log_id = std::string_view(lid);
  }
  auto text = [](const Str& s) {
    return s.present && s.value.type() == element_type::STRING
               ? std::string(std::string_view(s.value))
               : std::string();
  };
  r.fields.tenant = text(strs[0]);
  r.fields.agent = text(strs[1]);
  r.fields.ts = text(strs[2]);
  if (strs[3].present) r.fields.signed_by = text(strs[3]);
  r.fields.decision = text(strs[4]);
  r.fields.id = text(strs[5]);
  r.fields.decision_id = text(strs[6]);
  return Fast::Parsed;
}

}  // namespace

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
