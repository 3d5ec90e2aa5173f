// Fuzzes the HTTP server's request handling end to end: the input's bytes reach a real
// Server connection over a socket pair, in chunks whose size the input chooses, and the
// handler answers as the input's first byte says (a response, an SSE stream, or later).
// Small limits put the 413/431/503 paths within reach. After the client closes:
//  - every connection is gone and no body budget is left reserved;
//  - what the server wrote is a sequence of well-formed HTTP/1.1 responses, nothing after
//    one that says `Connection: close`, and nothing left over.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/parser.hpp>

#include "transport/http_server.hpp"

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace web = gt::transport::http;

namespace {

struct Harness {
  asio::io_context ioc;
  std::shared_ptr<web::Server> srv;
  int mode = 0;
  std::vector<bool> heads;  // per handled request, in order: was it HEAD
  std::deque<std::shared_ptr<web::Exchange>> held;

  Harness() {
    spdlog::set_level(spdlog::level::off);
    web::Limits l;
    l.body_limit = 4096;
    l.header_limit = 2048;
    l.body_budget = 3000;  // bodies of 3001-4096 bytes get 503, larger ones 413
    l.max_queued_bytes = 64 * 1024;
    srv = std::make_shared<web::Server>(
        ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), l,
        [this](web::Request&& req, std::shared_ptr<web::Exchange> ex) { handle(req, ex); });
  }

  void handle(web::Request& req, const std::shared_ptr<web::Exchange>& ex) {
    bool head = req.method() == bhttp::verb::head;
    heads.push_back(head);
    switch (head ? 0 : mode % 3) {
      case 0:
        ex->respond(200, req.body(), "text/plain", {{"X-Target", "t"}});
        return;
      case 1:
        ex->start_stream({{"Mcp-Session-Id", "s"}});
        ex->event("1-1", req.body().substr(0, 100));
        ex->comment("keep-alive");
        ex->event("", "x");
        ex->end_stream();
        return;
      default:
        held.push_back(ex);  // answered when the input is all sent
        return;
    }
  }

  void run() {
    for (int i = 0; i < 100000 && ioc.poll() > 0; ++i) {
    }
    ioc.restart();
  }
};

void drain(int fd, std::string& out) {
  char buf[8192];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// The server's output must be whole responses, one per handled request plus at most one
// error response at the end.
void check_responses(const std::string& out, const std::vector<bool>& heads) {
  std::string_view rest(out);
  std::size_t i = 0;
  while (!rest.empty()) {
    bhttp::response_parser<bhttp::string_body> p;
    p.eager(true);
    if (i < heads.size() && heads[i]) p.skip(true);
    boost::beast::error_code ec;
    auto used = p.put(asio::buffer(rest.data(), rest.size()), ec);
    if (ec || !p.is_done()) std::abort();  // malformed or cut short
    rest.remove_prefix(used);
    bool close = !p.get().keep_alive();
    ++i;
    if (close && !rest.empty()) std::abort();  // bytes after a response that closes
  }
  if (i > heads.size() + 1) std::abort();  // a response nobody asked for
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* h = new Harness;
  if (size < 2 || size > 32 * 1024) return 0;
  h->mode = data[0];
  // 1 to 6112 bytes per chunk, and at most 64 chunks (each is a send and a turn of the loop).
  std::size_t step = std::max<std::size_t>(1 + data[1] % 64 * 97, size / 64);
  h->heads.clear();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  asio::ip::tcp::socket s(h->ioc);
  s.assign(asio::ip::tcp::v4(), sv[0]);  // any stream socket does for read and write
  h->srv->serve(std::move(s));
  std::string out;
  const char* p = reinterpret_cast<const char*>(data) + 2;
  std::size_t left = size - 2;
  while (left > 0) {
    auto n = ::send(sv[1], p, std::min(step, left), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed, or stopped reading
    p += n;
    left -= static_cast<std::size_t>(n);
    h->run();
    drain(sv[1], out);
  }
  while (!h->held.empty()) {
    h->held.front()->respond(202, "", "");
    h->held.pop_front();
    h->run();
    drain(sv[1], out);
  }
  ::shutdown(sv[1], SHUT_WR);
  for (int i = 0; i < 100 && h->srv->connections() > 0; ++i) {
    h->run();
    drain(sv[1], out);
  }
  ::close(sv[1]);
  h->run();
  // A connection that is lingering (after an error response) waits for the peer's end,
  // which the shutdown above gave it; none may be left, nor any budget.
  if (h->srv->connections() != 0) std::abort();
  if (h->srv->body_bytes_in_flight() != 0) std::abort();
  check_responses(out, h->heads);
  return 0;
}
