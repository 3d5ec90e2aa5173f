// The one set of limits for every YAML (and JSON) document GlassTape reads: the config, policy
// files, policy test files and the signed manifest.
//
// YAML aliases make a small document expand into a huge tree ("billion laughs"), and deep
// nesting overflows recursive readers. Policy files are built into a PNode tree (pnode.hpp);
// the config and test files are read by yaml-cpp after check_yaml() (load_yaml() does both).
// Both count with YamlBudget, so the limits and their messages are the same everywhere:
//   - the document's size (read_text_file() refuses a larger file before reading it);
//   - nesting depth, aliases expanded (an alias placed at depth d adds its anchor's depth);
//   - nodes, aliases expanded;
//   - aliases may add at most as many nodes and scalar bytes as the document itself holds,
//     plus a small allowance, so expansion at most about doubles a document.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace YAML {
class Node;
}

namespace gt::gov::policy {

// The largest config, policy, test or manifest file read (a policy directory may set its own
// limit for policy and test files: SetOptions::max_file_bytes).
inline constexpr size_t kDefaultMaxYamlBytes = size_t{1} << 20;  // 1 MiB

struct YamlLimits {
  size_t max_bytes = kDefaultMaxYamlBytes;
  size_t max_depth = 128;
  size_t max_nodes = 1'000'000;
  size_t alias_allowance_nodes = 10'000;
  size_t alias_allowance_bytes = 64 * 1024;
};

struct YamlError {
  long line = 0;  // 1-based; 0 = the whole document
  long column = 0;
  std::string message;
};

// Counts a document as its parser's events arrive and says when a limit is exceeded. Each
// method returns false and fills `err` (line/column are the caller's, 1-based) on a limit.
class YamlBudget {
 public:
  explicit YamlBudget(const YamlLimits& limits) : lim_(limits) {}
  bool scalar(size_t bytes, const char* anchor, YamlError& err);
  bool alias(const char* anchor, YamlError& err);
  bool open(const char* anchor, YamlError& err);  // a sequence or mapping starts
  void close();                                   // ... and ends
  size_t depth() const { return stack_.size(); }

 private:
  struct Size {
    size_t nodes = 0, bytes = 0, height = 0;
  };
  struct Frame {
    std::string anchor;
    size_t nodes0 = 0, bytes0 = 0;  // totals when the container opened
    size_t height = 0;              // tallest child so far
  };
  bool count(size_t nodes, size_t bytes, size_t height, bool via_alias, YamlError& err);

  YamlLimits lim_;
  size_t nodes_ = 0, bytes_ = 0;              // everything, aliases expanded
  size_t alias_nodes_ = 0, alias_bytes_ = 0;  // added by aliases
  std::vector<Frame> stack_;
  std::unordered_map<std::string, Size> anchors_;
};

// Parses every document in `text` with libyaml's event parser (building nothing) under the
// limits. A syntax error is an error too.
bool check_yaml(std::string_view text, const YamlLimits& limits, YamlError& err);

// check_yaml(), then yaml-cpp. An empty document gives a null node.
bool load_yaml(const std::string& text, const YamlLimits& limits, YAML::Node& out, YamlError& err);

// Reads a regular file of at most `max_bytes` (a larger one is refused before it is read; a
// FIFO or device is refused without blocking). `error` says why, without the path.
bool read_text_file(const std::filesystem::path& path, size_t max_bytes, std::string& out,
                    std::string& error);

}  // namespace gt::gov::policy
