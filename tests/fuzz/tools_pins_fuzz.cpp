// Fuzzes the pin file reader (governance/tools/pins.hpp). Nothing may crash, and a file that
// is accepted writes back to text that is accepted again and is a fixed point (the file an
// operator commits is stable), with every pin's hash verified against its definition.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "governance/tools/pins.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using gt::gov::tools::PinSet;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto set = PinSet::parse(text, "fuzz.pins.json", why);
  if (!set) {
    if (why.empty()) __builtin_trap();
    return 0;
  }
  std::string once = set->to_text();
  auto again = PinSet::parse(once, "fuzz.pins.json", why);
  if (!again) __builtin_trap();
  if (again->to_text() != once) __builtin_trap();
  if (again->size() != set->size()) __builtin_trap();
  return 0;
}
