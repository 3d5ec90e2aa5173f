// The recorder: turns every decision into a signed receipt in the tenant's audit log
// (governance/audit), and every result of an allowed call into a second record linked to it.
//
// Config: the tenant's `governance.audit` section (all keys optional):
//   dir: ~/.glasstape/audit/<tenant>   log directory (relative paths: against the config file)
//   fsync: group                       always | group | off
//   group_ms: 5                        group commit window
//   group_records: 256                 group commit size
//   checkpoint_every: 1000             signed checkpoint every N records (0 = by time only)
//   checkpoint_ms: 10000               ... or every T ms when records were written (0 = off)
//   rotate_bytes: 67108864             rotate the active file past this size (0 = never)
//   record_args: hash-only             full | redact | hash-only
//   redact: [token, /auth/password]    member names (any depth) or JSON Pointers
//   keys_dir: ~/.glasstape/keys        default: $GT_KEYS_DIR or ~/.glasstape/keys
//   backlog_max: 10000                 denials kept in memory while the log cannot be written
//   receipt_meta: true                 answers carry _meta["dev.glasstape/receipt"] (see
//                                      proxy/receipt_meta.hpp)
// Two tenants may not share a directory. Pipelines of the same tenant share one writer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "governance/audit/log_writer.hpp"
#include "proxy/audit_witness.hpp"
#include "proxy/config.hpp"
#include "proxy/pipeline.hpp"

namespace gt::proxy {

struct AuditSettings {
  gov::audit::LogOptions log;
  gov::audit::ArgsMode record_args = gov::audit::ArgsMode::HashOnly;
  std::vector<std::string> redact;
  std::filesystem::path keys_dir;
  bool receipt_meta = true;
  WitnessOptions witness;  // governance.audit.witness (audit_witness.hpp)
};

// Parses a `governance.audit` section (undefined or null = defaults). Throws ConfigError.
AuditSettings parse_audit_settings(const InterceptorEnv& env, const YAML::Node& section);

class AuditRecorder : public Recorder {
 public:
  AuditRecorder(std::shared_ptr<gov::audit::AuditLog> log, AuditSettings settings,
                std::string tenant, std::string default_agent);
  void record_decision(const CallContext& ctx, std::function<void(Outcome)> done) override;
  void record_result(const CallContext& ctx, const Response& response) override;
  void record_event(const nlohmann::json& event) override;
  // /readyz: the log is writable (no failing batch, the directory writable); /metrics: its
  // record and failure counts.
  void report(admin::Report& out, const std::string& tenant) const override;
  AuditSource source() const override;
  bool receipt_meta() const override { return settings_.receipt_meta; }
  gov::audit::AuditLog& log() { return *log_; }

 private:
  std::shared_ptr<gov::audit::AuditLog> log_;
  AuditSettings settings_;
  std::string tenant_;
  std::string default_agent_;
};

// Opens (or shares) the tenant's audit log. Throws ConfigError with a one-line message when
// the section is invalid, the key is unusable or the log cannot be opened.
std::unique_ptr<Recorder> make_audit_recorder(const InterceptorEnv& env, const YAML::Node& section);

}  // namespace gt::proxy
