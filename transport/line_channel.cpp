#include "transport/line_channel.hpp"

#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace gt::transport {

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kOversizePrefix = 64 * 1024;
constexpr std::size_t kShrinkAbove = 1024 * 1024;
}  // namespace

LineChannel::LineChannel(boost::asio::any_io_executor ex, int read_fd, int write_fd,
                         std::size_t max_line)
    : in_(ex), out_fd_(ex), max_line_(max_line) {
  if (read_fd >= 0) in_.assign(read_fd);
  if (write_fd >= 0) {
    out_fd_.assign(write_fd == read_fd ? ::dup(write_fd) : write_fd);
  } else {
    write_open_ = false;
  }
}

LineChannel::~LineChannel() {
  boost::system::error_code ec;
  in_.close(ec);
  out_fd_.close(ec);
}

void LineChannel::start(Handlers handlers) {
  h_ = std::move(handlers);
  if (in_.is_open()) {
    reading_ = true;
    rbuf_.reset(new char[kReadChunk]);
    do_read();
  }
}

void LineChannel::do_read() {
  in_.async_read_some(boost::asio::buffer(rbuf_.get(), kReadChunk),
                      [self = shared_from_this()](const boost::system::error_code& ec,
                                                  std::size_t n) { self->on_read(ec, n); });
}

void LineChannel::deliver(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return;  // blank lines carry no message
  if (h_.on_line) h_.on_line(line);
}

void LineChannel::on_read(const boost::system::error_code& ec, std::size_t n) {
  if (ec) {
    reading_ = false;
    // A final line without "\n" still counts as a message.
    if (!discarding_ && !partial_.empty()) {
      std::string last = std::move(partial_);
      partial_.clear();
      deliver(last);
    }
    if (h_.on_close) h_.on_close(ec);
    return;
  }
  consume(std::string_view(rbuf_.get(), n));
  read_on();
}

void LineChannel::consume(std::string_view data) {
  rest_ = {};
  while (!data.empty()) {
    if (paused_ || !in_.is_open()) {
      rest_ = data;  // rbuf_ is not read into again until rest_ has been delivered
      return;
    }
    auto nl = data.find('\n');
    std::string_view piece = nl == std::string_view::npos ? data : data.substr(0, nl);
    if (discarding_) {
      discarded_size_ += piece.size();
    } else if (partial_.size() + piece.size() > max_line_) {
      // Keep a prefix for id recovery and drop the rest of this line.
      discarded_size_ = partial_.size() + piece.size();
      if (partial_.size() < kOversizePrefix) {
        partial_.append(piece.substr(0, std::min(kOversizePrefix - partial_.size(), piece.size())));
      } else {
        partial_.resize(kOversizePrefix);
      }
      discarding_ = true;
    } else if (nl != std::string_view::npos && partial_.empty()) {
      deliver(piece);  // fast path: the whole line is inside this read
    } else {
      partial_.append(piece);
    }
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
    if (discarding_) {
      std::string prefix = std::move(partial_);
      partial_.clear();
      discarding_ = false;
      if (h_.on_oversize) h_.on_oversize(prefix, discarded_size_);
      discarded_size_ = 0;
    } else if (!partial_.empty()) {
      std::string line = std::move(partial_);
      partial_.clear();
      deliver(line);
    }
  }
}

void LineChannel::read_on() {
  if (!in_.is_open()) {
    reading_ = false;
    return;
  }
  if (paused_) {
    reading_ = false;
    return;
  }
  do_read();
}

void LineChannel::resume_reading() {
  paused_ = false;
  if (!reading_ && in_.is_open() && h_.on_line) {
    reading_ = true;
    if (rest_.empty()) {
      do_read();
      return;
    }
    // Lines of the paused chunk are still waiting. Deliver them from the executor, not from
    // inside whichever handler resumed us, so a handler is never re-entered.
    // If it was paused again (or closed) before this runs, consume() keeps rest_ as it is.
    boost::asio::post(in_.get_executor(), [self = shared_from_this()] {
      self->consume(self->rest_);
      self->read_on();
    });
  }
}

void LineChannel::send(std::string_view line) {
  if (!write_open_ || close_after_write_) return;
  out_.reserve(out_.size() + line.size() + 1);
  out_.append(line);
  out_.push_back('\n');
  if (!write_in_flight_) do_write();
}

void LineChannel::send_raw(std::string_view framed) {
  if (!write_open_ || close_after_write_) return;
  out_.append(framed);
  if (!write_in_flight_) do_write();
}

void LineChannel::do_write() {
  if (out_.empty()) {
    if (close_after_write_) {
      boost::system::error_code ec;
      out_fd_.close(ec);
      write_open_ = false;
    }
    return;
  }
  writing_.swap(out_);
  out_.clear();
  write_in_flight_ = true;
  boost::asio::async_write(out_fd_, boost::asio::buffer(writing_),
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       std::size_t n) { self->on_write(ec, n); });
}

void LineChannel::on_write(const boost::system::error_code& ec, std::size_t /*n*/) {
  write_in_flight_ = false;
  writing_.clear();
  if (writing_.capacity() > kShrinkAbove) writing_.shrink_to_fit();  // a burst is over
  if (ec) {
    // The peer is gone (EPIPE) or the descriptor failed: nothing more can be written.
    write_open_ = false;
    out_.clear();
    boost::system::error_code ignored;
    out_fd_.close(ignored);
    return;
  }
  if (out_.empty() && h_.on_drain) h_.on_drain();
  do_write();
}

void LineChannel::close_write() {
  if (!write_open_) return;
  close_after_write_ = true;
  if (!write_in_flight_) do_write();
}

void LineChannel::stop_reading() {
  h_.on_close = nullptr;
  boost::system::error_code ec;
  in_.cancel(ec);
  in_.close(ec);
}

void LineChannel::close() {
  boost::system::error_code ec;
  in_.cancel(ec);
  in_.close(ec);
  out_fd_.close(ec);
  write_open_ = false;
  out_.clear();
}

}  // namespace gt::transport
