#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "transport/sse.hpp"

using gt::transport::sse::Event;
using gt::transport::sse::Parser;

namespace {

struct Collected {
  std::vector<Event> events;
  std::vector<long> retries;
  std::vector<std::pair<std::string, std::size_t>> oversize;
};

Parser make(Collected& c, std::size_t max = 1 << 20) {
  Parser::Handlers h;
  h.on_event = [&c](Event&& e) { c.events.push_back(std::move(e)); };
  h.on_retry = [&c](std::chrono::milliseconds ms) { c.retries.push_back(ms.count()); };
  h.on_oversize = [&c](std::string_view p, std::size_t n) { c.oversize.emplace_back(p, n); };
  return Parser(std::move(h), max);
}

// Feeds `text` cut at every position into two chunks, and byte by byte; all must agree with
// feeding it whole.
std::vector<Collected> all_splits(const std::string& text) {
  std::vector<Collected> out;
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    Collected c;
    auto p = make(c);
    p.feed(text.substr(0, cut));
    p.feed(text.substr(cut));
    out.push_back(std::move(c));
  }
  Collected c;
  auto p = make(c);
  for (char ch : text)
    p.feed(std::string(1, ch));
  out.push_back(std::move(c));
  return out;
}

}  // namespace

TEST_CASE("sse: one event, whatever the chunking") {
  std::string text = "id: 7\nevent: message\ndata: {\"a\":1}\n\n";
  for (auto& c : all_splits(text)) {
    REQUIRE(c.events.size() == 1);
    CHECK(c.events[0].type == "message");
    CHECK(c.events[0].data == "{\"a\":1}");
    CHECK(c.events[0].id == "7");
  }
}

TEST_CASE("sse: CRLF, CR and LF line ends, also split between CR and LF") {
  std::string text = "data: a\r\n\r\ndata: b\r\rdata: c\n\n";
  for (auto& c : all_splits(text)) {
    REQUIRE(c.events.size() == 3);
    CHECK(c.events[0].data == "a");
    CHECK(c.events[1].data == "b");
    CHECK(c.events[2].data == "c");
  }
}

TEST_CASE("sse: data lines join with LF; the space after the colon is optional") {
  Collected c;
  auto p = make(c);
  p.feed("data:first\ndata:  second\ndata\n\n");
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].data == "first\n second\n");
}

TEST_CASE("sse: comments, unknown fields and events without data are not dispatched") {
  Collected c;
  auto p = make(c);
  p.feed(": keep-alive\n\nfoo: bar\n\nid: 5\n\nevent: endpoint\n\n");
  CHECK(c.events.empty());
  CHECK(p.last_event_id() == "5");  // an id without data still counts (priming events)
  p.feed("data: x\n\n");
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].type == "message");  // the type of the undispatched event did not stick
  CHECK(c.events[0].id == "5");          // the id persists
}

TEST_CASE("sse: the event type") {
  Collected c;
  auto p = make(c);
  p.feed("event: endpoint\ndata: /messages?sessionId=abc\n\n");
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].type == "endpoint");
  CHECK(c.events[0].data == "/messages?sessionId=abc");
}

TEST_CASE("sse: id with NUL is ignored; an empty id resets") {
  Collected c;
  auto p = make(c);
  static const char text[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\nid\ndata: c\n\n";
  p.feed(std::string(text, sizeof text - 1));
  REQUIRE(c.events.size() == 3);
  CHECK(c.events[0].id == "1");
  CHECK(c.events[1].id == "1");
  CHECK(c.events[2].id == "");
}

TEST_CASE("sse: retry takes digits only") {
  Collected c;
  auto p = make(c);
  p.feed("retry: 500\nretry: 12a\nretry:\nretry: 3000\n\n");
  CHECK(c.retries == std::vector<long>{500, 3000});
}

TEST_CASE("sse: a leading BOM is skipped, even split; only at the very start") {
  std::string bom = "\xEF\xBB\xBF";
  for (auto& c : all_splits(bom + "data: a\n\n" + bom + "data: b\n\n")) {
    REQUIRE(c.events.size() == 1);  // the second BOM makes the field name unknown
    CHECK(c.events[0].data == "a");
  }
  Collected c;
  auto p = make(c);
  p.feed("\xEF\xBB");
  p.feed("data: z\n\n");  // not a BOM after all: the line is garbage, nothing dispatched
  CHECK(c.events.empty());
  p.feed("data: y\n\n");
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].data == "y");
}

TEST_CASE("sse: an event over the limit is dropped and reported, the stream goes on") {
  Collected c;
  auto p = make(c, 64);
  std::string big(200, 'x');
  std::string json = "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":\"" + big + "\"}";
  // Two shapes: one long line fed in pieces, and many short data lines.
  bool long_line = GENERATE(true, false);
  if (long_line) {
    std::string text = "data: " + json + "\n\n";
    for (std::size_t i = 0; i < text.size(); i += 7)
      p.feed(text.substr(i, 7));
  } else {
    for (int i = 0; i < 20; ++i)
      p.feed("data: " + std::string(10, 'y') + "\n");
    p.feed("\n");
  }
  REQUIRE(c.oversize.size() == 1);
  CHECK(c.oversize[0].second > 64);
  CHECK(c.events.empty());
  p.feed("data: small\n\n");
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].data == "small");
}

TEST_CASE("sse: the oversize prefix keeps the start of the data (to recover the id)") {
  Collected c;
  auto p = make(c, 64);
  std::string json =
      "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":\"" + std::string(500, 'z') + "\"}";
  p.feed("data: " + json + "\n\n");
  REQUIRE(c.oversize.size() == 1);
  CHECK(c.oversize[0].first.rfind("{\"jsonrpc\":\"2.0\",\"id\":\"abc\"", 0) == 0);
  CHECK(c.oversize[0].second == json.size());
}

TEST_CASE("sse: an event exactly at the limit passes") {
  Collected c;
  auto p = make(c, 10);
  p.feed("data: 0123456789\n\n");
  REQUIRE(c.events.size() == 1);
  CHECK(c.oversize.empty());
}
