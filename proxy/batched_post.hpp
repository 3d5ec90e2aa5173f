// Runs functions handed over by other threads on one executor, with one asio post per burst.
//
// The audit writer completes a whole group commit at once (up to 256 decisions): posting
// each completion on its own costs an allocation, a lock and often a wake-up of the session
// thread per call. Here the first function of a burst posts a drain, the others only join
// the queue; the drain runs them all, in order.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

namespace gt::proxy {

class BatchedPost : public std::enable_shared_from_this<BatchedPost> {
 public:
  explicit BatchedPost(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

  // Thread-safe. `f` runs on the executor, after the functions posted before it.
  void post(std::function<void()> f) {
    bool first = false;
    {
      std::lock_guard lk(mu_);
      first = queue_.empty();
      queue_.push_back(std::move(f));
    }
    // A drain is scheduled exactly when the queue goes from empty to non-empty: a running
    // drain has already taken the whole queue out.
    if (first) boost::asio::post(ex_, [self = shared_from_this()] { self->drain(); });
  }

  // As a Pipeline::Post.
  std::function<void(std::function<void()>)> poster() {
    return [self = shared_from_this()](std::function<void()> f) { self->post(std::move(f)); };
  }

 private:
  void drain() {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lk(mu_);
      run.swap(queue_);
    }
    for (auto& f : run)
      f();
  }

  boost::asio::any_io_executor ex_;
  std::mutex mu_;
  std::vector<std::function<void()>> queue_;
};

}  // namespace gt::proxy
