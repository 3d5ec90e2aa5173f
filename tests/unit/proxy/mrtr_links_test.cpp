// Linking an MCP 2026-07-28 retry to the first decision of its exchange (proxy/mrtr_links.hpp).
#include "proxy/mrtr_links.hpp"

#include <catch2/catch.hpp>

using gt::proxy::CallContext;
using gt::proxy::MrtrLinks;

namespace {

CallContext call(std::string receipt, std::string retry_of = "") {
  CallContext c;
  c.principal.id = "agent";
  c.server = "s";
  c.tool = "deploy";
  c.decision.receipt_id = std::move(receipt);
  c.retry_of = std::move(retry_of);
  return c;
}

std::string input_required(const std::string& state) {
  return R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{},)"
         R"("requestState":")" +
         state + R"("}})";
}

}  // namespace

TEST_CASE("a retry with the state of an input_required result links to the first decision",
          "[mrtr]") {
  MrtrLinks links;
  auto first = call("r1");
  links.remember(first, input_required("st-1"));
  CHECK(links.link(call("r2"), "st-1") == "r1");
  // Round two: its own input_required state still names the first decision.
  links.remember(call("r2", "r1"), input_required("st-2"));
  CHECK(links.link(call("r3"), "st-2") == "r1");
  // An unknown state, or none, links nothing.
  CHECK(links.link(call("r4"), "st-x").empty());
}

TEST_CASE("only input_required results with a string state are remembered", "[mrtr]") {
  MrtrLinks links;
  links.remember(call("a"), R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"complete",)"
                            R"("requestState":"s"}})");
  links.remember(call("b"), R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required",)"
                            R"("requestState":7}})");
  links.remember(call("c"), R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}})");
  links.remember(call(""), input_required("no-receipt"));  // never recorded: nothing to name
  CHECK(links.size() == 0);
}

TEST_CASE("another principal, server or tool gets no link", "[mrtr]") {
  MrtrLinks links;
  links.remember(call("r1"), input_required("st"));
  auto other = call("r2");
  other.principal.id = "intruder";
  CHECK(links.link(other, "st").empty());
  other = call("r2");
  other.server = "t";
  CHECK(links.link(other, "st").empty());
  other = call("r2");
  other.tool = "rm";
  CHECK(links.link(other, "st").empty());
  CHECK(links.link(call("r2"), "st") == "r1");
}

TEST_CASE("links are bounded in number and time", "[mrtr]") {
  MrtrLinks links;
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < MrtrLinks::kMaxEntries + 100; ++i)
    links.remember(call("r" + std::to_string(i)), input_required("s" + std::to_string(i)), t0);
  CHECK(links.size() == MrtrLinks::kMaxEntries);
  CHECK(links.link(call("x"), "s0", t0).empty());  // the oldest made way
  CHECK(links.link(call("x"), "s4195", t0) == "r4195");
  CHECK(links.link(call("x"), "s4195", t0 + MrtrLinks::kTtl).empty());  // expired
  CHECK(links.size() == 0);
}
