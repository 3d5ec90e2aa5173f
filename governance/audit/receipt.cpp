#include "governance/audit/receipt.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "governance/audit/encoding.hpp"
#include "governance/audit/jcs.hpp"
#include "governance/audit/jcs_text.hpp"
#include "governance/audit/sha256.hpp"

namespace gt::gov::audit {

std::string_view to_string(ArgsMode m) {
  switch (m) {
    case ArgsMode::Full:
      return "full";
    case ArgsMode::Redact:
      return "redact";
    case ArgsMode::HashOnly:
      return "hash-only";
  }
  return "hash-only";
}

std::optional<ArgsMode> parse_args_mode(std::string_view s) {
  if (s == "full") return ArgsMode::Full;
  if (s == "redact") return ArgsMode::Redact;
  if (s == "hash-only") return ArgsMode::HashOnly;
  return std::nullopt;
}

// --- PayloadBuilder -------------------------------------------------------------------------

void PayloadBuilder::set_raw(std::string_view key, std::string value) {
  if (members_.empty()) members_.reserve(32);
  if (key == "key_id" || key == "prev" || key == "seq") {
    throw std::logic_error("payload member `" + std::string(key) + "` is set by the log writer");
  }
  auto it = std::lower_bound(members_.begin(), members_.end(), key,
                             [](const auto& m, std::string_view k) { return m.first < k; });
  if (it != members_.end() && it->first == key) {
    it->second = std::move(value);
  } else {
    members_.emplace(it, std::string(key), std::move(value));
  }
}

void PayloadBuilder::set(std::string_view key, const nlohmann::json& value) {
  set_raw(key, canonicalize(value));
}

void PayloadBuilder::set_string(std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  try {
    jcs_string_into(value, out);
  } catch (const JcsError&) {
    out.clear();
    jcs_string_into(sanitize_utf8(value), out);
  }
  set_raw(key, std::move(out));
}

void PayloadBuilder::set_int(std::string_view key, std::int64_t value) {
  set(key, nlohmann::json(value));
}

void PayloadBuilder::set_bool(std::string_view key, bool value) {
  set_raw(key, value ? "true" : "false");
}

void PayloadBuilder::set_null(std::string_view key) {
  set_raw(key, "null");
}

void PayloadBuilder::erase(std::string_view key) {
  members_.erase(std::remove_if(members_.begin(), members_.end(),
                                [&](const auto& m) { return m.first == key; }),
                 members_.end());
}

const std::string* PayloadBuilder::raw(std::string_view key) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), key,
                             [](const auto& m, std::string_view k) { return m.first < k; });
  return it != members_.end() && it->first == key ? &it->second : nullptr;
}

std::string PayloadBuilder::get_string(std::string_view key) const {
  const std::string* r = raw(key);
  if (!r || r->empty() || (*r)[0] != '"') return {};
  auto j = nlohmann::json::parse(*r, nullptr, false);
  return j.is_string() ? j.get<std::string>() : std::string();
}

void PayloadBuilder::finish_into(std::string& out, const ChainMembers& chain) const {
  // The chain members, in their sorted order: key_id < log_id < prev < seq.
  static constexpr std::string_view names[] = {"key_id", "log_id", "prev", "seq"};
  std::size_t next_extra = 0;
  bool first = true;
  auto emit_extra = [&](std::size_t which) {
    if (which == 1 && chain.log_id.empty()) return;
    if (!first) out += ',';
    first = false;
    switch (which) {
      case 0:
        out += "\"key_id\":\"";
        out += chain.key_id;
        out += '"';
        break;
      case 1:
        out += "\"log_id\":\"";
        out += chain.log_id;
        out += '"';
        break;
      case 2:
        out += "\"prev\":\"";
        out += chain.prev_hex;
        out += '"';
        break;
      default:
        out += "\"seq\":";
        out += std::to_string(chain.seq);
    }
  };
  out += '{';
  for (const auto& [name, value] : members_) {
    while (next_extra < 4 && names[next_extra] < name)
      emit_extra(next_extra++);
    if (!first) out += ',';
    first = false;
    out += '"';
    out += name;  // ASCII member names need no escaping
    out += "\":";
    out += value;
  }
  while (next_extra < 4)
    emit_extra(next_extra++);
  out += '}';
}

namespace {

// Writes members into a FrozenPayload in ascending name order, splitting the text where the
// chain members (key_id, log_id, prev, seq) go. Used by PayloadBuilder::freeze() and
// decision_frozen().
class FrozenWriter {
 public:
  explicit FrozenWriter(std::size_t reserve) { f_.text.reserve(reserve); }

  // `name` must sort after the previous one (checked: a misordered payload is a bug that
  // would make every signature unverifiable by an RFC 8785 verifier).
  std::string& member(std::string_view name) {
    if (!last_.empty() && !(last_ < name)) {
      throw std::logic_error("payload member `" + std::string(name) + "` written out of order");
    }
    last_ = name;
    static constexpr std::string_view bounds[4] = {"key_id", "log_id", "prev", "seq"};
    while (seg_ < 4 && bounds[seg_] < name) {
      f_.ends[seg_++] = static_cast<std::uint32_t>(f_.text.size());
      first_in_seg_ = true;
    }
    if (!first_in_seg_) f_.text += ',';
    first_in_seg_ = false;
    f_.text += '"';
    f_.text += name;
    f_.text += "\":";
    return f_.text;
  }
  void raw(std::string_view name, std::string_view canonical) { member(name) += canonical; }
  void string(std::string_view name, std::string_view value) {
    std::string& out = member(name);
    std::size_t at = out.size();
    try {
      jcs_string_into(value, out);
    } catch (const JcsError&) {  // invalid UTF-8: U+FFFD, as PayloadBuilder::set_string
      out.resize(at);
      jcs_string_into(sanitize_utf8(value), out);
    }
  }
  void boolean(std::string_view name, bool v) { raw(name, v ? "true" : "false"); }

  FrozenPayload done() && {
    while (seg_ < 5)
      f_.ends[seg_++] = static_cast<std::uint32_t>(f_.text.size());
    return std::move(f_);
  }

 private:
  FrozenPayload f_;
  std::string_view last_;
  std::size_t seg_ = 0;
  bool first_in_seg_ = true;
};

}  // namespace

FrozenPayload PayloadBuilder::freeze() const {
  std::size_t total = 0;
  for (const auto& [name, value] : members_)
    total += name.size() + value.size() + 4;
  FrozenWriter w(total);
  for (const auto& [name, value] : members_)  // already sorted by name
    w.raw(name, value);
  return std::move(w).done();
}

void FrozenPayload::finish_into(std::string& out, const ChainMembers& chain) const {
  std::string_view all(text);
  auto seg = [&](int i) {
    std::uint32_t from = i == 0 ? 0 : ends[i - 1];
    return all.substr(from, ends[i] - from);
  };
  auto segment = [&](int i) {
    std::string_view s = seg(i);
    if (s.empty()) return;
    if (i > 0) out += ',';
    out += s;
    if (i == 0) out += ',';
  };
  out += '{';
  segment(0);
  out += "\"key_id\":\"";
  out += chain.key_id;
  out += '"';
  segment(1);
  if (!chain.log_id.empty()) {
    out += ",\"log_id\":\"";
    out += chain.log_id;
    out += '"';
  }
  segment(2);
  out += ",\"prev\":\"";
  out += chain.prev_hex;
  out += '"';
  segment(3);
  out += ",\"seq\":";
  out += std::to_string(chain.seq);
  segment(4);
  out += '}';
}

PayloadBuilder FrozenPayload::thaw() const {
  std::string obj = "{";
  std::uint32_t start = 0;
  for (int i = 0; i < 5; ++i) {
    if (ends[i] > start) {
      if (obj.size() > 1) obj += ',';
      obj.append(text, start, ends[i] - start);
    }
    start = ends[i];
  }
  obj += '}';
  PayloadBuilder b;
  auto j = nlohmann::json::parse(obj);
  for (auto& [k, v] : j.items())
    b.set(k, v);
  return b;
}

std::string PayloadBuilder::finish(const ChainMembers& chain) const {
  std::string out;
  finish_into(out, chain);
  return out;
}

// --- helpers --------------------------------------------------------------------------------

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<unsigned char>(s[i]);
    int len = b0 < 0x80             ? 1
              : (b0 & 0xE0) == 0xC0 ? 2
              : (b0 & 0xF0) == 0xE0 ? 3
              : (b0 & 0xF8) == 0xF0 ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size();
    long cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    for (int k = 1; ok && k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      ok = (b & 0xC0) == 0x80;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (ok) {
      static const long mins[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= mins[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s.data() + i, static_cast<std::size_t>(len));
      i += static_cast<std::size_t>(len);
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  return out;
}

std::string new_receipt_id() {
  // The random bits come from a per-thread buffer refilled 1 KB at a time: one getrandom()
  // per hundred ids instead of one per id (two ids per call). Receipt ids are public; they
  // need to be unique and unpredictable, not secret.
  struct RandomBuffer {
    std::uint8_t bytes[1024];
    std::size_t used = sizeof bytes;
  };
  thread_local RandomBuffer rnd;
  std::uint8_t b[16];
  if (rnd.used + 10 > sizeof rnd.bytes) {
    ensure_sodium();
    randombytes_buf(rnd.bytes, sizeof rnd.bytes);
    rnd.used = 0;
  }
  std::memcpy(b + 6, rnd.bytes + rnd.used, 10);
  rnd.used += 10;
  auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count());
  for (int i = 0; i < 6; ++i)
    b[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<std::uint8_t>(0x70 | (b[6] & 0x0F));
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3F));
  std::string h = hex_encode(b, sizeof b);
  std::string_view v(h);
  std::string id;
  id.reserve(36);
  for (auto [at, n] : {std::pair{0, 8}, {8, 4}, {12, 4}, {16, 4}, {20, 12}}) {
    if (at) id += '-';
    id += v.substr(at, n);
  }
  return id;
}

namespace {

void redact_names(nlohmann::json& v, const std::vector<std::string>& names, int depth) {
  if (depth > kJcsMaxDepth) return;
  if (v.is_object()) {
    for (auto& [k, child] : v.items()) {
      if (std::find(names.begin(), names.end(), k) != names.end()) {
        child = "[redacted]";
      } else {
        redact_names(child, names, depth + 1);
      }
    }
  } else if (v.is_array()) {
    for (auto& child : v)
      redact_names(child, names, depth + 1);
  }
}

}  // namespace

nlohmann::json redact_arguments(const nlohmann::json& args,
                                const std::vector<std::string>& fields) {
  nlohmann::json out = args;
  std::vector<std::string> names;
  for (const auto& f : fields) {
    if (!f.empty() && f[0] == '/') {
      try {
        nlohmann::json::json_pointer p(f);
        if (out.contains(p)) out[p] = "[redacted]";
      } catch (const std::exception&) {
        // Not a valid pointer into this value (e.g. an array index that is not a number).
      }
    } else {
      names.push_back(f);
    }
  }
  if (!names.empty()) redact_names(out, names, 0);
  return out;
}

namespace {

// The decision's `policy` member, {"id","sha256","version"}: already in JCS member order, so
// it is written without a JSON tree.
void policy_into(const DecisionInput& in, std::string& out) {
  out += "{\"id\":";
  jcs_string_into(sanitize_utf8(in.policy_id), out);
  out += ",\"sha256\":";
  jcs_string_into(sanitize_utf8(in.policy_sha256), out);
  out += ",\"version\":";
  jcs_string_into(sanitize_utf8(in.policy_version), out);
  out += '}';
}

}  // namespace

std::string auth_member(const DecisionInput& in) {
  if (in.auth_method.empty()) return {};
  // Members in JCS order: issuer < jti < key_id < method.
  std::string out = "{";
  auto member = [&out](const char* name, const std::string& v) {
    if (out.size() > 1) out += ',';
    jcs_string_into(name, out);
    out += ':';
    jcs_string_into(sanitize_utf8(v), out);
  };
  if (in.auth_method == "api_key") {
    member("key_id", in.auth_id);
  } else {  // a token: "jwt", or "introspection" for an opaque one
    member("issuer", in.auth_issuer);
    member("jti", in.auth_id);
  }
  member("method", in.auth_method);
  out += '}';
  return out;
}

FrozenPayload decision_frozen(const DecisionInput& in) {
  // The arguments first: their outcome decides args_mode and args_note.
  ArgsMode mode = in.args_mode;
  std::string args, args_note;
  if (mode != ArgsMode::HashOnly && in.arguments) {
    try {
      if (mode == ArgsMode::Full) {
        args = canonicalize(*in.arguments);
      } else {
        static const std::vector<std::string> none;
        args = canonicalize(redact_arguments(*in.arguments, in.redact ? *in.redact : none));
      }
    } catch (const JcsError& e) {
      mode = ArgsMode::HashOnly;
      args.clear();
      args_note = std::string("arguments not recorded: ") + e.what();
    }
  }
  std::string request_id;
  try {
    request_id = canonicalize(in.request_id);
  } catch (const JcsError&) {
    request_id = "null";
  }
  FrozenWriter w(640 + args.size() + in.reason.size());
  // Members in JCS order (ASCII names: byte order is UTF-16 order).
  w.string("agent", in.agent);
  if (!args.empty()) w.raw("args", args);
  w.string("args_mode", to_string(mode));
  if (!args_note.empty()) w.string("args_note", args_note);
  w.string("args_sha256", sha256_hex(in.raw_arguments));
  if (!in.auth_method.empty()) w.raw("auth", auth_member(in));
  w.string("code", in.code);
  w.string("decided_by", in.decided_by);
  w.string("decision", in.allowed ? "allow" : "deny");
  w.string("format", kReceiptFormat);
  w.string("id", in.receipt_id);
  w.string("kind", "decision");
  if (!in.method.empty()) w.string("method", in.method);
  w.string("mode", in.mode);
  policy_into(in, w.member("policy"));
  if (!in.protocol_version.empty()) w.string("protocol_version", in.protocol_version);
  w.string("reason", in.reason);
  w.raw("request_id", request_id);
  if (!in.retry_of.empty()) w.string("retry_of", in.retry_of);
  w.string("rule_id", in.rule_id);
  w.string("schema_outcome", in.schema_outcome);
  w.string("server", in.server);
  w.string("session", in.session);
  w.string("tenant", in.tenant);
  w.string("tool", in.tool);
  if (!in.traceparent.empty()) w.string("traceparent", in.traceparent);
  w.string("ts", rfc3339_utc(in.ts));
  w.boolean("would_deny", in.would_deny);
  return std::move(w).done();
}

PayloadBuilder decision_payload(const DecisionInput& in) {
  return decision_frozen(in).thaw();
}

PayloadBuilder result_payload(const ResultInput& in) {
  PayloadBuilder p;
  p.set_string("format", kReceiptFormat);
  p.set_string("kind", "result");
  p.set_string("id", in.receipt_id);
  p.set_string("decision_id", in.decision_id);
  p.set_string("ts", rfc3339_utc(in.ts));
  p.set_string("tenant", in.tenant);
  p.set_string("agent", in.agent);
  p.set_string("session", in.session);
  p.set_string("server", in.server);
  p.set_string("tool", in.tool);
  bool rpc_error = false;
  bool is_error = false;
  bool hashed = false;
  std::string canonical, jcs_error;
  auto canonicalize_or_note = [&](auto&& make) {
    hashed = true;
    try {
      canonical = make();
    } catch (const JcsError& e) {
      jcs_error = e.what();
    }
  };
  std::optional<nlohmann::json> parsed;
  const nlohmann::json* response = in.response;
  if (!response && !in.response_text.empty()) {
    thread_local JcsText text;
    if (text.parse(in.response_text)) {
      if (text.root_has("result")) {
        is_error = text.root_member_is_true("result", "isError");
        canonicalize_or_note([&] { return text.canonical_member("result"); });
      } else if (text.root_has("error")) {
        rpc_error = is_error = true;
        canonicalize_or_note([&] { return text.canonical_member("error"); });
      }
      text.release();
    } else {
      text.release();  // a large text simdjson refused: drop its parser before nlohmann's tree
      parsed = nlohmann::json::parse(in.response_text, nullptr, false);
      if (parsed->is_discarded()) {
        p.set_bool("rpc_error", false);
        p.set_bool("is_error", false);
        p.set_null("result_sha256");
        p.set_string("result_note", "the response is not JSON");
        return p;
      }
      response = &*parsed;
    }
  }
  if (response && response->is_object()) {
    auto r = response->find("result");
    auto e = response->find("error");
    if (r != response->end()) {
      if (r->is_object()) {
        auto ie = r->find("isError");
        is_error = ie != r->end() && ie->is_boolean() && ie->get<bool>();
      }
      canonicalize_or_note([&] { return canonicalize(*r); });
    } else if (e != response->end()) {
      rpc_error = is_error = true;
      canonicalize_or_note([&] { return canonicalize(*e); });
    }
  }
  p.set_bool("rpc_error", rpc_error);
  p.set_bool("is_error", is_error);
  if (!hashed) {
    p.set_null("result_sha256");
    p.set_string("result_note", "the response has neither `result` nor `error`");
  } else if (!jcs_error.empty()) {
    p.set_null("result_sha256");
    p.set_string("result_note", "result not hashed: " + jcs_error);
  } else {
    p.set_string("result_sha256", sha256_hex(canonical));
  }
  return p;
}

PayloadBuilder late_denial_payload(const PayloadBuilder& original, const std::string& error,
                                   Clock::time_point now) {
  PayloadBuilder p = original;
  if (const std::string* d = original.raw("decision")) p.set_raw("intended_decision", *d);
  if (const std::string* t = original.raw("ts")) p.set_raw("decided_at", *t);
  p.set_string("ts", rfc3339_utc(now));
  p.set_string("decision", "deny");
  p.set_bool("would_deny", false);
  p.set_bool("late", true);
  p.set_string("code", "GT-AUDIT-WRITE");
  p.set_string("decided_by", "audit");
  p.set_string("reason", "the audit log cannot be written: " + error);
  return p;
}

}  // namespace gt::gov::audit
