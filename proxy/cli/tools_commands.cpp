// Pinned tool definitions from the operator's side (proxy/interceptors/tool_gate.hpp):
//   glasstape tools diff    --config F [--tenant T] [--server S] [tool...]
//       what each waiting definition changes against its pin, one line per JSON Pointer
//   glasstape tools approve --config F [--tenant T] --server S (--all | tool...)
//       pins the waiting definitions; a running proxy picks them up at its next listing
//   glasstape tools pins    --config F [--tenant T] [--server S]
//       what is pinned, with hashes
// The files are the ones the proxy uses (governance/tools/pin_store.hpp); nothing here talks
// to a server.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "governance/tools/pin_store.hpp"
#include "proxy/cli/commands.hpp"
#include "proxy/config.hpp"
#include "proxy/interceptors/tool_gate.hpp"

namespace gt::proxy::cli {

namespace {

namespace tools = gov::tools;

struct ToolsArgs {
  std::string config, tenant, server;
  std::vector<std::string> names;
  bool all = false;
};

struct Loaded {
  Config config;
  ToolGateSettings gate;
  std::vector<std::string> servers;
};

Loaded load(const ToolsArgs& a) {
  Loaded l{load_config(a.config), {}, {}};
  const TenantConfig& t = a.tenant.empty() ? l.config.tenants.front() : l.config.tenant(a.tenant);
  InterceptorEnv env{l.config, t, false};
  l.gate = parse_tool_gate_settings(env, t.governance["tools"]);
  for (const auto& s : l.config.servers) {
    if (a.server.empty() || s.name == a.server) l.servers.push_back(s.name);
  }
  if (l.servers.empty()) throw ConfigError("no server `" + a.server + "` in the config");
  return l;
}

std::optional<tools::PinSet> read(const std::filesystem::path& f, const std::string& server) {
  std::string why;
  auto set = tools::load_pins(f, server, why);
  if (!set) std::cerr << "glasstape: " << why << "\n";
  return set;
}

bool wanted(const ToolsArgs& a, const std::string& tool) {
  if (a.names.empty()) return true;
  for (const auto& n : a.names)
    if (n == tool) return true;
  return false;
}

int run_diff(const ToolsArgs& a) {
  auto l = load(a);
  std::size_t shown = 0;
  for (const auto& server : l.servers) {
    auto pins = read(tools::pins_file(l.gate.pins_dir, server), server);
    auto pending = read(tools::pending_file(l.gate.pins_dir, server), server);
    if (!pins || !pending) return 2;
    // The pending file's tools, each against its pin (the pin file lists them in name order).
    auto doc = nlohmann::json::parse(pending->to_text());
    for (auto it = doc["tools"].begin(); it != doc["tools"].end(); ++it) {
      const std::string& tool = it.key();
      if (!wanted(a, tool)) continue;
      const tools::Pin* now = pending->find(tool);
      const tools::Pin* old = pins->find(tool);
      if (old && old->sha256 == now->sha256) continue;  // approved meanwhile
      ++shown;
      if (!old) {
        std::cout << server << "/" << tool << ": new, not pinned (sha256 " << now->sha256
                  << ", seen " << now->pinned_at << ")\n";
        std::cout << "  " << now->definition.dump().substr(0, 400) << "\n";
        continue;
      }
      std::cout << server << "/" << tool << ": changed (pinned " << old->sha256.substr(0, 12)
                << "… at " << old->pinned_at << ", now " << now->sha256.substr(0, 12) << "… seen "
                << now->pinned_at << ")\n";
      for (const auto& line : tools::diff(old->definition, now->definition))
        std::cout << "  " << line << "\n";
    }
  }
  if (shown == 0) std::cout << "no tool definition waits for approval\n";
  return 0;
}

int run_approve(const ToolsArgs& a) {
  if (a.names.empty() && !a.all) {
    std::cerr << "glasstape: name the tools to approve, or give --all\n";
    return 2;
  }
  auto l = load(a);
  std::size_t approved = 0;
  for (const auto& server : l.servers) {
    auto pins_path = tools::pins_file(l.gate.pins_dir, server);
    auto pending_path = tools::pending_file(l.gate.pins_dir, server);
    auto pins = read(pins_path, server);
    auto pending = read(pending_path, server);
    if (!pins || !pending) return 2;
    auto doc = nlohmann::json::parse(pending->to_text());
    std::vector<std::string> done;
    for (auto it = doc["tools"].begin(); it != doc["tools"].end(); ++it) {
      if (!wanted(a, it.key())) continue;
      const tools::Pin* p = pending->find(it.key());
      // Pins exactly what was seen: the pinned members and their hash, as the proxy saw them.
      nlohmann::json tool = p->definition;
      if (tools::definition_hash(tool) != p->sha256) {
        std::cerr << "glasstape: " << pending_path.string() << ": the definition of `" << it.key()
                  << "` does not match its hash; not approved\n";
        return 2;
      }
      pins->remove(it.key());
      pins->pin(tool, std::chrono::system_clock::now());
      done.push_back(it.key());
      std::cout << "approved " << server << "/" << it.key() << " (sha256 " << p->sha256 << ")\n";
    }
    for (const auto& t : done)
      pending->remove(t);
    std::string why;
    if (!done.empty() && (!tools::save_pins(pins_path, *pins, why) ||
                          !tools::save_pins(pending_path, *pending, why))) {
      std::cerr << "glasstape: " << why << "\n";
      return 2;
    }
    approved += done.size();
  }
  if (approved == 0) {
    std::cerr << "glasstape: nothing to approve"
              << (a.names.empty() ? "" : " (no waiting definition of the named tools)") << "\n";
    return 1;
  }
  return 0;
}

int run_pins(const ToolsArgs& a) {
  auto l = load(a);
  for (const auto& server : l.servers) {
    auto pins = read(tools::pins_file(l.gate.pins_dir, server), server);
    if (!pins) return 2;
    auto doc = nlohmann::json::parse(pins->to_text());
    std::cout << server << ": " << pins->size() << " pinned ("
              << tools::pins_file(l.gate.pins_dir, server).string() << ")\n";
    for (auto it = doc["tools"].begin(); it != doc["tools"].end(); ++it) {
      if (wanted(a, it.key()))
        std::cout << "  " << it.key() << "  " << it.value()["sha256"].get<std::string>() << "  "
                  << it.value()["pinned_at"].get<std::string>() << "\n";
    }
  }
  return 0;
}

}  // namespace

void add_tools_commands(CLI::App& app, int& exit_code) {
  auto* group =
      app.add_subcommand("tools", "Pinned tool definitions: what changed, and approving it");
  group->require_subcommand(1);
  auto add = [&](const char* name, const char* help, int (*fn)(const ToolsArgs&), bool approve) {
    auto args = std::make_shared<ToolsArgs>();
    auto* sub = group->add_subcommand(name, help);
    sub->add_option("-c,--config", args->config, "config file (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--tenant", args->tenant, "tenant whose pins these are (default: the first)");
    auto* server = sub->add_option("--server", args->server, "only this server");
    sub->add_option("tools", args->names, "only these tools");
    if (approve) {
      server->required();
      sub->add_flag("--all", args->all, "approve every waiting definition of the server");
    }
    sub->callback([args, fn, &exit_code] {
      try {
        exit_code = fn(*args);
      } catch (const std::exception& e) {
        std::cerr << "glasstape: " << e.what() << "\n";
        exit_code = 2;
      }
    });
  };
  add("diff", "Show what each definition waiting for approval changes against its pin", run_diff,
      false);
  add("approve", "Pin the waiting definitions of a server's tools (named, or --all)", run_approve,
      true);
  add("pins", "List the pinned tools and their hashes", run_pins, false);
}

}  // namespace gt::proxy::cli
