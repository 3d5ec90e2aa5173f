// Fuzzes SSE framing (transport/sse.hpp): the same bytes fed at once and in chunks whose
// sizes the input chooses must give the same events, retries and oversize reports, and no
// event may carry more data than the limit.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "transport/sse.hpp"

using gt::transport::sse::Event;
using gt::transport::sse::Parser;

namespace {

struct Seen {
  std::vector<std::string> items;  // each callback, flattened
};

Parser make(Seen& s, std::size_t max) {
  Parser::Handlers h;
  h.on_event = [&s, max](Event&& e) {
    if (e.data.size() > max) std::abort();
    s.items.push_back("E" + e.type + '\0' + e.data + '\0' + e.id);
  };
  h.on_retry = [&s](std::chrono::milliseconds ms) {
    s.items.push_back("R" + std::to_string(ms.count()));
  };
  h.on_oversize = [&s, max](std::string_view prefix, std::size_t size) {
    if (size <= max) std::abort();  // reported as too large, yet within the limit
    s.items.push_back("O" + std::string(prefix) + '\0' + std::to_string(size));
  };
  return Parser(h, max);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > 64 * 1024) return 0;
  std::size_t max = 1 + data[0] % 64 * 16;  // 1 to 1009 bytes per event
  std::size_t seed = data[1];
  std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);

  Seen whole, pieces;
  auto a = make(whole, max);
  a.feed(text);
  auto b = make(pieces, max);
  std::size_t i = 0;
  while (i < text.size()) {
    seed = seed * 1103515245 + 12345;
    std::size_t n = 1 + (seed >> 16) % 17;  // chunks of 1 to 17 bytes
    b.feed(text.substr(i, n));
    i += n;
  }
  if (whole.items != pieces.items) std::abort();
  if (a.last_event_id() != b.last_event_id()) std::abort();
  return 0;
}
