// The HTTP server under hostile load (issue 14): framing that could be read two ways, Host
// validation, the global budget for request bodies, deadlines counted from a request's first
// byte, the per-IP connection limit, and the accept loop's back-off when descriptors run out.
// A real server on 127.0.0.1 runs on its own thread; clients are plain blocking sockets.
#include "transport/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

namespace web = gt::transport::http;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// A server on its own thread. The handler answers 200 with the body's size, or, for the
// target "/hold", keeps the exchange open until release() is called.
struct TestServer {
  asio::io_context ioc;
  std::shared_ptr<web::Server> srv;
  std::thread thread;
  std::mutex mu;
  std::vector<std::string> bodies;  // of the requests the handler saw
  std::vector<std::shared_ptr<web::Exchange>> held;

  explicit TestServer(web::Limits limits) {
    srv = std::make_shared<web::Server>(
        ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), limits,
        [this](web::Request&& req, std::shared_ptr<web::Exchange> ex) {
          {
            std::lock_guard lock(mu);
            bodies.push_back(req.body());
            if (req.target() == "/hold") {
              held.push_back(ex);
              return;
            }
          }
          ex->respond(200, "got " + std::to_string(req.body().size()), "text/plain");
        });
    srv->start();
    thread = std::thread([this] { ioc.run(); });
  }
  ~TestServer() {
    asio::post(ioc, [this] {
      srv->stop();
      ioc.stop();
    });
    thread.join();
  }
  template <class F>
  auto on_loop(F f) {
    std::promise<decltype(f())> p;
    asio::post(ioc, [&] { p.set_value(f()); });
    return p.get_future().get();
  }
  std::size_t in_flight() {
    return on_loop([this] { return srv->body_bytes_in_flight(); });
  }
  std::size_t connections() {
    return on_loop([this] { return srv->connections(); });
  }
  std::size_t handled() {
    std::lock_guard lock(mu);
    return bodies.size();
  }
  void release_held() {
    on_loop([this] {
      std::vector<std::shared_ptr<web::Exchange>> h;
      {
        std::lock_guard lock(mu);
        h.swap(held);
      }
      for (auto& ex : h)
        ex->respond(200, "released", "text/plain");
      return 0;
    });
  }
  std::uint16_t port() { return srv->port(); }
};

// Waits (up to 10 s) for a condition that the server thread makes true.
template <class F>
bool eventually(F f) {
  for (int i = 0; i < 1000; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

struct Client {
  int fd = -1;
  explicit Client(std::uint16_t port, const char* from = nullptr) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    if (from) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &src.sin_addr);
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  bool send(std::string_view s) {
    while (!s.empty()) {
      auto n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Everything until the server closes (or 10 s pass).
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // One response: its headers and Content-Length bytes of body.
  std::string read_response() {
    std::string out;
    char c;
    while (out.find("\r\n\r\n") == std::string::npos) {
      if (::recv(fd, &c, 1, 0) != 1) return out;
      out += c;
    }
    auto cl = out.find("Content-Length: ");
    std::size_t len = cl == std::string::npos ? 0 : std::stoul(out.substr(cl + 16));
    std::string body(len, '\0');
    std::size_t got = 0;
    while (got < len) {
      auto n = ::recv(fd, body.data() + got, len - got, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    return out + body.substr(0, got);
  }
};

std::string post(std::size_t content_length, std::string_view target = "/",
                 std::string_view host = "localhost") {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) +
         "\r\nContent-Length: " + std::to_string(content_length) + "\r\n\r\n";
}

int status_of(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 9, "HTTP/1.1 ") != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

web::Request parse_header(const std::string& text) {
  web::Request r;
  // A minimal header parser for the pure checks: "Name: value" lines after the start line.
  std::size_t pos = text.find("\r\n") + 2;
  r.version(text.find("HTTP/1.0") != std::string::npos ? 10 : 11);
  while (pos < text.size()) {
    auto end = text.find("\r\n", pos);
    auto line = text.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty()) break;
    auto colon = line.find(':');
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.erase(0, 1);
    r.insert(line.substr(0, colon), value);
  }
  return r;
}

}  // namespace

TEST_CASE("valid_host accepts host names, IPv4 and [IPv6] with a port 1-65535") {
  for (const char* ok :
       {"localhost", "localhost:8787", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:65535",
        "example.com.", "a-b_c~d.example", "[::ffff:1.2.3.4]:80", "LOCALHOST:080"}) {
    INFO(ok);
    CHECK(web::valid_host(ok));
  }
  for (const char* bad : {"",
                          ":80",
                          "localhost:",
                          "localhost:0",
                          "localhost:65536",
                          "localhost:99999",
                          "localhost:80@evil.com",
                          "user@localhost",
                          "localhost:80:80",
                          "local host",
                          "[::1",
                          "[::1]x",
                          "[::1]:",
                          "[fe80::1%25eth0]",
                          "[v1.abc]",
                          "[]",
                          "[127.0.0.1]",
                          "evil.com/x",
                          "a%2eb",
                          "localhost:+80",
                          "localhost:123456",
                          "exa\tmple"}) {
    INFO(bad);
    CHECK_FALSE(web::valid_host(bad));
  }
}

TEST_CASE("framing_error refuses Transfer-Encoding other than chunked, TE with CL, bad Host") {
  auto err = [](const std::string& head) { return web::framing_error(parse_header(head)); };
  CHECK(err("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n").empty());
  CHECK(err("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: Chunked\r\n\r\n").empty());
  CHECK(err("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\n").empty());
  CHECK(err("GET / HTTP/1.0\r\n\r\n").empty());  // HTTP/1.0 needs no Host
  CHECK_FALSE(
      err("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n")
          .empty());
  CHECK_FALSE(
      err("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity\r\n\r\n").empty());
  CHECK_FALSE(err("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                  .empty());
  CHECK_FALSE(err("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n")
                  .empty());
  CHECK_FALSE(err("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Length: 3\r\n\r\n")
                  .empty());
  CHECK_FALSE(err("POST / HTTP/1.1\r\n\r\n").empty());  // HTTP/1.1 without Host
  CHECK_FALSE(err("POST / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n").empty());
  CHECK_FALSE(err("POST / HTTP/1.1\r\nHost: localhost:80@evil.com\r\n\r\n").empty());
  CHECK_FALSE(err("POST / HTTP/1.1\r\nHost: localhost:99999\r\n\r\n").empty());
  CHECK_FALSE(err("POST / HTTP/1.1\r\nHost: \r\n\r\n").empty());
}

TEST_CASE("peer_key counts IPv4 addresses alone and IPv6 by /64") {
  using web::Server;
  auto key = [](const char* a) { return Server::peer_key(asio::ip::make_address(a)); };
  CHECK(key("10.1.2.3") == "10.1.2.3");
  CHECK(key("::ffff:10.1.2.3") == "10.1.2.3");
  CHECK(key("2001:db8:1:2:aaaa::1") == key("2001:db8:1:2:bbbb::2"));
  CHECK(key("2001:db8:1:2::1") != key("2001:db8:1:3::1"));
}

TEST_CASE("a smuggling Transfer-Encoding gets 400 and the rest is never read as a request") {
  TestServer s(web::Limits{});
  Client c(s.port());
  // Read as an empty body, the second request would be parsed and answered on its own.
  c.send(
      "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
      "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n");
  auto all = c.read_all();
  CHECK(status_of(all) == 400);
  CHECK(all.find("Connection: close") != std::string::npos);
  CHECK(all.find("HTTP/1.1", 8) == std::string::npos);  // one response only
  CHECK(s.handled() == 0);
}

TEST_CASE("Transfer-Encoding with Content-Length gets 400 and close") {
  TestServer s(web::Limits{});
  for (const char* head : {"Transfer-Encoding: identity\r\nContent-Length: 5\r\n",
                           "Content-Length: 5\r\nTransfer-Encoding: identity\r\n",
                           "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"}) {
    INFO(head);
    Client c(s.port());
    c.send(std::string("POST / HTTP/1.1\r\nHost: localhost\r\n") + head + "\r\nhello");
    auto all = c.read_all();
    CHECK(status_of(all) == 400);
    CHECK(all.find("HTTP/1.1", 8) == std::string::npos);
  }
  CHECK(s.handled() == 0);
}

TEST_CASE("bad or repeated Host headers get 400; a good one is served") {
  TestServer s(web::Limits{});
  for (const char* host : {"Host: localhost:80@evil.com\r\n", "Host: localhost:99999\r\n",
                           "Host: \r\n", "Host: localhost\r\nHost: evil.com\r\n", ""}) {
    INFO(host);
    Client c(s.port());
    c.send(std::string("GET / HTTP/1.1\r\n") + host + "\r\n");
    CHECK(status_of(c.read_all()) == 400);
  }
  CHECK(s.handled() == 0);
  Client ok(s.port());
  ok.send("GET / HTTP/1.1\r\nHost: localhost:8787\r\n\r\n");
  CHECK(status_of(ok.read_response()) == 200);
  CHECK(s.handled() == 1);
}

TEST_CASE("request bodies in flight stay within the budget; a body that does not fit gets 503") {
  web::Limits l;
  l.body_limit = 64 * 1024;
  l.body_budget = 100 * 1024;
  TestServer s(l);
  Client a(s.port());
  a.send(post(60000) + std::string(30000, 'a'));  // half a body: 60000 bytes reserved
  REQUIRE(eventually([&] { return s.in_flight() == 60000; }));
  Client b(s.port());
  b.send(post(60000));
  auto refused = b.read_response();
  CHECK(status_of(refused) == 503);
  CHECK(refused.find("Retry-After: 1\r\n") != std::string::npos);
  CHECK(refused.find("Content-Type: application/json") != std::string::npos);
  CHECK(refused.find(R"("jsonrpc":"2.0")") != std::string::npos);
  CHECK(refused.find(R"("code":-32000)") != std::string::npos);
  CHECK(s.in_flight() == 60000);
  // A body that fits beside it is served.
  Client small(s.port());
  small.send(post(1000) + std::string(1000, 's'));
  CHECK(status_of(small.read_response()) == 200);
  // The first body completes: its reservation is released, and a large body fits again.
  a.send(std::string(30000, 'a'));
  CHECK(status_of(a.read_response()) == 200);
  CHECK(eventually([&] { return s.in_flight() == 0; }));
  Client c(s.port());
  c.send(post(60000) + std::string(60000, 'c'));
  CHECK(status_of(c.read_response()) == 200);
  CHECK(s.handled() == 3);
}

TEST_CASE("a client that goes away mid-body releases its reservation") {
  web::Limits l;
  l.body_budget = 1 << 20;
  TestServer s(l);
  {
    Client a(s.port());
    a.send(post(500000) + "partial");
    REQUIRE(eventually([&] { return s.in_flight() == 500000; }));
  }
  CHECK(eventually([&] { return s.in_flight() == 0 && s.connections() == 0; }));
}

TEST_CASE("a chunked body's reservation grows with it and is refused past the budget") {
  web::Limits l;
  l.body_limit = 1 << 20;
  l.body_budget = 64 * 1024;
  TestServer s(l);
  Client a(s.port());
  a.send("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk = "4000\r\n" + std::string(0x4000, 'x') + "\r\n";  // 16 KiB each
  for (int i = 0; i < 16; ++i) {
    if (!a.send(chunk)) break;
  }
  auto all = a.read_all();
  CHECK(status_of(all) == 503);
  CHECK(s.handled() == 0);
  CHECK(eventually([&] { return s.in_flight() == 0; }));
  // A small chunked body is served.
  Client b(s.port());
  b.send("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk +
         "0\r\n\r\n");
  auto ok = b.read_response();
  CHECK(status_of(ok) == 200);
  CHECK(ok.find("got 16384") != std::string::npos);
}

TEST_CASE("the header deadline counts from the first byte, not from the last") {
  web::Limits l;
  l.header_timeout = 300ms;
  l.body_timeout = 300ms;
  TestServer s(l);
  Client c(s.port());
  // One byte every 50 ms would finish the headers in about 3 s; each byte restarting a
  // timer would never cut it. The deadline closes it after about 6 bytes.
  std::string head = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + std::string(40, 'z');
  std::size_t sent = 0;
  for (char ch : head) {
    if (!c.send(std::string_view(&ch, 1))) break;
    ++sent;
    std::this_thread::sleep_for(50ms);
    if (s.connections() == 0) break;
  }
  CHECK(sent < head.size());
  CHECK(s.connections() == 0);
  CHECK(s.handled() == 0);
}

TEST_CASE("the body deadline counts from the request's first byte") {
  web::Limits l;
  l.header_timeout = 300ms;
  l.body_timeout = 400ms;
  TestServer s(l);
  Client c(s.port());
  c.send(post(60));
  std::size_t sent = 0;
  for (int i = 0; i < 60; ++i) {
    if (!c.send("b")) break;
    ++sent;
    std::this_thread::sleep_for(50ms);
    if (s.connections() == 0) break;
  }
  CHECK(sent < 60);
  CHECK(status_of(c.read_all()) == 408);
  CHECK(s.handled() == 0);
  CHECK(s.in_flight() == 0);
}

TEST_CASE("a connection that never sends a byte is closed at the header deadline") {
  web::Limits l;
  l.header_timeout = 200ms;
  TestServer s(l);
  Client c(s.port());
  CHECK(c.read_all().empty());  // closed, nothing said (well before the 10 s read timeout)
  CHECK(eventually([&] { return s.connections() == 0; }));
  Client d(s.port());
  d.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(status_of(d.read_response()) == 200);
}

TEST_CASE("a keep-alive connection is served again and closed when idle") {
  web::Limits l;
  l.header_timeout = 200ms;
  l.body_timeout = 200ms;
  l.idle_timeout = 300ms;
  TestServer s(l);
  Client c(s.port());
  for (int i = 0; i < 3; ++i) {
    c.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(status_of(c.read_response()) == 200);
  }
  CHECK(c.read_all().empty());
  CHECK(eventually([&] { return s.connections() == 0; }));
}

TEST_CASE("an exchange being answered is not cut by the deadlines") {
  web::Limits l;
  l.header_timeout = 100ms;
  l.body_timeout = 100ms;
  l.idle_timeout = 100ms;
  TestServer s(l);
  Client c(s.port());
  c.send("GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n");
  REQUIRE(eventually([&] { return s.handled() == 1; }));
  std::this_thread::sleep_for(400ms);
  CHECK(s.connections() == 1);
  s.release_held();
  CHECK(status_of(c.read_response()) == 200);
}

TEST_CASE("one address holds at most max_connections_per_ip; another is still served") {
  web::Limits l;
  l.max_connections_per_ip = 3;
  TestServer s(l);
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 3; ++i)
    held.push_back(std::make_unique<Client>(s.port(), "127.0.0.1"));
  REQUIRE(eventually([&] { return s.connections() == 3; }));
  Client extra(s.port(), "127.0.0.1");
  auto refused = extra.read_all();
  if (!refused.empty()) CHECK(status_of(refused) == 503);  // best effort before the close
  CHECK(s.connections() == 3);
  Client other(s.port(), "127.0.0.2");
  other.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(status_of(other.read_response()) == 200);
  held.pop_back();  // a slot frees up (`other` is still open: 2 + 1)
  REQUIRE(eventually([&] { return s.connections() == 3; }));
  Client again(s.port(), "127.0.0.1");
  again.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(status_of(again.read_response()) == 200);
}

TEST_CASE("max_connections refuses connections past it") {
  web::Limits l;
  l.max_connections = 2;
  TestServer s(l);
  Client a(s.port()), b(s.port());
  REQUIRE(eventually([&] { return s.connections() == 2; }));
  Client c(s.port());
  c.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  auto refused = c.read_all();
  if (!refused.empty()) CHECK(status_of(refused) == 503);
  CHECK(s.handled() == 0);
}

TEST_CASE("when descriptors run out the accept loop backs off instead of spinning") {
  TestServer s(web::Limits{});
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(::socket(AF_INET, SOCK_STREAM, 0));
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  auto before = s.on_loop([&] { return s.srv->accept_failures(); });
  // Every descriptor below a lowered limit is taken: the server's accept fails with EMFILE.
  int probe = ::open("/dev/null", O_RDONLY);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(probe + 1);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<int> fillers{probe};
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;)
    fillers.push_back(fd);
  for (int fd : clients) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(s.port());
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);  // in the backlog
  }
  std::this_thread::sleep_for(700ms);
  auto failures = s.on_loop([&] { return s.srv->accept_failures(); }) - before;
  auto served = s.connections();
  for (int fd : fillers)
    ::close(fd);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &old) == 0);
  // 100 + 200 + 400 ms of pauses: a handful of attempts, where a loop that accepts again at
  // once makes hundreds of thousands.
  CHECK(served == 0);
  CHECK(failures >= 1);
  CHECK(failures <= 8);
  // Once descriptors are free again, the waiting clients are served (the pause is at most 1 s).
  CHECK(eventually([&] { return s.connections() == 3; }));
  for (int fd : clients)
    ::close(fd);
}

TEST_CASE("a response to HEAD has no body, so the next response on the connection is intact") {
  TestServer s(web::Limits{});
  Client c(s.port());
  c.send(
      "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  std::string head;
  char ch;
  while (head.find("\r\n\r\n") == std::string::npos && ::recv(c.fd, &ch, 1, 0) == 1)
    head += ch;
  CHECK(status_of(head) == 200);
  CHECK(head.find("Content-Length: 5\r\n") != std::string::npos);  // "got 0", not sent
  CHECK(status_of(c.read_response()) == 200);
}

TEST_CASE("thousands of pipelined requests answered at once do not nest the handler") {
  TestServer s(web::Limits{});
  Client c(s.port());
  std::string many;
  const int n = 5000;
  for (int i = 0; i < n; ++i)
    many += "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  many += "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  std::thread writer([&] { c.send(many); });
  auto all = c.read_all();
  writer.join();
  std::size_t responses = 0;
  for (auto pos = all.find("HTTP/1.1 200"); pos != std::string::npos;
       pos = all.find("HTTP/1.1 200", pos + 1))
    ++responses;
  CHECK(responses == n + 1);
}
