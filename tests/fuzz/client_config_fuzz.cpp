// Fuzzes the client configuration files `glasstape wrap` and `glasstape init` read (Claude
// Desktop, Cursor, VS Code; JSON with comments): a file that cannot be used must be a
// ClientError naming what is wrong, never another exception or a crash. For a usable file:
// wrapping twice changes nothing the second time, unwrapping gives back the servers the client
// would start, and the masked rendering never shows an env or header value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/cli/client_config.hpp"

namespace clients = gt::proxy::clients;

namespace {

void check(const clients::ClientFile& f) {
  (void)clients::render(f);
  const std::string masked = clients::render_masked(f);
  std::vector<clients::EntryNote> skipped;
  const auto before = clients::servers_of(f, skipped);
  for (const auto& s : before) {
    for (const auto* values : {&s.env, &s.headers}) {
      for (const auto& [k, v] : *values) {
        // A distinctive value (long enough not to occur in the JSON by chance) never shows.
        if (v.size() >= 12 && v.find_first_of("\"\\*") == std::string::npos &&
            masked.find("\"" + v + "\"") != std::string::npos)
          __builtin_trap();
      }
    }
  }
  clients::WrapOptions o;
  o.glasstape = "/usr/local/bin/glasstape";
  o.config = "/etc/glasstape/config.yaml";
  auto once = clients::wrap(f, o);
  auto twice = clients::wrap(once.file, o);
  if (twice.changed) __builtin_trap();  // idempotent
  (void)clients::unified_diff(clients::render(f), clients::render(once.file), "a", "b");
  auto back = clients::unwrap_in_place(once.file);
  std::vector<clients::EntryNote> skipped2;
  const auto after = clients::servers_of(back.file, skipped2);
  // Every stdio server comes back as the client started it.
  for (const auto& s : before) {
    if (s.command.empty()) continue;
    bool found = false;
    for (const auto& a : after)
      found = found || (a.name == s.name && a.command == s.command && a.env == s.env);
    if (!found) __builtin_trap();
  }
  (void)clients::backup_matches(once.file, f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check(clients::parse_client_file(text));
  } catch (const clients::ClientError& e) {
    if (std::string(e.what()).empty()) __builtin_trap();  // every refusal says why
  }
  return 0;
}
