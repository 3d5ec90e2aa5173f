// Newline-delimited JSON-RPC over a pair of file descriptors (MCP stdio transport).
// One object per direction pair: the client-facing stdin/stdout, or a child's pipes.
//
// Flow (Boost.Beast style, explicit async, runs on one executor, no hidden threads):
//   start() → do_read() → on_read() → consume(): split lines → on_line(line) ... → do_read()
//   pause_reading() (from a handler) stops consume() after that line; the rest of the chunk
//   waits in rbuf_ and resume_reading() posts its consumption, then reading goes on.
//   send(line) → appended to out_ → do_write() → on_write() → more queued? do_write()
// Writes are coalesced: every line sent while a write is in flight goes out in the next one.
// A line longer than max_line is never buffered whole: its first bytes are kept so the
// caller can recover an id, the rest is discarded up to the next newline.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

namespace gt::transport {

class LineChannel : public std::enable_shared_from_this<LineChannel> {
 public:
  struct Handlers {
    // One complete line, without its "\n" (and without a trailing "\r"). The view is valid
    // only during the call.
    std::function<void(std::string_view line)> on_line;
    // A line exceeded max_line bytes: `prefix` holds its first bytes, `size` its full length.
    std::function<void(std::string_view prefix, std::size_t size)> on_oversize;
    // The read side ended: end of stream (ec == eof) or an error.
    std::function<void(const boost::system::error_code& ec)> on_close;
    // Everything queued has been written (flow control: resume whoever was paused).
    std::function<void()> on_drain;
  };

  // Takes ownership of the descriptors (read_fd may equal write_fd for sockets; pass -1
  // for a direction that is not used).
  LineChannel(boost::asio::any_io_executor ex, int read_fd, int write_fd, std::size_t max_line);
  ~LineChannel();

  void start(Handlers handlers);
  // Queues `line` plus "\n". Silently dropped after the write side failed or was closed.
  void send(std::string_view line);
  // Queues several already-framed bytes ("...\n...\n") at once.
  void send_raw(std::string_view framed);
  // Closes the write side once everything queued has been written.
  void close_write();
  // Stops reading now (the read side is closed; on_close is not called).
  void stop_reading();
  // Stops reading and closes both sides now.
  void close();
  // Flow control: deliver no further line (not even from the chunk already read) until
  // resume_reading(). Called from on_line, it takes effect after that line.
  void pause_reading() { paused_ = true; }
  void resume_reading();
  bool write_open() const { return write_open_; }
  std::size_t queued_bytes() const { return out_.size() + writing_.size(); }

 private:
  void do_read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  // Splits `data` into lines and delivers them, stopping while paused or closed with the
  // undelivered bytes left in rest_.
  void consume(std::string_view data);
  void read_on();  // after consume(): read more, or stop while paused
  void do_write();
  void on_write(const boost::system::error_code& ec, std::size_t n);
  void deliver(std::string_view line);

  boost::asio::posix::stream_descriptor in_;
  boost::asio::posix::stream_descriptor out_fd_;
  std::size_t max_line_;
  Handlers h_;
  // Read buffer, left uninitialised: only the pages a read fills become resident, which
  // matters with a thousand sessions of small messages.
  std::unique_ptr<char[]> rbuf_;
  std::string_view rest_;  // the part of rbuf_ not yet delivered when reading was paused
  std::string partial_;    // an incomplete line carried between reads
  bool discarding_ = false;
  std::size_t discarded_size_ = 0;
  std::string out_;      // queued, not yet being written
  std::string writing_;  // being written now
  bool write_in_flight_ = false;
  bool write_open_ = true;
  bool close_after_write_ = false;
  bool reading_ = false;
  bool paused_ = false;
};

}  // namespace gt::transport
