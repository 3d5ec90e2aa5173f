// Builds real audit logs for the writer and verifier tests.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "audit_test_util.hpp"
#include "governance/audit/checkpoint.hpp"
#include "governance/audit/dsse.hpp"
#include "governance/audit/log_writer.hpp"
#include "governance/audit/merkle.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/sha256.hpp"
#include "governance/audit/verifier.hpp"

namespace gt::gov::audit::test {

inline SigningKey clone_key(const SigningKey& k) {
  return SigningKey::parse(k.seed_base64(), "clone");
}

inline Keyring ring_for(const SigningKey& k, const std::string& tenant = "*",
                        const std::string& agent = "*") {
  Keyring r;
  KeyringEntry e;
  e.key_id = k.key_id();
  e.public_key = k.public_key();
  e.tenant = tenant;
  e.agent = agent;
  r.entries.push_back(e);
  return r;
}

inline PayloadBuilder decision(int i, bool allowed = true, const std::string& agent = "agent-1",
                               const std::string& tenant = "acme") {
  DecisionInput in;
  in.receipt_id = new_receipt_id();
  in.ts = Clock::now();
  in.tenant = tenant;
  in.agent = agent;
  in.session = "session-1";
  in.server = "fs";
  in.tool = i % 3 == 0 ? "write_file" : "read_file";
  in.request_id = i;
  std::string raw = R"({"path":"/tmp/)" + std::to_string(i) + R"("})";
  in.raw_arguments = raw;
  in.allowed = allowed;
  if (!allowed) {
    in.reason = "writes are not allowed";
    in.code = "GT-POLICY-DENY";
    in.decided_by = "policy";
    in.rule_id = "no-writes";
  }
  return decision_payload(in);
}

struct LogFixture {
  TempDir dir;
  SigningKey key = SigningKey::generate();
  LogOptions opts;

  LogFixture() {
    opts.dir = dir.path / "log";
    opts.tenant = "acme";
    opts.checkpoint_every = 16;
  }
  std::unique_ptr<AuditLog> open() {
    return std::make_unique<AuditLog>(opts, std::make_shared<StaticKeys>(clone_key(key)),
                                      "agent-1");
  }
  // Appends n decisions and waits for them; returns how many were acknowledged ok.
  int write(AuditLog& log, int n, int start = 0) {
    std::atomic<int> ok{0};
    for (int i = start; i < start + n; ++i) {
      log.append("agent-1", decision(i, i % 3 != 0), AuditLog::Kind::Decision,
                 [&](const AppendResult& r) { ok += r.ok ? 1 : 0; });
    }
    log.flush();
    return ok.load();
  }
  VerifyReport verify(std::optional<std::string> checkpoint = std::nullopt, bool partial = false) {
    VerifyOptions vo;
    vo.keyring = ring_for(key);
    vo.checkpoint_note = std::move(checkpoint);
    vo.partial = partial;
    return verify_log(log_files_in(opts.dir), vo);
  }
  std::filesystem::path active() const { return opts.dir / kActiveLogName; }
};

// Every record of a log directory, parsed (the test fails on a line that does not parse).
inline std::vector<ParsedRecord> records_of(const std::filesystem::path& dir) {
  std::vector<ParsedRecord> out;
  for (const auto& f : log_files_in(dir)) {
    for (const auto& l : lines_of(slurp(f))) {
      auto r = parse_record(l);
      REQUIRE(r);
      out.push_back(std::move(*r));
    }
  }
  return out;
}

inline int count_kind(const std::vector<ParsedRecord>& rs, const std::string& kind) {
  int n = 0;
  for (const auto& r : rs)
    n += r.kind == kind ? 1 : 0;
  return n;
}

// A log as GlassTape wrote it before sealed batches (v1): open, start, `decisions` decisions
// (denials for i % 3 == 0), each a DSSE envelope signed alone over a payload without `log_id`,
// a checkpoint record every `checkpoint_every` records and one at the end, v1 origins, and
// the `checkpoint` file. Kept so that v1 logs stay verifiable and continuable.
inline void write_v1_log(const std::filesystem::path& dir, const SigningKey& key, int decisions,
                         std::uint64_t checkpoint_every = 16) {
  std::filesystem::create_directories(dir);
  std::string out, prev(kGenesisPrev), note;
  CompactRange tree;
  std::uint64_t seq = 0, since = 0;
  auto add = [&](const PayloadBuilder& p) {
    std::string line = make_envelope(kReceiptPayloadType, p.finish(seq, prev, key.key_id()), key);
    tree.append(merkle_leaf_hash(line));
    prev = sha256_hex(line);
    out += line + "\n";
    ++seq;
  };
  auto system = [&](const std::string& kind) {
    PayloadBuilder p;
    p.set_string("format", kReceiptFormatV1);
    p.set_string("kind", kind);
    p.set_string("id", new_receipt_id());
    p.set_string("ts", rfc3339_utc(Clock::now()));
    p.set_string("tenant", "acme");
    p.set_string("agent", "agent-1");
    return p;
  };
  auto checkpoint = [&] {
    Checkpoint cp{checkpoint_origin("acme"), seq, tree.root(), {}};  // v1: no chain head
    note = sign_checkpoint(cp, key);
    auto c = system("checkpoint");
    c.set_string("origin", cp.origin);
    c.set_int("tree_size", static_cast<std::int64_t>(cp.size));
    c.set_string("root", to_base64(cp.root));
    c.set_string("note", note);
    add(c);
    since = 0;
  };
  auto record = [&](const PayloadBuilder& p) {
    add(p);
    if (++since >= checkpoint_every) checkpoint();
  };
  auto open = system("open");
  open.set_int("tree_size", 0);
  open.set("frontier", nlohmann::json::array());
  open.set_string("prev_file", "");
  record(open);
  record(system("start"));
  for (int i = 0; i < decisions; ++i) {
    auto d = decision(i, i % 3 != 0);
    d.set_string("format", kReceiptFormatV1);
    record(d);
  }
  if (since > 0) checkpoint();
  spit(dir / kActiveLogName, out);
  spit(dir / kCheckpointFileName, note);
}

}  // namespace gt::gov::audit::test
