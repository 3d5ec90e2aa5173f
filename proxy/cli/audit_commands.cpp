// `glasstape verify`, `glasstape tail` and `glasstape keys generate | show | rotate`: the
// audit log's offline tooling (governance/audit does the work; this file is the shell).
//
// Exit codes: 0 = intact / done; 1 = damage found or a key problem; 2 = cannot run (bad
// arguments, unreadable files, no keyring).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/fsutil.hpp"
#include "governance/audit/key_store.hpp"
#include "governance/audit/keys.hpp"
#include "governance/audit/log_reader.hpp"
#include "governance/audit/log_writer.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/verifier.hpp"
#include "proxy/cli/audit_paths.hpp"
#include "proxy/cli/commands.hpp"
#include "proxy/config.hpp"
#include "proxy/interceptors/audit_recorder.hpp"

namespace gt::proxy::cli {

namespace {

namespace audit = gov::audit;
namespace fs = std::filesystem;

void err(const std::string& msg) {
  std::fprintf(stderr, "glasstape: %s\n", msg.c_str());
}

// --- verify ---------------------------------------------------------------------------------

struct VerifyArgs {
  std::string config;
  std::string tenant;
  std::vector<std::string> logs;
  std::vector<std::string> keyrings;
  std::string checkpoint;
  bool partial = false;
  bool json = false;
};

// Whether `file` lies in one of the log directories (or next to one of the log files) given:
// a checkpoint there can be replaced together with the log, so it is not independent.
bool inside_log_dirs(const fs::path& file, const std::vector<std::string>& logs) {
  std::error_code ec;
  const fs::path parent = fs::weakly_canonical(file, ec).parent_path();
  for (const auto& l : logs) {
    fs::path d = fs::is_directory(l, ec) ? fs::path(l) : fs::path(l).parent_path();
    if (d.empty()) d = ".";
    if (fs::weakly_canonical(d, ec) == parent) return true;
  }
  return false;
}

int run_verify(VerifyArgs a) {
  fs::path keys_root = audit::default_keys_root();
  if (!a.config.empty()) {
    try {
      auto cp = paths_from_config(a.config, a.tenant);
      if (a.logs.empty()) a.logs.push_back(cp.audit_dir.string());
      keys_root = cp.keys_dir;
      if (a.checkpoint.empty() && !cp.witness_dir.empty()) {
        // The witness's copy of this log's latest checkpoint: kept outside the directory.
        auto w =
            witness_checkpoint_path(cp.witness_dir, cp.tenant, audit::current_log_id(cp.audit_dir));
        std::error_code ec;
        if (fs::exists(w, ec)) a.checkpoint = w.string();
      }
    } catch (const std::exception& e) {
      err(e.what());
      return 2;
    }
  }
  if (a.logs.empty()) {
    err("verify: name the log (file or directory) or pass --config FILE");
    return 2;
  }
  std::vector<fs::path> files;
  fs::path auto_checkpoint;
  bool external = false;  // the checkpoint was kept outside the log's directory
  for (const auto& l : a.logs) {
    std::error_code ec;
    if (fs::is_directory(l, ec)) {
      auto in_dir = audit::log_files_in(l);
      if (in_dir.empty()) {
        err("no audit log files (audit.jsonl, audit-*.jsonl) in `" + l + "`");
        return 2;
      }
      files.insert(files.end(), in_dir.begin(), in_dir.end());
      if (fs::exists(fs::path(l) / audit::kCheckpointFileName))
        auto_checkpoint = fs::path(l) / audit::kCheckpointFileName;
    } else if (fs::exists(l, ec)) {
      files.emplace_back(l);
    } else {
      err("`" + l + "` does not exist");
      return 2;
    }
  }
  audit::VerifyOptions vo;
  vo.partial = a.partial;
  try {
    if (!a.keyrings.empty()) {
      for (const auto& k : a.keyrings)
        vo.keyring.merge(audit::Keyring::load(k));
    } else {
      // The tenant's own keyring, found from the first record.
      std::string tenant;
      std::string first = audit::fsutil::read_file(files.front());
      auto r = audit::parse_record(first.substr(0, first.find('\n')));
      if (r) tenant = r->payload.value("tenant", "");
      fs::path ring = tenant.empty() ? fs::path() : audit::keyring_path(keys_root, tenant);
      if (ring.empty() || !fs::exists(ring)) {
        err("no keyring: pass --keyring FILE" +
            (ring.empty() ? std::string() : " (looked for `" + ring.string() + "`)"));
        return 2;
      }
      vo.keyring = audit::Keyring::load(ring);
      if (!a.json) std::printf("keyring: %s\n", ring.c_str());
    }
    fs::path cp = a.checkpoint.empty() ? auto_checkpoint : fs::path(a.checkpoint);
    if (!cp.empty()) {
      vo.checkpoint_note = audit::fsutil::read_file(cp);
      vo.checkpoint_name = cp.string();
      external = !a.checkpoint.empty() && !inside_log_dirs(cp, a.logs);
    }
  } catch (const std::exception& e) {
    err(e.what());
    return 2;
  }
  auto rep = audit::verify_log(files, vo);
  if (a.json) {
    nlohmann::json j = {{"ok", rep.ok},
                        {"files", rep.files},
                        {"records", rep.records},
                        {"decisions", rep.decisions},
                        {"denials", rep.denials},
                        {"results", rep.results},
                        {"checkpoints", rep.checkpoints},
                        {"seals", rep.seals},
                        {"recoveries", rep.recoveries},
                        {"first_seq", rep.first_seq},
                        {"next_seq", rep.next_seq},
                        {"tenant", rep.tenant},
                        {"log_id", rep.log_id},
                        {"key_ids", rep.key_ids},
                        {"warnings", rep.warnings}};
    nlohmann::json agents = nlohmann::json::object();
    for (const auto& [agent, t] : rep.agents)
      agents[agent] = {{"decisions", t.decisions}, {"denials", t.denials}, {"key_ids", t.key_ids}};
    j["agents"] = std::move(agents);
    j["agents_unlisted_decisions"] = rep.agents_unlisted;
    if (!rep.ok) {
      j["damage"] = {{"kind", audit::to_string(rep.first.damage)},
                     {"file", rep.first.file},
                     {"line", rep.first.line},
                     {"seq", rep.first.seq ? nlohmann::json(*rep.first.seq) : nlohmann::json()},
                     {"message", rep.first.message}};
    }
    if (rep.external)
      j["checkpoint"] = {{"file", vo.checkpoint_name},
                         {"size", rep.external->size},
                         {"origin", rep.external->origin},
                         {"external", external}};
    std::printf("%s\n", j.dump(2).c_str());
    return rep.ok ? 0 : 1;
  }
  for (const auto& w : rep.warnings)
    std::printf("note: %s\n", w.c_str());
  if (!rep.ok) {
    std::string where = rep.first.file;
    if (rep.first.line) where += ":" + std::to_string(rep.first.line);
    if (rep.first.seq) where += " (seq " + std::to_string(*rep.first.seq) + ")";
    std::printf("DAMAGED: %s at %s: %s\n", std::string(audit::to_string(rep.first.damage)).c_str(),
                where.c_str(), rep.first.message.c_str());
    return 1;
  }
  std::printf(
      "ok: %llu records intact in %llu file(s), seq %llu..%llu: %llu decisions (%llu denied), %llu "
      "results, %llu seals and %llu checkpoints verified, %llu recovery event(s)\n",
      static_cast<unsigned long long>(rep.records), static_cast<unsigned long long>(rep.files),
      static_cast<unsigned long long>(rep.first_seq),
      static_cast<unsigned long long>(rep.next_seq ? rep.next_seq - 1 : 0),
      static_cast<unsigned long long>(rep.decisions), static_cast<unsigned long long>(rep.denials),
      static_cast<unsigned long long>(rep.results), static_cast<unsigned long long>(rep.seals),
      static_cast<unsigned long long>(rep.checkpoints),
      static_cast<unsigned long long>(rep.recoveries));
  std::string keys;
  for (const auto& k : rep.key_ids)
    keys += (keys.empty() ? "" : ", ") + k;
  std::printf("tenant: %s; log id: %s; signed by key(s): %s\n", rep.tenant.c_str(),
              rep.log_id.empty() ? "none (written before logs had ids)" : rep.log_id.c_str(),
              keys.c_str());
  // Whose decisions these are: each agent signs with its own key (checked against the keyring).
  std::size_t shown = 0;
  for (const auto& [agent, t] : rep.agents) {
    if (++shown > 20) {
      std::printf("  ... and %zu more agents (--json lists them all)\n", rep.agents.size() - 20);
      break;
    }
    std::string ks;
    for (const auto& k : t.key_ids)
      ks += (ks.empty() ? "" : ", ") + k;
    std::string shown_agent = agent;  // a hostile log must not drive the terminal
    for (auto& c : shown_agent)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    std::printf("agent %s: %llu decisions (%llu denied), key(s) %s\n", shown_agent.c_str(),
                static_cast<unsigned long long>(t.decisions),
                static_cast<unsigned long long>(t.denials), ks.c_str());
  }
  if (rep.agents_unlisted)
    std::printf("  ... and %llu decisions of further agents\n",
                static_cast<unsigned long long>(rep.agents_unlisted));
  std::printf("merkle root at size %llu: %s\n", static_cast<unsigned long long>(rep.next_seq),
              audit::to_base64(rep.root).c_str());
  if (rep.external && external) {
    std::printf(
        "checkpoint %s (size %llu, kept outside the log's directory): consistent; no record it "
        "covers was cut or changed\n",
        vo.checkpoint_name.c_str(), static_cast<unsigned long long>(rep.external->size));
  } else if (rep.external) {
    std::printf(
        "checkpoint %s (size %llu, in the log's own directory): consistent\n"
        "note: that checkpoint is not independent: whoever can write the directory can replace "
        "it along with the log. Check against one kept elsewhere (--checkpoint FILE, e.g. from "
        "governance.audit.witness) to detect records cut from the end.\n",
        vo.checkpoint_name.c_str(), static_cast<unsigned long long>(rep.external->size));
  } else {
    std::printf(
        "note: no checkpoint was given (--checkpoint): records cut from the end cannot be "
        "detected\n");
  }
  return 0;
}

// --- tail -----------------------------------------------------------------------------------

struct TailArgs {
  std::string config;
  std::string log;
  std::string tenant = "default";
  std::string tool;
  bool follow = false;
  bool denied = false;
  bool json = false;
  bool no_color = false;
  bool tenant_given = false;
  long lines = 20;
};

void print_record(const nlohmann::json& p, const TailArgs& a, bool color) {
  if (a.json) {
    std::printf("%s\n", p.dump().c_str());
  } else {
    std::printf("%s\n", audit::format_tail_line(p, color).c_str());
  }
}

int run_tail(const TailArgs& a) {
  fs::path target = a.log.empty() ? default_audit_dir(a.tenant) : fs::path(a.log);
  if (a.log.empty() && !a.config.empty()) {
    try {
      target = paths_from_config(a.config, a.tenant_given ? a.tenant : "").audit_dir;
    } catch (const std::exception& e) {
      err(e.what());
      return 2;
    }
  }
  std::error_code ec;
  std::vector<fs::path> files;
  fs::path active;
  if (fs::is_directory(target, ec)) {
    files = audit::log_files_in(target);
    active = target / audit::kActiveLogName;
  } else {
    files = {target};
    active = target;
  }
  if (files.empty() && !a.follow) {
    err("no audit log at `" + target.string() + "`");
    return 2;
  }
  bool color = !a.json && !a.no_color && ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");
  audit::TailFilter filter{a.denied, a.tool};
  // The last N matching records, newest files first until there are enough.
  std::vector<nlohmann::json> shown;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    std::string content;
    try {
      content = audit::fsutil::read_file(*it);
    } catch (const std::exception& e) {
      err(e.what());
      return 2;
    }
    std::vector<nlohmann::json> here;
    for (auto line : audit::split_lines(content)) {
      auto p = audit::decode_payload(line);
      if (p && audit::tail_matches(*p, filter)) here.push_back(std::move(*p));
    }
    shown.insert(shown.begin(), std::make_move_iterator(here.begin()),
                 std::make_move_iterator(here.end()));
    if (a.lines > 0 && shown.size() >= static_cast<std::size_t>(a.lines)) break;
  }
  if (a.lines > 0 && shown.size() > static_cast<std::size_t>(a.lines)) {
    shown.erase(shown.begin(), shown.end() - a.lines);
  }
  for (const auto& p : shown)
    print_record(p, a, color);
  std::fflush(stdout);
  if (!a.follow) return 0;
  audit::LogFollower follow(active, true);
  for (;;) {
    for (const auto& line : follow.poll()) {
      auto p = audit::decode_payload(line);
      if (p && audit::tail_matches(*p, filter)) print_record(*p, a, color);
    }
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// --- keys -----------------------------------------------------------------------------------

struct KeysArgs {
  std::string config;
  std::string tenant = "default";
  std::string agent = kDefaultAgent;
  std::string keys_dir;
  fs::path audit_dir;  // the tenant's log (from --config), for its checkpoint origin
  bool json = false;
};

fs::path keys_root(const KeysArgs& a) {
  return a.keys_dir.empty() ? audit::default_keys_root() : fs::path(a.keys_dir);
}

void print_key(const audit::SigningKey& k, const KeysArgs& a, const std::string& source,
               const fs::path& file) {
  fs::path ring = audit::keyring_path(keys_root(a), a.tenant);
  if (a.json) {
    // A keyring document for this key, ready for `glasstape verify --keyring`.
    audit::Keyring r;
    audit::KeyringEntry e;
    e.key_id = k.key_id();
    e.public_key = k.public_key();
    e.tenant = a.tenant;
    e.agent = source == "env" ? "*" : a.agent;
    r.entries.push_back(e);
    std::printf("%s", r.to_json().c_str());
    return;
  }
  std::printf("tenant:      %s\nagent:       %s\nkey id:      %s\npublic key:  %s\n",
              a.tenant.c_str(), a.agent.c_str(), k.key_id().c_str(),
              k.public_key().base64().c_str());
  // Checkpoints are signed notes named after the log's origin, which holds its random log id:
  // the verifier key is per log.
  const fs::path dir = a.audit_dir.empty() ? default_audit_dir(a.tenant) : a.audit_dir;
  std::string log_id = audit::current_log_id(dir);
  if (!log_id.empty()) {
    std::printf("checkpoint verifier key: %s\n",
                audit::note_verifier_key(audit::checkpoint_origin(a.tenant, log_id), k.public_key())
                    .c_str());
  } else {
    std::printf("checkpoint verifier key: none yet (no log with an id in `%s`)\n", dir.c_str());
  }
  if (source == "env") {
    std::printf("source:      %s\n", audit::kKeyEnvVar);
  } else {
    std::printf("key file:    %s\n", file.c_str());
  }
  std::printf("keyring:     %s\n", ring.c_str());
}

int run_keys(const std::string& action, KeysArgs a, bool tenant_given, bool agent_given) {
  if (!a.config.empty()) {
    try {
      auto cp = paths_from_config(a.config, tenant_given ? a.tenant : "");
      a.tenant = cp.tenant;
      if (!agent_given) a.agent = cp.agent;
      if (a.keys_dir.empty()) a.keys_dir = cp.keys_dir.string();
      a.audit_dir = cp.audit_dir;
    } catch (const std::exception& e) {
      err(e.what());
      return 2;
    }
  }
  try {
    audit::check_key_name("tenant", a.tenant);
    audit::check_agent_name(a.agent);
    fs::path root = keys_root(a);
    if (action == "generate") {
      auto k = audit::generate_agent_key(root, a.tenant, a.agent);
      if (!a.json) std::printf("generated a new key\n");
      print_key(k.key, a, "file", k.file);
    } else if (action == "show") {
      auto k = audit::load_agent_key(root, a.tenant, a.agent, false);
      print_key(k.key, a, k.source == audit::KeySource::Env ? "env" : "file", k.file);
    } else {
      auto r = audit::rotate_agent_key(root, a.tenant, a.agent);
      if (!a.json) {
        std::printf(
            "rotated: key %s retired (kept in the keyring, so its receipts stay verifiable); "
            "a running proxy switches at its next write\n",
            r.old_key_id.c_str());
      }
      print_key(r.new_key.key, a, "file", r.new_key.file);
    }
  } catch (const std::exception& e) {
    err(e.what());
    return 1;
  }
  return 0;
}

// --- recover --------------------------------------------------------------------------------

struct RecoverArgs {
  std::string config;
  std::string tenant = "default";
  std::string agent = kDefaultAgent;
  std::string keys_dir;
  std::string dir;
};

// The proxy refuses to append to a log that lost records (see LogOptions::accept_loss); this
// is the explicit step that continues it, with a signed `recovery` record saying what was
// lost, so the loss stays visible to every later `glasstape verify`.
int run_recover(RecoverArgs a, bool tenant_given, bool agent_given) {
  if (!a.config.empty()) {
    try {
      auto cp = paths_from_config(a.config, tenant_given ? a.tenant : "");
      a.tenant = cp.tenant;
      if (!agent_given) a.agent = cp.agent;
      if (a.keys_dir.empty()) a.keys_dir = cp.keys_dir.string();
      if (a.dir.empty()) a.dir = cp.audit_dir.string();
    } catch (const std::exception& e) {
      err(e.what());
      return 2;
    }
  }
  if (a.dir.empty()) a.dir = default_audit_dir(a.tenant).string();
  try {
    audit::LogOptions o;
    o.dir = a.dir;
    o.tenant = a.tenant;
    o.accept_loss = true;
    o.fsync = audit::FsyncMode::Always;
    o.nonce_pool = 0;
    auto keys = std::make_shared<audit::AgentKeyStore>(
        a.keys_dir.empty() ? audit::default_keys_root() : fs::path(a.keys_dir), a.tenant);
    audit::AuditLog log(o, keys, a.agent);
    log.flush();
    if (log.loss_recorded().empty()) {
      std::printf("nothing was lost: the log in `%s` continues as it is\n", a.dir.c_str());
    } else {
      std::printf(
          "recorded the loss in `%s` (a signed `recovery` record): %s\nthe proxy can start "
          "again; `glasstape verify` will report the loss as a recovery event\n",
          a.dir.c_str(), log.loss_recorded().c_str());
    }
  } catch (const std::exception& e) {
    err(e.what());
    return 1;
  }
  return 0;
}

}  // namespace

void add_audit_commands(CLI::App& app, int& exit_code) {
  auto va = std::make_shared<VerifyArgs>();
  auto* verify = app.add_subcommand(
      "verify", "Verify audit logs offline: signatures, hash chain, seq, checkpoints, key windows");
  verify->add_option("log", va->logs,
                     "Log files in chain order, or log directories (default with --config: the "
                     "tenant's governance.audit.dir)");
  verify
      ->add_option("-c,--config", va->config,
                   "Config file: the tenant's audit.dir and keys_dir (as the proxy uses them)")
      ->check(CLI::ExistingFile);
  verify->add_option("--tenant", va->tenant, "With --config: which tenant (default: the first)");
  verify
      ->add_option("--keyring", va->keyrings,
                   "Public keyring (repeatable); default: <keys dir>/<tenant>/keyring.json")
      ->allow_extra_args(false);
  verify->add_option(
      "--checkpoint", va->checkpoint,
      "A signed checkpoint kept elsewhere (detects records cut from the end); default: "
      "the `checkpoint` file of a log directory");
  verify->add_flag("--partial", va->partial, "Accept a log whose older files are not given");
  verify->add_flag("--json", va->json, "Print the report as JSON");
  verify->footer(
      "Example:\n  glasstape verify --config glasstape.yaml   # the log and keyring the proxy "
      "uses\n\nExit codes: 0 intact, 1 damaged or wrong key, 2 cannot run.");
  verify->callback([va, &exit_code] { exit_code = run_verify(*va); });

  auto ta = std::make_shared<TailArgs>();
  auto* tail = app.add_subcommand("tail", "Show decisions from an audit log as they happen");
  tail->add_option("log", ta->log, "Log file or directory (default ~/.glasstape/audit/<tenant>)");
  tail->add_flag("-f,--follow", ta->follow, "Keep watching for new records");
  tail->add_flag("--denied", ta->denied, "Only denials (and monitor-mode would-denies)");
  tail->add_option("--tool", ta->tool, "Only tools matching this glob (tool or server/tool)");
  tail->add_flag("--json", ta->json, "One JSON payload per line");
  tail->add_option("-n,--lines", ta->lines, "How many past records to show first (0 = all)");
  auto* tenant_opt = tail->add_option("--tenant", ta->tenant, "Tenant whose default log to read");
  tail->add_option("-c,--config", ta->config, "Config file: read the tenant's governance.audit.dir")
      ->check(CLI::ExistingFile);
  tail->footer(
      "Example:\n  glasstape tail -f --denied --config glasstape.yaml   # follow denials as they "
      "happen");
  tail->add_flag("--no-color", ta->no_color, "No colours (also: NO_COLOR)");
  tail->callback([ta, tenant_opt, &exit_code] {
    ta->tenant_given = tenant_opt->count() > 0;
    exit_code = run_tail(*ta);
  });

  auto ra = std::make_shared<RecoverArgs>();
  auto* recover = app.add_subcommand(
      "recover", "Continue an audit log that lost records, recording the loss in a signed record");
  recover->add_option(
      "dir", ra->dir,
      "The log directory (default with --config: the tenant's governance.audit.dir)");
  recover
      ->add_option("-c,--config", ra->config, "Config file: the tenant's audit dir, keys and agent")
      ->check(CLI::ExistingFile);
  auto* r_tenant = recover->add_option("--tenant", ra->tenant, "Tenant (default `default`)");
  auto* r_agent =
      recover->add_option("--agent", ra->agent, "Agent whose key signs (default: the log's)");
  recover->add_option("--keys-dir", ra->keys_dir,
                      "Keys root (default $GT_KEYS_DIR or ~/.glasstape/keys)");
  recover->footer(
      "Run it only after finding out why records are missing (`glasstape verify`): the log "
      "then continues, and the loss is recorded in it for good.\n\nExample:\n  glasstape "
      "recover --config glasstape.yaml");
  recover->callback([ra, r_tenant, r_agent, &exit_code] {
    exit_code = run_recover(*ra, r_tenant->count() > 0, r_agent->count() > 0);
  });

  auto* keys = app.add_subcommand("keys", "Manage Ed25519 signing keys");
  keys->footer("Example:\n  glasstape keys show --config glasstape.yaml");
  keys->require_subcommand(1);
  for (const char* action : {"generate", "show", "rotate"}) {
    auto ka = std::make_shared<KeysArgs>();
    const char* what =
        std::string(action) == "generate" ? "Create the agent's key (refused if it exists)"
        : std::string(action) == "show"   ? "Print the agent's public key and key id"
                                          : "Replace the agent's key; keep the old public key";
    auto* sub = keys->add_subcommand(action, what);
    auto* tenant_opt = sub->add_option("--tenant", ka->tenant, "Tenant (default `default`)");
    auto* agent_opt = sub->add_option("--agent", ka->agent, "Agent id (default `glasstape-agent`)");
    sub->add_option("-c,--config", ka->config,
                    "Config file: its tenant, agent id and governance.audit.keys_dir")
        ->check(CLI::ExistingFile);
    sub->footer(std::string("Example:\n  glasstape keys ") + action + " --config glasstape.yaml");
    sub->add_option("--keys-dir", ka->keys_dir,
                    "Keys root (default $GT_KEYS_DIR or ~/.glasstape/keys)");
    sub->add_flag("--json", ka->json, "Print a keyring document for the key");
    std::string act = action;
    sub->callback([ka, act, tenant_opt, agent_opt, &exit_code] {
      exit_code = run_keys(act, *ka, tenant_opt->count() > 0, agent_opt->count() > 0);
    });
  }
}

}  // namespace gt::proxy::cli
