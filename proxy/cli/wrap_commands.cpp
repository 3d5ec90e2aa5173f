// `glasstape wrap`: put every server of an MCP client's configuration behind GlassTape.
//   glasstape wrap FILE --config CFG [--aggregate NAME] [--tenant T] [--write] [--force]
//   glasstape wrap FILE --undo [--write]
// A dry run by default: it prints what it would do to each entry and a diff of the file
// (env and header values shown as ***). --write first copies the file to
// FILE.glasstape-backup-<UTC time> (never over an older backup), then replaces the file
// atomically (a temporary file beside it, renamed), with the file's mode. --undo restores the
// newest backup that still matches the file, else unwraps each entry from its arguments.
// The rewriting itself is proxy/cli/client_config.hpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "governance/audit/fsutil.hpp"
#include "governance/policy/yaml_load.hpp"
#include "proxy/cli/client_config.hpp"
#include "proxy/cli/commands.hpp"
#include "proxy/config.hpp"

namespace gt::proxy::cli {

namespace {

namespace fs = std::filesystem;
namespace fsutil = gov::audit::fsutil;
using clients::ClientError;
using clients::ClientFile;

constexpr std::size_t kMaxClientFileBytes = 16u << 20;
constexpr const char* kBackupInfix = ".glasstape-backup-";

struct WrapArgs {
  std::string file, config, client, glasstape, tenant, aggregate;
  bool write = false, force = false, undo = false;
};

// A failure that ends the command with exit code 2 and one line on stderr.
struct Fail : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string read_file(const fs::path& p) {
  std::string text, why;
  if (!gov::policy::read_text_file(p, kMaxClientFileBytes, text, why))
    throw Fail("cannot read `" + p.string() + "`: " + why);
  return text;
}

ClientFile parse(const std::string& text, const fs::path& p, const std::string& client) {
  std::optional<clients::Shape> forced;
  if (!client.empty()) {
    forced = clients::parse_client(client);
    if (!forced)
      throw Fail("unknown --client `" + client +
                 "` (claude-desktop, cursor, mcp-servers, vscode, vscode-settings)");
  }
  try {
    return clients::parse_client_file(text, forced);
  } catch (const ClientError& e) {
    throw Fail(p.string() + ": " + e.what());
  }
}

// The file itself when FILE is a symlink (a dotfile manager's link stays a link).
fs::path target_of(const std::string& file) {
  std::error_code ec;
  auto t = fs::canonical(file, ec);
  return ec ? fs::path(file) : t;
}

std::string utc_stamp() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// FILE.glasstape-backup-<stamp>[-N], newest last.
std::vector<fs::path> backups_of(const fs::path& file) {
  std::vector<std::pair<std::pair<std::string, long>, fs::path>> found;
  std::string prefix = file.filename().string() + kBackupInfix;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(file.parent_path(), ec)) {
    auto name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    auto rest = name.substr(prefix.size());
    auto dash = rest.find('-');
    long n = dash == std::string::npos ? 0 : std::strtol(rest.c_str() + dash + 1, nullptr, 10);
    found.push_back({{rest.substr(0, dash), n}, e.path()});
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& f : found)
    out.push_back(f.second);
  return out;
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0600;
}

// A new backup, created exclusively: an older one is never overwritten.
fs::path write_backup(const fs::path& file, const std::string& text) {
  std::string base = file.string() + kBackupInfix + utc_stamp();
  for (int n = 1; n < 1000; ++n) {
    fs::path p = n == 1 ? base : base + "-" + std::to_string(n);
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_of(file));
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) throw Fail("cannot write the backup `" + p.string() + "`: " + std::strerror(errno));
    try {
      fsutil::write_all(fd, text, "cannot write the backup `" + p.string() + "`");
      if (::fsync(fd) != 0)
        throw Fail("cannot write the backup `" + p.string() + "`: " + std::strerror(errno));
    } catch (const std::system_error& e) {
      ::close(fd);
      throw Fail(e.what());
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    return p;
  }
  throw Fail("cannot write a backup of `" + file.string() + "`: too many backups");
}

// The file is never half-written: a temporary file beside it, synced, then renamed.
void replace_atomically(const fs::path& file, const std::string& text) {
  try {
    fsutil::atomic_write(file, text, mode_of(file));
  } catch (const std::system_error& e) {
    throw Fail(e.what());
  }
}

void print_notes(const std::vector<clients::EntryNote>& notes) {
  for (const auto& n : notes)
    std::cout << "  " << n.name << ": " << n.note << "\n";
}

// The diff is of the masked texts: env and header values never reach the terminal.
void print_diff(const ClientFile& before, const ClientFile& after, const std::string& label) {
  auto diff = clients::unified_diff(clients::render_masked(before), clients::render_masked(after),
                                    label, label + " (new)");
  std::cout << (diff.empty() ? "no change\n" : diff);
  if (!diff.empty()) std::cout << "(env and header values are shown as ***)\n";
}

std::string self_path() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Fail("cannot find the glasstape binary (/proc/self/exe); give --glasstape PATH");
  return p.string();
}

int run_wrap(const WrapArgs& a) {
  if (!a.undo && a.config.empty())
    throw Fail("--config is required (the glasstape config to run with)");
  fs::path file = target_of(a.file);
  std::string text = read_file(file);
  ClientFile current = parse(text, a.file, a.client);
  std::cout << a.file << ": " << clients::shape_name(current.shape) << ", "
            << current.servers().size() << " entries\n";

  std::string new_text;
  ClientFile after = current;
  bool changed = false;
  bool from_backup = false;  // the backup's bytes, comments and all
  if (a.undo) {
    // The newest backup that differs from the file and matches it (nothing changed but the
    // wrapping); after `wrap` then `wrap --aggregate`, undo steps back one at a time.
    auto backups = backups_of(file);
    std::optional<fs::path> chosen;
    for (auto it = backups.rbegin(); it != backups.rend() && !chosen; ++it) {
      std::string backup_text = read_file(*it);
      if (backup_text == text) continue;
      try {
        auto backup = clients::parse_client_file(backup_text, current.shape);
        if (!clients::backup_matches(current, backup)) continue;
        chosen = *it;
        after = backup;
        new_text = backup_text;
      } catch (const ClientError&) {
      }
    }
    if (chosen) {
      std::cout << "restoring the backup `" << chosen->string() << "`\n";
      from_backup = true;
      changed = true;
    } else {
      if (backups.empty())
        std::cout << "no backup found: unwrapping each entry from its arguments after `--`\n";
      else
        std::cout << "no backup matches the file (it changed since): unwrapping each entry "
                     "from its arguments after `--`\n";
      auto r = clients::unwrap_in_place(current);
      print_notes(r.notes);
      after = r.file;
      changed = r.changed;
      new_text = clients::render(after);
    }
  } else {
    Config cfg = load_config(a.config);
    clients::WrapOptions o;
    o.glasstape = a.glasstape.empty() ? self_path() : fs::absolute(a.glasstape).string();
    o.config = fs::absolute(a.config).lexically_normal().string();
    o.tenant = a.tenant;
    if (!a.tenant.empty()) (void)cfg.tenant(a.tenant);
    if (!a.aggregate.empty()) o.aggregate = a.aggregate;
    for (const auto& s : cfg.servers) {
      o.config_servers.insert(s.name);
      if (!s.url.empty()) o.url_servers.insert(s.name);
    }
    clients::Rewrite r;
    try {
      r = clients::wrap(current, o);
    } catch (const ClientError& e) {
      throw Fail(a.file + ": " + e.what());
    }
    print_notes(r.notes);
    after = r.file;
    changed = r.changed;
    new_text = clients::render(after);
  }

  if (!changed) {
    std::cout << "nothing to change\n";
    return 0;
  }
  print_diff(current, after, a.file);
  bool reformatted = !from_backup && clients::render(current) != text;
  bool drops_comments = current.had_comments && !from_backup;
  if (drops_comments) {
    std::cout << "note: the file has comments (JSONC); they are not kept when it is written\n";
  } else if (reformatted) {
    std::cout << "note: the file is written with " << current.indent
              << (current.indent_char == '\t' ? " tab" : " space")
              << " indentation; its layout otherwise changes beyond the lines above\n";
  }
  if (!a.write) {
    std::cout << "dry run: nothing written; --write writes `" << a.file << "`\n";
    return 0;
  }
  if (drops_comments && !a.force)
    throw Fail(a.file + ": the file has comments, which writing drops; --force writes it anyway");
  if (!a.undo) {
    auto b = write_backup(file, text);
    std::cout << "backup: " << b.string() << "\n";
  }
  replace_atomically(file, new_text);
  std::cout << "wrote " << a.file << "\n";
  return 0;
}

}  // namespace

void add_wrap_commands(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<WrapArgs>();
  auto* wrap = app.add_subcommand(
      "wrap",
      "put the servers of an MCP client's config file (Claude Desktop, Cursor, VS Code) "
      "behind GlassTape; a dry run unless --write");
  wrap->add_option("file", a->file, "the client's config file (JSON or JSONC)")->required();
  wrap->add_option("-c,--config", a->config, "the glasstape config each entry runs with")
      ->check(CLI::ExistingFile);
  wrap->add_option("--client", a->client,
                   "the file's shape: claude-desktop, cursor, mcp-servers, vscode, "
                   "vscode-settings (default: detected)");
  wrap->add_option("--glasstape", a->glasstape,
                   "the glasstape binary the entries run (default: this one)");
  wrap->add_option("--tenant", a->tenant, "tenant every entry runs as");
  wrap->add_option("--aggregate", a->aggregate,
                   "one entry of this name for all the servers (the config must name them)");
  wrap->add_flag("--write", a->write, "write the file (after a backup beside it)");
  wrap->add_flag("--force", a->force, "write a file with comments, which are dropped");
  wrap->add_flag("--undo", a->undo, "restore the entries as they were before wrap");
  wrap->footer(
      "Examples:\n  glasstape wrap ~/.cursor/mcp.json --config ~/.glasstape/glasstape.yaml\n"
      "  glasstape wrap ~/.cursor/mcp.json --config ~/.glasstape/glasstape.yaml --write\n"
      "  glasstape wrap ~/.cursor/mcp.json --undo --write\n\nExit codes: 0 done (or nothing to "
      "do), 2 unreadable file, bad JSON, unknown shape, no servers, bad config.");
  wrap->callback([a, &exit_code] {
    try {
      exit_code = run_wrap(*a);
    } catch (const std::exception& e) {
      std::cerr << "glasstape: wrap: " << e.what() << "\n";
      exit_code = 2;
    }
  });
}

}  // namespace gt::proxy::cli
