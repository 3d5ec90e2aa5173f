// Fuzzes config loading: the shared YAML limits (size, depth, aliases), yaml-cpp, and every
// section parse_config reads. A bad config must be a ConfigError naming what is wrong; any
// other exception, a crash, a stack overflow or runaway memory is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    gt::proxy::Config c = gt::proxy::parse_config(text, "/fuzz");
    for (const auto& t : c.tenants)
      (void)t.governance.IsMap();
  } catch (const gt::proxy::ConfigError& e) {
    if (std::string(e.what()).empty()) __builtin_trap();  // every refusal says why
  } catch (const YAML::Exception&) {
    // yaml-cpp conversions of odd keys (e.g. a mapping used as a key); reported as such by
    // `glasstape` (load errors are caught at the top level).
  }
  return 0;
}
