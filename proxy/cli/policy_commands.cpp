// `glasstape policy check | test | sign | verify`: the operator's tooling for policy
// directories (like `opa check`, `opa test`, `opa sign`).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "governance/audit/trust.hpp"
#include "governance/policy/evaluate.hpp"
#include "governance/policy/manifest.hpp"
#include "governance/policy/options.hpp"
#include "governance/policy/policy.hpp"
#include "governance/policy/testing.hpp"
#include "governance/policy/timezone.hpp"
#include "proxy/cli/commands.hpp"
#include "proxy/config.hpp"
#include "proxy/interceptors/deny_tools.hpp"
#include "proxy/interceptors/policy_interceptor.hpp"

namespace gt::proxy::cli {

namespace {

namespace pol = gov::policy;
namespace fs = std::filesystem;

struct PolicyArgs {
  std::string dir;
  std::string timezone;
  std::string public_key;
  std::string key_file;
  bool require_signed = false;
  bool verbose = false;
  size_t max_file_bytes = pol::kDefaultMaxYamlBytes;
};

bool set_timezone(const PolicyArgs& a, pol::SetOptions& o) {
  if (a.timezone.empty()) return true;
  std::string err;
  auto tz = pol::TimeZone::load(a.timezone, err);
  if (!tz) {
    std::fprintf(stderr, "glasstape: %s\n", err.c_str());
    return false;
  }
  o.tz = tz;
  return true;
}

std::string shown(const fs::path& dir, const pol::Diagnostic& d) {
  // Diagnostics name files relative to the directory; show them as the user typed the dir.
  pol::Diagnostic c = d;
  if (!c.file.empty() && fs::path(c.file).is_relative()) c.file = (fs::path(dir) / c.file).string();
  return c.str();
}

// "dir/file:line:column" (or "dir/file" when the whole file is meant).
std::string where(const fs::path& dir, const pol::Diagnostic& d) {
  std::string f = d.file;
  if (!f.empty() && fs::path(f).is_relative()) f = (dir / f).string();
  if (d.line > 0) f += ":" + std::to_string(d.line) + ":" + std::to_string(d.column);
  return f;
}

int run_check(const PolicyArgs& a) {
  pol::SetOptions o;
  o.max_file_bytes = a.max_file_bytes;
  if (!set_timezone(a, o)) return 2;
  if (a.require_signed || !a.public_key.empty()) {
    pol::PublicKey pk;
    std::string err;
    if (!pol::parse_public_key(a.public_key, pk, err)) {
      std::fprintf(stderr, "glasstape: %s\n", err.c_str());
      return 2;
    }
    o.require_signed = true;
    o.public_key.assign(reinterpret_cast<const char*>(pk.data()), pk.size());
  }
  auto rep = pol::load_policy_dir(a.dir, o);
  for (const auto& e : rep.errors) {
    // Language errors already name their stage ("parse error: ...", "type error: ...").
    bool staged = e.message.rfind("parse error: ", 0) == 0 ||
                  e.message.rfind("syntax error: ", 0) == 0 ||
                  e.message.rfind("type error: ", 0) == 0;
    std::printf("%s: %s%s\n", where(a.dir, e).c_str(), staged ? "" : "error: ", e.message.c_str());
  }
  size_t rejected = rep.set ? rep.set->rejected_files.size() : 0;
  for (const auto& w : rep.warnings) {
    bool is_rejection = w.message.find("signed manifest") != std::string::npos ||
                        w.message.find("altered after signing") != std::string::npos ||
                        w.message.find("is not trusted") != std::string::npos;
    std::printf("%s: %s: %s\n", where(a.dir, w).c_str(), is_rejection ? "error" : "warning",
                w.message.c_str());
  }
  if (!rep.errors.empty() || rejected) {
    std::printf("%zu error(s) in %s\n", rep.errors.size() + rejected, a.dir.c_str());
    return 1;
  }
  size_t rules = 0, limits = 0;
  for (const auto& p : rep.set->policies) {
    rules += p->deny.size() + p->allow.size();
    limits += p->limits.size();
  }
  if (rep.set->policies.empty()) {
    // Loads, but governs nothing: without a config `default_policy` every call is denied
    // (GT-POLICY-NONE). Not an error (exit 0): a deny-all set is a valid choice.
    std::printf(
        "warning: no policy files (*.yaml, *.yml, *.json) in %s: the proxy will deny every call "
        "(GT-POLICY-NONE) unless the config names a default_policy\n",
        a.dir.c_str());
  }
  std::printf("ok: %zu policies, %zu rules, %zu limits in %s%s\n", rep.set->policies.size(), rules,
              limits, a.dir.c_str(), o.require_signed ? " (signatures verified)" : "");
  return 0;
}

int run_test(const PolicyArgs& a) {
  pol::SetOptions o;
  o.max_file_bytes = a.max_file_bytes;
  if (!set_timezone(a, o)) return 2;
  auto rep = pol::run_policy_tests(a.dir, o);
  for (const auto& e : rep.errors)
    std::printf("ERROR %s\n", shown(a.dir, e).c_str());
  for (const auto& r : rep.results) {
    if (!r.passed) {
      std::printf("FAIL %s: %s\n     %s\n", r.file.c_str(), r.name.c_str(), r.message.c_str());
    } else if (a.verbose) {
      std::printf("PASS %s: %s\n     %s\n", r.file.c_str(), r.name.c_str(), r.message.c_str());
    }
  }
  if (rep.files == 0 && rep.errors.empty()) {
    // No test ran, so nothing has loaded the policies yet: a directory that does not load
    // must not pass.
    auto load = pol::load_policy_dir(a.dir, o);
    if (!load.set) {
      for (const auto& e : load.errors)
        std::printf("ERROR %s\n", shown(a.dir, e).c_str());
      std::printf("FAIL: the policies in %s do not load (%zu error(s)); no test files\n",
                  a.dir.c_str(), load.errors.size());
      return 1;
    }
    std::printf("no test files (*_test.yaml) in %s\n", a.dir.c_str());
    return 0;
  }
  std::printf("%s: %zu passed, %zu failed (%zu test files)\n", rep.ok() ? "PASS" : "FAIL",
              rep.passed, rep.failed, rep.files);
  return rep.ok() ? 0 : 1;
}

bool read_key_text(const PolicyArgs& a, std::string& text) {
  if (!a.key_file.empty()) {
    // A private key: refused when others can read it, or could have replaced it.
    try {
      text = gov::audit::read_trusted(a.key_file, gov::audit::Trust::Secret, "key file", 4096);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "glasstape: %s\n", e.what());
      return false;
    }
    // A raw 32/64-byte key file is accepted too.
    if (text.size() == 32 || text.size() == 64) {
      bool binary = false;
      for (unsigned char c : text)
        binary = binary || c < 0x20 || c >= 0x7f;
      if (binary) text = pol::base64_encode(text);
    }
    return true;
  }
  const char* env = std::getenv("GT_ED25519_PRIVATE_KEY");
  if (env && *env) {
    text = env;
    return true;
  }
  std::fprintf(stderr,
               "glasstape: no signing key: pass --key FILE or set GT_ED25519_PRIVATE_KEY\n");
  return false;
}

int run_sign(const PolicyArgs& a) {
  auto rep = pol::load_policy_dir(a.dir, {});
  if (!rep.set) {
    for (const auto& e : rep.errors)
      std::fprintf(stderr, "%s\n", shown(a.dir, e).c_str());
    std::fprintf(
        stderr, "glasstape: refusing to sign %s: it does not load (run `glasstape policy check`)\n",
        a.dir.c_str());
    return 1;
  }
  std::string text;
  if (!read_key_text(a, text)) return 2;
  pol::SecretKey sk;
  std::string err;
  bool ok = pol::parse_secret_key(text, sk, err);
  std::fill(text.begin(), text.end(), '\0');
  if (!ok) {
    std::fprintf(stderr, "glasstape: %s\n", err.c_str());
    return 2;
  }
  auto s = pol::sign_policy_dir(a.dir, sk);
  std::fill(sk.begin(), sk.end(), 0);
  if (!s.ok) {
    std::fprintf(stderr, "glasstape: %s\n", s.error.c_str());
    return 1;
  }
  std::printf("signed %zu files in %s (%s, %s)\npublic key: %s\n", s.files, a.dir.c_str(),
              pol::kManifestFile, pol::kSignatureFile, s.public_key.c_str());
  return 0;
}

int run_verify(const PolicyArgs& a) {
  pol::PublicKey pk;
  std::string err;
  if (!pol::parse_public_key(a.public_key, pk, err)) {
    std::fprintf(stderr, "glasstape: %s\n", err.c_str());
    return 2;
  }
  PolicyArgs c = a;
  c.require_signed = true;
  return run_check(c);
}

// --- eval: "why was this denied" ------------------------------------------------------------

struct EvalArgs {
  std::string config, policies, tenant, tool, server, args = "{}", principal, now;
  bool json = false;
};

// Prints `msg` and returns 2 (cannot run).
int usage(const std::string& msg) {
  std::fprintf(stderr, "glasstape: policy eval: %s\n", msg.c_str());
  return 2;
}

int run_eval(const EvalArgs& a) {
  if (a.config.empty() == a.policies.empty())
    return usage("give exactly one of --config FILE and --policies DIR");
  nlohmann::json args = nlohmann::json::parse(a.args, nullptr, false);
  if (args.is_discarded() || !args.is_object())
    return usage("--args must be a JSON object, e.g. '{\"path\": \"/tmp/x\"}'");
  pol::SetOptions options;
  fs::path dir = a.policies;
  gov::Principal principal;
  principal.id = "glasstape-agent";
  std::vector<std::string> deny_tools;
  std::string server = a.server;
  std::string tool = a.tool;
  if (server.empty() && tool.find('/') != std::string::npos) {
    server = tool.substr(0, tool.find('/'));
    tool = tool.substr(tool.find('/') + 1);
  }
  if (tool.empty()) return usage("--tool is empty");
  if (!a.config.empty()) {
    try {
      Config c = load_config(a.config);
      const TenantConfig& t = a.tenant.empty() ? c.tenants.front() : c.tenant(a.tenant);
      principal = t.principal;
      if (server.empty() && c.servers.size() == 1) server = c.servers.front().name;
      InterceptorEnv env{c, t, false};
      PolicyInterceptorConfig pc = parse_policy_config(env, t.governance["policies"]);
      if (!pc.enabled) {
        std::printf("tenant `%s` has no governance.policies section: no policy judges its calls\n",
                    t.id.c_str());
        return 0;
      }
      dir = pc.dir;
      options = pc.options;
      if (const auto d = t.governance["deny_tools"]; d && d.IsSequence()) {
        for (const auto& n : d)
          if (n.IsScalar()) deny_tools.push_back(n.Scalar());
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "glasstape: %s\n", e.what());
      return 2;
    }
  }
  if (server.empty()) server = "server";
  if (!a.principal.empty()) {
    nlohmann::json p = nlohmann::json::parse(a.principal, nullptr, false);
    if (p.is_discarded() || !p.is_object())
      return usage(
          "--principal must be a JSON object: {\"id\", \"tenant\", \"roles\", \"attributes\"}");
    for (auto it = p.begin(); it != p.end(); ++it) {
      if (it.key() == "id" && it->is_string()) {
        principal.id = it->get<std::string>();
      } else if (it.key() == "tenant" && it->is_string()) {
        principal.tenant = it->get<std::string>();
      } else if (it.key() == "roles" && it->is_array()) {
        principal.roles.clear();
        for (const auto& r : *it) {
          if (!r.is_string()) return usage("--principal: roles must be strings");
          principal.roles.push_back(r.get<std::string>());
        }
      } else if (it.key() == "attributes" && it->is_object()) {
        principal.attributes = *it;
      } else {
        return usage("--principal: unknown or mistyped field `" + it.key() +
                     "` (id, tenant, roles, attributes)");
      }
    }
  }
  auto now = std::chrono::system_clock::now();
  if (!a.now.empty()) {
    auto t = pol::parse_rfc3339(a.now);
    if (!t) return usage("--now must be an RFC 3339 time, e.g. 2025-01-06T12:00:00Z");
    now = *t;
  }
  std::string qualified = server + "/" + tool;
  if (!a.json)
    std::printf("call: %s by agent `%s` (tenant `%s`) args %s\n", qualified.c_str(),
                principal.id.c_str(), principal.tenant.c_str(), args.dump().c_str());
  // deny_tools comes before policies in the proxy's chain (the schema check too, which
  // needs the server's tools/list and is not run here).
  for (const auto& p : deny_tools) {
    bool hit =
        p.find('/') != std::string::npos ? pol::glob_match(p, qualified) : pol::glob_match(p, tool);
    if (hit) {
      std::printf(
          "decision: deny (GT-DENY-TOOL)\nreason: tool `%s` is disabled by the operator "
          "(deny_tools `%s`)\ndecided by: deny_tools (policies are not consulted)\n",
          tool.c_str(), p.c_str());
      return 1;
    }
  }
  auto rep = pol::load_policy_dir(dir, options);
  if (!rep.set) {
    for (const auto& e : rep.errors)
      std::fprintf(stderr, "%s\n", shown(dir, e).c_str());
    std::fprintf(stderr,
                 "glasstape: the policies in %s do not load: the proxy denies every call "
                 "(GT-POLICY-LOAD)\n",
                 dir.c_str());
    return 2;
  }
  gov::ToolRef ref{server, tool, nlohmann::json::object()};
  pol::EvalOptions eo;
  eo.trace = true;
  auto r = pol::evaluate(pol::Request{principal, ref, args, now}, *rep.set, eo);
  bool allowed = r.effect == pol::Effect::Allow;
  if (a.json) {
    nlohmann::json j = {{"decision", allowed ? "allow" : "deny"},
                        {"code", r.code},
                        {"reason", r.reason},
                        {"policy_id", r.policy_id},
                        {"policy_version", r.policy_version},
                        {"rule_id", r.rule_id},
                        {"policies", r.policies},
                        {"errors", r.errors},
                        {"trace", r.trace}};
    if (r.would_deny) {
      j["would_deny"] = {{"code", r.would_deny_code},
                         {"reason", r.would_deny_reason},
                         {"policy_id", r.would_deny_policy},
                         {"rule_id", r.would_deny_rule}};
    }
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return allowed ? 0 : 1;
  }
  std::printf("decision: %s%s\n", allowed ? "allow" : "deny",
              allowed ? (r.would_deny ? " (monitor mode: would deny)" : "")
                      : (" (" + r.code + ")").c_str());
  std::printf("reason: %s\n", r.reason.c_str());
  if (!r.policy_id.empty()) {
    std::printf("policy: %s%s, rule: %s\n", r.policy_id.c_str(),
                r.policy_version.empty() ? "" : (" v" + r.policy_version).c_str(),
                r.rule_id.empty() ? "-" : r.rule_id.c_str());
  }
  if (r.would_deny) {
    std::printf("would deny: %s (%s), policy %s, rule %s\n", r.would_deny_reason.c_str(),
                r.would_deny_code.c_str(), r.would_deny_policy.c_str(),
                r.would_deny_rule.empty() ? "-" : r.would_deny_rule.c_str());
  }
  for (const auto& c : r.charges) {
    std::printf("limit: counts against `%s` of policy `%s` (%g per %s; not checked here)\n",
                c.limit_id.c_str(), c.policy_id.c_str(), c.max, c.window_text.c_str());
  }
  std::printf("trace:\n");
  for (const auto& step : r.trace)
    std::printf("  %s\n", step.c_str());
  return allowed ? 0 : 1;
}

}  // namespace

void add_policy_commands(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<PolicyArgs>();
  auto* policy =
      app.add_subcommand("policy", "check, test, sign and verify policy directories; eval a call");
  policy->footer(
      "Example:\n  glasstape policy eval --policies policies/ --tool write_file --args "
      "'{\"path\": \"/tmp/x\"}'");
  policy->require_subcommand(1);

  auto* check = policy->add_subcommand("check", "lint and type-check every policy file in DIR");
  check->add_option("dir", args->dir, "policy directory")->required();
  check->add_option("--timezone", args->timezone, "time zone to validate against (default UTC)");
  check->add_flag("--require-signed", args->require_signed, "also verify the signed manifest");
  check->add_option("--max-file-bytes", args->max_file_bytes,
                    "largest policy file read (default 1 MiB, as in the proxy)");
  check->add_option("--public-key", args->public_key,
                    "Ed25519 public key (base64/hex) or key file");
  check->footer("Example:\n  glasstape policy check policies/");
  check->callback([args, &exit_code] { exit_code = run_check(*args); });

  auto* test =
      policy->add_subcommand("test", "run the *_test.yaml cases beside the policies in DIR");
  test->add_option("dir", args->dir, "policy directory")->required();
  test->add_option("--timezone", args->timezone,
                   "default time zone for env (a test file may set its own)");
  test->add_flag("-v,--verbose", args->verbose, "also list passing tests");
  test->add_option("--max-file-bytes", args->max_file_bytes,
                   "largest policy or test file read (default 1 MiB, as in the proxy)");
  test->footer("Example:\n  glasstape policy test policies/ -v");
  test->callback([args, &exit_code] { exit_code = run_test(*args); });

  auto* sign =
      policy->add_subcommand("sign", "write a manifest of DIR's file hashes signed with Ed25519");
  sign->add_option("dir", args->dir, "policy directory")->required();
  sign->add_option("--key", args->key_file,
                   "private key file (base64 seed or secret key); default $GT_ED25519_PRIVATE_KEY");
  sign->footer("Example:\n  glasstape policy sign policies/ --key keys/policy.key");
  sign->callback([args, &exit_code] { exit_code = run_sign(*args); });

  auto* verify =
      policy->add_subcommand("verify", "check DIR's signed manifest and every file against it");
  verify->add_option("dir", args->dir, "policy directory")->required();
  verify
      ->add_option("--public-key", args->public_key, "Ed25519 public key (base64/hex) or key file")
      ->required();
  verify->footer("Example:\n  glasstape policy verify policies/ --public-key keys/policy.pub");
  verify->callback([args, &exit_code] { exit_code = run_verify(*args); });

  auto ea = std::make_shared<EvalArgs>();
  auto* eval = policy->add_subcommand(
      "eval", "judge one call and show why: decision, deciding policy and rule, evaluation trace");
  eval->add_option("-c,--config", ea->config, "config file: its policies, bindings, mode, identity")
      ->check(CLI::ExistingFile);
  eval->add_option("--policies", ea->policies, "policy directory (instead of --config)");
  eval->add_option("--tenant", ea->tenant, "with --config: which tenant (default: the first)");
  eval->add_option("--tool", ea->tool, "tool name, or server/tool")->required();
  eval->add_option("--server", ea->server,
                   "server name (default: the config's only server, else `server`)");
  eval->add_option("--args", ea->args, "the call's arguments, a JSON object (default {})");
  eval->add_option("--principal", ea->principal,
                   "JSON {id, tenant, roles, attributes} (default: the config's identity)");
  eval->add_option("--now", ea->now, "evaluate at this RFC 3339 time (default: now)");
  eval->add_flag("--json", ea->json, "print the result as JSON");
  eval->footer(
      "Example:\n  glasstape policy eval --config glasstape.yaml --tool write_file --args "
      "'{\"path\": \"/etc/passwd\"}'\n\nExit codes: 0 allowed, 1 denied, 2 cannot run.");
  eval->callback([ea, &exit_code] { exit_code = run_eval(*ea); });
}

}  // namespace gt::proxy::cli
