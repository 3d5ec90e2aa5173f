#include "transport/sse.hpp"

#include <algorithm>

namespace gt::transport::sse {

namespace {
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::size_t kPrefixBytes = 4096;  // kept of an oversize event (to recover its id)
}  // namespace

Parser::Parser(Handlers h, std::size_t max_event_bytes) : h_(std::move(h)), max_(max_event_bytes) {}

void Parser::feed(std::string_view bytes) {
  std::size_t i = 0;
  if (!started_) {
    while (i < bytes.size() && bom_seen_ < kBom.size() && bytes[i] == kBom[bom_seen_]) {
      ++bom_seen_;
      ++i;
    }
    if (bom_seen_ == kBom.size()) {
      started_ = true;
    } else if (i < bytes.size()) {
      started_ = true;  // not a BOM after all: the bytes taken for one are part of the line
      append_line(kBom.substr(0, bom_seen_));
    } else {
      return;  // a BOM's beginning so far
    }
  }
  while (i < bytes.size()) {
    if (after_cr_) {
      after_cr_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    auto j = bytes.find_first_of("\r\n", i);
    append_line(bytes.substr(i, (j == std::string_view::npos ? bytes.size() : j) - i));
    if (j == std::string_view::npos) break;
    after_cr_ = bytes[j] == '\r';
    i = j + 1;
    line_end();
  }
}

void Parser::append_line(std::string_view seg) {
  line_size_ += seg.size();
  if (line_oversize_) {
    if (line_.size() < kPrefixBytes) line_.append(seg.substr(0, kPrefixBytes - line_.size()));
    return;
  }
  // A line is a field name, a colon, a space and the value: allow for the field's name.
  if (line_size_ > max_ + 16) {
    line_oversize_ = true;
    line_.append(seg);
    if (line_.size() > kPrefixBytes) line_.resize(kPrefixBytes);
    return;
  }
  line_.append(seg);
}

void Parser::line_end() {
  if (line_oversize_) {
    // A line too large to keep: whatever field it was, the event it belongs to is dropped.
    std::string_view l = line_;
    if (l.substr(0, 5) == "data:") l.remove_prefix(l.size() > 5 && l[5] == ' ' ? 6 : 5);
    if (!oversize_) {
      oversize_ = true;
      oversize_prefix_ = data_.substr(0, kPrefixBytes);
      if (oversize_prefix_.size() < kPrefixBytes && data_.empty()) oversize_prefix_ = l;
      event_size_ = data_.size();
      data_.clear();
    }
    event_size_ += line_size_ - (line_.size() - l.size()) + 1;  // the value and its LF
    line_.clear();
    line_size_ = 0;
    line_oversize_ = false;
    return;
  }
  process_line(line_);
  line_.clear();
  line_size_ = 0;
}

void Parser::process_line(std::string_view line) {
  if (line.empty()) {
    dispatch();
    return;
  }
  if (line.front() == ':') return;  // a comment (keep-alive)
  std::string_view field = line, value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "event") {
    type_.assign(value);
  } else if (field == "data") {
    if (oversize_) {
      event_size_ += value.size() + 1;
    } else if (data_.size() + value.size() + 1 > max_ + 1) {
      oversize_ = true;
      oversize_prefix_ = data_.empty() ? std::string(value.substr(0, kPrefixBytes))
                                       : data_.substr(0, kPrefixBytes);
      event_size_ = data_.size() + value.size() + 1;
      data_.clear();
    } else {
      data_.append(value);
      data_.push_back('\n');
    }
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_buf_.assign(value);
  } else if (field == "retry") {
    if (!value.empty() && value.size() <= 9 &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      if (h_.on_retry) h_.on_retry(std::chrono::milliseconds(std::stol(std::string(value))));
    }
  }
  // Other fields are ignored, as the spec says.
}

void Parser::dispatch() {
  last_id_ = id_buf_;
  if (oversize_) {
    auto prefix = std::move(oversize_prefix_);
    auto size = event_size_ > 0 ? event_size_ - 1 : 0;  // without the last joining LF
    oversize_ = false;
    oversize_prefix_.clear();
    event_size_ = 0;
    type_.clear();
    if (h_.on_oversize) h_.on_oversize(prefix, size);
    return;
  }
  if (data_.empty()) {
    type_.clear();
    return;
  }
  data_.pop_back();  // the LF after the last data line
  Event ev;
  if (!type_.empty()) ev.type = std::move(type_);
  ev.data = std::move(data_);
  ev.id = last_id_;
  type_.clear();
  data_.clear();
  if (h_.on_event) h_.on_event(std::move(ev));
}

}  // namespace gt::transport::sse
