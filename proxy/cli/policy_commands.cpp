// `glasstape policy check | test | sign | verify`: the operator's tooling for policy
// directories (like `opa check`, `opa test`, `opa sign`).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "governance/audit/trust.hpp"
#include "governance/policy/manifest.hpp"
#include "governance/policy/policy.hpp"
#include "governance/policy/testing.hpp"
#include "governance/policy/timezone.hpp"
#include "proxy/cli/commands.hpp"

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

}  // namespace

void add_policy_commands(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<PolicyArgs>();
  auto* policy = app.add_subcommand("policy", "check, test and sign policy directories");
  policy->require_subcommand(1);

  auto* check = policy->add_subcommand("check", "lint and type-check every policy file in DIR");
  check->add_option("dir", args->dir, "policy directory")->required();
  check->add_option("--timezone", args->timezone, "time zone to validate against (default UTC)");
  check->add_flag("--require-signed", args->require_signed, "also verify the signed manifest");
  check->add_option("--max-file-bytes", args->max_file_bytes,
                    "largest policy file read (default 1 MiB, as in the proxy)");
  check->add_option("--public-key", args->public_key,
                    "Ed25519 public key (base64/hex) or key file");
  check->callback([args, &exit_code] { exit_code = run_check(*args); });

  auto* test =
      policy->add_subcommand("test", "run the *_test.yaml cases beside the policies in DIR");
  test->add_option("dir", args->dir, "policy directory")->required();
  test->add_option("--timezone", args->timezone,
                   "default time zone for env (a test file may set its own)");
  test->add_flag("-v,--verbose", args->verbose, "also list passing tests");
  test->add_option("--max-file-bytes", args->max_file_bytes,
                   "largest policy or test file read (default 1 MiB, as in the proxy)");
  test->callback([args, &exit_code] { exit_code = run_test(*args); });

  auto* sign =
      policy->add_subcommand("sign", "write a manifest of DIR's file hashes signed with Ed25519");
  sign->add_option("dir", args->dir, "policy directory")->required();
  sign->add_option("--key", args->key_file,
                   "private key file (base64 seed or secret key); default $GT_ED25519_PRIVATE_KEY");
  sign->callback([args, &exit_code] { exit_code = run_sign(*args); });

  auto* verify =
      policy->add_subcommand("verify", "check DIR's signed manifest and every file against it");
  verify->add_option("dir", args->dir, "policy directory")->required();
  verify
      ->add_option("--public-key", args->public_key, "Ed25519 public key (base64/hex) or key file")
      ->required();
  verify->callback([args, &exit_code] { exit_code = run_verify(*args); });
}

}  // namespace gt::proxy::cli
