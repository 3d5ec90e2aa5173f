// MCP 2026-07-28 multi-round-trip requests (MRTR): a tools/call may end with
// `resultType: "input_required"` and an opaque `requestState`; the client then sends a new
// tools/call with the same name and arguments, the answers (`inputResponses`) and that exact
// `requestState`. Each retry is judged and recorded in full, like any call; this table only
// lets its record name the first decision of the exchange (`retry_of`), so an operator can
// follow one user-visible call across its rounds.
//
// Links never change a verdict. A retry is linked only when its requestState is one this
// table saw in an input_required result of the same principal, server and tool; a retry
// without requestState (the server sent only inputRequests) is not linked. The state itself is
// never kept: only its SHA-256.
//
// Bounded: at most kMaxEntries links, each forgotten after kTtl or when the table is full
// (oldest first). Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/pipeline.hpp"

namespace gt::proxy {

class MrtrLinks {
 public:
  static constexpr std::size_t kMaxEntries = 4096;
  static constexpr std::chrono::minutes kTtl{10};

  // The response to an allowed call (as the client gets it): an input_required result with a
  // string requestState is remembered under the call's first decision.
  void remember(const CallContext& ctx, std::string_view response,
                std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  // The first decision a call with this requestState (its string value) continues, or "".
  std::string link(const CallContext& ctx, std::string_view request_state,
                   std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  std::size_t size() const;

 private:
  struct Entry {
    std::string root;  // receipt id of the exchange's first decision
    std::string principal, server, tool;
    std::chrono::steady_clock::time_point expires;
  };
  void evict(std::chrono::steady_clock::time_point now);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> by_state_;  // by SHA-256 (hex) of the state
  std::deque<std::pair<std::string, std::chrono::steady_clock::time_point>> order_;
};

}  // namespace gt::proxy
