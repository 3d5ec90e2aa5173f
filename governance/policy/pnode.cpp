#include "governance/policy/pnode.hpp"

#include <yaml.h>

#include <map>
#include <memory>

#include "governance/policy/yaml_json.hpp"

namespace gt::gov::policy {

const PNode& PNode::operator[](const std::string& key) const {
  static const PNode undefined;
  if (kind_ != Kind::Map) return undefined;
  for (const auto& e : map_) {
    if (e.first.scalar_ == key && e.first.kind_ != Kind::Sequence && e.first.kind_ != Kind::Map)
      return e.second;
  }
  return undefined;
}

namespace {

constexpr size_t kMaxDepth = 128;
constexpr size_t kMaxNodes = 1'000'000;

size_t count_nodes(const PNode& n) {
  size_t c = 1;
  for (const auto& e : n.entries())
    c += count_nodes(e.first) + count_nodes(e.second);
  for (const auto& i : n.items())
    c += count_nodes(i);
  return c;
}

}  // namespace

struct PNodeBuilder {
  struct Frame {
    PNode* node = nullptr;
    bool have_key = false;
    PNode key;
    std::string anchor;
  };

  static PNode::Mark mark_of(const yaml_mark_t& m) {
    return PNode::Mark{static_cast<int>(m.index), static_cast<int>(m.line),
                       static_cast<int>(m.column)};
  }

  static bool run(const std::string& text, PNode& out, PNodeError& err) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
      err.message = "cannot initialize the yaml parser";
      return false;
    }
    std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> guard(&parser, yaml_parser_delete);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    std::vector<Frame> stack;
    std::map<std::string, std::pair<PNode, size_t>> anchors;  // name → (node, node count)
    size_t nodes = 0;
    bool have_root = false;
    auto fail = [&](const yaml_mark_t& m, std::string msg) {
      err.line = static_cast<long>(m.line) + 1;
      err.column = static_cast<long>(m.column) + 1;
      err.message = std::move(msg);
      return false;
    };
    // Places a finished value (scalar/alias) or a new container; returns where it lives.
    auto place = [&](PNode&& value, const yaml_mark_t& m, PNode** where) -> bool {
      if (stack.empty()) {
        if (have_root) return true;  // later documents are ignored
        out = std::move(value);
        have_root = true;
        *where = &out;
        return true;
      }
      Frame& top = stack.back();
      if (top.node->kind_ == PNode::Kind::Sequence) {
        top.node->seq_.push_back(std::move(value));
        *where = &top.node->seq_.back();
        return true;
      }
      if (!top.have_key) {
        if (value.kind_ == PNode::Kind::Map || value.kind_ == PNode::Kind::Sequence) {
          return fail(m, "complex mapping keys are not supported");
        }
        top.key = std::move(value);
        top.have_key = true;
        *where = nullptr;
        return true;
      }
      for (const auto& e : top.node->map_) {
        if (e.first.scalar_ == top.key.scalar_)
          return fail(m, "duplicate key `" + top.key.scalar_ + "`");
      }
      top.node->map_.emplace_back(std::move(top.key), std::move(value));
      top.have_key = false;
      top.key = PNode();
      *where = &top.node->map_.back().second;
      return true;
    };
    for (;;) {
      yaml_event_t ev;
      if (!yaml_parser_parse(&parser, &ev)) {
        std::string msg = parser.problem ? parser.problem : "invalid yaml";
        if (parser.context) msg = std::string(parser.context) + ": " + msg;
        return fail(parser.problem_mark, msg);
      }
      std::unique_ptr<yaml_event_t, void (*)(yaml_event_t*)> evg(&ev, yaml_event_delete);
      if (++nodes > kMaxNodes) return fail(ev.start_mark, "document has too many nodes");
      switch (ev.type) {
        case YAML_STREAM_END_EVENT:
          return true;
        case YAML_SCALAR_EVENT: {
          PNode n;
          n.mark_ = mark_of(ev.start_mark);
          n.scalar_.assign(reinterpret_cast<const char*>(ev.data.scalar.value),
                           ev.data.scalar.length);
          const char* tag = reinterpret_cast<const char*>(ev.data.scalar.tag);
          bool str_tag = tag && std::string(tag) == "tag:yaml.org,2002:str";
          n.quoted_ = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || str_tag;
          const std::string& s = n.scalar_;
          bool null_like =
              !n.quoted_ && (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL");
          n.kind_ = null_like ? PNode::Kind::Null : PNode::Kind::Scalar;
          std::string anchor =
              ev.data.scalar.anchor ? reinterpret_cast<const char*>(ev.data.scalar.anchor) : "";
          PNode* where = nullptr;
          PNode copy = anchor.empty() ? PNode() : n;
          if (!place(std::move(n), ev.start_mark, &where)) return false;
          if (!anchor.empty()) anchors[anchor] = {std::move(copy), 1};
          break;
        }
        case YAML_ALIAS_EVENT: {
          std::string name = reinterpret_cast<const char*>(ev.data.alias.anchor);
          auto it = anchors.find(name);
          if (it == anchors.end()) return fail(ev.start_mark, "unknown alias `" + name + "`");
          nodes += it->second.second;
          if (nodes > kMaxNodes)
            return fail(ev.start_mark, "document has too many nodes (alias expansion)");
          PNode* where = nullptr;
          if (!place(PNode(it->second.first), ev.start_mark, &where)) return false;
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          if (stack.size() >= kMaxDepth)
            return fail(ev.start_mark, "nesting deeper than 128 levels");
          PNode n;
          bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
          n.kind_ = seq ? PNode::Kind::Sequence : PNode::Kind::Map;
          n.mark_ = mark_of(ev.start_mark);
          const yaml_char_t* a = seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
          PNode* where = nullptr;
          if (!place(std::move(n), ev.start_mark, &where)) return false;
          if (!where) return fail(ev.start_mark, "complex mapping keys are not supported");
          Frame f;
          f.node = where;
          if (a) f.anchor = reinterpret_cast<const char*>(a);
          stack.push_back(std::move(f));
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
          if (stack.empty()) break;
          Frame f = std::move(stack.back());
          stack.pop_back();
          if (!f.anchor.empty()) anchors[f.anchor] = {*f.node, count_nodes(*f.node)};
          break;
        }
        default:
          break;  // stream/document start/end
      }
    }
  }
};

bool parse_pnode(const std::string& text, PNode& out, PNodeError& err) {
  out = PNode();
  return PNodeBuilder::run(text, out, err);
}

nlohmann::json pnode_to_json(const PNode& n) {
  switch (n.kind()) {
    case PNode::Kind::Undefined:
    case PNode::Kind::Null:
      return nullptr;
    case PNode::Kind::Scalar:
      return n.quoted() ? nlohmann::json(n.Scalar()) : yaml_plain_scalar(n.Scalar());
    case PNode::Kind::Sequence: {
      auto arr = nlohmann::json::array();
      for (const auto& i : n.items())
        arr.push_back(pnode_to_json(i));
      return arr;
    }
    case PNode::Kind::Map: {
      auto obj = nlohmann::json::object();
      for (const auto& e : n.entries())
        obj[e.first.Scalar()] = pnode_to_json(e.second);
      return obj;
    }
  }
  return nullptr;
}

}  // namespace gt::gov::policy
