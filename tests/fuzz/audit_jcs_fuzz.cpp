// Fuzzes the RFC 8785 canonicalizer: for any JSON input, canonicalization either refuses it
// (JcsError) or yields text that parses back to a value whose canonical form is identical.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "governance/audit/jcs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) return 0;
  std::string once;
  try {
    once = gt::gov::audit::canonicalize(value);
  } catch (const gt::gov::audit::JcsError&) {
    return 0;
  }
  auto again = nlohmann::json::parse(once, nullptr, false);
  if (again.is_discarded()) std::abort();                         // canonical output must be JSON
  if (gt::gov::audit::canonicalize(again) != once) std::abort();  // and a fixed point
  return 0;
}
