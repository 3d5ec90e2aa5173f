#include "proxy/upstream.hpp"

#include "proxy/config.hpp"
#include "proxy/http_upstream.hpp"
#include "proxy/stdio_upstream.hpp"

namespace gt::proxy {

std::shared_ptr<UpstreamLink> make_upstream(boost::asio::any_io_executor ex,
                                            const ServerConfig& cfg, std::size_t max_message_bytes,
                                            std::chrono::milliseconds shutdown_grace) {
  if (!cfg.url.empty()) {
    return std::make_shared<HttpUpstream>(std::move(ex), cfg, max_message_bytes, shutdown_grace);
  }
  return std::make_shared<StdioUpstream>(std::move(ex), cfg, max_message_bytes, shutdown_grace);
}

}  // namespace gt::proxy
