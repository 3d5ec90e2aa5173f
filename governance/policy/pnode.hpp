// A small read-only YAML document tree for policy files, built with libyaml (or, for a `.json`
// file, with nlohmann-json's SAX parser: pnode_json.cpp).
//
// Why not yaml-cpp (used for the proxy config)? Its regex-driven scanner costs ~100 µs for a
// small policy file, which alone would blow the 100 ms budget for loading 1,000 policies.
// libyaml (the C reference parser, Debian package libyaml-dev) is several times faster.
// The API mirrors the subset of YAML::Node the policy parser uses, and keeps each node's
// position so errors point into the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/policy/yaml_load.hpp"

namespace gt::gov::policy {

class PNode {
 public:
  enum class Kind : uint8_t { Undefined, Null, Scalar, Sequence, Map };
  struct Mark {
    int pos = -1;  // byte offset, 0-based (-1: unknown)
    int line = -1;
    int column = -1;
  };
  // A map entry: references into the map.
  struct Entry {
    const PNode& first;
    const PNode& second;
  };
  class Entries {
   public:
    class iterator {
     public:
      explicit iterator(const PNode* p) : p_(p) {}
      Entry operator*() const { return Entry{p_[0], p_[1]}; }
      iterator& operator++() {
        p_ += 2;
        return *this;
      }
      bool operator!=(const iterator& o) const { return p_ != o.p_; }

     private:
      const PNode* p_;
    };
    explicit Entries(const std::vector<PNode>& kids) : kids_(kids) {}
    iterator begin() const { return iterator(kids_.data()); }
    iterator end() const { return iterator(kids_.data() + kids_.size()); }

   private:
    const std::vector<PNode>& kids_;
  };

  PNode() { new (&s_) std::string(); }
  PNode(const PNode& o) : kind_(o.kind_), quoted_(o.quoted_), mark_(o.mark_) {
    if (container()) {
      new (&v_) std::vector<PNode>(o.v_);
    } else {
      new (&s_) std::string(o.s_);
    }
  }
  PNode(PNode&& o) noexcept : kind_(o.kind_), quoted_(o.quoted_), mark_(o.mark_) {
    if (container()) {
      new (&v_) std::vector<PNode>(std::move(o.v_));
    } else {
      new (&s_) std::string(std::move(o.s_));
    }
  }
  PNode& operator=(PNode&& o) noexcept {
    if (this == &o) return *this;
    destroy();
    kind_ = o.kind_;
    quoted_ = o.quoted_;
    mark_ = o.mark_;
    if (container()) {
      new (&v_) std::vector<PNode>(std::move(o.v_));
    } else {
      new (&s_) std::string(std::move(o.s_));
    }
    return *this;
  }
  PNode& operator=(const PNode& o) {
    if (this != &o) *this = PNode(o);
    return *this;
  }
  ~PNode() { destroy(); }

  explicit operator bool() const { return kind_ != Kind::Undefined; }
  bool IsNull() const { return kind_ == Kind::Null; }
  bool IsScalar() const { return kind_ == Kind::Scalar; }
  bool IsSequence() const { return kind_ == Kind::Sequence; }
  bool IsMap() const { return kind_ == Kind::Map; }
  Kind kind() const { return kind_; }
  const std::string& Scalar() const { return container() ? no_text() : s_; }
  bool quoted() const { return quoted_; }  // quoted, block or !!str: always a string
  Mark GetMark() const { return mark_; }
  // Map lookup; an undefined node when absent (or when this is not a map).
  const PNode& operator[](const std::string& key) const;
  size_t size() const {
    return kind_ == Kind::Map ? v_.size() / 2 : kind_ == Kind::Sequence ? v_.size() : 0;
  }
  // A map's entries (none for a sequence), a sequence's items (none for a map).
  Entries entries() const { return Entries(kind_ == Kind::Map ? v_ : empty()); }
  const std::vector<PNode>& items() const { return kind_ == Kind::Sequence ? v_ : empty(); }

 private:
  friend struct PNodeBuilder;
  friend struct PNodeJsonBuilder;
  static const std::vector<PNode>& empty();
  // In a finished map, the key whose second occurrence comes first (nullptr: none repeats).
  static const PNode* duplicate_key(const PNode& map);
  static const std::string& no_text();
  bool container() const { return kind_ == Kind::Sequence || kind_ == Kind::Map; }
  void destroy() {
    if (container()) {
      v_.~vector();
    } else {
      s_.~basic_string();
    }
  }
  void make_container(Kind k) {
    destroy();
    kind_ = k;
    new (&v_) std::vector<PNode>();
  }
  // 48 bytes a node: the text of a scalar, or a container's items (a map's keys and values
  // alternating), never both.
  Kind kind_ = Kind::Undefined;
  bool quoted_ = false;
  Mark mark_;
  union {
    std::string s_;
    std::vector<PNode> v_;
  };
};

struct PNodeError {
  long line = 0;    // 1-based
  long column = 0;  // 1-based
  std::string message;
};

// Parses the first document of `text` under `limits` (yaml_load.hpp: size, depth and nodes with
// aliases expanded, and how much aliases may add). Duplicate map keys are an error.
bool parse_pnode(const std::string& text, PNode& out, PNodeError& err,
                 const YamlLimits& limits = YamlLimits{});

// Parses `text` as one JSON document (RFC 8259) into the tree parse_pnode() builds for the same
// data written as YAML: strings are quoted scalars, numbers, `true`, `false` plain scalars with
// their text as written, `null` a null node. The same limits (size, depth, nodes) and the same
// refusal of duplicate keys; marks and errors are 0-based/1-based line and column (columns count
// UTF-8 characters, as libyaml does) and byte offsets. Unlike YAML, JSON allows a raw DEL and C1
// control characters in a string.
bool parse_pnode_json(const std::string& text, PNode& out, PNodeError& err,
                      const YamlLimits& limits = YamlLimits{});

// YAML 1.2 core-schema typing of scalars, as yaml_to_json does for yaml-cpp nodes.
nlohmann::json pnode_to_json(const PNode& node);

}  // namespace gt::gov::policy
