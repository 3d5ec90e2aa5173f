#include "proxy/mrtr_links.hpp"

#include <nlohmann/json.hpp>

#include "governance/audit/sha256.hpp"
#include "transport/jsonrpc.hpp"

namespace gt::proxy {

namespace {

// A JSON string member's value, or nullopt.
std::optional<std::string> string_at(std::string_view json,
                                     std::initializer_list<std::string_view> path) {
  auto span = transport::member_span(json, path);
  if (!span || span->empty() || span->front() != '"') return std::nullopt;
  auto v = nlohmann::json::parse(*span, nullptr, false);
  if (!v.is_string()) return std::nullopt;
  return v.get_ref<const std::string&>();
}

}  // namespace

void MrtrLinks::remember(const CallContext& ctx, std::string_view response,
                         std::chrono::steady_clock::time_point now) {
  if (response.find("input_required") == std::string_view::npos) return;
  if (string_at(response, {"result", "resultType"}) != std::optional<std::string>("input_required"))
    return;
  auto state = string_at(response, {"result", "requestState"});
  const std::string& decided = ctx.decision.receipt_id;
  if (!state || decided.empty()) return;
  Entry e{ctx.retry_of.empty() ? decided : ctx.retry_of, ctx.principal.id, ctx.server, ctx.tool,
          now + kTtl};
  auto key = gov::audit::sha256_hex(*state);
  std::lock_guard lk(mu_);
  evict(now);
  while ((by_state_.size() >= kMaxEntries || order_.size() >= 2 * kMaxEntries) && !order_.empty()) {
    auto it = by_state_.find(order_.front().first);
    if (it != by_state_.end() && it->second.expires == order_.front().second) by_state_.erase(it);
    order_.pop_front();
  }
  by_state_[key] = std::move(e);
  order_.emplace_back(key, now + kTtl);
}

std::string MrtrLinks::link(const CallContext& ctx, std::string_view request_state,
                            std::chrono::steady_clock::time_point now) {
  auto key = gov::audit::sha256_hex(request_state);
  std::lock_guard lk(mu_);
  evict(now);
  auto it = by_state_.find(key);
  if (it == by_state_.end()) return {};
  const Entry& e = it->second;
  // Another principal's, server's or tool's state links nothing (it is still judged in full).
  if (e.principal != ctx.principal.id || e.server != ctx.server || e.tool != ctx.tool) return {};
  return e.root;
}

std::size_t MrtrLinks::size() const {
  std::lock_guard lk(mu_);
  return by_state_.size();
}

void MrtrLinks::evict(std::chrono::steady_clock::time_point now) {
  while (!order_.empty() && order_.front().second <= now) {
    auto it = by_state_.find(order_.front().first);
    // A key remembered again later has a later expiry: only the entry that expired goes.
    if (it != by_state_.end() && it->second.expires <= now) by_state_.erase(it);
    order_.pop_front();
  }
}

}  // namespace gt::proxy
