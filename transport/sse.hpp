// Server-Sent Events parsing (the WHATWG "event stream interpretation"), for SSE responses
// of MCP servers: bytes in, complete events out. Pure: no I/O, fed in arbitrary chunks.
//
//   feed("id: 7\r\ndata: {...}\r\n\r\n") ──► on_event({event "message", data "{...}", id "7"})
//   feed("retry: 500\n")                 ──► on_retry(500 ms)
//   an event whose data grows past max_event_bytes ──► on_oversize(prefix, size), dropped
//
// Handled as the spec says: a UTF-8 BOM at the very start, CRLF / LF / CR line ends (a CR at
// the end of one chunk and an LF at the start of the next are one line end), comments
// (`:`), `data` lines joined with LF, an optional space after the colon, `id` (ignored when
// it holds NUL; it persists to later events), `retry` (digits only), and an event with no
// data is not dispatched. Written by hand: no Debian package offers an SSE parser, and the
// grammar is small.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace gt::transport::sse {

struct Event {
  std::string type = "message";  // the `event:` field, "message" when absent
  std::string data;              // `data:` lines joined with LF
  std::string id;                // the last event id in effect when it was dispatched
};

class Parser {
 public:
  struct Handlers {
    std::function<void(Event&&)> on_event;
    std::function<void(std::chrono::milliseconds)> on_retry;
    // An event (or a line) larger than the limit: its first bytes and its size.
    std::function<void(std::string_view prefix, std::size_t size)> on_oversize;
  };

  Parser(Handlers h, std::size_t max_event_bytes);

  void feed(std::string_view bytes);
  // The last event id seen (to send as Last-Event-ID on reconnection).
  const std::string& last_event_id() const { return last_id_; }

 private:
  void append_line(std::string_view seg);
  void line_end();
  void process_line(std::string_view line);
  void dispatch();

  Handlers h_;
  std::size_t max_;
  std::string line_;  // the current, incomplete line
  bool line_oversize_ = false;
  std::size_t line_size_ = 0;  // bytes of the current line, also beyond the limit
  bool started_ = false;       // past the optional BOM
  std::size_t bom_seen_ = 0;
  bool after_cr_ = false;  // the last byte fed was CR: a following LF belongs to it
  std::string type_, data_, id_buf_, last_id_;
  bool oversize_ = false;  // the event being collected is too large
  std::size_t event_size_ = 0;
  std::string oversize_prefix_;
};

}  // namespace gt::transport::sse
