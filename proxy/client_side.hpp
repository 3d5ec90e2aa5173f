// What a front (stdio or HTTP) talks to for one client: a Session joined to one server, or an
// Aggregator in front of several. The front hands it the client's lines and reads its flow
// control; answers go back through the `Send` function the front gave it.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace gt::proxy {

class ClientSide {
 public:
  virtual ~ClientSide() = default;
  virtual void on_client_line(std::string_view line) = 0;
  virtual void on_client_oversize(std::string_view prefix, std::size_t size) = 0;
  // A request with this id (a transport::id_key) is still being handled: a new request may
  // not use the id yet.
  virtual bool in_flight(const std::string& key) const = 0;
  // tools/call requests read but not decided yet; the listener runs each time it drops.
  virtual std::size_t calls_deciding() const = 0;
  virtual void set_decided_listener(std::function<void()> f) = 0;
};

}  // namespace gt::proxy
