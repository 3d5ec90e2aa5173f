#include "proxy/admission.hpp"

#include <array>

#include "transport/jsonrpc.hpp"

namespace gt::proxy {

namespace rpc = gt::transport::rpc_error;
using gt::transport::MessageKind;

namespace {

// Every method of the MCP specification (2024-11-05 to 2026-07-28), both directions: a
// client's spelling that matches one of these but for ASCII case is a near miss.
constexpr std::array<std::string_view, 33> kMcpMethods = {
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "server/discover",
    "subscriptions/listen",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/roots/list_changed",
    "notifications/resources/updated",
    "notifications/resources/list_changed",
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/tasks/status",
    "notifications/elicitation/complete",
};

constexpr std::string_view kNotificationPrefix = "notifications/";

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The method as it can be shown in one log line: printable ASCII, the rest escaped.
std::string shown(std::string_view method) {
  std::string s;
  for (unsigned char c : method.substr(0, 80)) {
    if (c >= 0x20 && c < 0x7F) {
      s.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      s += "\\x";
      s.push_back(kHex[c >> 4]);
      s.push_back(kHex[c & 15]);
    }
  }
  if (method.size() > 80) s += "…";
  return s;
}

std::optional<Refusal> check_method(std::string_view method) {
  if (method.empty()) return Refusal{rpc::kMethodNotFound, "Method not found: empty method"};
  for (unsigned char c : method) {
    if (c < 0x21 || c > 0x7E) {
      return Refusal{rpc::kMethodNotFound,
                     "Method not found: `" + shown(method) +
                         "` (a method name is printable ASCII without spaces; methods are "
                         "matched exactly)"};
    }
  }
  // The usual case, an exact MCP method, costs one comparison per method of its length.
  for (auto known : kMcpMethods) {
    if (method == known) return std::nullopt;
  }
  for (auto known : kMcpMethods) {
    if (iequal(method, known)) {
      return Refusal{rpc::kMethodNotFound, "Method not found: `" + std::string(method) +
                                               "` (methods are matched exactly; this is not `" +
                                               std::string(known) + "`)"};
    }
  }
  return std::nullopt;
}

}  // namespace

bool acceptable_request_id(std::string_view text) {
  if (text.empty()) return false;
  if (text.front() == '"') return true;  // a string (validated by inspect())
  std::string_view digits = text;
  const bool negative = digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 16) return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;  // fraction, exponent, null, true…
  }
  if (digits.size() > 1 && digits.front() == '0') return false;
  if (negative && digits == "0") return false;  // -0
  constexpr unsigned long long kMaxSafe = (1ULL << 53) - 1;
  unsigned long long v = 0;
  for (char c : digits)
    v = v * 10 + static_cast<unsigned long long>(c - '0');
  return v <= kMaxSafe;
}

std::optional<Refusal> admit_client_message(const transport::Inspection& ins,
                                            std::string_view compact) {
  switch (ins.kind) {
    case MessageKind::Request: {
      if (auto r = check_method(ins.method)) return r;
      auto id = transport::member_span(compact, {"id"});
      if (!id || !acceptable_request_id(*id)) {
        return Refusal{rpc::kInvalidRequest,
                       "Invalid Request: the id `" + shown(id ? *id : "") +
                           "` is not a string or an integer within ±(2^53-1)"};
      }
      // The proxy's own requests (its tools/list, a replayed initialize) use these ids. By
      // value: "\u0067lasstape:" is the same string.
      if (ins.id.is_string() &&
          std::string_view(ins.id.get_ref<const std::string&>()).substr(0, 10) == "glasstape:") {
        return Refusal{rpc::kInvalidRequest,
                       "Invalid Request: the id `" + shown(*id) +
                           "` is reserved: ids beginning with `glasstape:` are the proxy's own"};
      }
      return std::nullopt;
    }
    case MessageKind::Notification: {
      if (auto r = check_method(ins.method)) return r;
      if (ins.method.substr(0, kNotificationPrefix.size()) != kNotificationPrefix) {
        return Refusal{rpc::kInvalidRequest,
                       "Invalid Request: `" + ins.method +
                           "` was sent without an `id` (as a notification); a request needs an "
                           "id, and it was not forwarded"};
      }
      return std::nullopt;
    }
    case MessageKind::Response:
      return std::nullopt;
    case MessageKind::Invalid:
      break;
  }
  return Refusal{rpc::kInvalidRequest, "Invalid Request: " + ins.error};
}

}  // namespace gt::proxy
