// Receipt payloads: members, argument recording modes, result hashing, late denials.
#include <re2/re2.h>
#include <catch2/catch.hpp>
#include <chrono>
#include <limits>
#include <set>

#include "governance/audit/jcs.hpp"
#include "governance/audit/receipt.hpp"
#include "governance/audit/sha256.hpp"
#include "governance/audit/time.hpp"

using namespace gt::gov::audit;
using nlohmann::json;

namespace {
DecisionInput sample(const json& args, const std::string& raw) {
  DecisionInput in;
  in.receipt_id = new_receipt_id();
  in.ts = Clock::time_point(std::chrono::microseconds(1717245296789012));
  in.tenant = "acme";
  in.agent = "claude";
  in.session = "s-1";
  in.server = "fs";
  in.tool = "read_file";
  in.request_id = 7;
  in.raw_arguments = raw;
  in.arguments = &args;
  in.allowed = false;
  in.reason = "path `/etc/shadow` is denied";
  in.code = "GT-POLICY-DENY";
  in.decided_by = "policy";
  in.policy_id = "fs-guard";
  in.policy_version = "3";
  in.policy_sha256 = std::string(64, 'a');
  in.rule_id = "no-secrets";
  in.schema_outcome = "valid";
  return in;
}
}  // namespace

TEST_CASE("receipt: a decision payload is canonical and complete", "[receipt]") {
  json args = {{"path", "/etc/shadow"}, {"token", "s3cret"}};
  std::string raw = R"({ "path": "/etc/shadow", "token": "s3cret" })";
  DecisionInput in = sample(args, raw);
  std::string text = decision_payload(in).finish(42, std::string(64, 'b'), "0123456789abcdef");
  json p = json::parse(text);
  CHECK(canonicalize(p) == text);  // exactly the JCS bytes
  CHECK(p["format"] == "glasstape.receipt/2");
  CHECK(p["kind"] == "decision");
  CHECK(p["id"] == in.receipt_id);
  CHECK(p["ts"] == "2024-06-01T12:34:56.789012Z");
  CHECK(p["tenant"] == "acme");
  CHECK(p["agent"] == "claude");
  CHECK(p["session"] == "s-1");
  CHECK(p["server"] == "fs");
  CHECK(p["tool"] == "read_file");
  CHECK(p["request_id"] == 7);
  CHECK(p["args_sha256"] == sha256_hex(raw));  // the exact bytes received, not re-serialized
  CHECK(p["args_mode"] == "hash-only");
  CHECK_FALSE(p.contains("args"));
  CHECK(p["decision"] == "deny");
  CHECK(p["would_deny"] == false);
  CHECK(p["mode"] == "enforce");
  CHECK(p["reason"] == in.reason);
  CHECK(p["code"] == "GT-POLICY-DENY");
  CHECK(p["decided_by"] == "policy");
  CHECK(p["policy"] ==
        json({{"id", "fs-guard"}, {"version", "3"}, {"sha256", std::string(64, 'a')}}));
  CHECK(p["rule_id"] == "no-secrets");
  CHECK(p["schema_outcome"] == "valid");
  CHECK(p["seq"] == 42);
  CHECK(p["prev"] == std::string(64, 'b'));
  CHECK(p["key_id"] == "0123456789abcdef");
  CHECK(text.find("s3cret") == std::string::npos);
  // Protocol version and traceparent: absent when unknown, recorded when known.
  CHECK_FALSE(p.contains("protocol_version"));
  CHECK_FALSE(p.contains("traceparent"));
  CHECK_FALSE(p.contains("retry_of"));
  in.retry_of = "0190f3a2-7c1c-7e8a-9a3e-b47f95c5db79";
  in.protocol_version = "2026-07-28";
  in.traceparent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
  json q = json::parse(decision_payload(in).finish(43, std::string(64, 'b'), "0123456789abcdef"));
  CHECK(q["protocol_version"] == "2026-07-28");
  CHECK(q["traceparent"] == in.traceparent);
  CHECK(q["retry_of"] == in.retry_of);
  // How the client authenticated: absent for the config identity, named (never the
  // credential) otherwise.
  CHECK_FALSE(p.contains("auth"));
  CHECK_FALSE(q.contains("auth"));
  in.auth_method = "jwt";
  in.auth_issuer = "https://login.example.com";
  in.auth_id = "jti-1";
  json r = json::parse(decision_payload(in).finish(44, std::string(64, 'b'), "0123456789abcdef"));
  CHECK(r["auth"] ==
        json({{"method", "jwt"}, {"issuer", "https://login.example.com"}, {"jti", "jti-1"}}));
  in.auth_method = "api_key";
  in.auth_issuer.clear();
  in.auth_id = "ci-bot-2026";
  json k = json::parse(decision_payload(in).finish(45, std::string(64, 'b'), "0123456789abcdef"));
  CHECK(k["auth"] == json({{"method", "api_key"}, {"key_id", "ci-bot-2026"}}));
  in.auth_method = "introspection";
  in.auth_issuer = "https://login.example.com";
  in.auth_id = "";
  json o = json::parse(decision_payload(in).finish(46, std::string(64, 'b'), "0123456789abcdef"));
  CHECK(o["auth"] ==
        json({{"method", "introspection"}, {"issuer", "https://login.example.com"}, {"jti", ""}}));
}

TEST_CASE("receipt: argument recording modes", "[receipt]") {
  json args = {
      {"path", "/x"}, {"auth", {{"token", "t"}, {"user", "u"}}}, {"list", {{{"token", "z"}}}}};
  std::string raw = args.dump();
  DecisionInput in = sample(args, raw);
  SECTION("full") {
    in.args_mode = ArgsMode::Full;
    json p = json::parse(decision_payload(in).finish(0, std::string(64, '0'), "k"));
    CHECK(p["args_mode"] == "full");
    CHECK(p["args"] == args);
  }
  SECTION("redact by name (any depth) and by JSON pointer") {
    in.args_mode = ArgsMode::Redact;
    std::vector<std::string> fields = {"token", "/path", "/nope/deeper"};
    in.redact = &fields;
    json p = json::parse(decision_payload(in).finish(0, std::string(64, '0'), "k"));
    CHECK(p["args_mode"] == "redact");
    CHECK(p["args"]["path"] == "[redacted]");
    CHECK(p["args"]["auth"]["token"] == "[redacted]");
    CHECK(p["args"]["auth"]["user"] == "u");
    CHECK(p["args"]["list"][0]["token"] == "[redacted]");
    CHECK(p["args_sha256"] == sha256_hex(raw));
  }
  SECTION("arguments too deep to canonicalize fall back to hash-only, with a note") {
    json deep = json::array();
    json* cur = &deep;
    for (int i = 0; i < kJcsMaxDepth + 2; ++i) {
      cur->push_back(json::array());
      cur = &(*cur)[0];
    }
    in.arguments = &deep;
    in.args_mode = ArgsMode::Full;
    json p = json::parse(decision_payload(in).finish(0, std::string(64, '0'), "k"));
    CHECK(p["args_mode"] == "hash-only");
    CHECK_FALSE(p.contains("args"));
    CHECK(p["args_note"].get<std::string>().find("nesting") != std::string::npos);
  }
}

TEST_CASE("receipt: strings with invalid utf-8 are kept readable, not fatal", "[receipt]") {
  json args = json::object();
  static const std::string empty_args = "{}";
  DecisionInput in = sample(args, empty_args);
  in.reason = "bad \xC0 byte";
  json p = json::parse(decision_payload(in).finish(0, std::string(64, '0'), "k"));
  CHECK(p["reason"] == "bad \xEF\xBF\xBD byte");
}

TEST_CASE("receipt: results link to their decision and hash the result", "[receipt]") {
  json resp = {
      {"jsonrpc", "2.0"}, {"id", 7}, {"result", {{"content", json::array()}, {"isError", true}}}};
  ResultInput r;
  r.receipt_id = new_receipt_id();
  r.decision_id = "dec-1";
  r.ts = Clock::now();
  r.tenant = "acme";
  r.agent = "claude";
  r.tool = "read_file";
  r.response = &resp;
  json p = json::parse(result_payload(r).finish(1, std::string(64, '0'), "k"));
  CHECK(p["kind"] == "result");
  CHECK(p["decision_id"] == "dec-1");
  CHECK(p["is_error"] == true);
  CHECK(p["rpc_error"] == false);
  CHECK(p["result_sha256"] == sha256_hex(canonicalize(resp["result"])));
  json err = {{"jsonrpc", "2.0"}, {"id", 7}, {"error", {{"code", -32000}, {"message", "boom"}}}};
  r.response = &err;
  p = json::parse(result_payload(r).finish(1, std::string(64, '0'), "k"));
  CHECK(p["is_error"] == true);
  CHECK(p["rpc_error"] == true);
  CHECK(p["result_sha256"] == sha256_hex(canonicalize(err["error"])));
}

TEST_CASE("receipt: a late denial keeps the original verdict", "[receipt]") {
  json args = json::object();
  static const std::string empty_args = "{}";
  DecisionInput in = sample(args, empty_args);
  in.allowed = true;
  in.code.clear();
  PayloadBuilder orig = decision_payload(in);
  json p = json::parse(
      late_denial_payload(orig, "disk full", Clock::now()).finish(0, std::string(64, '0'), "k"));
  CHECK(p["id"] == in.receipt_id);
  CHECK(p["decision"] == "deny");
  CHECK(p["intended_decision"] == "allow");
  CHECK(p["decided_at"] == "2024-06-01T12:34:56.789012Z");
  CHECK(p["late"] == true);
  CHECK(p["code"] == "GT-AUDIT-WRITE");
  CHECK(p["reason"] == "the audit log cannot be written: disk full");
}

TEST_CASE("receipt: ids are UUIDv7 and the writer owns the chain members", "[receipt]") {
  std::string id = new_receipt_id();
  CHECK(RE2::FullMatch(id, "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  CHECK(new_receipt_id() != id);
  // Across several refills of the random buffer: all distinct, all well-formed, and the
  // first 48 bits are the time in milliseconds.
  auto ms_now = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  };
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto before = ms_now();
    std::string next = new_receipt_id();
    auto after = ms_now();
    CHECK(RE2::FullMatch(next,
                         "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
    auto ts = std::stoull(next.substr(0, 8) + next.substr(9, 4), nullptr, 16);
    CHECK(ts >= before);
    CHECK(ts <= after);
    ids.insert(next);
  }
  CHECK(ids.size() == 1000);
  PayloadBuilder b;
  CHECK_THROWS_AS(b.set_int("seq", 1), std::logic_error);
  b.set_string("z", "last");
  b.set_string("a", "first");
  b.set_string("key", "k");  // sorts between "a" and "key_id"
  CHECK(b.finish(5, "pp", "kk") ==
        R"({"a":"first","key":"k","key_id":"kk","prev":"pp","seq":5,"z":"last"})");
}

TEST_CASE("receipt: a frozen payload splices the chain members exactly like the builder",
          "[receipt]") {
  std::vector<std::vector<std::string>> member_sets = {{},
                                                       {"a"},
                                                       {"z"},
                                                       {"key"},
                                                       {"kind", "policy"},
                                                       {"reason", "schema"},
                                                       {"a", "m", "r", "t"},
                                                       {"sz", "zz"},
                                                       {"late", "log", "logz", "mode"},
                                                       {"kind", "lo", "pre"}};
  const std::string id(32, 'c');
  for (const auto& names : member_sets) {
    PayloadBuilder b;
    for (const auto& n : names)
      b.set_string(n, "v-" + n);
    std::string want = b.finish(9, "pp", "kk");
    std::string got;
    FrozenPayload f = b.freeze();
    f.finish_into(got, 9, "pp", "kk");
    INFO(want);
    CHECK(got == want);
    CHECK(json::parse(got).size() == names.size() + 3);
    CHECK(f.thaw().finish(9, "pp", "kk") == want);
    // With the log id, between key_id and prev, in JCS order.
    const ChainMembers chain{"kk", id, "pp", 9};
    std::string want_id = b.finish(chain), got_id;
    f.finish_into(got_id, chain);
    INFO(want_id);
    CHECK(got_id == want_id);
    json parsed = json::parse(got_id);
    CHECK(parsed.size() == names.size() + 4);
    CHECK(parsed.at("log_id") == id);
    CHECK(parsed.dump() == got_id);  // sorted members: nlohmann's map order is byte order
  }
  json args = json::object();
  static const std::string empty_args = "{}";
  PayloadBuilder d = decision_payload(sample(args, empty_args));
  std::string got;
  d.freeze().finish_into(got, 1, std::string(64, '0'), "k");
  CHECK(got == d.finish(1, std::string(64, '0'), "k"));
}

namespace {

// An independent reference for decision_frozen(): the same decision payload built member by
// member with a PayloadBuilder (sorted inserts, JSON trees for `args`, `request_id` and
// `policy`), as the library did before it wrote the frozen form directly.
PayloadBuilder reference_payload(const DecisionInput& in) {
  PayloadBuilder p;
  p.set_string("format", "glasstape.receipt/2");
  p.set_string("kind", "decision");
  p.set_string("id", in.receipt_id);
  p.set_string("ts", rfc3339_utc(in.ts));
  p.set_string("tenant", in.tenant);
  p.set_string("agent", in.agent);
  p.set_string("session", in.session);
  p.set_string("server", in.server);
  p.set_string("tool", in.tool);
  try {
    p.set("request_id", in.request_id);
  } catch (const JcsError&) {
    p.set_null("request_id");
  }
  p.set_string("args_sha256", sha256_hex(in.raw_arguments));
  ArgsMode mode = in.args_mode;
  if (mode != ArgsMode::HashOnly && in.arguments) {
    try {
      if (mode == ArgsMode::Full) {
        p.set("args", *in.arguments);
      } else {
        static const std::vector<std::string> none;
        p.set("args", redact_arguments(*in.arguments, in.redact ? *in.redact : none));
      }
    } catch (const JcsError& e) {
      mode = ArgsMode::HashOnly;
      p.set_string("args_note", std::string("arguments not recorded: ") + e.what());
    }
  }
  p.set_string("args_mode", to_string(mode));
  p.set_string("decision", in.allowed ? "allow" : "deny");
  p.set_bool("would_deny", in.would_deny);
  p.set_string("mode", in.mode);
  p.set_string("reason", in.reason);
  p.set_string("code", in.code);
  p.set_string("decided_by", in.decided_by);
  p.set("policy", json{{"id", sanitize_utf8(in.policy_id)},
                       {"sha256", sanitize_utf8(in.policy_sha256)},
                       {"version", sanitize_utf8(in.policy_version)}});
  p.set_string("rule_id", in.rule_id);
  p.set_string("schema_outcome", in.schema_outcome);
  if (!in.protocol_version.empty()) p.set_string("protocol_version", in.protocol_version);
  if (!in.traceparent.empty()) p.set_string("traceparent", in.traceparent);
  if (!in.retry_of.empty()) p.set_string("retry_of", in.retry_of);
  if (in.auth_method == "jwt" || in.auth_method == "introspection") {
    p.set("auth", json{{"method", in.auth_method},
                       {"issuer", sanitize_utf8(in.auth_issuer)},
                       {"jti", sanitize_utf8(in.auth_id)}});
  } else if (!in.auth_method.empty()) {
    p.set("auth", json{{"method", in.auth_method}, {"key_id", sanitize_utf8(in.auth_id)}});
  }
  return p;
}

}  // namespace

TEST_CASE("receipt: decision_frozen writes exactly the reference builder's payload", "[receipt]") {
  json args = {{"path", "/etc/passwd"}, {"token", "s3cret"}, {"n", {1, 2.5, -0.0}}};
  json bad_args = json::array({std::numeric_limits<double>::quiet_NaN()});  // JCS refuses NaN
  std::vector<std::string> redact = {"token"};
  int compared = 0;
  for (auto mode : {ArgsMode::HashOnly, ArgsMode::Full, ArgsMode::Redact}) {
    for (const json* a : std::initializer_list<const json*>{&args, &bad_args, nullptr}) {
      for (bool allowed : {true, false}) {
        for (const json& rid : {json(7), json("req-\xC3\xA9"), json(nullptr), json(1.5e300)}) {
          static const json empty = json::object();
          const std::string raw = a ? a->dump() : "{}";
          DecisionInput in = sample(a ? *a : empty, raw);  // sample keeps views of both
          in.arguments = a;
          in.args_mode = mode;
          in.redact = &redact;
          in.allowed = allowed;
          in.would_deny = !allowed;
          in.request_id = rid;
          in.reason = allowed ? "fine" : "bad \xFF byte";  // invalid UTF-8 becomes U+FFFD
          in.code = allowed ? "" : "GT-POLICY";
          in.rule_id = "r\"1";
          in.policy_id = "p\xC3";  // truncated UTF-8 in a policy member
          in.mode = allowed ? "enforce" : "monitor";
          if (rid.is_number_integer()) {  // the optional members, present in a quarter of cases
            in.protocol_version = "2025-11-25";
            in.traceparent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
            in.retry_of = "0190f3a2-7c1c-7e8a-9a3e-b47f95c5db79";
            in.auth_method = "jwt";
            in.auth_issuer = "https://issuer.example/\xC3";  // truncated UTF-8 too
            in.auth_id = "jti-\"1";
          } else if (rid.is_string()) {
            in.auth_method = "api_key";
            in.auth_id = "ci-bot-2026";
          }
          FrozenPayload want = reference_payload(in).freeze();
          FrozenPayload got = decision_frozen(in);
          INFO(want.text);
          CHECK(got.text == want.text);
          for (int i = 0; i < 5; ++i)
            CHECK(got.ends[i] == want.ends[i]);
          std::string a1, a2;
          want.finish_into(a1, 42, std::string(64, 'f'), "kid");
          got.finish_into(a2, 42, std::string(64, 'f'), "kid");
          CHECK(a1 == a2);
          CHECK_NOTHROW(json::parse(a2));
          ++compared;
        }
      }
    }
  }
  CHECK(compared == 72);
}
