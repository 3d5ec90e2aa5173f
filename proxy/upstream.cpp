#include "proxy/upstream.hpp"

#include "proxy/admin/health.hpp"
#include "proxy/config.hpp"
#include "proxy/http_upstream.hpp"
#include "proxy/stdio_upstream.hpp"

namespace gt::proxy {

namespace {

// Every link reports its server's starts, exits and restarts to admin::upstream_status()
// (/readyz, /metrics). A decorator, so neither kind of link knows about the admin endpoints.
class ObservedLink : public UpstreamLink {
 public:
  ObservedLink(std::shared_ptr<UpstreamLink> inner, std::string server)
      : inner_(std::move(inner)), server_(std::move(server)) {}

  void start(Events events) override {
    auto& status = admin::upstream_status();
    auto server = server_;
    auto down = std::move(events.on_down);
    events.on_down = [server, down = std::move(down)](const std::string& why, bool restarting) {
      admin::upstream_status().exited(server, why, restarting);
      if (down) down(why, restarting);
    };
    auto restarted = std::move(events.on_restarted);
    events.on_restarted = [server, restarted = std::move(restarted)]() {
      admin::upstream_status().restarted(server);
      if (restarted) restarted();
    };
    try {
      inner_->start(std::move(events));
    } catch (const std::exception& e) {
      status.start_failed(server_, e.what());
      throw;
    }
    status.started(server_);
  }
  void send(std::string_view line) override { inner_->send(line); }
  bool up() const override { return inner_->up(); }
  void shutdown() override { inner_->shutdown(); }
  std::size_t queued_bytes() const override { return inner_->queued_bytes(); }
  void pause_reading() override { inner_->pause_reading(); }
  void resume_reading() override { inner_->resume_reading(); }

 private:
  std::shared_ptr<UpstreamLink> inner_;
  std::string server_;
};

}  // namespace

std::shared_ptr<UpstreamLink> make_upstream(boost::asio::any_io_executor ex,
                                            const ServerConfig& cfg, std::size_t max_message_bytes,
                                            std::chrono::milliseconds shutdown_grace) {
  std::shared_ptr<UpstreamLink> link;
  if (!cfg.url.empty()) {
    link = std::make_shared<HttpUpstream>(std::move(ex), cfg, max_message_bytes, shutdown_grace);
  } else {
    link = std::make_shared<StdioUpstream>(std::move(ex), cfg, max_message_bytes, shutdown_grace);
  }
  return std::make_shared<ObservedLink>(std::move(link), cfg.name);
}

}  // namespace gt::proxy
