// Fuzzes the RFC 8785 canonicalizer: for any JSON input, canonicalization either refuses it
// (JcsError) or yields text that parses back to a value whose canonical form is identical.
// The text path (JcsText, simdjson) must agree with the tree path byte for byte whenever
// simdjson accepts the input.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "governance/audit/jcs.hpp"
#include "governance/audit/jcs_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  auto value = nlohmann::json::parse(text, nullptr, false);
  static gt::gov::audit::JcsText jt;
  bool simd = jt.parse(text);
  if (value.is_discarded()) {
    if (simd) std::abort();  // simdjson accepted what nlohmann rejects
    return 0;
  }
  std::string once;
  try {
    once = gt::gov::audit::canonicalize(value);
  } catch (const gt::gov::audit::JcsError&) {
    if (simd) {
      try {
        jt.canonical();
      } catch (const gt::gov::audit::JcsError&) {
        return 0;
      }
      std::abort();  // the text path accepted what the tree path refuses
    }
    return 0;
  }
  if (simd && jt.canonical() != once) std::abort();  // the two paths disagree
  auto again = nlohmann::json::parse(once, nullptr, false);
  if (again.is_discarded()) std::abort();                         // canonical output must be JSON
  if (gt::gov::audit::canonicalize(again) != once) std::abort();  // and a fixed point
  return 0;
}
