#include "proxy/receipt_meta.hpp"

#include "governance/audit/encoding.hpp"
#include "transport/jsonrpc.hpp"

namespace gt::proxy::receipt_meta {

namespace {

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `text` spliced into the object `span` (a view into `line`) right after its opening brace,
// with a comma when the object has members already.
std::string insert_into_object(std::string_view line, std::string_view span, std::string text) {
  const std::size_t at = static_cast<std::size_t>(span.data() - line.data()) + 1;
  auto rest = span.substr(1);
  auto first = rest.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && rest[first] != '}') text += ',';
  std::string out;
  out.reserve(line.size() + text.size());
  out.append(line.substr(0, at));
  out += text;
  out.append(line.substr(at));
  return out;
}

bool is_object(std::string_view span) {
  return !span.empty() && span.front() == '{';
}

}  // namespace

nlohmann::json value(const Decision& d) {
  if (!d.record || d.receipt_id.empty()) return nullptr;
  nlohmann::json v = {{"receipt_id", d.receipt_id},
                      {"seq", d.record->seq},
                      {"leaf_hash", gov::audit::base64_encode(d.record->leaf_hash.data(),
                                                              d.record->leaf_hash.size())}};
  if (!d.record->log_id.empty()) v["log_id"] = d.record->log_id;
  return v;
}

bool add(nlohmann::json& message, const nlohmann::json& receipt) {
  if (!message.is_object()) return false;
  nlohmann::json* container = nullptr;
  const char* slot_name = nullptr;
  if (auto r = message.find("result"); r != message.end()) {
    container = &*r;
    slot_name = "_meta";
  } else if (auto e = message.find("error"); e != message.end()) {
    container = &*e;
    slot_name = "data";
  }
  if (!container || !container->is_object()) return false;
  auto slot = container->find(slot_name);
  if (slot == container->end()) {
    if (receipt.is_null()) return false;
    (*container)[slot_name] = nlohmann::json::object({{kKey, receipt}});
    return true;
  }
  if (!slot->is_object()) return false;
  // GlassTape's members are GlassTape's to write: a server's copies are dropped, so a client
  // never reads a receipt or a decision the proxy did not make.
  bool changed = slot->erase(kKey) + slot->erase(kDecisionKey) > 0;
  if (receipt.is_null()) return changed;
  (*slot)[kKey] = receipt;
  return true;
}

std::optional<std::string> add(std::string_view message, const nlohmann::json& receipt,
                               std::size_t max_depth) {
  const auto top = transport::peek(message);
  // A repeated `result` or `error` never reaches here (inspect() refuses it); nor both.
  if (!top.object || top.duplicate || (top.result.has_value() == top.error.has_value()))
    return std::nullopt;
  const std::string_view container = top.result ? *top.result : *top.error;
  const char* slot_name = top.result ? "_meta" : "data";
  if (!is_object(container)) return std::nullopt;
  bool rewrite = !transport::unique_members(container, {slot_name});
  std::optional<std::string_view> slot;
  if (!rewrite) {
    slot = transport::member_span(container, {slot_name});
    if (slot && !is_object(*slot)) return std::nullopt;
    rewrite = slot && (transport::member_span(*slot, {kKey}).has_value() ||
                       transport::member_span(*slot, {kDecisionKey}).has_value());
  }
  if (receipt.is_null() && !rewrite) return std::nullopt;
  if (rewrite) {
    // Rare, and only from a server that should not do it: parsed and written out again.
    auto parsed = transport::parse(message, nullptr, max_depth);
    if (!add(parsed, receipt)) return std::nullopt;
    return dump(parsed);
  }
  std::string member = "\"" + std::string(kKey) + "\":" + dump(receipt);
  if (slot) return insert_into_object(message, *slot, std::move(member));
  return insert_into_object(message, container,
                            "\"" + std::string(slot_name) + "\":{" + member + "}");
}

}  // namespace gt::proxy::receipt_meta
