// The tool gate (issue 18): what a server says about its tools is checked before a model sees
// it, and a call to a tool whose definition failed the check is denied.
//
//   governance:
//     tools:
//       pins: warn       # off | warn | enforce | approve-new
//       pins_dir: ~/.glasstape/pins/<tenant>   (relative paths: against the config file)
//       scan: log        # off | log | hide | deny
//
// Pins (governance/tools/pins.hpp, files as governance/tools/pin_store.hpp): the first time a
// tool is seen its definition's hash is pinned (warn, enforce; approve-new waits for an
// operator instead). A definition that differs from its pin is, with `warn`, logged and
// recorded; with `enforce` or `approve-new`, also hidden from tools/list and denied
// (GT-TOOL-CHANGED) until `glasstape tools approve` pins it, or the server goes back to the
// pinned definition. Every change is a signed `tool-change` record in the audit log with both
// hashes; its definition waits in the pending file for `glasstape tools diff`.
//
// Scan (governance/tools/description_scan.hpp): findings in a definition are logged and
// recorded (`tool-finding`); `hide` also hides the tool and denies its calls, `deny` keeps it
// listed and denies its calls (GT-TOOL-POISONED). Prompts and resources of prompts/list and
// resources/list are scanned the same way (the record has `entry`: prompt or resource); with
// `hide` or `deny` the gate judges prompts/get and resources/read, and denies those whose latest
// listed entry has findings.
//
// The pin file is read again when it changes on disk (an approval takes effect at the next
// listing, without a restart). With enforce or approve-new, a thread stats the pin files of the
// servers seen once a second; a change tells the pipeline's visibility listener, so clients are
// told to list again (and see an approved tool). A pin file that cannot be read fails closed: with
// enforce or approve-new every tool of that server is denied (GT-TOOL-PINS).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "governance/tools/description_scan.hpp"
#include "governance/tools/pins.hpp"
#include "proxy/config.hpp"
#include "proxy/pipeline.hpp"

namespace gt::proxy {

enum class ScanAction { Off, Log, Hide, Deny };

struct ToolGateSettings {
  gov::tools::PinMode pins = gov::tools::PinMode::Warn;
  std::filesystem::path pins_dir;
  ScanAction scan = ScanAction::Log;
};

// Parses a tenant's `governance.tools` section (undefined/null: defaults). Throws ConfigError.
ToolGateSettings parse_tool_gate_settings(const InterceptorEnv& env, const YAML::Node& section);

class ToolGate : public Interceptor {
 public:
  explicit ToolGate(ToolGateSettings s);
  ~ToolGate() override;
  std::string_view name() const override { return "tools"; }
  void set_visibility_listener(std::function<void()> changed) override;
  void on_tools_listed(std::string_view server, const nlohmann::json& tools) override;
  void on_entries_listed(gov::ToolRef::Kind kind, std::string_view server,
                         const nlohmann::json& entries) override;
  bool governs(gov::ToolRef::Kind kind) const override;
  bool hides_entry(const gov::ToolRef& ref, const gov::Principal& who) const override;
  Verdict on_call(CallContext& ctx) override;
  bool hides(std::string_view server, const std::string& name, const nlohmann::json& tool,
             const gov::Principal& who) const override;
  bool may_hide() const override;
  void take_events(std::vector<nlohmann::json>& out) override;
  const ToolGateSettings& settings() const { return s_; }

 private:
  struct Block {
    std::string code, reason;
    bool hidden = false;
  };
  // Blocks are kept per definition (tool + '\n' + its hash), never per tool name alone: the
  // sessions of one server may each be shown a different definition (one upstream process per
  // HTTP session), and one session's listing of the pinned definition must not lift the block
  // on the changed definition another session holds.
  struct Server {
    bool loaded = false;
    std::string load_error;  // the pin file cannot be trusted
    std::filesystem::file_time_type mtime{};
    gov::tools::PinSet pins;
    gov::tools::PinSet pending;
    bool pending_read = false;
    std::filesystem::file_time_type pending_mtime{};
    std::uintmax_t pending_size = 0;
    std::map<std::string, Block> pin_blocks, scan_blocks;  // by tool + '\n' + hash
    std::set<std::string> scanned;                         // tool + '\n' + hash
    std::set<std::string> reported;                        // tool + '\n' + hash
    std::map<std::string, std::string> approved;  // tool → hash last seen equal to its pin
    bool saturated = false;  // more blocks than kMaxBlocks: every call of the server is denied
    // Prompts ("p\n" + name) and resources ("r\n" + URI): the hash of the entry last listed
    // (by any session) and its block when it has findings and the scan hides or denies.
    struct Entry {
      std::string hash;
      std::optional<Block> block;
    };
    std::map<std::string, Entry> entries;
  };
  Server& server(const std::string& name);  // loads (or reloads) its pins; mu_ held
  void block(Server& st, std::map<std::string, Block>& blocks, const std::string& key, Block b);
  const Block* find_block(const Server& st, const std::string& tool,
                          const std::string& sha256) const;
  void review_pin(const std::string& server, Server& st, const nlohmann::json& tool,
                  const std::string& name, const std::string& hash, bool& pins_dirty,
                  bool& pending_dirty);
  void review_scan(const std::string& server, Server& st, const nlohmann::json& tool,
                   const std::string& name, const std::string& hash,
                   std::optional<gov::tools::ToolNames>& names);
  void event(nlohmann::json e);
  // The servers whose pin file's time differs from the one the gate last read or wrote.
  std::map<std::string, std::filesystem::file_time_type> changed_pin_files() const;
  void stop_watching();

  ToolGateSettings s_;
  mutable std::mutex mu_;
  std::map<std::string, Server, std::less<>> servers_;
  std::set<std::string> all_names_;  // every tool name seen (other tools for the scan), bounded
  std::vector<nlohmann::json> events_;
  std::mutex listener_mu_;  // held while the listener runs, so replacing it waits for it
  std::function<void()> listener_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stop_ = false;
  std::thread watcher_;
};

std::unique_ptr<Interceptor> make_tool_gate(const InterceptorEnv& env, const YAML::Node& section);

}  // namespace gt::proxy
