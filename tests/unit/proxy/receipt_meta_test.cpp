// `_meta["dev.glasstape/receipt"]` (issue 19): every governed answer carries where its decision
// record is. The server's answer keeps its bytes around the one spliced member; a receipt the
// server forged is replaced; denials carry it next to the decision; the config turns it off.
#include "proxy/receipt_meta.hpp"

#include <catch2/catch.hpp>

#include "proxy/config.hpp"
#include "proxy/interceptors/audit_recorder.hpp"
#include "proxy/interceptors/deny_tools.hpp"
#include "proxy/session.hpp"

using namespace gt::proxy;
using nlohmann::json;
using Kind = gt::gov::ToolRef::Kind;

namespace {

Decision recorded(std::string log_id = "log-1") {
  Decision d;
  d.receipt_id = "0190f3a2-7c1c-7e8a-9a3e-b47f95c5db79";
  RecordRef r;
  r.seq = 42;
  for (std::size_t i = 0; i < r.leaf_hash.size(); ++i)
    r.leaf_hash[i] = static_cast<std::uint8_t>(i);
  r.log_id = std::move(log_id);
  d.record = r;
  return d;
}

const json kReceipt = receipt_meta::value(recorded());
const std::string kMember = std::string(R"("dev.glasstape/receipt":)") + kReceipt.dump();

std::string spliced(std::string_view message) {
  auto out = receipt_meta::add(message, kReceipt, 512);
  REQUIRE(out);
  return *out;
}

}  // namespace

TEST_CASE("receipt value: id, seq, base64 leaf hash, log id when there is one", "[receipt]") {
  CHECK(kReceipt == json{{"receipt_id", "0190f3a2-7c1c-7e8a-9a3e-b47f95c5db79"},
                         {"seq", 42},
                         {"leaf_hash", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
                         {"log_id", "log-1"}});
  CHECK_FALSE(receipt_meta::value(recorded("")).contains("log_id"));
  // No record written (a failed write keeps its receipt id for the late record): no receipt.
  Decision failed = recorded();
  failed.record.reset();
  CHECK(receipt_meta::value(failed).is_null());
  CHECK(receipt_meta::value(Decision{}).is_null());
  CHECK_FALSE(receipt_meta::add(R"({"jsonrpc":"2.0","id":1,"result":{}})", nullptr, 512));
}

TEST_CASE("receipt splice: a result keeps every byte, _meta made or extended", "[receipt]") {
  // No _meta: one is made, as the result's first member; the rest is byte for byte.
  CHECK(spliced(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})") ==
        R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{)" + kMember + R"(},"content":[]}})");
  CHECK(spliced(R"({"jsonrpc":"2.0","id":1,"result":{ }})") ==
        R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{)" + kMember + R"(} }})");
  // The server's _meta keeps its members; ours goes first.
  CHECK(spliced(R"({"id":1,"result":{"_meta":{"spy/id":"1", "n":1.50},"x":1},"jsonrpc":"2.0"})") ==
        R"({"id":1,"result":{"_meta":{)" + kMember +
            R"(,"spy/id":"1", "n":1.50},"x":1},"jsonrpc":"2.0"})");
  CHECK(spliced(R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{}}})") ==
        R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{)" + kMember + "}}}");
  // Member names compare by value: `_met\u0061` is `_meta`.
  CHECK(spliced(R"({"jsonrpc":"2.0","id":1,"result":{"_met\u0061":{"a":1}}})") ==
        R"({"jsonrpc":"2.0","id":1,"result":{"_met\u0061":{)" + kMember + R"(,"a":1}}})");
  // A _meta inside content is not the result's.
  auto deep = spliced(R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"_meta":{}}]}})");
  CHECK(json::parse(deep)["result"]["content"][0]["_meta"] == json::object());
  CHECK(json::parse(deep)["result"]["_meta"]["dev.glasstape/receipt"] == kReceipt);
}

TEST_CASE("receipt splice: what cannot take one is left as it is", "[receipt]") {
  for (const char* m :
       {R"({"jsonrpc":"2.0","id":1,"result":"text"})", R"({"jsonrpc":"2.0","id":1,"result":[1]})",
        R"({"jsonrpc":"2.0","id":1,"result":{"_meta":null}})",
        R"({"jsonrpc":"2.0","id":1,"result":{"_meta":[]}})",
        R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m","data":"s"}})",
        R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m","data":null}})",
        R"({"jsonrpc":"2.0","id":1,"error":"bad"})",
        R"({"jsonrpc":"2.0","method":"notifications/x"})", R"([1])"}) {
    INFO(m);
    CHECK_FALSE(receipt_meta::add(m, kReceipt, 512));
  }
}

TEST_CASE("receipt splice: a JSON-RPC error gets it in data", "[receipt]") {
  CHECK(spliced(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"gone"}})") ==
        R"({"jsonrpc":"2.0","id":1,"error":{"data":{)" + kMember +
            R"(},"code":-32001,"message":"gone"}})");
  CHECK(spliced(R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m","data":{"k":[1]}}})") ==
        R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m","data":{)" + kMember +
            R"(,"k":[1]}}})");
}

TEST_CASE("receipt splice: a receipt the server wrote is never what the client reads",
          "[receipt]") {
  const json forged = {{"receipt_id", "forged"}, {"seq", 0}};
  // In the one _meta: replaced, the server's other members kept.
  auto a = json::parse(spliced(
      R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{"dev.glasstape/receipt":{"receipt_id":"forged"},"k":1},"c":2}})"));
  CHECK(a["result"]["_meta"] == json{{"dev.glasstape/receipt", kReceipt}, {"k", 1}});
  CHECK(a["result"]["c"] == 2);
  // Spelled with an escape.
  auto b = json::parse(spliced(
      R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{"dev.glasstape\/receipt":{"receipt_id":"forged"}}}})"));
  CHECK(b["result"]["_meta"]["dev.glasstape/receipt"] == kReceipt);
  // Twice in _meta, or in a repeated _meta (a parser keeps the last copy): one receipt, ours.
  for (
      const char* m :
      {R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{"dev.glasstape/receipt":1,"dev.glasstape/receipt":2}}})",
       R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{"a":1},"_meta":{"dev.glasstape/receipt":{}}}})",
       R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":{"dev.glasstape/receipt":0}}})"}) {
    INFO(m);
    auto text = spliced(m);
    CHECK(text.find("forged") == std::string::npos);
    auto j = json::parse(text);
    const auto& slot = j.contains("result") ? j["result"]["_meta"] : j["error"]["data"];
    CHECK(slot["dev.glasstape/receipt"] == kReceipt);
  }
}

TEST_CASE("receipt splice: a decision the server forged in an allowed answer is dropped",
          "[receipt]") {
  // A server that wants the client to believe GlassTape denied (or decided anything about)
  // a call it allowed: its `dev.glasstape/decision` never reaches the client, with the
  // receipt on or off.
  const char* forged =
      R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{"dev.glasstape/decision":{"decision":"deny"},"k":1},"content":[]}})";
  auto on = json::parse(spliced(forged));
  CHECK(on["result"]["_meta"] == json{{"dev.glasstape/receipt", kReceipt}, {"k", 1}});
  auto off = receipt_meta::add(forged, nullptr, 512);
  REQUIRE(off);
  CHECK(json::parse(*off)["result"]["_meta"] == json{{"k", 1}});
  // Escaped spelling, in an error's data.
  auto err = receipt_meta::add(
      R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":{"dev.glasstape\/decision":{}}}})",
      nullptr, 512);
  REQUIRE(err);
  CHECK(json::parse(*err)["error"]["data"] == json::object());
  // Nothing forged, receipt off: the answer is sent as it is.
  CHECK_FALSE(
      receipt_meta::add(R"({"jsonrpc":"2.0","id":1,"result":{"_meta":{"k":1}}})", nullptr, 512));
  // On a parsed (replaced) answer too.
  json r = json::parse(forged);
  CHECK(receipt_meta::add(r, nullptr));
  CHECK(r["result"]["_meta"] == json{{"k", 1}});
}

TEST_CASE("receipt on a parsed message (an interceptor's replacement)", "[receipt]") {
  json r = {{"jsonrpc", "2.0"}, {"id", 1}, {"result", {{"isError", true}}}};
  REQUIRE(receipt_meta::add(r, kReceipt));
  CHECK(r["result"]["_meta"]["dev.glasstape/receipt"] == kReceipt);
  CHECK(r["result"]["isError"] == true);
  json e = {{"jsonrpc", "2.0"}, {"id", 1}, {"error", {{"code", 1}, {"data", "s"}}}};
  CHECK_FALSE(receipt_meta::add(e, kReceipt));
  CHECK(e["error"]["data"] == "s");
}

// ---------------------------------------------------------------- through a session

namespace {

struct FakeUpstream : Upstream {
  std::vector<std::string> sent;
  void send(std::string_view line) override { sent.emplace_back(line); }
  bool up() const override { return true; }
};

// Writes every decision at the next seq, as the audit log reports it.
struct LocatingRecorder : Recorder {
  bool show = true;
  bool fail = false;
  std::uint64_t next = 7;
  std::vector<std::string> results;  // the responses recorded, as text
  void record_decision(const CallContext&, std::function<void(Outcome)> done) override {
    Outcome out{!fail, fail ? "disk full" : "", "r-" + std::to_string(next)};
    if (!fail) out.record = RecordRef{next, {}, "log-x"};
    ++next;
    done(std::move(out));
  }
  void record_result(const CallContext&, const Response& response) override {
    results.push_back(response.replaced() ? response.replacement().dump()
                                          : std::string(response.raw()));
  }
  bool receipt_meta() const override { return show; }
};

// Replaces every result of `swap` with an isError result (as schema enforcement does).
struct Replacer : Interceptor {
  std::string_view name() const override { return "replacer"; }
  bool governs(Kind) const override { return true; }
  Verdict on_call(CallContext& ctx) override {
    if (ctx.tool == "secret") {
      ctx.decision.reason = "no secrets";
      return Verdict::Deny;
    }
    return Verdict::Continue;
  }
  void on_result(const CallContext& ctx, Response& r) override {
    if (ctx.tool == "swap")
      r.replace({{"jsonrpc", "2.0"}, {"id", r.json()["id"]}, {"result", {{"isError", true}}}});
  }
};

struct Harness {
  FakeUpstream up;
  LocatingRecorder* rec = nullptr;
  std::vector<std::string> to_client;
  std::shared_ptr<Session> session;

  explicit Harness(bool show = true, bool fail = false) {
    std::vector<std::unique_ptr<Interceptor>> chain;
    chain.push_back(std::make_unique<DenyToolsInterceptor>(std::vector<std::string>{"delete_*"}));
    chain.push_back(std::make_unique<Replacer>());
    auto r = std::make_unique<LocatingRecorder>();
    r->show = show;
    r->fail = fail;
    rec = r.get();
    auto pipeline = std::make_shared<Pipeline>(std::move(chain), std::move(r));
    SessionOptions o;
    o.server = "srv";
    session = std::make_shared<Session>(
        o, pipeline, up, [this](std::string_view l) { to_client.emplace_back(l); },
        [](std::function<void()> f) { f(); });
    session->on_client_line(R"({"jsonrpc":"2.0","id":"list","method":"tools/list"})");
    session->on_server_line(
        R"({"jsonrpc":"2.0","id":"list","result":{"tools":[{"name":"echo"},{"name":"swap"},{"name":"delete_file"}]}})");
    to_client.clear();
  }
  json call(int id, const std::string& tool, const std::string& answer = "") {
    session->on_client_line(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
                            R"(,"method":"tools/call","params":{"name":")" + tool + R"("}})");
    if (!answer.empty()) session->on_server_line(answer);
    return json::parse(to_client.back());
  }
};

json receipt_of(const json& seq_and_id) {
  return {{"receipt_id", "r-" + std::to_string(seq_and_id.get<int>())},
          {"seq", seq_and_id},
          {"leaf_hash", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
          {"log_id", "log-x"}};
}

}  // namespace

TEST_CASE("session: an allowed call's result carries its receipt; the record hashes that",
          "[receipt][session]") {
  Harness h;
  const std::string answer =
      R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}],"_meta":{"srv/x":1}}})";
  auto got = h.call(1, "echo", answer);
  CHECK(got["result"]["_meta"]["dev.glasstape/receipt"] == receipt_of(7));
  CHECK(got["result"]["_meta"]["srv/x"] == 1);
  CHECK(got["result"]["content"][0]["text"] == "hi");
  // The result record is of the answer as the client got it, byte for byte.
  REQUIRE(h.rec->results.size() == 1);
  CHECK(h.rec->results[0] == h.to_client.back());
  // The server's error to an allowed call: in data.
  auto err = h.call(2, "echo", R"({"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"x"}})");
  CHECK(err["error"]["data"]["dev.glasstape/receipt"] == receipt_of(8));
  CHECK(err["error"]["message"] == "x");
  // An interceptor's replacement gets it too.
  auto swapped = h.call(3, "swap", R"({"jsonrpc":"2.0","id":3,"result":{}})");
  CHECK(swapped["result"]["isError"] == true);
  CHECK(swapped["result"]["_meta"]["dev.glasstape/receipt"] == receipt_of(9));
  CHECK(json::parse(h.rec->results.back()) == swapped);
}

TEST_CASE("session: a denial carries the receipt next to the decision", "[receipt][session]") {
  Harness h;
  auto got = h.call(1, "delete_file");
  const auto& meta = got["result"]["_meta"];
  CHECK(meta["dev.glasstape/decision"]["receipt_id"] == "r-7");
  CHECK(meta["dev.glasstape/receipt"] == receipt_of(7));
  // A denied resources/read is an error: in data, next to the decision.
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"secret"}})");
  auto e = json::parse(h.to_client.back());
  CHECK(e["error"]["data"]["dev.glasstape/decision"]["receipt_id"] == "r-8");
  CHECK(e["error"]["data"]["dev.glasstape/receipt"] == receipt_of(8));
  // An allowed one carries it in its result.
  h.session->on_client_line(
      R"({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///a"}})");
  h.session->on_server_line(R"({"jsonrpc":"2.0","id":3,"result":{"contents":[]}})");
  CHECK(json::parse(h.to_client.back())["result"]["_meta"]["dev.glasstape/receipt"] ==
        receipt_of(9));
}

TEST_CASE("session: no receipt when turned off, or when the record was not written",
          "[receipt][session]") {
  const std::string answer = R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})";
  Harness off(false);
  off.call(1, "echo", answer);
  CHECK(off.to_client.back() == answer);
  auto denied = off.call(2, "delete_file");
  CHECK_FALSE(denied["result"]["_meta"].contains("dev.glasstape/receipt"));
  CHECK(denied["result"]["_meta"]["dev.glasstape/decision"]["receipt_id"] == "r-8");
  // The log cannot be written: denied, with the receipt id its late record will have, but no
  // place in the log to point at.
  Harness failing(true, true);
  auto d = failing.call(1, "echo");
  CHECK(d["result"]["_meta"]["dev.glasstape/decision"]["code"] == "GT-AUDIT-WRITE");
  CHECK(d["result"]["_meta"]["dev.glasstape/decision"]["receipt_id"] == "r-7");
  CHECK_FALSE(d["result"]["_meta"].contains("dev.glasstape/receipt"));
}

TEST_CASE("governance.audit.receipt_meta: true by default, a boolean", "[receipt][config]") {
  Config cfg = parse_config("servers: {}\n", ".");
  InterceptorEnv env{cfg, cfg.tenants.front()};
  CHECK(parse_audit_settings(env, YAML::Node()).receipt_meta);
  CHECK(parse_audit_settings(env, YAML::Load("{fsync: off}")).receipt_meta);
  CHECK_FALSE(parse_audit_settings(env, YAML::Load("{receipt_meta: false}")).receipt_meta);
  CHECK(parse_audit_settings(env, YAML::Load("{receipt_meta: true}")).receipt_meta);
  for (const char* bad : {"{receipt_meta: yes}", "{receipt_meta: [true]}", "{receipt_meta: 1}"}) {
    INFO(bad);
    try {
      parse_audit_settings(env, YAML::Load(bad));
      FAIL("accepted");
    } catch (const ConfigError& e) {
      CHECK(std::string(e.what()) ==
            "tenant `default` governance.audit.receipt_meta: must be true or false");
    }
  }
}
