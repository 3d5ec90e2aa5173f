// Load client for MCP Streamable HTTP servers and proxies (issue 7): the same client drives
// every proxy of tests/bench/http_run.sh, so their figures compare.
//
// calls mode (default): N keep-alive connections, each with its own MCP session
// (initialize + notifications/initialized, its own Mcp-Session-Id), run a closed loop of
// tools/call `echo`. Every response is checked: status 200, a JSON or SSE body, the JSON-RPC
// answer with the request's id, and the echoed text. Percentiles come from every sample of
// the measured phase (after a warm-up), not from a histogram.
//
// --mcp 2026-07-28 (issue 16): the same closed loop, stateless. No initialize, no session:
// every tools/call carries the envelope in params._meta (protocolVersion 2026-07-28 and empty
// clientCapabilities) and the headers MCP-Protocol-Version, Mcp-Method and Mcp-Name. Each
// answer must also say `resultType: "complete"` and carry no Mcp-Session-Id. The default is
// --mcp 2025-11-25 (the session mode above).
//
// idle mode (--idle-sessions N): opens N sessions, each with an idle GET stream on its own
// connection, holds them, then makes one checked call on every session and verifies that
// every stream is still open; then deletes the sessions.
//
// Prints one line of `key=value` figures; exits 1 if any check failed.
//
// Usage: http_bench --port P [--host 127.0.0.1] [--path /mcp] [--connections N]
//                   [--seconds S | --calls N] [--warmup S] [--message TEXT]
//                   [--mcp 2025-11-25|2026-07-28] [--idle-sessions N --hold S]
//                   [--header 'Name: value']...   (sent with every request, e.g. a token)
// Boost.Asio C++20 coroutines keep the per-connection logic linear; the client is
// single-threaded, so it costs one core at most whatever the connection count.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string path = "/mcp";
  int connections = 1;
  double seconds = 5;
  double warmup = 1;
  long calls = 0;  // > 0: measure exactly this many calls instead of `seconds`
  std::string message = "hello from http_bench";
  int idle_sessions = 0;
  double hold = 5;
  int verbose_errors = 5;
  bool modern = false;  // --mcp 2026-07-28: stateless requests, no session
  std::string headers;  // --header "Name: value" (repeatable), each line ending in CRLF
};

constexpr std::string_view kModern = "2026-07-28";

Options g_opt;
asio::io_context* g_ioc = nullptr;
tcp::endpoint g_endpoint;

enum class Phase { Warmup, Measure, Done };
Phase g_phase = Phase::Warmup;
Clock::time_point g_t0, g_t1;
std::vector<std::uint32_t> g_samples_ns;  // measured calls only
long g_errors = 0;
long g_total_calls = 0;

void error(const std::string& what) {
  ++g_errors;
  if (g_errors <= g_opt.verbose_errors) std::fprintf(stderr, "http_bench: %s\n", what.c_str());
}

std::string shorten(std::string_view s, std::size_t n = 300) {
  return s.size() <= n ? std::string(s) : std::string(s.substr(0, n)) + "...";
}

using Response = bhttp::response<bhttp::string_body>;

// One keep-alive connection to the server, with the MCP session it carries.
struct Conn {
  tcp::socket sock;
  boost::beast::flat_buffer buf;
  std::string session;   // Mcp-Session-Id ("" for a server without sessions)
  std::string protocol;  // negotiated version, sent as MCP-Protocol-Version

  explicit Conn(asio::any_io_executor ex) : sock(ex) {}

  awaitable<void> connect() {
    co_await sock.async_connect(g_endpoint, use_awaitable);
    sock.set_option(tcp::no_delay(true));
  }

  // One request and its complete response (an SSE response is read to its end).
  // `extra`: more header lines, each ending in CRLF.
  awaitable<Response> exchange(std::string_view method, std::string_view body,
                               const std::string& sid, std::string_view extra = {}) {
    std::string req;
    req.reserve(256 + body.size());
    req += method;
    req += ' ';
    req += g_opt.path;
    req += " HTTP/1.1\r\nHost: ";
    req += g_opt.host;
    req += ':';
    req += g_opt.port;
    req += "\r\nAccept: application/json, text/event-stream\r\n";
    if (!body.empty()) req += "Content-Type: application/json\r\n";
    if (!sid.empty()) {
      req += "Mcp-Session-Id: ";
      req += sid;
      req += "\r\n";
    }
    if (!protocol.empty()) {
      req += "MCP-Protocol-Version: ";
      req += protocol;
      req += "\r\n";
    }
    req += extra;
    req += g_opt.headers;
    req += "Content-Length: ";
    req += std::to_string(body.size());
    req += "\r\n\r\n";
    req += body;
    co_await asio::async_write(sock, asio::buffer(req), use_awaitable);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64u << 20);
    co_await bhttp::async_read(sock, buf, parser, use_awaitable);
    co_return parser.release();
  }
};

// The JSON-RPC message answering `id` in a response body (JSON, or SSE events).
std::optional<json> answer_for(const Response& res, const json& id, std::string& why) {
  if (res.result_int() != 200) {
    why = "status " + std::to_string(res.result_int()) + ": " + shorten(res.body());
    return std::nullopt;
  }
  std::string_view ctype = res[bhttp::field::content_type];
  const std::string& body = res.body();
  auto matches = [&](const json& m) {
    return m.is_object() && m.value("jsonrpc", "") == "2.0" && m.contains("id") && m["id"] == id &&
           (m.contains("result") || m.contains("error"));
  };
  if (ctype.starts_with("application/json")) {
    json m = json::parse(body, nullptr, false);
    if (m.is_array()) {
      for (auto& e : m)
        if (matches(e)) return e;
    } else if (matches(m)) {
      return m;
    }
    why = "no answer with id " + id.dump() + " in JSON body: " + shorten(body);
    return std::nullopt;
  }
  if (ctype.starts_with("text/event-stream")) {
    // Events end at a blank line; each `data:` line is one JSON-RPC message here.
    std::size_t pos = 0;
    while (pos < body.size()) {
      auto eol = body.find('\n', pos);
      if (eol == std::string::npos) eol = body.size();
      std::string_view line(body.data() + pos, eol - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.starts_with("data:")) {
        line.remove_prefix(5);
        if (line.starts_with(' ')) line.remove_prefix(1);
        json m = json::parse(line, nullptr, false);
        if (matches(m)) return m;
      }
      pos = eol + 1;
    }
    why = "no answer with id " + id.dump() + " in SSE body: " + shorten(body);
    return std::nullopt;
  }
  why = "unexpected Content-Type `" + std::string(ctype) + "`";
  return std::nullopt;
}

// initialize + notifications/initialized on `c`; fills c.session and c.protocol.
awaitable<bool> open_session(Conn& c) {
  c.protocol.clear();
  json init = {{"jsonrpc", "2.0"},
               {"id", 0},
               {"method", "initialize"},
               {"params",
                {{"protocolVersion", "2025-11-25"},
                 {"capabilities", json::object()},
                 {"clientInfo", {{"name", "http_bench"}, {"version", "1.0"}}}}}};
  auto res = co_await c.exchange("POST", init.dump(), "");
  std::string why;
  auto m = answer_for(res, 0, why);
  if (!m || !(*m).contains("result")) {
    error("initialize failed: " + (m ? m->dump() : why));
    co_return false;
  }
  c.session = std::string(res["Mcp-Session-Id"]);
  c.protocol = (*m)["result"].value("protocolVersion", "2025-11-25");
  auto note = co_await c.exchange(
      "POST", R"({"jsonrpc":"2.0","method":"notifications/initialized"})", c.session);
  if (note.result_int() != 202 && note.result_int() != 200 && note.result_int() != 204) {
    error("notifications/initialized: status " + std::to_string(note.result_int()));
    co_return false;
  }
  co_return true;
}

// The headers of a 2026-07-28 tools/call of `echo` (MCP-Protocol-Version goes with the
// connection's protocol).
constexpr std::string_view kModernCallHeaders = "Mcp-Method: tools/call\r\nMcp-Name: echo\r\n";

// One checked tools/call echo on `sid` over `c` (with `modern`: a stateless 2026-07-28 request,
// `sid` empty). Returns the latency in ns, or nullopt.
awaitable<std::optional<std::uint64_t>> call_echo(Conn& c, const std::string& sid, long id,
                                                  const std::string& text, bool modern = false) {
  std::string body = R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
                     R"(,"method":"tools/call","params":{"name":"echo","arguments":{"message":)" +
                     json(text).dump() + "}";
  if (modern) {
    body += R"(,"_meta":{"io.modelcontextprotocol/protocolVersion":")";
    body += kModern;
    body += R"(","io.modelcontextprotocol/clientCapabilities":{}})";
  }
  body += "}}";
  auto start = Clock::now();
  auto res = co_await c.exchange("POST", body, sid, modern ? kModernCallHeaders : "");
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
  std::string why;
  auto m = answer_for(res, id, why);
  if (!m) {
    error("tools/call " + std::to_string(id) + ": " + why);
    co_return std::nullopt;
  }
  const json& r = (*m).contains("result") ? (*m)["result"] : json();
  bool ok = r.is_object() && !r.value("isError", false) && r.contains("content") &&
            r["content"].is_array() && !r["content"].empty() && r["content"][0].is_object() &&
            r["content"][0].value("text", "") == text;
  if (ok && modern) {
    // 2026-07-28: every result says whether it is complete (an `input_required` answer is not
    // a finished call), and there are no sessions.
    if (r.value("resultType", "") != "complete") {
      error("tools/call " + std::to_string(id) + ": no resultType \"complete\" in " +
            shorten(m->dump()));
      co_return std::nullopt;
    }
    if (res.find("Mcp-Session-Id") != res.end()) {
      error("tools/call " + std::to_string(id) + ": a 2026-07-28 answer carries Mcp-Session-Id " +
            std::string(res["Mcp-Session-Id"]));
      co_return std::nullopt;
    }
  }
  if (!ok) {
    error("tools/call " + std::to_string(id) + ": unexpected answer " + shorten(m->dump()));
    co_return std::nullopt;
  }
  co_return static_cast<std::uint64_t>(ns);
}

awaitable<void> delete_session(Conn& c, const std::string& sid) {
  if (sid.empty()) co_return;
  try {
    co_await c.exchange("DELETE", "", sid);
  } catch (const std::exception&) {
  }
}

// calls mode: one connection's closed loop.
awaitable<void> caller(int index) {
  Conn c(co_await asio::this_coro::executor);
  try {
    co_await c.connect();
    if (g_opt.modern) {
      c.protocol = kModern;  // every request names it; nothing to negotiate
    } else if (!co_await open_session(c)) {
      co_return;
    }
    std::string text = g_opt.message + " #" + std::to_string(index);
    for (long id = 1; g_phase != Phase::Done; ++id) {
      bool measuring = g_phase == Phase::Measure;
      auto ns = co_await call_echo(c, c.session, id, text, g_opt.modern);
      if (!ns) break;
      ++g_total_calls;
      if (measuring && g_phase == Phase::Measure) {
        g_samples_ns.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(*ns, ~0u)));
        if (g_opt.calls > 0 && static_cast<long>(g_samples_ns.size()) >= g_opt.calls) {
          g_phase = Phase::Done;
          g_t1 = Clock::now();
        }
      }
    }
    co_await delete_session(c, c.session);
  } catch (const std::exception& e) {
    error(std::string("connection ") + std::to_string(index) + ": " + e.what());
  }
}

double pct(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(k, v.size() - 1)] / 1000.0;
}

int run_calls(asio::io_context& ioc) {
  g_samples_ns.reserve(g_opt.calls > 0 ? static_cast<std::size_t>(g_opt.calls) : 1u << 20);
  for (int i = 0; i < g_opt.connections; ++i)
    asio::co_spawn(ioc, caller(i), asio::detached);
  asio::steady_timer warm(ioc), stop(ioc);
  warm.expires_after(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(g_opt.warmup)));
  warm.async_wait([&](const boost::system::error_code&) {
    if (g_phase != Phase::Warmup) return;
    g_phase = Phase::Measure;
    g_t0 = Clock::now();
    if (g_opt.calls > 0) return;
    stop.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(g_opt.seconds)));
    stop.async_wait([](const boost::system::error_code&) {
      if (g_phase == Phase::Measure) {
        g_phase = Phase::Done;
        g_t1 = Clock::now();
      }
    });
  });
  ioc.run();
  if (g_phase != Phase::Done) {  // every connection failed early
    g_t1 = Clock::now();
    if (g_phase == Phase::Warmup) g_t0 = g_t1;
  }
  double secs = std::chrono::duration<double>(g_t1 - g_t0).count();
  auto n = g_samples_ns.size();
  std::sort(g_samples_ns.begin(), g_samples_ns.end());
  if (n == 0 && g_errors == 0) error("no call completed in the measured phase");
  std::printf(
      "mode=calls mcp=%s connections=%d calls=%zu total_calls=%ld seconds=%.3f rate=%.0f "
      "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%ld\n",
      g_opt.modern ? "2026-07-28" : "2025-11-25", g_opt.connections, n, g_total_calls, secs,
      secs > 0 ? static_cast<double>(n) / secs : 0.0, pct(g_samples_ns, 50), pct(g_samples_ns, 90),
      pct(g_samples_ns, 99), pct(g_samples_ns, 99.9), n ? g_samples_ns.back() / 1000.0 : 0.0,
      g_errors);
  return g_errors == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- idle mode

struct IdleState {
  std::vector<std::string> sessions;
  std::string protocol;
  int streams_open = 0;    // GET streams answered 200 text/event-stream
  int streams_lost = 0;    // ended before the test let them go
  long stream_bytes = 0;   // keep-alive comments and events read on them
  bool releasing = false;  // streams may end from here on (sessions deleted)
  long calls_ok = 0;
};
IdleState g_idle;

awaitable<void> idle_opener(int worker, int count) {
  Conn c(co_await asio::this_coro::executor);
  try {
    co_await c.connect();
    for (int i = 0; i < count; ++i) {
      if (!co_await open_session(c)) co_return;
      g_idle.sessions.push_back(c.session);
      g_idle.protocol = c.protocol;
    }
  } catch (const std::exception& e) {
    error("opener " + std::to_string(worker) + ": " + e.what());
  }
}

awaitable<void> idle_stream(std::string sid, std::shared_ptr<asio::steady_timer> all_open,
                            std::shared_ptr<int> pending) {
  tcp::socket sock(co_await asio::this_coro::executor);
  bool counted = false;
  try {
    co_await sock.async_connect(g_endpoint, use_awaitable);
    std::string req = "GET " + g_opt.path + " HTTP/1.1\r\nHost: " + g_opt.host + ":" + g_opt.port +
                      "\r\nAccept: text/event-stream\r\nMcp-Session-Id: " + sid +
                      "\r\nMCP-Protocol-Version: " + g_idle.protocol + "\r\n\r\n";
    co_await asio::async_write(sock, asio::buffer(req), use_awaitable);
    std::string head;
    char tmp[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      auto n = co_await sock.async_read_some(asio::buffer(tmp), use_awaitable);
      head.append(tmp, n);
    }
    auto lowered = head;
    for (auto& ch : lowered)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!head.starts_with("HTTP/1.1 200") ||
        lowered.find("content-type: text/event-stream") == std::string::npos) {
      error("GET stream for " + sid + ": " + shorten(head, 200));
    } else {
      ++g_idle.streams_open;
      counted = true;
    }
    if (--*pending == 0) all_open->cancel();
    if (!counted) co_return;
    for (;;) {
      auto n = co_await sock.async_read_some(asio::buffer(tmp), use_awaitable);
      g_idle.stream_bytes += static_cast<long>(n);
    }
  } catch (const std::exception& e) {
    if (!counted) {
      error("GET stream for " + sid + ": " + e.what());
      if (--*pending == 0) all_open->cancel();
    } else if (!g_idle.releasing) {
      ++g_idle.streams_lost;
      error("GET stream for " + sid + " ended early: " + e.what());
    }
  }
}

awaitable<void> idle_caller(int worker, std::shared_ptr<int> left,
                            std::shared_ptr<asio::steady_timer> done, bool del) {
  Conn c(co_await asio::this_coro::executor);
  c.protocol = g_idle.protocol;
  try {
    co_await c.connect();
    for (std::size_t i = static_cast<std::size_t>(worker); i < g_idle.sessions.size();
         i += static_cast<std::size_t>(g_opt.connections)) {
      const auto& sid = g_idle.sessions[i];
      if (del) {
        co_await delete_session(c, sid);
      } else if (co_await call_echo(c, sid, 1000000 + static_cast<long>(i),
                                    g_opt.message + " idle " + std::to_string(i))) {
        ++g_idle.calls_ok;
      }
    }
  } catch (const std::exception& e) {
    error("caller " + std::to_string(worker) + ": " + e.what());
  }
  if (--*left == 0) done->cancel();
}

awaitable<void> sleep_for(double s) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
}

awaitable<void> wait_cancel(asio::steady_timer& t) {
  t.expires_after(std::chrono::hours(1));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
}

awaitable<void> run_idle_main() {
  auto ex = co_await asio::this_coro::executor;
  int n = g_opt.idle_sessions, w = std::max(1, g_opt.connections);
  auto t_open = Clock::now();
  {
    auto left = std::make_shared<int>(w);
    auto done = std::make_shared<asio::steady_timer>(ex);
    for (int i = 0; i < w; ++i) {
      int count = n / w + (i < n % w ? 1 : 0);
      asio::co_spawn(
          ex,
          [i, count, left, done]() -> awaitable<void> {
            co_await idle_opener(i, count);
            if (--*left == 0) done->cancel();
          },
          asio::detached);
    }
    co_await wait_cancel(*done);
  }
  double open_s = std::chrono::duration<double>(Clock::now() - t_open).count();
  auto all_open = std::make_shared<asio::steady_timer>(ex);
  auto pending = std::make_shared<int>(static_cast<int>(g_idle.sessions.size()));
  for (const auto& sid : g_idle.sessions)
    asio::co_spawn(ex, idle_stream(sid, all_open, pending), asio::detached);
  if (*pending > 0) co_await wait_cancel(*all_open);
  co_await sleep_for(g_opt.hold);
  for (bool del : {false, true}) {
    if (del) {
      co_await sleep_for(0.2);  // streams must survive the calls too
      g_idle.releasing = true;
    }
    auto left = std::make_shared<int>(w);
    auto done = std::make_shared<asio::steady_timer>(ex);
    for (int i = 0; i < w; ++i)
      asio::co_spawn(ex, idle_caller(i, left, done, del), asio::detached);
    co_await wait_cancel(*done);
  }
  std::printf(
      "mode=idle sessions=%zu/%d open_seconds=%.2f streams_open=%d streams_lost=%d "
      "stream_bytes=%ld calls_ok=%ld errors=%ld\n",
      g_idle.sessions.size(), n, open_s, g_idle.streams_open, g_idle.streams_lost,
      g_idle.stream_bytes, g_idle.calls_ok, g_errors);
  if (static_cast<int>(g_idle.sessions.size()) != n || g_idle.streams_open != n ||
      g_idle.calls_ok != n || g_idle.streams_lost != 0) {
    if (g_errors == 0) error("idle: not every session, stream and call succeeded");
  }
  g_ioc->stop();  // streams of sessions the server did not end are let go
}

int run_idle(asio::io_context& ioc) {
  asio::co_spawn(ioc, run_idle_main(), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        error(std::string("idle: ") + x.what());
      }
    }
  });
  ioc.run();
  return g_errors == 0 ? 0 : 1;
}

void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: http_bench --port P [--host H] [--path /mcp] [--connections N]\n"
               "                  [--seconds S | --calls N] [--warmup S] [--message TEXT]\n"
               "                  [--mcp 2025-11-25|2026-07-28] [--idle-sessions N [--hold S]]\n"
               "                  [--header 'Name: value']...\n"
               "  --mcp 2026-07-28: stateless tools/call (envelope in params._meta, MCP headers,\n"
               "                    no initialize, no session); calls mode only\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--host")
      g_opt.host = next();
    else if (a == "--port")
      g_opt.port = next();
    else if (a == "--path")
      g_opt.path = next();
    else if (a == "--connections")
      g_opt.connections = std::stoi(next());
    else if (a == "--seconds")
      g_opt.seconds = std::stod(next());
    else if (a == "--warmup")
      g_opt.warmup = std::stod(next());
    else if (a == "--calls")
      g_opt.calls = std::stol(next());
    else if (a == "--message")
      g_opt.message = next();
    else if (a == "--idle-sessions")
      g_opt.idle_sessions = std::stoi(next());
    else if (a == "--hold")
      g_opt.hold = std::stod(next());
    else if (a == "--header")
      g_opt.headers += next() + "\r\n";
    else if (a == "--mcp") {
      auto v = next();
      if (v != "2025-11-25" && v != kModern) usage();
      g_opt.modern = v == kModern;
    } else
      usage();
  }
  if (g_opt.port.empty() || g_opt.connections < 1) usage();
  if (g_opt.modern && g_opt.idle_sessions > 0) usage();  // 2026-07-28 has no sessions to hold
  raise_fd_limit();
  asio::io_context ioc(1);
  g_ioc = &ioc;
  g_endpoint = tcp::endpoint(asio::ip::make_address(g_opt.host),
                             static_cast<unsigned short>(std::stoul(g_opt.port)));
  return g_opt.idle_sessions > 0 ? run_idle(ioc) : run_calls(ioc);
}
