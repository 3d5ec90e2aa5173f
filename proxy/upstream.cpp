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
  ObservedLink(std::shared_ptr<UpstreamLink> inner, const std::string& server)
      : inner_(std::move(inner)), id_(admin::upstream_status().attach(server)) {}
  ~ObservedLink() override { admin::upstream_status().detach(id_); }

  void start(Events events) override {
    auto id = id_;
    auto down = std::move(events.on_down);
    events.on_down = [id, down = std::move(down)](const std::string& why, bool restarting) {
      admin::upstream_status().exited(id, why, restarting);
      if (down) down(why, restarting);
    };
    auto restarted = std::move(events.on_restarted);
    events.on_restarted = [id, restarted = std::move(restarted)]() {
      admin::upstream_status().restarted(id);
      if (restarted) restarted();
    };
    try {
      inner_->start(std::move(events));
    } catch (const std::exception& e) {
      admin::upstream_status().start_failed(id_, e.what());
      throw;
    }
    admin::upstream_status().started(id_);
  }
  void send(std::string_view line) override { inner_->send(line); }
  bool up() const override { return inner_->up(); }
  // A deliberate stop (the session ended): the link no longer counts for readiness.
  void shutdown() override {
    admin::upstream_status().detach(id_);
    inner_->shutdown();
  }
  std::size_t queued_bytes() const override { return inner_->queued_bytes(); }
  void pause_reading() override { inner_->pause_reading(); }
  void resume_reading() override { inner_->resume_reading(); }

 private:
  std::shared_ptr<UpstreamLink> inner_;
  admin::UpstreamStatus::Link id_;
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
