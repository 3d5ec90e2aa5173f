// Fuzzes the batch splitter (transport::array_elements): a JSON-RPC batch is cut into the exact
// bytes of each element, which the session then judges and forwards one by one, so a cut in the
// wrong place would judge one message and forward another. For any valid JSON array, raw (as a
// server's HTTP body arrives) or compact (as every client batch is after transport/compact.hpp):
// there are as many elements as the parser sees, each element's bytes parse alone to the same
// value as that element, they appear in order, and in the compact text, joined with commas
// inside brackets, they are the batch byte for byte. The splitter's work is linear: it never
// yields more elements than the input has bytes.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "transport/compact.hpp"
#include "transport/inspect.hpp"
#include "transport/jsonrpc.hpp"

namespace {

constexpr std::size_t kDepth = 64;

void check_split(std::string_view text, bool compact) {
  auto parsed = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array()) return;
  auto elements = gt::transport::array_elements(text);
  if (elements.size() != parsed.size()) std::abort();
  if (elements.size() > text.size()) std::abort();
  // Between the brackets, only whitespace and one comma between two elements: no byte of the
  // batch is left out of an element, or given to two.
  auto gap_ok = [](std::string_view gap, int commas) {
    for (char c : gap) {
      if (c == ',') {
        if (--commas < 0) return false;
      } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        return false;
      }
    }
    return commas == 0;
  };
  const char* last = text.data() + text.find('[') + 1;
  std::string joined = "[";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    auto e = elements[i];
    if (e.data() < last || e.data() + e.size() > text.data() + text.size()) std::abort();
    if (e.empty() || std::isspace(static_cast<unsigned char>(e.front())) ||
        std::isspace(static_cast<unsigned char>(e.back())))
      std::abort();  // an element is its value's bytes, nothing around them
    if (!gap_ok(std::string_view(last, static_cast<std::size_t>(e.data() - last)), i ? 1 : 0))
      std::abort();
    last = e.data() + e.size();
    auto one = nlohmann::json::parse(e.begin(), e.end(), nullptr, false);
    if (one.is_discarded() || one != parsed[i]) std::abort();
    if (i) joined += ',';
    joined.append(e);
  }
  joined += ']';
  const char* end = text.data() + text.rfind(']');
  if (end < last || !gap_ok(std::string_view(last, static_cast<std::size_t>(end - last)), 0))
    std::abort();
  if (compact && joined != text) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Only what the proxy would split: valid JSON within its depth limit.
  if (gt::transport::inspect(in, kDepth).shape != gt::transport::Inspection::Shape::Batch) return 0;
  check_split(in, false);
  std::string out;
  if (!gt::transport::compact(in, out, kDepth)) check_split(out, true);
  return 0;
}
