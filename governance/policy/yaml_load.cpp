#include "governance/policy/yaml_load.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>
#include <yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace gt::gov::policy {

bool YamlBudget::count(size_t nodes, size_t bytes, size_t height, bool via_alias, YamlError& err) {
  nodes_ += nodes;
  bytes_ += bytes;
  if (via_alias) {
    alias_nodes_ += nodes;
    alias_bytes_ += bytes;
  }
  if (nodes_ > lim_.max_nodes) {
    err.message =
        "document has more than " + std::to_string(lim_.max_nodes) + " nodes (aliases expanded)";
    return false;
  }
  // What aliases added may not exceed what the document itself holds, plus an allowance.
  if (alias_nodes_ > lim_.alias_allowance_nodes + (nodes_ - alias_nodes_) ||
      alias_bytes_ > lim_.alias_allowance_bytes + (bytes_ - alias_bytes_)) {
    err.message = "aliases expand the document too much (they may add at most " +
                  std::to_string(lim_.alias_allowance_nodes) + " nodes and " +
                  std::to_string(lim_.alias_allowance_bytes) +
                  " bytes more than the document itself holds)";
    return false;
  }
  if (!stack_.empty()) stack_.back().height = std::max(stack_.back().height, height);
  return true;
}

bool YamlBudget::scalar(size_t bytes, const char* anchor, YamlError& err) {
  if (!count(1, bytes, 0, false, err)) return false;
  if (anchor) anchors_[anchor] = Size{1, bytes, 0};
  return true;
}

bool YamlBudget::alias(const char* anchor, YamlError& err) {
  // An anchor is known once its node is complete.
  // YAML lets an alias name a node it is inside of (`&a [*a]`, or `&a` given again to a node
  // holding `*a`): a cycle, which every reader would follow forever. Refused.
  for (const auto& f : stack_) {
    if (anchor && f.anchor == anchor) {
      err.message = std::string("alias `") + anchor + "` refers to a node that contains it";
      return false;
    }
  }
  auto it = anchors_.find(anchor ? anchor : "");
  if (it == anchors_.end()) {
    err.message = std::string("unknown alias `") + (anchor ? anchor : "") + "`";
    return false;
  }
  Size s = it->second;
  if (stack_.size() + s.height > lim_.max_depth) {
    err.message = "nesting deeper than " + std::to_string(lim_.max_depth) + " levels (alias `" +
                  it->first + "` expanded)";
    return false;
  }
  return count(s.nodes, s.bytes, s.height, true, err);
}

bool YamlBudget::open(const char* anchor, YamlError& err) {
  if (stack_.size() >= lim_.max_depth) {
    err.message = "nesting deeper than " + std::to_string(lim_.max_depth) + " levels";
    return false;
  }
  Frame f;
  f.nodes0 = nodes_;
  f.bytes0 = bytes_;
  if (anchor) f.anchor = anchor;
  if (!count(1, 0, 0, false, err)) return false;
  stack_.push_back(std::move(f));
  return true;
}

void YamlBudget::close() {
  if (stack_.empty()) return;
  Frame f = std::move(stack_.back());
  stack_.pop_back();
  size_t height = f.height + 1;
  if (!f.anchor.empty()) anchors_[f.anchor] = Size{nodes_ - f.nodes0, bytes_ - f.bytes0, height};
  if (!stack_.empty()) stack_.back().height = std::max(stack_.back().height, height);
}

bool check_yaml(std::string_view text, const YamlLimits& limits, YamlError& err) {
  if (text.size() > limits.max_bytes) {
    err = YamlError{0, 0,
                    "the document is " + std::to_string(text.size()) +
                        " bytes, over the limit of " + std::to_string(limits.max_bytes) + " bytes"};
    return false;
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    err = YamlError{0, 0, "cannot initialize the yaml parser"};
    return false;
  }
  std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> guard(&parser, yaml_parser_delete);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  YamlBudget budget(limits);
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      std::string msg = parser.problem ? parser.problem : "invalid yaml";
      if (parser.context) msg = std::string(parser.context) + ": " + msg;
      err = YamlError{static_cast<long>(parser.problem_mark.line) + 1,
                      static_cast<long>(parser.problem_mark.column) + 1, std::move(msg)};
      return false;
    }
    std::unique_ptr<yaml_event_t, void (*)(yaml_event_t*)> evg(&ev, yaml_event_delete);
    bool ok = true;
    auto name = [](const yaml_char_t* a) { return reinterpret_cast<const char*>(a); };
    switch (ev.type) {
      case YAML_STREAM_END_EVENT:
        return true;
      case YAML_SCALAR_EVENT:
        ok = budget.scalar(ev.data.scalar.length, name(ev.data.scalar.anchor), err);
        break;
      case YAML_ALIAS_EVENT:
        ok = budget.alias(name(ev.data.alias.anchor), err);
        break;
      case YAML_SEQUENCE_START_EVENT:
        ok = budget.open(name(ev.data.sequence_start.anchor), err);
        break;
      case YAML_MAPPING_START_EVENT:
        ok = budget.open(name(ev.data.mapping_start.anchor), err);
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        budget.close();
        break;
      default:
        break;
    }
    if (!ok) {
      err.line = static_cast<long>(ev.start_mark.line) + 1;
      err.column = static_cast<long>(ev.start_mark.column) + 1;
      return false;
    }
  }
}

bool load_yaml(const std::string& text, const YamlLimits& limits, YAML::Node& out, YamlError& err) {
  if (!check_yaml(text, limits, err)) return false;
  try {
    out = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    err = YamlError{e.mark.line + 1, e.mark.column + 1, e.msg};
    return false;
  }
  return true;
}

bool read_text_file(const std::filesystem::path& path, size_t max_bytes, std::string& out,
                    std::string& error) {
  out.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  auto too_large = [&](size_t size) {
    error = "the file is " + std::to_string(size) + " bytes, over the limit of " +
            std::to_string(max_bytes) + " bytes";
    return false;
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    error = "not a regular file";
    return false;
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return too_large(static_cast<size_t>(st.st_size));
  }
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      ::close(fd);
      out.clear();
      return false;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {  // it grew while being read
      ::close(fd);
      size_t seen = out.size() + static_cast<size_t>(n);
      out.clear();
      out.shrink_to_fit();
      return too_large(seen);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

}  // namespace gt::gov::policy
