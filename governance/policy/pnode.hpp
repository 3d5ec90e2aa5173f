// A small read-only YAML document tree for policy files, built with libyaml.
//
// Why not yaml-cpp (used for the proxy config)? Its regex-driven scanner costs ~100 µs for a
// small policy file, which alone would blow the 100 ms budget for loading 1,000 policies.
// libyaml (the C reference parser, Debian package libyaml-dev) is several times faster.
// The API mirrors the subset of YAML::Node the policy parser uses, and keeps each node's
// position so errors point into the file.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::gov::policy {

class PNode {
 public:
  enum class Kind { Undefined, Null, Scalar, Sequence, Map };
  struct Mark {
    int pos = -1;  // byte offset, 0-based (-1: unknown)
    int line = -1;
    int column = -1;
  };
  using Entry = std::pair<PNode, PNode>;

  explicit operator bool() const { return kind_ != Kind::Undefined; }
  bool IsNull() const { return kind_ == Kind::Null; }
  bool IsScalar() const { return kind_ == Kind::Scalar; }
  bool IsSequence() const { return kind_ == Kind::Sequence; }
  bool IsMap() const { return kind_ == Kind::Map; }
  Kind kind() const { return kind_; }
  const std::string& Scalar() const { return scalar_; }
  bool quoted() const { return quoted_; }  // quoted, block or !!str: always a string
  Mark GetMark() const { return mark_; }
  // Map lookup; an undefined node when absent (or when this is not a map).
  const PNode& operator[](const std::string& key) const;
  size_t size() const { return kind_ == Kind::Map ? map_.size() : seq_.size(); }
  const std::vector<Entry>& entries() const { return map_; }
  const std::vector<PNode>& items() const { return seq_; }

 private:
  friend struct PNodeBuilder;
  Kind kind_ = Kind::Undefined;
  bool quoted_ = false;
  std::string scalar_;
  Mark mark_;
  std::vector<Entry> map_;
  std::vector<PNode> seq_;
};

struct PNodeError {
  long line = 0;    // 1-based
  long column = 0;  // 1-based
  std::string message;
};

// Parses the first document of `text`. Limits: nesting depth 128, 1,000,000 nodes (alias
// expansion included). Duplicate map keys are an error.
bool parse_pnode(const std::string& text, PNode& out, PNodeError& err);

// YAML 1.2 core-schema typing of scalars, as yaml_to_json does for yaml-cpp nodes.
nlohmann::json pnode_to_json(const PNode& node);

}  // namespace gt::gov::policy
