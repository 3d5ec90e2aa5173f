// `glasstape init`: from "installed" to "governed" for the servers of an MCP client's config.
//   glasstape init FILE [--out DIR] [--client C] [--timeout-ms N] [--force]
// Starts each server of FILE (bounded by --timeout-ms), lists its tools, and writes
//   DIR/glasstape.yaml                        the servers by the client's names, identity,
//                                             policies and audit directories
//   DIR/policies/<server>.read_only.yaml      allows the tools annotated readOnlyHint: true
//   DIR/policies/<server>.read_only_test.yaml each read-only tool allowed, each other denied
// Every other tool is governed by no policy, so it is denied (GT-POLICY-NONE). A server that
// cannot be started or listed gets <server>.deny_all.yaml instead. Nothing is overwritten
// without --force. Env values stay in the client's file: the config never holds them.
#include <sys/stat.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <nlohmann/json.hpp>

#include "governance/audit/fsutil.hpp"
#include "governance/policy/yaml_load.hpp"
#include "proxy/cli/client_config.hpp"
#include "proxy/cli/commands.hpp"
#include "proxy/config.hpp"
#include "proxy/logging.hpp"
#include "proxy/upstream.hpp"

namespace gt::proxy::cli {

namespace {

namespace fs = std::filesystem;
namespace fsutil = gov::audit::fsutil;
using nlohmann::json;

struct InitArgs {
  std::string file, out, client;
  int timeout_ms = 15000;
  bool force = false;
};

struct Fail : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a server said when it was started and asked for its tools.
struct Probe {
  std::string error;  // empty: listed
  json tools = json::array();
};

// initialize → notifications/initialized → tools/list (every page), through the proxy's own
// upstream link (a stdio child, or a url server), bounded by `timeout`.
Probe probe(const clients::ClientServer& s, std::chrono::milliseconds timeout) {
  Probe p;
  boost::asio::io_context io;
  ServerConfig cfg;
  cfg.name = s.name;
  cfg.command = s.command;
  cfg.env = s.env;
  cfg.url = s.url;
  cfg.headers = s.headers;
  cfg.restart_max = 0;
  std::shared_ptr<UpstreamLink> link;
  boost::asio::steady_timer deadline(io, timeout);
  boost::asio::steady_timer stop_deadline(io);
  bool finished = false;
  int next_id = 1;
  auto finish = [&](const std::string& error) {
    if (finished) return;
    finished = true;
    p.error = error;
    deadline.cancel();
    stop_deadline.expires_after(std::chrono::seconds(5));
    stop_deadline.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) io.stop();
    });
    link->shutdown();
  };
  auto request = [&](const char* method, json params) {
    json m = {{"jsonrpc", "2.0"}, {"id", next_id++}, {"method", method}, {"params", params}};
    link->send(m.dump());
  };
  UpstreamEvents ev;
  ev.on_line = [&](std::string_view line) {
    if (finished) return;
    json m = json::parse(line, nullptr, false);
    if (m.is_discarded() || !m.is_object() || m.contains("method") || !m.contains("id")) return;
    if (m.contains("error")) {
      finish("it answered with an error: " + m["error"].value("message", m["error"].dump()));
      return;
    }
    const json& result = m.value("result", json::object());
    if (m["id"] == 1) {
      link->send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
      request("tools/list", json::object());
      return;
    }
    if (result.contains("tools") && result["tools"].is_array()) {
      for (const auto& t : result["tools"])
        p.tools.push_back(t);
    }
    if (result.contains("nextCursor") && result["nextCursor"].is_string() && p.tools.size() < 10000)
      request("tools/list", {{"cursor", result["nextCursor"]}});
    else
      finish("");
  };
  ev.on_down = [&](const std::string& why, bool) { finish("it stopped: " + why); };
  ev.on_stopped = [&] { io.stop(); };
  try {
    link = make_upstream(io.get_executor(), cfg, 16u << 20, std::chrono::milliseconds(1000));
    link->start(ev);
  } catch (const std::exception& e) {
    p.error = std::string("it cannot be started: ") + e.what();
    return p;
  }
  request("initialize", {{"protocolVersion", "2025-06-18"},
                         {"capabilities", json::object()},
                         {"clientInfo", {{"name", "glasstape-init"}, {"version", "0.1.0"}}}});
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) finish("no tool list within " + std::to_string(timeout.count()) + " ms");
  });
  io.run();
  if (!finished) p.error = "it stopped";
  return p;
}

// A YAML double-quoted scalar: JSON's string syntax is valid YAML.
std::string q(const std::string& s) {
  return json(s).dump();
}

// Policy ids and file names: letters, digits, `_-.`; anything else becomes `-`.
std::string slug(const std::string& name) {
  std::string out;
  for (unsigned char c : name)
    out += std::isalnum(c) || c == '_' || c == '-' || c == '.' ? static_cast<char>(c) : '-';
  return out.empty() ? "server" : out;
}

bool read_only(const json& tool) {
  return tool.is_object() && tool.contains("annotations") && tool["annotations"].is_object() &&
         tool["annotations"].value("readOnlyHint", false) == true;
}

struct Planned {
  fs::path path;
  std::string text;
  mode_t mode = 0644;
};

std::string today() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string config_text(const std::string& from, const std::vector<clients::ClientServer>& servers,
                        bool& has_headers) {
  std::ostringstream y;
  y << "# Written by `glasstape init` from " << from << " on " << today() << ".\n"
    << "# The servers are that file's, by the names the client gives them.\n"
    << "#   glasstape wrap FILE --config THIS_FILE --write\n"
    << "# runs each of the client's entries as `glasstape run --config THIS_FILE --server NAME --\n"
    << "# <its command>`: the command and env then come from the client's entry, and policies\n"
    << "# name its tools `NAME/<tool>`. The commands below serve them all from one entry\n"
    << "# (`glasstape wrap FILE --config THIS_FILE --aggregate NAME`) or over HTTP (`glasstape\n"
    << "# serve`). Env values stay in the client's file; they are never copied here.\n"
    << "servers:\n";
  for (const auto& s : servers) {
    y << "  " << q(s.name) << ":\n";
    if (!s.url.empty()) {
      y << "    url: " << q(s.url) << "\n";
      bool client_vars = false;
      for (const auto& [k, v] : s.headers)
        client_vars |= v.find("${") != std::string::npos;
      if (!s.headers.empty() && client_vars) {
        y << "    # headers not copied: they use the client's ${...} variables\n";
      } else if (!s.headers.empty()) {
        has_headers = true;
        y << "    headers:\n";
        for (const auto& [k, v] : s.headers)
          y << "      " << q(k) << ": " << q(v) << "\n";
      }
      continue;
    }
    y << "    command: [";
    for (std::size_t i = 0; i < s.command.size(); ++i)
      y << (i ? ", " : "") << q(s.command[i]);
    y << "]\n";
    if (!s.env.empty()) {
      y << "    # env in the client's entry:";
      for (const auto& [k, v] : s.env)
        y << " " << k;
      y << "\n";
    }
  }
  y << "\n# Who the calls are judged as. The client can never change this.\n"
    << "identity:\n  agent_id: mcp-client\n  roles: [user]\n\n"
    << "governance:\n"
    << "  policies:\n"
    << "    dir: policies          # one starter policy per server; unnamed tools are denied\n"
    << "    state_dir: state\n"
    << "  audit:\n"
    << "    dir: audit             # signed receipts; `glasstape tail --config THIS_FILE`\n";
  return y.str();
}

void plan_policies(const clients::ClientServer& s, const Probe& p, const fs::path& dir,
                   std::vector<Planned>& out, std::ostream& report) {
  std::string id = slug(s.name);
  if (!p.error.empty()) {
    report << "  " << s.name << ": could not list its tools (" << p.error
           << "); every tool denied (policies/" << id << ".deny_all.yaml)\n";
    std::ostringstream pol, test;
    pol << "# Written by `glasstape init`: the server `" << s.name << "` could not be listed ("
        << p.error << ").\n# Every tool is denied until this policy is replaced.\n"
        << "policy_id: " << q(id + ".deny_all") << "\nversion: \"1\"\n"
        << "description: " << q("every tool of " + s.name + " is denied (glasstape init)") << "\n"
        << "tools: [" << q(s.name + "/*") << "]\n"
        << "rules:\n  deny:\n    - id: deny-all\n      condition: \"\"\n"
        << "      reason: " << q("glasstape init could not list the tools of " + s.name) << "\n";
    test << "tests:\n  - name: " << q("every tool of " + s.name + " is denied") << "\n"
         << "    server: " << q(s.name) << "\n    tool: any_tool\n    args: {}\n"
         << "    expect: deny\n    rule: deny-all\n";
    out.push_back({dir / (id + ".deny_all.yaml"), pol.str()});
    out.push_back({dir / (id + ".deny_all_test.yaml"), test.str()});
    return;
  }
  std::vector<std::string> allowed, denied;
  for (const auto& t : p.tools) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) continue;
    (read_only(t) ? allowed : denied).push_back(t["name"].get<std::string>());
  }
  report << "  " << s.name << ": " << p.tools.size() << " tools, " << allowed.size()
         << " read-only allowed";
  for (std::size_t i = 0; i < allowed.size(); ++i)
    report << (i ? ", " : " (") << allowed[i] << (i + 1 == allowed.size() ? ")" : "");
  report << ", " << denied.size() << " denied\n";
  std::ostringstream pol, test;
  test << "# Written by `glasstape init`: what the starter policy allows and denies for `" << s.name
       << "`.\ntests:\n";
  for (const auto& t : allowed)
    test << "  - name: " << q(t + " is read-only: allowed") << "\n    server: " << q(s.name)
         << "\n    tool: " << q(t) << "\n    args: {}\n    expect: allow\n"
         << "    rule: read-only-tool\n";
  for (const auto& t : denied)
    test << "  - name: " << q(t + " is not read-only: denied") << "\n    server: " << q(s.name)
         << "\n    tool: " << q(t)
         << "\n    args: {}\n    expect: deny\n    code: GT-POLICY-NONE\n";
  if (allowed.empty()) {
    // Nothing to allow: the tests alone say that every tool is denied.
    if (denied.empty())
      test << "  - name: " << q(s.name + " lists no tools") << "\n    server: " << q(s.name)
           << "\n    tool: any_tool\n    args: {}\n    expect: deny\n";
    out.push_back({dir / (id + ".read_only_test.yaml"), test.str()});
    return;
  }
  pol << "# Written by `glasstape init`: the tools `" << s.name
      << "` marks read-only (annotations.readOnlyHint).\n# Its other tools are governed by no "
         "policy, so they are denied (GT-POLICY-NONE).\n"
      << "policy_id: " << q(id + ".read_only") << "\nversion: \"1\"\n"
      << "description: " << q("read-only tools of " + s.name + " (glasstape init)") << "\n"
      << "tools:\n";
  for (const auto& t : allowed)
    pol << "  - " << q(s.name + "/" + t) << "\n";
  pol << "rules:\n  allow:\n    - id: read-only-tool\n      condition: \"\"\n"
      << "      reason: the server marks this tool read-only\n";
  out.push_back({dir / (id + ".read_only.yaml"), pol.str()});
  out.push_back({dir / (id + ".read_only_test.yaml"), test.str()});
}

void write_file(const Planned& f) {
  try {
    fsutil::make_dirs(f.path.parent_path(), 0755);
    fsutil::atomic_write(f.path, f.text, f.mode);
  } catch (const std::system_error& e) {
    throw Fail(e.what());
  }
}

int run_init(const InitArgs& a) {
  std::string text, why;
  if (!gov::policy::read_text_file(a.file, 16u << 20, text, why))
    throw Fail("cannot read `" + a.file + "`: " + why);
  std::optional<clients::Shape> forced;
  if (!a.client.empty() && !(forced = clients::parse_client(a.client)))
    throw Fail("unknown --client `" + a.client +
               "` (claude-desktop, cursor, mcp-servers, vscode, vscode-settings)");
  clients::ClientFile cf;
  try {
    cf = clients::parse_client_file(text, forced);
  } catch (const clients::ClientError& e) {
    throw Fail(a.file + ": " + e.what());
  }
  std::vector<clients::EntryNote> skipped;
  auto servers = clients::servers_of(cf, skipped);
  if (servers.empty()) throw Fail(a.file + ": no server to govern (all are behind GlassTape)");

  fs::path out = a.out;
  if (out.empty()) {
    const char* home = std::getenv("HOME");
    out = fs::path(home ? home : ".") / ".glasstape";
  }
  out = fs::absolute(out).lexically_normal();
  fs::path cfg_path = out / "glasstape.yaml";
  fs::path pol_dir = out / "policies";

  // Nothing is started before it is known that nothing would be overwritten.
  auto exists_error = [&](const fs::path& p) {
    return Fail("`" + p.string() + "` exists; --force overwrites it");
  };
  if (!a.force && fs::exists(cfg_path)) throw exists_error(cfg_path);
  for (const auto& s : servers) {
    for (const char* suffix :
         {".read_only.yaml", ".read_only_test.yaml", ".deny_all.yaml", ".deny_all_test.yaml"}) {
      auto p = pol_dir / (slug(s.name) + suffix);
      if (!a.force && fs::exists(p)) throw exists_error(p);
    }
  }

  setup_logging("warn");
  std::cout << a.file << ": " << clients::shape_name(cf.shape) << ", " << servers.size()
            << " servers\n";
  for (const auto& n : skipped)
    std::cout << "  " << n.name << ": " << n.note << "\n";
  std::vector<Planned> files;
  std::ostringstream report;
  for (const auto& s : servers) {
    auto p = probe(s, std::chrono::milliseconds(a.timeout_ms));
    plan_policies(s, p, pol_dir, files, report);
  }
  bool has_headers = false;
  Planned cfg{cfg_path, config_text(fs::absolute(a.file).string(), servers, has_headers)};
  if (has_headers) cfg.mode = 0600;  // it holds a url server's headers
  files.insert(files.begin(), cfg);
  // A file already there that this run would not write again is removed only with --force:
  // a server that now lists read-only tools had a deny_all policy before, say.
  if (a.force) {
    for (const auto& s : servers) {
      for (const char* suffix :
           {".read_only.yaml", ".read_only_test.yaml", ".deny_all.yaml", ".deny_all_test.yaml"}) {
        auto p = pol_dir / (slug(s.name) + suffix);
        bool written = false;
        for (const auto& f : files)
          written |= f.path == p;
        if (!written) fs::remove(p);
      }
    }
  }
  for (const auto& f : files)
    write_file(f);
  std::cout << report.str() << "wrote " << cfg_path.string() << " and " << (files.size() - 1)
            << " files in " << pol_dir.string() << "\n"
            << "next:\n  glasstape policy test " << pol_dir.string() << "\n  glasstape wrap "
            << a.file << " --config " << cfg_path.string() << "            # a dry run\n"
            << "  glasstape wrap " << a.file << " --config " << cfg_path.string() << " --write\n";
  return 0;
}

}  // namespace

void add_init_commands(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<InitArgs>();
  auto* init = app.add_subcommand(
      "init",
      "write a starter config and policy set for the servers of an MCP client's config "
      "file (read-only tools allowed, the rest denied)");
  init->add_option("file", a->file, "the client's config file (JSON or JSONC)")->required();
  init->add_option("--out", a->out,
                   "where to write glasstape.yaml and policies/ (default ~/.glasstape)");
  init->add_option("--client", a->client,
                   "the file's shape: claude-desktop, cursor, mcp-servers, vscode, "
                   "vscode-settings (default: detected)");
  init->add_option("--timeout-ms", a->timeout_ms, "how long each server may take to list its tools")
      ->check(CLI::Range(100, 600000));
  init->add_flag("--force", a->force, "overwrite an existing glasstape.yaml and policy files");
  init->footer(
      "Example:\n  glasstape init ~/.cursor/mcp.json --out ~/.glasstape\n\nExit codes: 0 written, "
      "2 unreadable file, bad JSON, unknown shape, no servers, files exist (without --force).");
  init->callback([a, &exit_code] {
    try {
      exit_code = run_init(*a);
    } catch (const std::exception& e) {
      std::cerr << "glasstape: init: " << e.what() << "\n";
      exit_code = 2;
    }
  });
}

}  // namespace gt::proxy::cli
