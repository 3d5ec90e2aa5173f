#include "proxy/stdio_front.hpp"

#include <signal.h>
#include <unistd.h>
#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/admin/admin_server.hpp"
#include "proxy/admin/health.hpp"
#include "proxy/admin/metrics.hpp"
#include "proxy/aggregator.hpp"
#include "proxy/batched_post.hpp"
#include "proxy/chain.hpp"
#include "proxy/legacy_bridge.hpp"
#include "proxy/session.hpp"
#include "proxy/upstream.hpp"
#include "transport/line_channel.hpp"

namespace gt::proxy {

namespace {

// The servers `run` serves: the one named by --server (or after `--`), or every configured one
// (several: behind one Aggregator).
std::vector<const ServerConfig*> chosen_servers(const Config& config, const std::string& name) {
  std::vector<const ServerConfig*> out;
  for (const auto& s : config.servers) {
    if (name.empty() || s.name == name) out.push_back(&s);
  }
  if (out.empty()) {
    throw ConfigError(name.empty() ? "no server to run: give one after `--`, or configure `servers`"
                                   : "no server `" + name + "` in the config");
  }
  return out;
}

}  // namespace

int run_stdio_front(const Config& config, const StdioFrontOptions& opts) {
  const TenantConfig& tenant =
      opts.tenant.empty() ? config.tenants.front() : config.tenant(opts.tenant);
  const auto servers = chosen_servers(config, opts.server);

  ::signal(SIGPIPE, SIG_IGN);  // a closed pipe is an error code, not a death
  boost::asio::io_context ioc(1);
  auto ex = ioc.get_executor();

  InterceptorEnv env{config, tenant, opts.debug};
  std::shared_ptr<Pipeline> pipeline = build_pipeline(env);

  // admin.listen: /healthz, /readyz and /metrics on a listener of their own (off by default).
  std::unique_ptr<admin::AdminServer> admin_server;
  if (!config.admin_listen.empty()) {
    std::vector<std::string> names;
    for (const auto* s : servers)
      names.push_back(s->name);
    try {
      admin_server = std::make_unique<admin::AdminServer>(
          ioc, config.admin_listen, [pipeline, names](admin::Report& out) {
            pipeline->report(out);
            admin::upstream_status().report(names, out);
          });
    } catch (const std::runtime_error& e) {
      throw ConfigError(e.what());
    }
  }

  auto client =
      std::make_shared<transport::LineChannel>(ex, ::dup(0), ::dup(1), config.max_message_bytes);
  auto to_client = [client](std::string_view line) { client->send(line); };
  auto post = std::make_shared<BatchedPost>(ex)->poster();

  // One link and one Session per server. A 2026-07-28 client in front of a server that speaks
  // only 2025-11-25 is bridged (the bridge is transparent for a 2025 client, or a 2026 server).
  struct Member {
    const ServerConfig* server;
    std::shared_ptr<UpstreamLink> link;
    std::shared_ptr<Session> session;
    bool started = false;
  };
  std::vector<Member> members;
  std::shared_ptr<Aggregator> aggregator;
  if (servers.size() > 1) {
    AggregateOptions ao;
    ao.session_id = "stdio-" + std::to_string(::getpid());
    ao.separator = config.aggregate.separator;
    ao.max_batch_messages = config.max_batch_messages;
    aggregator = std::make_shared<Aggregator>(ao, to_client);
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const ServerConfig& server = *servers[i];
    Member m{&server, nullptr, nullptr};
    m.link = std::make_shared<LegacyBridge>(
        ex, make_upstream(ex, server, config.max_message_bytes, config.shutdown_grace), server.name,
        server.request_timeout.count() > 0 ? server.request_timeout
                                           : std::chrono::milliseconds(10000));
    SessionOptions so;
    so.session_id = "stdio-" + std::to_string(::getpid());
    so.server = server.name;
    so.principal = tenant.principal;
    so.max_message_bytes = config.max_message_bytes;
    so.max_batch_messages = config.max_batch_messages;
    so.request_timeout = server.request_timeout;
    so.max_timeout = server.max_timeout;
    m.session = std::make_shared<Session>(so, pipeline, *m.link,
                                          aggregator ? aggregator->sink(i) : to_client, post, ex);
    members.push_back(std::move(m));
  }
  ClientSide& side = aggregator ? static_cast<ClientSide&>(*aggregator) : *members.front().session;

  boost::asio::signal_set stop_signals(ex, SIGTERM, SIGINT, SIGHUP);
  bool stopping = false;
  std::size_t running = 0;  // links started and not yet stopped
  auto stop = [&](const char* why) {
    if (stopping) return;
    stopping = true;
    spdlog::info("{}; stopping {}", why,
                 members.size() == 1 ? "server `" + members.front().server->name + "`"
                                     : std::to_string(running) + " servers");
    for (auto& m : members)
      if (m.started) m.link->shutdown();
  };
  // When the client closes stdin (a piped client always does, right after its last
  // request), what was read is still seen through: calls being decided finish (allowed ones
  // are forwarded, denied ones answered), then the server's stdin is closed and it has its
  // grace period to answer what it was sent. Whatever it leaves unanswered gets -32001.
  bool client_gone = false;
  boost::asio::steady_timer drain_limit(ex);  // decisions waiting on the server's tools/list
  auto drain = [&]() {
    if (client_gone && !stopping && side.calls_deciding() == 0) stop("the client closed stdin");
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
  auto servers_backed_up = [&members]() {
    for (const auto& m : members)
      if (m.started && m.link->queued_bytes() > kHighWater) return true;
    return false;
  };
  side.set_decided_listener([&side, client = client.get(), &servers_backed_up, &drain]() {
    if (side.calls_deciding() <= kMaxDeciding / 2 && !servers_backed_up()) client->resume_reading();
    drain();
  });
  for (std::size_t i = 0; i < members.size(); ++i) {
    auto& m = members[i];
    UpstreamEvents ev = aggregator ? aggregator->events_for(i) : Session::events_for(m.session);
    auto on_line = ev.on_line;
    ev.on_line = [on_line, client = client.get(), up = m.link.get()](std::string_view line) {
      on_line(line);
      if (client->queued_bytes() > kHighWater) up->pause_reading();
    };
    ev.on_drain = [&side, client = client.get()]() {
      if (side.calls_deciding() < kMaxDeciding) client->resume_reading();
    };
    ev.on_stopped = [&, i]() {
      // Requests the server never answered get their error before the client's stdout closes.
      members[i].session->on_server_down("server `" + members[i].server->name + "` stopped", false);
      if (--running > 0) return;
      if (admin_server) admin_server->stop();
      boost::system::error_code ec;
      stop_signals.cancel(ec);
      drain_limit.cancel();
      client->stop_reading();  // e.g. after SIGTERM, stdin may still be open
      client->close_write();   // flush what the server said last, then let the loop end
    };
    if (!aggregator) {
      m.link->start(std::move(ev));  // throws when the server cannot be started
      m.started = true;
      ++running;
      continue;
    }
    // Behind an aggregate, a server that cannot start is down; the others are served.
    AggregateMember am{m.server->name,
                       m.server->prefix,
                       m.server->prefix_mode.value_or(config.aggregate.prefix_mode),
                       m.session,
                       {}};
    try {
      m.link->start(std::move(ev));
      m.started = true;
      ++running;
    } catch (const std::exception& e) {
      spdlog::error("server `{}` cannot be started: {}; serving the others without it",
                    m.server->name, e.what());
      am.session = nullptr;
      am.down_reason = std::string("cannot be started: ") + e.what();
    }
    aggregator->add(std::move(am));
  }
  if (running == 0) throw ConfigError("none of the configured servers could be started");

  transport::LineChannel::Handlers ch;
  // The client channel's handlers hold the session by plain pointer: the session holds the
  // channel (to answer), and both live until this function returns.
  ch.on_line = [&side, client = client.get(), &servers_backed_up](std::string_view line) {
    side.on_client_line(line);
    if (servers_backed_up() || side.calls_deciding() >= kMaxDeciding) client->pause_reading();
  };
  ch.on_drain = [&members]() {
    for (auto& m : members)
      if (m.started) m.link->resume_reading();
  };
  ch.on_oversize = [&side](std::string_view p, std::size_t n) { side.on_client_oversize(p, n); };
  ch.on_close = [&](const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted) return;
    client_gone = true;
    if (side.calls_deciding() > 0) {
      spdlog::info("the client closed stdin; finishing {} call(s) being decided",
                   side.calls_deciding());
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
  admin::metrics().sessions.set({"stdio"}, 1);
  admin::metrics().sessions_opened.inc({"stdio"});
  if (admin_server) admin_server->start();
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) stop(sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM");
  });

  ioc.run();
  client->close();
  return 0;
}

}  // namespace gt::proxy
