// Where pins live (issue 18): one directory per tenant, two files per server, both pin files
// (pins.hpp) an operator can read, diff and commit:
//
//   <dir>/<server>.pins.json      the approved definitions; GlassTape adds first-seen tools
//                                 here itself (pins: warn | enforce), never changes one
//   <dir>/<server>.pending.json   definitions the server presented that differ from their pin,
//                                 or (pins: approve-new) new tools, waiting for
//                                 `glasstape tools approve`
//
// A server name that is not a safe file name is written as `server-<sha256 prefix>` (the
// same rule as agent key directories). Files are replaced atomically (temp file, rename).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "governance/tools/pins.hpp"

namespace gt::gov::tools {

std::filesystem::path pins_file(const std::filesystem::path& dir, const std::string& server);
std::filesystem::path pending_file(const std::filesystem::path& dir, const std::string& server);

// Reads a pin file; a missing file is an empty set. nullopt with `why` when it cannot be read
// or is not a valid pin file (callers fail closed: nothing is trusted from it).
std::optional<PinSet> load_pins(const std::filesystem::path& file, const std::string& server,
                                std::string& why);
// Writes it (directories made 0700, file 0600). False with `why`.
bool save_pins(const std::filesystem::path& file, const PinSet& pins, std::string& why);

}  // namespace gt::gov::tools
