#include "governance/tools/pin_store.hpp"

#include <system_error>

#include "governance/audit/fsutil.hpp"
#include "governance/audit/keys.hpp"

namespace gt::gov::tools {

namespace fs = std::filesystem;

namespace {

std::string stem(const std::string& server) {
  // agent_key_dir's rule: the name itself when it is a safe path component, else a hash.
  try {
    auto s = audit::agent_key_dir(server);
    return s.rfind("agent-", 0) == 0 && s != server ? "server-" + s.substr(6) : s;
  } catch (const std::exception&) {
    return "server-invalid";
  }
}

}  // namespace

fs::path pins_file(const fs::path& dir, const std::string& server) {
  return dir / (stem(server) + ".pins.json");
}

fs::path pending_file(const fs::path& dir, const std::string& server) {
  return dir / (stem(server) + ".pending.json");
}

std::optional<PinSet> load_pins(const fs::path& file, const std::string& server, std::string& why) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return PinSet(server);
  auto size = fs::file_size(file, ec);
  if (ec) {
    why = file.string() + ": " + ec.message();
    return std::nullopt;
  }
  if (size > kMaxPinFileBytes) {
    why = file.string() + ": larger than " + std::to_string(kMaxPinFileBytes) + " bytes";
    return std::nullopt;
  }
  std::string text;
  try {
    text = audit::fsutil::read_file(file);
  } catch (const std::exception& e) {
    why = e.what();
    return std::nullopt;
  }
  auto set = PinSet::parse(text, file.string(), why);
  if (set && set->server() != server) {
    why = file.string() + ": pins of server `" + set->server() + "`, not `" + server + "`";
    return std::nullopt;
  }
  return set;
}

bool save_pins(const fs::path& file, const PinSet& pins, std::string& why) {
  try {
    audit::fsutil::make_dirs(file.parent_path(), 0700);
    audit::fsutil::atomic_write(file, pins.to_text(), 0600);
    return true;
  } catch (const std::exception& e) {
    why = std::string("cannot write `") + file.string() + "`: " + e.what();
    return false;
  }
}

}  // namespace gt::gov::tools
