#include "proxy/stdio_front.hpp"

#include <signal.h>
#include <unistd.h>
#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/batched_post.hpp"
#include "proxy/chain.hpp"
#include "proxy/legacy_bridge.hpp"
#include "proxy/session.hpp"
#include "proxy/upstream.hpp"
#include "transport/line_channel.hpp"

namespace gt::proxy {

int run_stdio_front(const Config& config, const StdioFrontOptions& opts) {
  const TenantConfig& tenant =
      opts.tenant.empty() ? config.tenants.front() : config.tenant(opts.tenant);
  const ServerConfig* server = nullptr;
  for (const auto& s : config.servers) {
    if (opts.server.empty() || s.name == opts.server) {
      if (server) throw ConfigError("the config has several servers: choose one with --server");
      server = &s;
    }
  }
  if (!server) {
    throw ConfigError(opts.server.empty() ? "no server to run: give one after `--`"
                                          : "no server `" + opts.server + "` in the config");
  }

  ::signal(SIGPIPE, SIG_IGN);  // a closed pipe is an error code, not a death
  boost::asio::io_context ioc(1);
  auto ex = ioc.get_executor();

  InterceptorEnv env{config, tenant, opts.debug};
  std::shared_ptr<Pipeline> pipeline = build_pipeline(env);

  auto client =
      std::make_shared<transport::LineChannel>(ex, ::dup(0), ::dup(1), config.max_message_bytes);
  // A 2026-07-28 client in front of a server that speaks only 2025-11-25 is bridged (the
  // bridge is transparent for a 2025 client, or a 2026 server).
  std::shared_ptr<UpstreamLink> upstream = std::make_shared<LegacyBridge>(
      ex, make_upstream(ex, *server, config.max_message_bytes, config.shutdown_grace), server->name,
      server->request_timeout.count() > 0 ? server->request_timeout
                                          : std::chrono::milliseconds(10000));
  SessionOptions so;
  so.session_id = "stdio-" + std::to_string(::getpid());
  so.server = server->name;
  so.principal = tenant.principal;
  so.max_message_bytes = config.max_message_bytes;
  so.max_batch_messages = config.max_batch_messages;
  so.request_timeout = server->request_timeout;
  so.max_timeout = server->max_timeout;
  auto session = std::make_shared<Session>(
      so, pipeline, *upstream, [client](std::string_view line) { client->send(line); },
      std::make_shared<BatchedPost>(ex)->poster(), ex);

  boost::asio::signal_set stop_signals(ex, SIGTERM, SIGINT, SIGHUP);
  bool stopping = false;
  auto stop = [&](const char* why) {
    if (stopping) return;
    stopping = true;
    spdlog::info("{}; stopping server `{}`", why, server->name);
    upstream->shutdown();
  };
  // When the client closes stdin (a piped client always does, right after its last
  // request), what was read is still seen through: calls being decided finish (allowed ones
  // are forwarded, denied ones answered), then the server's stdin is closed and it has its
  // grace period to answer what it was sent. Whatever it leaves unanswered gets -32001.
  bool client_gone = false;
  boost::asio::steady_timer drain_limit(ex);  // decisions waiting on the server's tools/list
  auto drain = [&]() {
    if (client_gone && !stopping && session->calls_deciding() == 0) {
      stop("the client closed stdin");
    }
  };

  // Flow control: when one side's writes back up (a slow reader), stop reading from the
  // other side until they drain, so memory stays bounded whatever the peers do.
  constexpr std::size_t kHighWater = 256 * 1024;
  // The same for calls the pipeline has not decided yet (e.g. waiting for the audit log's
  // group commit): at kMaxDeciding, the client's next line waits (LineChannel stops even in
  // the middle of a chunk it has read) until half are done. Each such call holds its context
  // and receipt payload (a few KB), so this bounds the proxy's memory under a pipelined
  // flood; 128 calls still fill a group commit (256 records: decisions and results).
  constexpr std::size_t kMaxDeciding = 128;
  session->set_decided_listener(
      [s = session.get(), client = client.get(), up = upstream.get(), &drain]() {
        if (s->calls_deciding() <= kMaxDeciding / 2 && up->queued_bytes() <= kHighWater) {
          client->resume_reading();
        }
        drain();
      });
  UpstreamEvents ev;
  ev.on_line = [session, client = client.get(), up = upstream.get()](std::string_view line) {
    session->on_server_line(line);
    if (client->queued_bytes() > kHighWater) up->pause_reading();
  };
  ev.on_drain = [session, client = client.get()]() {
    if (session->calls_deciding() < kMaxDeciding) client->resume_reading();
  };
  ev.on_oversize = [session](std::string_view p, std::size_t n) {
    session->on_server_oversize(p, n);
  };
  ev.on_down = [session](const std::string& why, bool restarting) {
    session->on_server_down(why, restarting);
  };
  ev.on_restarted = [session]() { session->on_server_restarted(); };
  ev.on_stopped = [&]() {
    // Requests the server never answered get their error before the client's stdout closes.
    session->on_server_down("server `" + server->name + "` stopped", false);
    boost::system::error_code ec;
    stop_signals.cancel(ec);
    drain_limit.cancel();
    client->stop_reading();  // e.g. after SIGTERM, stdin may still be open
    client->close_write();   // flush what the server said last, then let the loop end
  };
  upstream->start(std::move(ev));  // throws when the server cannot be started

  transport::LineChannel::Handlers ch;
  // The client channel's handlers hold the session by plain pointer: the session holds the
  // channel (to answer), and both live until this function returns.
  ch.on_line = [session = session.get(), client = client.get(),
                up = upstream.get()](std::string_view line) {
    session->on_client_line(line);
    if (up->queued_bytes() > kHighWater || session->calls_deciding() >= kMaxDeciding) {
      client->pause_reading();
    }
  };
  ch.on_drain = [up = upstream.get()]() { up->resume_reading(); };
  ch.on_oversize = [session = session.get()](std::string_view p, std::size_t n) {
    session->on_client_oversize(p, n);
  };
  ch.on_close = [&](const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted) return;
    client_gone = true;
    if (session->calls_deciding() > 0) {
      spdlog::info("the client closed stdin; finishing {} call(s) being decided",
                   session->calls_deciding());
      // A decision can wait on the server (its tools/list): not longer than the grace period.
      drain_limit.expires_after(std::max<std::chrono::milliseconds>(
          config.shutdown_grace, std::chrono::milliseconds(1000)));
      drain_limit.async_wait([&](const boost::system::error_code& e) {
        if (!e) stop("the client closed stdin");
      });
    }
    drain();
  };
  client->start(std::move(ch));
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) stop(sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM");
  });

  ioc.run();
  client->close();
  return 0;
}

}  // namespace gt::proxy
