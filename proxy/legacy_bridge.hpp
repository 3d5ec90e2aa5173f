// A server that speaks only MCP 2025-11-25 (or earlier), made to look like a 2026-07-28 server
// to the modern requests sent through it. It sits between the sessions (or a lane's shared
// server) and the link to the server:
//
//   modern request ─► LegacyBridge ─► the server, inside the session GlassTape holds with it
//   answer ◄── adapted (resultType, ttlMs, cacheScope; -32002 → -32602) ◄──┘
//   server/discover ◄── answered from the server's initialize result
//   the server asks the client (elicitation, sampling, roots) ─► an input_required result for
//     the request that caused it, with a requestState GlassTape mints; the server's request
//     waits. The client's retry (the same call, with inputResponses and that requestState)
//     answers the server's request, and the held call's answer becomes the retry's answer.
//
// Era: the first request sent through it decides. `initialize` (a 2025 client) or any request
// without the 2026-07-28 envelope makes it transparent for good. A modern request makes it ask
// the server (server/discover; an error or silence means legacy, then initialize). A modern
// server: transparent. Requests wait for the answer in a bounded queue. After a restart the
// server is asked again.
//
// Attribution: over stdio a 2025 server's request carries no link to the request that caused
// it. It goes to the only request in flight (or, with none, to the only held call); with more
// than one candidate it is refused (the server gets an error) rather than guessed, since a
// wrong guess would show one client's question to another.
//
// A retry must carry the held call's method, tool name and arguments: the server is still
// running the call it started, so other arguments would be judged but never run (-32602).
// Progress of a held call after its first round is not delivered (its token was the first
// request's).
//
// Bounded: kMaxQueued requests wait for the probe, kMaxHeld calls are held (each at most
// kHoldFor, then cancelled at the server), kMaxAsks server requests per held call.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "proxy/upstream.hpp"

namespace gt::proxy {

class LegacyBridge : public UpstreamLink, public std::enable_shared_from_this<LegacyBridge> {
 public:
  static constexpr std::size_t kMaxQueued = 1024;
  static constexpr std::size_t kMaxHeld = 256;
  static constexpr std::size_t kMaxAsks = 16;
  static constexpr std::chrono::minutes kHoldFor{10};

  // `probe_wait`: how long the server may take to answer server/discover or initialize.
  LegacyBridge(boost::asio::any_io_executor ex, std::shared_ptr<UpstreamLink> inner,
               std::string server, std::chrono::milliseconds probe_wait);

  void start(Events events) override;
  void shutdown() override;
  void send(std::string_view line) override;
  bool up() const override { return inner_->up(); }
  std::size_t queued_bytes() const override { return inner_->queued_bytes(); }
  void pause_reading() override { inner_->pause_reading(); }
  void resume_reading() override { inner_->resume_reading(); }

  bool bridging() const { return era_ == Era::Legacy; }
  std::size_t held() const { return held_.size(); }

 private:
  enum class Era { Undecided, Probing, Transparent, Legacy };
  struct InFlight {         // a request at the server, by the server's id (id_key)
    std::string server_id;  // JSON text
    std::string answer_id;  // the id its answer goes up with (a retry's, once resumed)
    std::string method;
    std::string call;  // tools/call: name and arguments, canonical JSON (retries must match)
    nlohmann::json capabilities;  // the client's, from the request's envelope
  };
  struct Ask {
    std::string server_id;  // JSON text of the server's request id
    std::string input_key;
  };
  struct Held {
    InFlight request;
    std::vector<Ask> asks;               // asked in the last input_required
    std::vector<Ask> later;              // arrived after it: asked on the retry
    std::vector<std::string> questions;  // {method, params} of each of `later`, JSON text
    std::optional<std::string> answer;   // the server answered while the call was held
    std::chrono::steady_clock::time_point expires;
  };

  void from_server(std::string_view line);
  void legacy_request(std::string_view line);
  void server_request(std::string_view line);
  void resume(const std::string& token, std::string_view line, const nlohmann::json& params,
              const std::string& id);
  // input_required for `request` with `asks` (their questions), under a new token.
  void hold(InFlight request, std::vector<Ask> asks, std::vector<std::string> questions,
            std::optional<std::string> answer = std::nullopt);
  void up_line(std::string line);  // posted: never inside the sender's stack
  void up_error(const std::string& id, int code, const std::string& message);
  void probe();
  void on_probe_answer(std::string_view line, const std::string& id, bool has_result);
  void probed(Era era, const std::string& why = {});
  // `why`, and what the server answered to server/discover when the probe got that far.
  std::string with_discover_refusal(const std::string& why) const;
  void sweep();
  void arm_sweep(std::chrono::steady_clock::time_point at);  // the next sweep, at `at`

  boost::asio::any_io_executor ex_;
  std::shared_ptr<UpstreamLink> inner_;
  std::string server_;
  std::chrono::milliseconds probe_wait_;
  Events ev_;
  Era era_ = Era::Undecided;
  bool skip_discover_ = false;    // the server went down on server/discover: initialize only
  std::string init_result_;       // the legacy server's initialize result (JSON text)
  std::string discover_refusal_;  // its error message for server/discover, while probing
  std::vector<std::string> queue_;
  boost::asio::steady_timer probe_timer_;
  boost::asio::steady_timer hold_timer_;
  bool hold_armed_ = false;
  std::unordered_map<std::string, InFlight> in_flight_;   // by the server's id_key
  std::unordered_map<std::string, std::string> resumed_;  // retry id_key → server id_key
  std::unordered_map<std::string, Held> held_;            // by requestState
};

}  // namespace gt::proxy
