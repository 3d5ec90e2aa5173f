// The boundary harness of issue 13 ("what is judged is what runs"), shared by the Catch2
// property test (tests/unit/proxy/boundary_property_test.cpp) and the libFuzzer target
// (tests/fuzz/boundary_fuzz.cpp).
//
// It drives one gt::proxy::Session in-process:
//
//   client lines ─► Session ─► Pipeline [deny_tools forbidden_*] [schema] [evil] ─► SpyRecorder
//                      │                                                           (every decision)
//                      └──────────────► SpyServer (every byte the server receives)
//
// The spy server reads what it receives the way a lenient line-based MCP server would
// (a line ends at LF, CR or CRLF; ids compared as JavaScript compares them; a method matched
// however it is spelled) and checks, for each message, the rules of
// /work/notes/boundary-rules.md (README "What is judged is what runs"):
//   - no raw LF or CR byte, no whitespace between tokens (the compact form), strict JSON that
//     nlohmann accepts, no member name repeated in any object (names compared unescaped);
//   - a method is printable ASCII and is not a near miss of a known MCP method;
//   - a message without an id is a notifications/... method; no method with result/error;
//   - a request id is a string or an integer within ±(2^53-1), and no request reuses the id
//     of one the server has not answered yet;
//   - every tools/call has exactly one allow decision recorded for it, with the same id,
//     the same tool and byte-equal raw_arguments (params.arguments, or "{}" when absent),
//     and nothing the chain denies ("evil" anywhere in the arguments, tools named
//     forbidden_*) reaches the server.
// Each broken rule becomes a line in `violations`, tagged with its class.
//
// The traffic comes from gen_message(), driven by a Source: a seeded PRNG in the property
// test, the fuzzer's bytes in the fuzz target (run_fuzz_input()).
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy/interceptors/deny_tools.hpp"
#include "proxy/interceptors/schema_interceptor.hpp"
#include "proxy/pipeline.hpp"
#include "proxy/session.hpp"
#include "proxy/upstream.hpp"

namespace gt::test::boundary {

// ---------------------------------------------------------------- a strict JSON reader

struct NodeMember;

// One value of a JSON text, with its byte span. Object members keep every copy of a
// repeated name, so a check can see what any parser (first wins, last wins) would see.
struct Node {
  enum class Type { Object, Array, String, Number, True, False, Null } type = Type::Null;
  std::size_t begin = 0, end = 0;
  std::string str;  // String: unescaped (a lone surrogate as its 3-byte WTF-8 form)
  std::vector<NodeMember> members;
  std::vector<Node> items;

  std::string_view text(std::string_view doc) const { return doc.substr(begin, end - begin); }
  const Node* member(std::string_view name) const;
};

struct NodeMember {
  std::string name;  // unescaped
  Node value;
};

inline const Node* Node::member(std::string_view name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m.value;
  }
  return nullptr;
}

// RFC 8259, nothing more: no comments, no trailing commas, no control bytes in strings,
// valid UTF-8. Records (does not refuse) repeated names and whitespace between tokens.
class StrictReader {
 public:
  explicit StrictReader(std::string_view s, std::size_t max_depth = 1024)
      : s_(s), max_depth_(max_depth) {}

  std::optional<Node> parse() {
    Node n;
    skip_ws();
    if (!value(n, 0)) return std::nullopt;
    skip_ws();
    if (i_ != s_.size()) return fail("text after the value");
    return n;
  }

  std::string error;
  std::string duplicate;    // the first repeated member name found (unescaped), if any
  bool whitespace = false;  // whitespace outside strings (not the compact form)

 private:
  std::nullopt_t fail(const std::string& why) {
    if (error.empty()) error = why + " at byte " + std::to_string(i_);
    return std::nullopt;
  }
  bool failed(const std::string& why) {
    fail(why);
    return false;
  }
  void skip_ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      whitespace = true;
      ++i_;
    }
  }
  bool literal(std::string_view word, Node::Type t, Node& n) {
    if (s_.substr(i_, word.size()) != word) return failed("bad literal");
    i_ += word.size();
    n.type = t;
    return true;
  }
  bool value(Node& n, std::size_t depth) {
    if (depth > max_depth_) return failed("nested too deep");
    if (i_ >= s_.size()) return failed("unexpected end");
    n.begin = i_;
    bool ok = false;
    switch (s_[i_]) {
      case '{':
        ok = object(n, depth);
        break;
      case '[':
        ok = array(n, depth);
        break;
      case '"':
        n.type = Node::Type::String;
        ok = string(n.str);
        break;
      case 't':
        ok = literal("true", Node::Type::True, n);
        break;
      case 'f':
        ok = literal("false", Node::Type::False, n);
        break;
      case 'n':
        ok = literal("null", Node::Type::Null, n);
        break;
      default:
        n.type = Node::Type::Number;
        ok = number();
    }
    n.end = i_;
    return ok;
  }
  bool object(Node& n, std::size_t depth) {
    n.type = Node::Type::Object;
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    std::unordered_set<std::string> seen;
    for (;;) {
      if (i_ >= s_.size() || s_[i_] != '"') return failed("expected a member name");
      std::string name;
      if (!string(name)) return false;
      if (!seen.insert(name).second && duplicate.empty()) duplicate = name;
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') return failed("expected ':'");
      ++i_;
      skip_ws();
      Node v;
      if (!value(v, depth + 1)) return false;
      n.members.push_back(NodeMember{std::move(name), std::move(v)});
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        skip_ws();
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return true;
      }
      return failed("expected ',' or '}'");
    }
  }
  bool array(Node& n, std::size_t depth) {
    n.type = Node::Type::Array;
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      Node v;
      if (!value(v, depth + 1)) return false;
      n.items.push_back(std::move(v));
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        skip_ws();
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return true;
      }
      return failed("expected ',' or ']'");
    }
  }
  bool digits() {
    std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
      ++i_;
    return i_ > start;
  }
  bool number() {
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (!(i_ < s_.size() && s_[i_] >= '1' && s_[i_] <= '9') || !digits()) {
      return failed("bad number");
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return failed("bad fraction");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return failed("bad exponent");
    }
    return true;
  }
  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool hex4(std::uint32_t& v) {
    if (i_ + 4 > s_.size()) return failed("short \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return failed("bad \\u escape");
      }
    }
    return true;
  }
  // One UTF-8 sequence starting at s_[i_], validated (no overlong forms, no surrogates, at
  // most U+10FFFF), appended as is.
  bool utf8(std::string& out) {
    auto b = static_cast<unsigned char>(s_[i_]);
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2, cp = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3, cp = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return failed("invalid UTF-8");
    }
    if (i_ + len > s_.size()) return failed("truncated UTF-8");
    for (std::size_t k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(s_[i_ + k]);
      if ((c & 0xC0) != 0x80) return failed("invalid UTF-8");
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return failed("invalid UTF-8");
    out.append(s_.substr(i_, len));
    i_ += len;
    return true;
  }
  bool string(std::string& out) {
    ++i_;  // the opening quote
    for (;;) {
      if (i_ >= s_.size()) return failed("unterminated string");
      auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return failed("control byte in a string");
      if (c >= 0x80) {
        if (!utf8(out)) return false;
        continue;
      }
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++i_;
        continue;
      }
      if (++i_ >= s_.size()) return failed("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          std::uint32_t u = 0;
          if (!hex4(u)) return false;
          if (u >= 0xD800 && u <= 0xDBFF && s_.substr(i_, 2) == "\\u") {
            std::size_t save = i_;
            i_ += 2;
            std::uint32_t lo = 0;
            if (!hex4(lo)) return false;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              put_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
              break;
            }
            i_ = save;  // a lone high surrogate, then another escape
          }
          put_utf8(out, u);  // lone surrogates as WTF-8: equal escapes compare equal
          break;
        }
        default:
          return failed("bad escape");
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::size_t max_depth_;
};

// ---------------------------------------------------------------- what the server sees

// Every method of the MCP specification: a spelling equal to one of these but for ASCII case
// is a near miss (kept independent of proxy/admission.cpp on purpose).
inline const std::vector<std::string_view>& known_methods() {
  static const std::vector<std::string_view> m = {
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
      "notifications/initialized",
      "notifications/cancelled",
      "notifications/progress",
      "notifications/message",
      "notifications/roots/list_changed",
      "notifications/resources/updated",
      "notifications/resources/list_changed",
      "notifications/tools/list_changed",
      "notifications/prompts/list_changed",
  };
  return m;
}

inline std::string ascii_lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

// The text of an id as JSON-RPC allows a client to send it (rules, item 3).
inline bool acceptable_id_text(std::string_view t, const Node& n) {
  if (n.type == Node::Type::String) return true;
  if (n.type != Node::Type::Number) return false;
  std::string_view d = t;
  bool neg = !d.empty() && d.front() == '-';
  if (neg) d.remove_prefix(1);
  if (d.empty() || d.size() > 16) return false;
  if (d.size() > 1 && d.front() == '0') return false;
  if (neg && d == "0") return false;
  for (char c : d) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoull(std::string(d)) <= (1ULL << 53) - 1;
}

// How a JavaScript server tells requests apart: numbers by their double value (so 1 and
// 1.0 are one id, and 2^53 and 2^53+1 are one id), strings by their unescaped value.
inline std::string server_key(std::string_view text, const Node& n) {
  if (n.type == Node::Type::String) return "s:" + n.str;
  if (n.type == Node::Type::Number) {
    double d = std::strtod(std::string(text).c_str(), nullptr);
    if (d == 0) d = 0;  // -0 is 0
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    return "n:" + std::string(buf, r.ptr);
  }
  return "x:" + std::string(text);
}

// The id as a JavaScript server writes it back (JSON.stringify of its parsed value).
inline std::string server_id_text(std::string_view text, const Node& n) {
  if (n.type == Node::Type::String) {
    return nlohmann::json(n.str).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (n.type == Node::Type::Number) {
    double d = std::strtod(std::string(text).c_str(), nullptr);
    if (d == 0) return "0";
    if (!std::isfinite(d)) return "null";
    char buf[64];
    if (d == std::floor(d) && std::fabs(d) < 1e21) {
      std::snprintf(buf, sizeof buf, "%.0f", d);
      return buf;
    }
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, r.ptr);
  }
  return std::string(text);
}

inline bool contains_evil(const nlohmann::json& j) {
  if (j.is_string()) return j.get_ref<const std::string&>().find("evil") != std::string::npos;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key().find("evil") != std::string::npos || contains_evil(it.value())) return true;
    }
  }
  if (j.is_array()) {
    for (const auto& v : j) {
      if (contains_evil(v)) return true;
    }
  }
  return false;
}

// Every copy of every member: what any parser of that text could hand the tool.
inline bool contains_evil(const Node& n) {
  if (n.type == Node::Type::String) return n.str.find("evil") != std::string::npos;
  for (const auto& [k, v] : n.members) {
    if (k.find("evil") != std::string::npos || contains_evil(v)) return true;
  }
  for (const auto& v : n.items) {
    if (contains_evil(v)) return true;
  }
  return false;
}

// Same JSON-RPC id, exactly as sent: 1 and 1.0 differ, numbers compare by their text.
inline bool same_id(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) {
    return a.is_number_float() == b.is_number_float() && a.dump() == b.dump();
  }
  return a == b;
}

inline std::string shown(std::string_view s, std::size_t n = 300) {
  std::string r;
  for (unsigned char c : s.substr(0, n)) {
    if (c == '\n') {
      r += "<LF>";
    } else if (c == '\r') {
      r += "<CR>";
    } else if (c < 0x20 || c == 0x7F) {
      char b[8];
      std::snprintf(b, sizeof b, "<%02X>", c);
      r += b;
    } else {
      r.push_back(static_cast<char>(c));
    }
  }
  if (s.size() > n) r += "…";
  return r;
}

// ---------------------------------------------------------------- the harness

struct RecordedDecision {
  proxy::Effect effect = proxy::Effect::Allow;
  nlohmann::json id;
  std::string tool;
  std::string raw_arguments;
  std::string code;
  bool forwarded = false;  // matched with a tools/call the server received
};

// Denies a call whose arguments hold "evil" anywhere (a value or a name), as judged.
class EvilInterceptor : public proxy::Interceptor {
 public:
  std::string_view name() const override { return "evil"; }
  proxy::Verdict on_call(proxy::CallContext& ctx) override {
    if (!contains_evil(ctx.arguments)) return proxy::Verdict::Continue;
    ctx.decision.effect = proxy::Effect::Deny;
    ctx.decision.code = "TEST-EVIL";
    ctx.decision.decided_by = "evil";
    ctx.decision.reason = "the arguments hold `evil`";
    return proxy::Verdict::Deny;
  }
};

class Harness;

class SpyRecorder : public proxy::Recorder {
 public:
  explicit SpyRecorder(Harness& h) : h_(h) {}
  void record_decision(const proxy::CallContext& ctx, std::function<void(Outcome)> done) override;
  void record_result(const proxy::CallContext&, const proxy::Response&) override { ++results; }
  std::size_t results = 0;

 private:
  Harness& h_;
};

class SpyServer : public proxy::Upstream {
 public:
  explicit SpyServer(Harness& h) : h_(h) {}
  void send(std::string_view line) override;
  bool up() const override { return true; }

 private:
  Harness& h_;
};

struct InFlight {
  std::string id_text;  // the id as the server received it
  std::string key;      // server_key()
  std::string answer_id;
  std::string method;
};

class Harness {
 public:
  static constexpr std::string_view kTools =
      R"({"tools":[{"name":"echo","inputSchema":{"type":"object"}},)"
      R"({"name":"run","inputSchema":{"type":"object","properties":{"cmd":{"type":"string"}}}},)"
      R"({"name":"forbidden_tool","inputSchema":{"type":"object"}}]})";

  Harness() : server_(*this) {
    std::vector<std::unique_ptr<proxy::Interceptor>> chain;
    chain.push_back(
        std::make_unique<proxy::DenyToolsInterceptor>(std::vector<std::string>{"forbidden_*"}));
    chain.push_back(std::make_unique<proxy::SchemaInterceptor>(proxy::SchemaInterceptorConfig{}));
    chain.push_back(std::make_unique<EvilInterceptor>());
    auto rec = std::make_unique<SpyRecorder>(*this);
    recorder_ = rec.get();
    auto pipeline = std::make_shared<proxy::Pipeline>(std::move(chain), std::move(rec));
    proxy::SessionOptions o;
    o.session_id = "boundary";
    o.server = "srv";
    o.principal.id = "agent";
    session = std::make_shared<proxy::Session>(
        o, pipeline, server_, [this](std::string_view l) { to_client.emplace_back(l); },
        [](std::function<void()> f) { f(); });
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // The client lists the tools and the server answers, as real clients start; what the
  // client and the server received so far is forgotten.
  void prime() {
    client(R"({"jsonrpc":"2.0","id":"prime","method":"tools/list"})");
    answer_all();
    to_client.clear();
    to_server.clear();
  }

  // ---- operations

  void client(std::string_view line) {
    trace_op("client " + shown(line, 2000));
    ++counts.client_lines;
    auto before = to_client.size();
    session->on_client_line(line);
    for (auto i = before; i < to_client.size(); ++i) {
      auto j = nlohmann::json::parse(to_client[i], nullptr, false);
      if (j.is_object() && j.contains("error") && j["error"].is_object()) {
        auto code = j["error"].value("code", 0);
        if (code == -32600 || code == -32601) ++counts.refused;
      }
    }
    pump();
  }
  // The server answers the k-th request it has not answered yet (k modulo their number).
  void server_answers(std::size_t k) {
    if (in_flight.empty()) return;
    auto it = in_flight.begin() + static_cast<std::ptrdiff_t>(k % in_flight.size());
    InFlight f = std::move(*it);
    in_flight.erase(it);
    std::string result = R"({})";
    if (f.method == "tools/list") {
      result = std::string(kTools);
    } else if (f.method == "tools/call") {
      result = R"({"content":[{"type":"text","text":"ok"}]})";
    } else if (f.method == "initialize") {
      result = R"({"protocolVersion":"2025-06-18","capabilities":{"tools":{}},)"
               R"("serverInfo":{"name":"spy","version":"1"}})";
    }
    std::string line = R"({"jsonrpc":"2.0","id":)" + f.answer_id + R"(,"result":)" + result + "}";
    trace_op("server " + shown(line, 200));
    session->on_server_line(line);
    pump();
  }
  void answer_all() {
    for (int guard = 0; guard < 10000 && !in_flight.empty(); ++guard)
      server_answers(0);
  }
  // The client cancels the k-th request the server has not answered.
  void client_cancels(std::size_t k) {
    if (in_flight.empty()) return;
    const auto& f = in_flight[k % in_flight.size()];
    client(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" +
           f.id_text + R"(,"reason":"changed my mind"}})");
  }
  // The server process dies (requests it held are lost); a new one is on its way.
  void server_down() {
    if (down_) return;
    trace_op("server down");
    down_ = true;
    in_flight.clear();
    session->on_server_down("server `srv` killed by signal 9", true);
  }
  void server_up() {
    if (!down_) return;
    trace_op("server up");
    down_ = false;
    session->on_server_restarted();
    pump();
  }
  void server_tools_changed() {
    trace_op("server tools/list_changed");
    session->on_server_line(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
    pump();
  }
  // The end of a run: the server comes back and answers everything; then no request may be
  // left without an answer.
  void finish() {
    server_up();
    answer_all();
    if (session->pending_requests() != 0) {
      violation("[unanswered] " + std::to_string(session->pending_requests()) +
                " request(s) still pending after the server answered everything it received");
    }
    if (session->calls_deciding() != 0) {
      violation("[unanswered] " + std::to_string(session->calls_deciding()) +
                " tools/call(s) still waiting for a decision at the end");
    }
  }

  // ---- state

  std::shared_ptr<proxy::Session> session;
  std::vector<std::string> to_client;
  std::vector<std::string> to_server;  // every send(), as received
  std::vector<RecordedDecision> decisions;
  std::vector<InFlight> in_flight;  // requests the server received and has not answered
  std::vector<std::string> violations;
  // Answer the proxy's own requests at once (ids it writes as "glasstape:…"; a client's
  // "\u0067lasstape:…" waits like any other request).
  bool auto_answer_own = true;
  struct Counts {
    std::size_t client_lines = 0, calls_forwarded = 0, allowed = 0, denied = 0, refused = 0;
  } counts;

  std::size_t decisions_with(proxy::Effect e) const {
    return static_cast<std::size_t>(std::count_if(decisions.begin(), decisions.end(),
                                                  [e](const auto& d) { return d.effect == e; }));
  }
  nlohmann::json last_client() const {
    return to_client.empty() ? nlohmann::json() : nlohmann::json::parse(to_client.back());
  }
  std::string report(std::size_t max_trace = 60) const {
    std::string r;
    for (const auto& v : violations)
      r += "VIOLATION " + v + "\n";
    std::size_t from = trace_.size() > max_trace ? trace_.size() - max_trace : 0;
    r += "trace (" + std::to_string(trace_.size()) + " ops, last " +
         std::to_string(trace_.size() - from) + "):\n";
    for (std::size_t i = from; i < trace_.size(); ++i)
      r += "  " + trace_[i] + "\n";
    return r;
  }

  // ---- called by the spies

  void violation(std::string v) {
    trace_op("  !! " + v);
    violations.push_back(std::move(v));
  }

  void on_decision(const proxy::CallContext& ctx) {
    RecordedDecision d{ctx.decision.effect, ctx.request_id, ctx.tool, ctx.raw_arguments,
                       ctx.decision.code};
    trace_op(std::string("  decision ") + (d.effect == proxy::Effect::Allow ? "allow " : "deny ") +
             d.id.dump() + " " + d.tool + " " + shown(d.raw_arguments, 200) +
             (d.code.empty() ? "" : " " + d.code));
    // What was judged is the parse of the bytes recorded.
    auto parsed = nlohmann::json::parse(ctx.raw_arguments, nullptr, false);
    if (parsed.is_discarded() || parsed != ctx.arguments) {
      violation("[judged!=recorded] the arguments judged are not the parse of raw_arguments " +
                shown(ctx.raw_arguments, 200));
    }
    if (d.effect == proxy::Effect::Allow) {
      ++counts.allowed;
    } else {
      ++counts.denied;
    }
    decisions.push_back(std::move(d));
  }

  void on_server_bytes(std::string_view bytes) {
    to_server.emplace_back(bytes);
    trace_op("  to server " + shown(bytes, 2000));
    if (bytes.find_first_of("\r\n") == std::string_view::npos) {
      received(bytes);
      return;
    }
    violation("[framing] the server received raw LF/CR bytes inside one message: " + shown(bytes));
    // A line-based server ends a message at LF, CR or CRLF: it reads each line that is a
    // JSON object (or batch) as a message of its own (the other fragments are parse errors).
    std::size_t start = 0;
    for (std::size_t i = 0; i <= bytes.size(); ++i) {
      if (i < bytes.size() && bytes[i] != '\n' && bytes[i] != '\r') continue;
      auto piece = bytes.substr(start, i - start);
      start = i + 1;
      auto root = StrictReader(piece).parse();
      if (root && (root->type == Node::Type::Object || root->type == Node::Type::Array)) {
        received(piece);
      }
    }
  }

 private:
  void trace_op(std::string s) {
    if (trace_.size() < 20000) trace_.push_back(std::move(s));
  }

  void pump() {
    if (!auto_answer_own) return;
    for (int guard = 0; guard < 64; ++guard) {
      auto it = std::find_if(in_flight.begin(), in_flight.end(), [](const InFlight& f) {
        return f.id_text.rfind("\"glasstape:", 0) == 0;
      });
      if (it == in_flight.end()) return;
      server_answers(static_cast<std::size_t>(it - in_flight.begin()));
    }
  }

  // One message as a line-based server reads it.
  void received(std::string_view text) {
    StrictReader r(text);
    auto root = r.parse();
    if (!root) {
      violation("[not-json] the server received text that is not JSON (" + r.error +
                "): " + shown(text));
      return;
    }
    if (!nlohmann::json::accept(text)) {
      violation("[not-json] nlohmann rejects a message the server received: " + shown(text));
    }
    if (!r.duplicate.empty()) {
      violation("[duplicate] the server received an object repeating the name `" +
                shown(r.duplicate, 60) + "`: " + shown(text));
    }
    if (r.whitespace) {
      violation("[not-compact] whitespace between tokens reached the server: " + shown(text));
    }
    if (root->type == Node::Type::Array) {
      for (const auto& item : root->items)
        message(text, item);
    } else {
      message(text, *root);
    }
  }

  void message(std::string_view doc, const Node& m) {
    if (m.type != Node::Type::Object) {
      violation("[invalid] the server received a message that is not an object: " + shown(doc));
      return;
    }
    const Node* method = m.member("method");
    const Node* id = m.member("id");
    if (!method) return;  // the client's answer to a server request
    if (method->type != Node::Type::String) {
      violation("[invalid] the server received a non-string method: " + shown(doc));
      return;
    }
    const std::string& name = method->str;
    bool printable = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return static_cast<unsigned char>(c) >= 0x21 && static_cast<unsigned char>(c) <= 0x7E;
    });
    if (!printable) {
      violation("[method] a method with bytes outside printable ASCII reached the server: `" +
                shown(name, 80) + "`");
    }
    auto folded = ascii_lower(name);
    for (auto known : known_methods()) {
      if (name != known && folded == ascii_lower(known)) {
        violation("[method] the near miss `" + shown(name, 80) + "` of `" + std::string(known) +
                  "` reached the server");
      }
    }
    if (m.member("result") || m.member("error")) {
      violation("[invalid] a message with both method and result/error reached the server: " +
                shown(doc));
    }
    if (!id) {
      if (name.rfind("notifications/", 0) != 0) {
        violation("[notification] `" + shown(name, 80) +
                  "` without an id (a notification) reached the server: " + shown(doc));
      }
      return;
    }
    auto id_text = id->text(doc);
    if (!acceptable_id_text(id_text, *id)) {
      violation("[id] the request id " + shown(id_text, 60) + " reached the server");
    }
    auto key = server_key(id_text, *id);
    for (const auto& f : in_flight) {
      if (f.key == key) {
        violation("[in-flight] the server received id " + shown(id_text, 60) + " (" + name +
                  ") while its request with id " + shown(f.id_text, 60) + " (" + f.method +
                  ") is unanswered");
        break;
      }
    }
    in_flight.push_back(
        InFlight{std::string(id_text), key, server_id_text(id_text, *id), ascii_lower(name)});
    if (name == "tools/call") call(doc, m, *id);
  }

  void call(std::string_view doc, const Node& m, const Node& id) {
    ++counts.calls_forwarded;
    const Node* params = m.member("params");
    const Node* tool = params ? params->member("name") : nullptr;
    if (!params || params->type != Node::Type::Object || !tool ||
        tool->type != Node::Type::String) {
      violation("[unjudged] a tools/call without a string params.name reached the server: " +
                shown(doc));
      return;
    }
    const Node* args = params->member("arguments");
    std::string args_text = args ? std::string(args->text(doc)) : "{}";
    auto id_json = nlohmann::json::parse(id.text(doc), nullptr, false);
    std::vector<RecordedDecision*> same;
    for (auto& d : decisions) {
      if (d.effect == proxy::Effect::Allow && !d.forwarded && same_id(d.id, id_json))
        same.push_back(&d);
    }
    if (same.empty()) {
      violation("[unjudged] the server received tools/call id " + shown(id.text(doc), 60) + " (`" +
                shown(tool->str, 60) + "`) with no allow decision recorded for it: " + shown(doc));
    } else {
      if (same.size() > 1) {
        violation("[in-flight] " + std::to_string(same.size()) +
                  " allow decisions not yet forwarded share the id " + shown(id.text(doc), 60));
      }
      auto match = std::find_if(same.begin(), same.end(), [&](const RecordedDecision* d) {
        return d->tool == tool->str && d->raw_arguments == args_text;
      });
      if (match == same.end()) {
        violation(std::string(args_text == "null" ? "[args-null]" : "[args]") + " tools/call id " +
                  shown(id.text(doc), 60) + ": judged `" + same.front()->tool + "` " +
                  shown(same.front()->raw_arguments, 200) + ", the server received `" +
                  shown(tool->str, 60) + "` " + shown(args_text, 200));
        same.front()->forwarded = true;
      } else {
        (*match)->forwarded = true;
      }
    }
    if ((args && contains_evil(*args)) || tool->str.rfind("forbidden_", 0) == 0) {
      violation("[denied-content] a call the chain denies reached the server: " + shown(doc));
    }
  }

  SpyServer server_;
  SpyRecorder* recorder_ = nullptr;
  std::vector<std::string> trace_;
  bool down_ = false;
};

inline void SpyRecorder::record_decision(const proxy::CallContext& ctx,
                                         std::function<void(Outcome)> done) {
  h_.on_decision(ctx);
  done(Outcome{true, "", "r-" + std::to_string(h_.decisions.size())});
}

inline void SpyServer::send(std::string_view line) {
  h_.on_server_bytes(line);
}

// ---------------------------------------------------------------- traffic

// Where choices come from: a seeded PRNG, or the fuzzer's bytes.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::uint32_t below(std::uint32_t n) = 0;  // in [0, n); 0 when n <= 1
  bool chance(std::uint32_t num, std::uint32_t den) { return below(den) < num; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(static_cast<std::uint32_t>(v.size()))];
  }
};

class RngSource : public Source {
 public:
  explicit RngSource(std::uint64_t seed) : rng_(seed) {}
  std::uint32_t below(std::uint32_t n) override {
    return n <= 1 ? 0 : static_cast<std::uint32_t>(rng_() % n);
  }

 private:
  std::mt19937_64 rng_;
};

// Consumes one byte per choice (two above 256 options); 0 once the bytes run out.
class BytesSource : public Source {
 public:
  explicit BytesSource(std::string_view b) : b_(b) {}
  std::uint32_t below(std::uint32_t n) override {
    if (n <= 1) return 0;
    std::uint32_t v = next();
    if (n > 256) v = (v << 8) | next();
    return v % n;
  }

 private:
  std::uint32_t next() { return pos_ < b_.size() ? static_cast<unsigned char>(b_[pos_++]) : 0; }
  std::string_view b_;
  std::size_t pos_ = 0;
};

// Writes JSON text token by token, with whitespace between tokens as chosen (mode 0: none,
// 1: some, 2: a lot), raw LF and CR among it.
class Writer {
 public:
  Writer(Source& s, int mode) : s_(s), mode_(mode) {}
  void ws() {
    if (mode_ == 0 || !s_.chance(1, mode_ == 1 ? 6 : 2)) return;
    static const std::vector<std::string> kWs = {" ", "\t", "\n", "\r", "\r\n", " \n\t", "\r\r"};
    out += s_.pick(kWs);
  }
  void tok(std::string_view t) { out += t; }
  // A JSON string for `s` (UTF-8), each ASCII character escaped as \u00XX with probability
  // num/den (quotes, backslashes and control characters are always escaped).
  void str(std::string_view s, std::uint32_t num = 0, std::uint32_t den = 1) {
    out.push_back('"');
    for (unsigned char c : s) {
      bool must = c == '"' || c == '\\' || c < 0x20;
      if (c < 0x80 && (must || (num && s_.chance(num, den)))) {
        char b[8];
        std::snprintf(b, sizeof b, s_.chance(1, 2) ? "\\u%04x" : "\\u%04X", c);
        out += b;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('"');
  }
  Source& src() { return s_; }
  std::string out;

 private:
  Source& s_;
  int mode_;
};

using Emit = std::function<void(Writer&)>;
struct Member {
  Emit name;
  Emit value;
};

inline Emit raw(std::string t) {
  return [t = std::move(t)](Writer& w) { w.tok(t); };
}
inline Emit name_of(std::string n, std::uint32_t escape_num = 1, std::uint32_t escape_den = 12) {
  return [n = std::move(n), escape_num, escape_den](Writer& w) {
    w.str(n, w.src().chance(1, 5) ? escape_num : 0, escape_den);
  };
}

inline void emit_object(Writer& w, std::vector<Member> ms) {
  Source& s = w.src();
  if (ms.size() > 1 && s.chance(1, 6)) {  // any member order
    for (std::size_t i = ms.size() - 1; i > 0; --i)
      std::swap(ms[i], ms[s.below(static_cast<std::uint32_t>(i + 1))]);
  }
  w.tok("{");
  w.ws();
  for (std::size_t i = 0; i < ms.size(); ++i) {
    if (i) {
      w.tok(",");
      w.ws();
    }
    ms[i].name(w);
    w.ws();
    w.tok(":");
    w.ws();
    ms[i].value(w);
    w.ws();
  }
  w.tok("}");
}

inline void emit_value(Writer& w, int depth);

inline void emit_args_object(Writer& w, int depth) {
  Source& s = w.src();
  static const std::vector<std::string> kNames = {"a",   "b",       "cmd", "path",
                                                  "x y", "message", "é",   "A"};
  std::vector<Member> ms;
  std::vector<std::string> names;
  auto n = s.below(5);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto nm = s.pick(kNames);
    if (std::find(names.begin(), names.end(), nm) != names.end()) continue;
    names.push_back(nm);
    ms.push_back({name_of(nm), [depth](Writer& w2) { emit_value(w2, depth + 1); }});
  }
  if (!names.empty() && s.chance(1, 8)) {
    // The same name again, maybe escaped differently, one copy "evil": which copy a parser
    // keeps decides what runs.
    auto nm = s.pick(names);
    Member dup{[nm](Writer& w2) { w2.str(nm, 1, 2); },
               raw(s.chance(1, 2) ? "\"evil\"" : "\"harmless\"")};
    if (s.chance(1, 2)) {
      ms.push_back(std::move(dup));
    } else {
      ms.insert(ms.begin(), std::move(dup));
    }
  }
  emit_object(w, std::move(ms));
}

inline void emit_value(Writer& w, int depth) {
  Source& s = w.src();
  static const std::vector<std::string> kStrings = {
      R"("hi")",     R"("evil")",         R"("\u0065vil")", R"("ev\u0069l")",
      R"("EVIL")",   R"("line\nbreak")",  R"("tab\there")", R"("é")",
      R"("\u00e9")", R"("\ud83d\ude00")", R"("quote\"d")",  R"("back\\slash")",
      R"("\/")",     R"("x\r\ny")",       R"("")",          R"("not evil at all")"};
  static const std::vector<std::string> kNumbers = {"0",   "1",     "-5",   "1.0",
                                                    "-0",  "1e400", "1E+2", "12345678901234567890",
                                                    "0.1", "-0.0",  "1e-7", "2.50"};
  auto k = s.below(12);
  if (depth >= 4 && k >= 6 && k <= 8) k = 0;
  switch (k) {
    case 0:
    case 1:
    case 2:
    case 3:
      w.tok(s.pick(kStrings));
      return;
    case 4:
    case 5:
      w.tok(s.pick(kNumbers));
      return;
    case 6:
    case 7:
      emit_args_object(w, depth);
      return;
    case 8: {
      w.tok("[");
      w.ws();
      auto n = s.below(4);
      for (std::uint32_t i = 0; i < n; ++i) {
        if (i) {
          w.tok(",");
          w.ws();
        }
        emit_value(w, depth + 1);
        w.ws();
      }
      w.tok("]");
      return;
    }
    case 9:
      w.tok(s.chance(1, 2) ? "true" : "null");
      return;
    default:
      w.tok(R"("hi")");
  }
}

// A method name: mostly exact, sometimes a near miss, sometimes an exact name escaped.
inline Emit method_text(Source& s, const std::string& m) {
  if (!s.chance(1, 6)) return name_of(m, 1, 16);
  std::string t = m;
  switch (s.below(12)) {
    case 0:  // one letter's case flipped
      for (int tries = 0; tries < 8; ++tries) {
        auto& c = t[s.below(static_cast<std::uint32_t>(t.size()))];
        if (c >= 'a' && c <= 'z') {
          c = static_cast<char>(c - 'a' + 'A');
          break;
        }
      }
      return raw("\"" + t + "\"");
    case 1:
      return raw("\"" + [&] {
        std::string u = t;
        for (auto& c : u) {
          if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
        return u;
      }() + "\"");
    case 2:
      return raw("\" " + t + "\"");
    case 3:
      return raw("\"" + t + " \"");
    case 4:
      return raw("\"" + t + "\\t\"");
    case 5:
      return raw("\"" + t + "\\u0000\"");
    case 6:  // exact after unescaping: must be judged as itself
      return name_of(t, 1, 2);
    case 7: {
      std::string e;
      for (char c : t)
        e += c == '/' ? std::string("\\/") : std::string(1, c);
      return raw("\"" + e + "\"");
    }
    case 8:
      return raw("\"" + t + "\\u00a0\"");
    case 9:
      return raw("\"\\u200b" + t + "\"");
    case 10:
      return raw("\"" + t + "\\n\"");
    default:
      t[0] = static_cast<char>(t[0] - 'a' + 'A');
      return raw("\"" + t + "\"");
  }
}

inline std::string pick_id(Source& s) {
  static const std::vector<std::string> kCommon = {"1", "2", "3",      "4",
                                                   "5", "7", R"("a")", R"("1")"};
  static const std::vector<std::string> kOdd = {"1.0",
                                                "1e0",
                                                "-0",
                                                "0",
                                                "-1",
                                                "10E-1",
                                                "9007199254740991",
                                                "9007199254740992",
                                                "9007199254740993",
                                                "-9007199254740991",
                                                "-9007199254740993",
                                                R"("\u0061")",
                                                R"("glasstape:list:1")",
                                                R"("\u0067lasstape:list:1")",
                                                R"("glasstape:replay:1")",
                                                R"("")",
                                                "null",
                                                "true",
                                                "1.5",
                                                "{}",
                                                "[1]"};
  return s.chance(5, 6) ? s.pick(kCommon) : s.pick(kOdd);
}

inline void emit_message(Writer& w) {
  Source& s = w.src();
  static const std::vector<std::string> kMethods = {"tools/call",
                                                    "tools/call",
                                                    "tools/call",
                                                    "tools/call",
                                                    "tools/call",
                                                    "tools/list",
                                                    "ping",
                                                    "initialize",
                                                    "resources/read",
                                                    "prompts/get",
                                                    "notifications/cancelled",
                                                    "notifications/initialized",
                                                    "notifications/progress",
                                                    "foo/bar"};
  std::vector<Member> ms;
  if (auto j = s.below(24); j == 0) {
    // jsonrpc missing
  } else if (j == 1) {
    ms.push_back({name_of("jsonrpc"), raw(R"("1.0")")});
  } else {
    ms.push_back({name_of("jsonrpc"), raw(R"("2.0")")});
  }
  if (s.chance(1, 20)) {  // the client answering a server request
    ms.push_back({name_of("id"), raw(pick_id(s))});
    ms.push_back({name_of("result"), raw("{}")});
    emit_object(w, std::move(ms));
    return;
  }
  const std::string& method = s.pick(kMethods);
  bool notification = method.rfind("notifications/", 0) == 0;
  ms.push_back({name_of("method"), method_text(s, method)});
  if (notification ? s.chance(1, 8) : !s.chance(1, 8)) {
    ms.push_back({name_of("id"), raw(pick_id(s))});
  }
  if (method == "tools/call") {
    static const std::vector<std::string> kTools = {
        "echo", "echo", "echo", "run", "run", "forbidden_tool", "unknown_x", "Echo", "echo "};
    std::vector<Member> ps;
    auto tool = s.pick(kTools);
    ps.push_back({name_of("name"), [tool](Writer& w2) { w2.str(tool, 1, 4); }});
    switch (s.below(20)) {
      case 0:  // no arguments
        break;
      case 1:
        ps.push_back({name_of("arguments"), raw("null")});
        break;
      case 2:
        ps.push_back({name_of("arguments"), raw(R"(["evil"])")});
        break;
      default:
        ps.push_back({name_of("arguments"), [](Writer& w2) { emit_args_object(w2, 0); }});
    }
    if (s.chance(1, 8)) {
      ps.push_back({name_of("_meta"), [&s](Writer& w2) {
                      emit_object(w2, {{name_of("progressToken"), raw(pick_id(s))}});
                    }});
    }
    if (s.chance(1, 25)) ps.push_back({name_of("name"), raw(R"("forbidden_tool")")});
    ms.push_back({name_of("params"), [ps](Writer& w2) { emit_object(w2, ps); }});
  } else if (method == "notifications/cancelled") {
    auto id = pick_id(s);
    ms.push_back(
        {name_of("params"), [id](Writer& w2) {
           emit_object(w2, {{name_of("requestId"), raw(id)}, {name_of("reason"), raw(R"("x")")}});
         }});
  } else if (method == "initialize") {
    ms.push_back(
        {name_of("params"),
         raw(R"({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}})")});
  } else if (method == "resources/read" || method == "prompts/get") {
    ms.push_back({name_of("params"), [](Writer& w2) { emit_args_object(w2, 1); }});
  }
  if (s.chance(1, 25)) ms.push_back({name_of("result"), raw("{}")});
  if (!ms.empty() && s.chance(1, 16)) {  // a top-level member twice
    auto k = s.below(static_cast<std::uint32_t>(ms.size()));
    ms.push_back({ms[k].name, raw(R"("tools/call")")});
  }
  emit_object(w, std::move(ms));
}

// One client line: a message, sometimes a batch, with whitespace (raw CR/LF among it)
// between tokens in about a third of them.
inline std::string gen_message(Source& s) {
  int mode = s.chance(2, 3) ? 0 : (s.chance(3, 4) ? 1 : 2);
  Writer w(s, mode);
  if (s.chance(1, 3) && mode) w.ws();
  if (s.chance(1, 8)) {
    auto n = s.below(5);
    w.tok("[");
    w.ws();
    for (std::uint32_t i = 0; i < n; ++i) {
      if (i) {
        w.tok(",");
        w.ws();
      }
      emit_message(w);
      w.ws();
    }
    w.tok("]");
  } else {
    emit_message(w);
  }
  if (mode) w.ws();
  return std::move(w.out);
}

// A few byte-level edits (mostly making the line malformed, sometimes not).
inline void mutate_bytes(Source& s, std::string& line) {
  static const std::string kBytes = std::string(" \t\n\r\"\\{}[],:0-e") + '\0' + "\xc3";
  auto edits = 1 + s.below(3);
  for (std::uint32_t e = 0; e < edits && !line.empty(); ++e) {
    auto at = s.below(static_cast<std::uint32_t>(line.size()));
    switch (s.below(3)) {
      case 0:
        line.insert(line.begin() + at, kBytes[s.below(static_cast<std::uint32_t>(kBytes.size()))]);
        break;
      case 1:
        line.erase(at, 1);
        break;
      default: {
        auto len = 1 + s.below(16);
        line.insert(at, line.substr(at, len));
      }
    }
  }
}

// ---------------------------------------------------------------- the fuzz input

// The fuzz input is a list of records separated by 0xFF. A record's first byte picks it:
//   'g' + choice bytes  a generated client line (gen_message over the rest)
//   'c' + bytes         a raw client line
//   'a' + k             the server answers its k-th unanswered request
//   'x' + k             the client cancels the server's k-th unanswered request
//   'd' / 'u'           the server goes down (restarting) / comes back
//   'l'                 the server's tool list changes
// Any other record is a raw client line as a whole (so plain JSON lines work as seeds).
inline void run_fuzz_input(Harness& h, std::string_view in, std::size_t max_records = 64) {
  std::size_t n = 0;
  while (n++ < max_records) {
    auto cut = in.find('\xFF');
    auto rec = in.substr(0, cut);
    auto arg = rec.empty() ? std::string_view() : rec.substr(1);
    std::size_t k = arg.empty() ? 0 : static_cast<unsigned char>(arg[0]);
    switch (rec.empty() ? '\0' : rec[0]) {
      case '\0':
        break;
      case 'g': {
        BytesSource src(arg);
        h.client(gen_message(src));
        break;
      }
      case 'c':
        h.client(arg);
        break;
      case 'a':
        h.server_answers(k);
        break;
      case 'x':
        h.client_cancels(k);
        break;
      case 'd':
        h.server_down();
        break;
      case 'u':
        h.server_up();
        break;
      case 'l':
        h.server_tools_changed();
        break;
      default:
        h.client(rec);
    }
    if (cut == std::string_view::npos) break;
    in.remove_prefix(cut + 1);
  }
  h.finish();
}

}  // namespace gt::test::boundary
