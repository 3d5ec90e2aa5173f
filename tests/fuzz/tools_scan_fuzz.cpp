// Fuzzes the poisoned-description scan (governance/tools/description_scan.hpp): a server's tool
// definitions are untrusted. The input is scanned as raw text and, when it parses, as a JSON
// definition. Nothing may crash, and: at most kMaxFindings findings are kept; each excerpt is
// printable ASCII of bounded length (it goes to logs and receipts); each offset lies inside the
// raw text when the raw text was scanned.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "governance/tools/description_scan.hpp"

namespace {

using namespace gt::gov::tools;

void check(const ScanReport& r, std::size_t text_size, bool raw) {
  if (r.findings.size() > kMaxFindings) __builtin_trap();
  for (const auto& f : r.findings) {
    if (f.excerpt.size() > 200) __builtin_trap();
    for (char c : f.excerpt)
      if (c < 0x20 || c > 0x7E) __builtin_trap();
    if (raw && f.offset >= text_size) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const std::vector<std::string> others = {"send_email", "read_file", "getWeather"};
  ScanReport raw;
  scan_text(text, "/description", others, raw);
  check(raw, size, true);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_discarded()) check(scan_definition(j, others), size, false);
  return 0;
}
