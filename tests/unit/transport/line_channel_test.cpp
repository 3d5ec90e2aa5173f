#include "transport/line_channel.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <thread>

using gt::transport::LineChannel;

namespace {

struct Pipes {
  int to_channel[2];
  int from_channel[2];
  Pipes() {
    REQUIRE(::pipe(to_channel) == 0);
    REQUIRE(::pipe(from_channel) == 0);
  }
};

struct Collected {
  std::vector<std::string> lines;
  std::vector<std::pair<std::string, std::size_t>> oversize;
  bool closed = false;
};

Collected feed(const std::string& input, std::size_t max_line) {
  boost::asio::io_context ioc;
  Pipes p;
  auto ch = std::make_shared<LineChannel>(ioc.get_executor(), p.to_channel[0], p.from_channel[1],
                                          max_line);
  Collected c;
  LineChannel::Handlers h;
  h.on_line = [&](std::string_view l) { c.lines.emplace_back(l); };
  h.on_oversize = [&](std::string_view prefix, std::size_t n) {
    c.oversize.emplace_back(prefix, n);
  };
  h.on_close = [&](const boost::system::error_code&) { c.closed = true; };
  ch->start(h);
  std::thread writer([&] {
    std::size_t off = 0;
    while (off < input.size()) {
      auto n = ::write(p.to_channel[1], input.data() + off,
                       std::min<std::size_t>(7777, input.size() - off));
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::close(p.to_channel[1]);
  });
  ioc.run();
  writer.join();
  ::close(p.from_channel[0]);
  return c;
}

}  // namespace

TEST_CASE("line channel splits lines across reads and strips CR", "[line_channel]") {
  std::string big(200000, 'x');
  auto c = feed("a\r\n\nb\n" + big + "\nlast-without-newline", 1 << 20);
  REQUIRE(c.lines.size() == 4);
  CHECK(c.lines[0] == "a");
  CHECK(c.lines[1] == "b");
  CHECK(c.lines[2] == big);
  CHECK(c.lines[3] == "last-without-newline");
  CHECK(c.closed);
}

TEST_CASE("line channel drops an over-limit line, keeps a prefix and goes on", "[line_channel]") {
  std::string huge =
      R"({"jsonrpc":"2.0","id":9,"method":"x","params":")" + std::string(300000, 'y') + "\"}";
  auto c = feed("ok1\n" + huge + "\nok2\n", 100000);
  REQUIRE(c.lines.size() == 2);
  CHECK(c.lines[0] == "ok1");
  CHECK(c.lines[1] == "ok2");
  REQUIRE(c.oversize.size() == 1);
  CHECK(c.oversize[0].second == huge.size());
  CHECK(c.oversize[0].first.substr(0, 30) == huge.substr(0, 30));
  CHECK(c.oversize[0].first.size() <= 64 * 1024);
}

TEST_CASE("line channel coalesces writes and flushes before closing", "[line_channel]") {
  boost::asio::io_context ioc;
  Pipes p;
  auto ch = std::make_shared<LineChannel>(ioc.get_executor(), -1, p.from_channel[1], 1024);
  ch->start({});
  for (int i = 0; i < 1000; ++i)
    ch->send("line" + std::to_string(i));
  ch->close_write();
  ioc.run();
  std::string all;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(p.from_channel[0], buf, sizeof buf)) > 0)
    all.append(buf, static_cast<size_t>(n));
  CHECK(std::count(all.begin(), all.end(), '\n') == 1000);
  CHECK(all.rfind("line999\n") == all.size() - 8);
  ::close(p.from_channel[0]);
  ::close(p.to_channel[0]);
  ::close(p.to_channel[1]);
}

TEST_CASE("line channel survives a reader that went away", "[line_channel]") {
  ::signal(SIGPIPE, SIG_IGN);
  boost::asio::io_context ioc;
  Pipes p;
  ::close(p.from_channel[0]);
  auto ch = std::make_shared<LineChannel>(ioc.get_executor(), -1, p.from_channel[1], 1024);
  ch->start({});
  ch->send("nobody reads this");
  ioc.run();
  CHECK_FALSE(ch->write_open());
  ch->send("still no crash");
  ::close(p.to_channel[0]);
  ::close(p.to_channel[1]);
}

TEST_CASE("line channel pauses in the middle of a chunk and resumes in order", "[line_channel]") {
  // 40 lines written in one go arrive in one read. The handler pauses after every 5th line
  // (as the stdio front does at its limit of undecided calls) and resumes from a timer, so
  // no line may be delivered while paused, and none may be lost or reordered.
  boost::asio::io_context ioc;
  Pipes p;
  auto ch = std::make_shared<LineChannel>(ioc.get_executor(), p.to_channel[0], p.from_channel[1],
                                          1 << 20);
  std::string input;
  for (int i = 0; i < 40; ++i)
    input += "line-" + std::to_string(i) + "\n";
  REQUIRE(::write(p.to_channel[1], input.data(), input.size()) ==
          static_cast<ssize_t>(input.size()));
  ::close(p.to_channel[1]);

  std::vector<std::string> lines;
  bool paused = false;
  int delivered_while_paused = 0;
  int pauses = 0;
  bool closed = false;
  LineChannel::Handlers h;
  h.on_line = [&](std::string_view l) {
    if (paused) ++delivered_while_paused;
    lines.emplace_back(l);
    if (lines.size() % 5 == 0) {
      paused = true;
      ++pauses;
      ch->pause_reading();
      // Resume from outside the handler, after the executor has had time to run anything
      // it (wrongly) still had queued.
      boost::asio::post(ioc, [&] {
        boost::asio::post(ioc, [&] {
          paused = false;
          ch->resume_reading();
        });
      });
    }
  };
  h.on_close = [&](const boost::system::error_code&) { closed = true; };
  ch->start(h);
  ioc.run();
  ::close(p.from_channel[0]);

  CHECK(delivered_while_paused == 0);
  CHECK(pauses == 8);
  REQUIRE(lines.size() == 40);
  for (int i = 0; i < 40; ++i)
    CHECK(lines[static_cast<std::size_t>(i)] == "line-" + std::to_string(i));
  CHECK(closed);
}
