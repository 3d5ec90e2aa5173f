// `glasstape receipt` and `glasstape verify-receipt`: a standalone bundle for one receipt
// (governance/audit/receipt_bundle.hpp does the work; this file is the shell).
//
// Exit codes: 0 = bundle written / verified; 1 = cannot build it (not in the log, not yet
// checkpointed, log damaged) or it does not verify; 2 = cannot run (bad arguments,
// unreadable files, no keys given).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/audit/fsutil.hpp"
#include "governance/audit/keys.hpp"
#include "governance/audit/receipt_bundle.hpp"
#include "proxy/cli/audit_paths.hpp"
#include "proxy/cli/commands.hpp"

namespace gt::proxy::cli {

namespace {

namespace audit = gov::audit;
namespace fs = std::filesystem;

void err(const std::string& msg) {
  std::fprintf(stderr, "glasstape: %s\n", msg.c_str());
}

// A bundle comes from anyone: its text must not drive the terminal.
std::string shown(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

// --- receipt --------------------------------------------------------------------------------

struct ReceiptArgs {
  std::string id;
  std::string log;
  std::string config;
  std::string tenant;
  std::string out;
  std::string since;
};

int run_receipt(const ReceiptArgs& a) {
  fs::path dir = a.log;
  try {
    if (dir.empty() && !a.config.empty()) dir = paths_from_config(a.config, a.tenant).audit_dir;
  } catch (const std::exception& e) {
    err(e.what());
    return 2;
  }
  if (dir.empty()) dir = default_audit_dir(a.tenant.empty() ? "default" : a.tenant);
  audit::BundleOptions o;
  if (!a.since.empty()) {
    try {
      o.since_bundle = audit::fsutil::read_file(a.since);
    } catch (const std::exception& e) {
      err(e.what());
      return 2;
    }
  }
  std::string bundle;
  try {
    bundle = audit::build_receipt_bundle(dir, a.id, o);
  } catch (const audit::BundleError& e) {
    err(e.what());
    return 1;
  } catch (const std::exception& e) {
    err(e.what());
    return 2;
  }
  bundle += '\n';
  if (a.out.empty() || a.out == "-") {
    std::fwrite(bundle.data(), 1, bundle.size(), stdout);
    return 0;
  }
  try {
    audit::fsutil::atomic_write(a.out, bundle, 0644, true);
  } catch (const std::exception& e) {
    err(e.what());
    return 2;
  }
  return 0;
}

// --- verify-receipt -------------------------------------------------------------------------

struct VerifyReceiptArgs {
  std::string bundle;
  std::vector<std::string> public_keys;
  std::vector<std::string> keyrings;
  bool json = false;
};

nlohmann::json report_json(const audit::BundleReport& r) {
  nlohmann::json j = {{"ok", r.ok},
                      {"receipt_id", r.receipt_id},
                      {"seq", r.seq},
                      {"kind", r.kind},
                      {"tenant", r.tenant},
                      {"agent", r.agent},
                      {"decision", r.decision},
                      {"server", r.server},
                      {"tool", r.tool},
                      {"ts", r.ts},
                      {"log_id", r.log_id},
                      {"origin", r.origin},
                      {"checkpoint_size", r.checkpoint_size},
                      {"checkpoint_key_id", r.checkpoint_key_id},
                      {"record_key_id", r.record_key_id},
                      {"record_signature_checked", r.record_signature_checked},
                      {"consistent_from",
                       r.consistent_from ? nlohmann::json(*r.consistent_from) : nlohmann::json()}};
  if (!r.ok) j["error"] = r.error;
  return j;
}

int run_verify_receipt(const VerifyReceiptArgs& a) {
  if (a.public_keys.empty() && a.keyrings.empty()) {
    err("verify-receipt: give the keys to trust: --public-key FILE or --keyring FILE");
    return 2;
  }
  audit::Keyring ring;
  std::string text;
  try {
    for (const auto& k : a.keyrings)
      ring.merge(audit::Keyring::load(k));
    for (const auto& k : a.public_keys)
      ring.merge(keyring_from_public_key_file(k));
    text = a.bundle == "-" ? std::string() : audit::fsutil::read_file(a.bundle);
    if (a.bundle == "-") {
      char buf[65536];
      for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;)
        text.append(buf, n);
    }
  } catch (const std::exception& e) {
    err(e.what());
    return 2;
  }
  auto r = audit::verify_receipt_bundle(text, ring);
  if (a.json) {
    std::printf("%s\n", report_json(r).dump(2).c_str());
    return r.ok ? 0 : 1;
  }
  if (!r.ok) {
    std::printf("FAILED: %s\n", shown(r.error).c_str());
    return 1;
  }
  std::printf(
      "ok: receipt %s (seq %llu) is in the log `%s`, whose checkpoint of %llu records is "
      "signed by key %s\n",
      shown(r.receipt_id).c_str(), static_cast<unsigned long long>(r.seq), shown(r.origin).c_str(),
      static_cast<unsigned long long>(r.checkpoint_size), r.checkpoint_key_id.c_str());
  if (r.kind == "decision") {
    std::printf("decision: %s %s/%s at %s (tenant %s, agent %s)\n", shown(r.decision).c_str(),
                shown(r.server).c_str(), shown(r.tool).c_str(), shown(r.ts).c_str(),
                shown(r.tenant).c_str(), shown(r.agent).c_str());
  } else {
    std::printf("record: %s at %s (tenant %s, agent %s)\n", shown(r.kind).c_str(),
                shown(r.ts).c_str(), shown(r.tenant).c_str(), shown(r.agent).c_str());
  }
  if (r.record_signature_checked) {
    std::printf("record signature: verified with key %s\n", shown(r.record_key_id).c_str());
  } else {
    std::printf(
        "record signature: not checked (key %s is not among the keys given); the checkpoint "
        "signature covers the record\n",
        shown(r.record_key_id).c_str());
  }
  if (r.consistent_from) {
    std::printf("consistency: the older checkpoint of %llu records is a prefix of this one\n",
                static_cast<unsigned long long>(*r.consistent_from));
  }
  return 0;
}

}  // namespace

void add_receipt_commands(CLI::App& app, int& exit_code) {
  auto ra = std::make_shared<ReceiptArgs>();
  auto* receipt = app.add_subcommand(
      "receipt", "Export a receipt bundle: the record, its Merkle proof and a signed checkpoint");
  receipt->add_option("id", ra->id, "The receipt id (a denial's `receipt_id`, a record's `id`)")
      ->required();
  receipt->add_option("log", ra->log,
                      "Log directory (default with --config: the tenant's governance.audit.dir; "
                      "else ~/.glasstape/audit/<tenant>)");
  receipt->add_option("-c,--config", ra->config, "Config file: the tenant's governance.audit.dir")
      ->check(CLI::ExistingFile);
  receipt->add_option("--tenant", ra->tenant,
                      "Tenant (with --config default: the first; else `default`)");
  receipt->add_option("-o,--output", ra->out, "Write the bundle to FILE (default: stdout)");
  receipt
      ->add_option("--since", ra->since,
                   "An older bundle of the same log: add a consistency proof from its checkpoint")
      ->check(CLI::ExistingFile);
  receipt->footer(
      "Example:\n  glasstape receipt 0190f3a2-7c1c-7e8a-9a3e-b47f95c5db79 --config glasstape.yaml "
      "-o receipt.json\n\nExit codes: 0 written, 1 cannot be proved (unknown id, not yet "
      "checkpointed, damaged log), 2 cannot run.");
  receipt->callback([ra, &exit_code] { exit_code = run_receipt(*ra); });

  auto va = std::make_shared<VerifyReceiptArgs>();
  auto* verify =
      app.add_subcommand("verify-receipt", "Verify a receipt bundle offline, without the log");
  verify->add_option("bundle", va->bundle, "The bundle file (`-` for stdin)")->required();
  verify
      ->add_option("--public-key", va->public_keys,
                   "A trusted Ed25519 public key: base64, or a checkpoint verifier key "
                   "(repeatable)")
      ->allow_extra_args(false);
  verify->add_option("--keyring", va->keyrings, "A trusted public keyring (repeatable)")
      ->allow_extra_args(false);
  verify->add_flag("--json", va->json, "Print the report as JSON");
  verify->footer(
      "Example:\n  glasstape verify-receipt receipt.json --keyring keyring.json\n\nExit codes: 0 "
      "verified, 1 does not verify, 2 cannot run.");
  verify->callback([va, &exit_code] { exit_code = run_verify_receipt(*va); });
}

}  // namespace gt::proxy::cli
