// `glasstape run`: wrap one stdio MCP server. (`serve`, the HTTP front, lives here too.)
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <boost/system/system_error.hpp>

#include <spdlog/spdlog.h>

#include "proxy/cli/commands.hpp"
#include "proxy/config.hpp"
#include "proxy/http_front.hpp"
#include "proxy/logging.hpp"
#include "proxy/stdio_front.hpp"

namespace gt::proxy::cli {

namespace {

struct RunArgs {
  std::string config;
  std::string tenant;
  std::string server;
  std::vector<std::string> deny_tools;
  std::size_t max_message_bytes = 0;
  std::string log_level;
  std::string log_format;
  std::string admin_listen;
  bool debug = false;
  std::vector<std::string> command;
};

// --log-format and --admin-listen, shared by run and serve: they override the config.
void apply_common(Config& c, const std::string& log_format, const std::string& admin_listen) {
  if (!log_format.empty()) c.log_format = log_format;
  if (!admin_listen.empty()) c.admin_listen = admin_listen;
}

// The name a `run -- cmd` server gets when the config does not name one: policies match its
// tools as `server/<tool>` (README "glasstape run").
constexpr const char* kDefaultServerName = "server";

Config load_for_run(const RunArgs& a) {
  Config c =
      a.config.empty() ? parse_config("", std::filesystem::current_path()) : load_config(a.config);
  if (!a.command.empty()) {
    // `-- cmd args`: the server to wrap. It takes the place of the config's server of the
    // same name (keeping that server's restart settings), or of its only server.
    std::string name = a.server;
    if (name.empty()) name = c.servers.size() == 1 ? c.servers.front().name : kDefaultServerName;
    ServerConfig s;
    s.name = name;
    for (const auto& existing : c.servers) {
      if (existing.name == name) s = existing;
    }
    s.command = a.command;
    s.url.clear();
    c.servers.clear();
    c.servers.push_back(s);
  }
  if (a.max_message_bytes) c.max_message_bytes = a.max_message_bytes;
  if (!a.log_level.empty()) c.log_level = a.log_level;
  if (a.debug) c.log_level = "debug";
  apply_common(c, a.log_format, a.admin_listen);
  if (!a.deny_tools.empty()) {
    for (auto& t : c.tenants) {
      for (const auto& d : a.deny_tools)
        t.governance["deny_tools"].push_back(d);
    }
  }
  return c;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code);

void add_run_commands(CLI::App& app, int& exit_code) {
  add_serve_command(app, exit_code);
  auto args = std::make_shared<RunArgs>();
  auto* run = app.add_subcommand(
      "run", "wrap a stdio MCP server: glasstape run [options] -- <server command> [args...]");
  run->add_option("-c,--config", args->config, "config file (YAML)")->check(CLI::ExistingFile);
  run->add_option("--tenant", args->tenant, "tenant whose identity, policies and log apply");
  run->add_option("--server", args->server, "which configured server to run");
  // One value per --deny-tool: a repeatable option must not take the words after `--`
  // (`--deny-tool 'write_*' -- npx -y server` is the server command `npx -y server`).
  run->add_option("--deny-tool", args->deny_tools, "deny this tool (name or glob); repeatable")
      ->allow_extra_args(false);
  run->add_option("--max-message-bytes", args->max_message_bytes,
                  "largest JSON-RPC message accepted (default 16 MiB)");
  run->add_option("--log-level", args->log_level, "trace, debug, info, warn, error");
  run->add_option("--log-format", args->log_format, "text (default) or json: one object per line")
      ->check(CLI::IsMember({"text", "json"}));
  run->add_option("--admin-listen", args->admin_listen,
                  "host:port for /healthz, /readyz and /metrics (overrides admin.listen)");
  run->add_flag("--debug", args->debug, "log each evaluation step");
  run->footer(
      "Example:\n  glasstape run --config glasstape.yaml --deny-tool 'write_*' -- npx -y "
      "@modelcontextprotocol/server-filesystem /tmp");
  run->add_option("command", args->command, "the server command, after --");
  run->callback([args, &exit_code]() {
    Config config = load_for_run(*args);
    setup_logging(config.log_level, config.log_format);
    if (!args->command.empty()) {
      const auto& name = config.servers.front().name;
      spdlog::info(
          "server `{}` is the command after `--`{}; policies and deny_tools match its tools as "
          "`{}/<tool>` or `<tool>`",
          name, args->server.empty() && name == kDefaultServerName ? " (default name)" : "", name);
    }
    StdioFrontOptions o{args->tenant, args->command.empty() ? args->server : "", args->debug};
    exit_code = run_stdio_front(config, o);
  });
}

void add_serve_command(CLI::App& app, int& exit_code) {
  struct ServeArgs {
    std::string config, tenant, listen, log_level, log_format, admin_listen;
    bool debug = false;
  };
  auto args = std::make_shared<ServeArgs>();
  auto* serve = app.add_subcommand(
      "serve", "serve MCP over Streamable HTTP in front of the configured servers");
  serve->add_option("-c,--config", args->config, "config file (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  serve->add_option("--tenant", args->tenant, "tenant whose identity, policies and log apply");
  serve->add_option("--listen", args->listen, "host:port (overrides http.listen)");
  serve->add_option("--log-level", args->log_level, "trace, debug, info, warn, error");
  serve->add_option("--log-format", args->log_format, "text (default) or json: one object per line")
      ->check(CLI::IsMember({"text", "json"}));
  serve->add_option("--admin-listen", args->admin_listen,
                    "host:port for /healthz, /readyz and /metrics on a listener of their own "
                    "(overrides admin.listen)");
  serve->add_flag("--debug", args->debug, "log each evaluation step");
  serve->footer(
      "Example:\n  glasstape serve --config glasstape.yaml --listen 127.0.0.1:8080\n\nExit "
      "codes: 0 stopped by a signal, 2 bad config or the address is in use.");
  serve->callback([args, &exit_code]() {
    Config config = load_config(args->config);
    if (!args->log_level.empty()) config.log_level = args->log_level;
    if (args->debug) config.log_level = "debug";
    apply_common(config, args->log_format, args->admin_listen);
    setup_logging(config.log_level, config.log_format);
    try {
      exit_code = run_http_front(config, HttpFrontOptions{args->tenant, args->debug, args->listen});
    } catch (const ListenError& e) {
      // Thrown before the pipeline (and its audit log) is built: nothing was recorded.
      print_fatal(e.what());
      exit_code = 2;
    } catch (const boost::system::system_error& e) {
      // Asio's what() carries its source location; the operator needs the cause.
      print_fatal("serve: " + e.code().message());
      exit_code = 2;
    }
  });
}

}  // namespace gt::proxy::cli
