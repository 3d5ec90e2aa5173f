#include "governance/policy/pnode.hpp"

#include <yaml.h>

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>

#include "governance/policy/yaml_json.hpp"
#include "governance/policy/yaml_load.hpp"

namespace gt::gov::policy {

const std::vector<PNode>& PNode::empty() {
  static const std::vector<PNode> none;
  return none;
}

const std::string& PNode::no_text() {
  static const std::string none;
  return none;
}

const PNode& PNode::operator[](const std::string& key) const {
  static const PNode undefined;
  if (kind_ != Kind::Map) return undefined;
  for (size_t i = 0; i + 1 < v_.size(); i += 2) {
    const PNode& k = v_[i];
    if (!k.container() && k.s_ == key) return v_[i + 1];
  }
  return undefined;
}

// The one whose second occurrence comes first, so the error points at the first repeat.
const PNode* PNode::duplicate_key(const PNode& map) {
  const auto& kids = map.v_;  // keys are never containers (the builders refuse them)
  std::vector<uint32_t> idx(kids.size() / 2);  // key i is kids[2 * i]
  std::iota(idx.begin(), idx.end(), 0u);
  auto key = [&](uint32_t i) -> const std::string& { return kids[2 * size_t{i}].s_; };
  std::stable_sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) { return key(a) < key(b); });
  const PNode* found = nullptr;
  uint32_t best = UINT32_MAX;
  for (size_t i = 1; i < idx.size(); ++i) {
    if (key(idx[i]) == key(idx[i - 1]) && idx[i] < best) {
      best = idx[i];
      found = &kids[2 * size_t{best}];
    }
  }
  return found;
}

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

  static bool run(const std::string& text, PNode& out, PNodeError& err, const YamlLimits& lim) {
    if (text.size() > lim.max_bytes) {
      err.message = "the document is " + std::to_string(text.size()) +
                    " bytes, over the limit of " + std::to_string(lim.max_bytes) + " bytes";
      return false;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
      err.message = "cannot initialize the yaml parser";
      return false;
    }
    std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> guard(&parser, yaml_parser_delete);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    std::vector<Frame> stack;
    std::map<std::string, PNode> anchors;
    YamlBudget budget(lim);
    YamlError berr;
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
        top.node->v_.push_back(std::move(value));
        *where = &top.node->v_.back();
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
      top.node->v_.push_back(std::move(top.key));
      top.node->v_.push_back(std::move(value));
      top.have_key = false;
      top.key = PNode();
      *where = &top.node->v_.back();
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
      switch (ev.type) {
        case YAML_STREAM_END_EVENT:
          return true;
        case YAML_SCALAR_EVENT: {
          if (!budget.scalar(ev.data.scalar.length,
                             reinterpret_cast<const char*>(ev.data.scalar.anchor), berr))
            return fail(ev.start_mark, berr.message);
          PNode n;
          n.mark_ = mark_of(ev.start_mark);
          n.s_.assign(reinterpret_cast<const char*>(ev.data.scalar.value), ev.data.scalar.length);
          const char* tag = reinterpret_cast<const char*>(ev.data.scalar.tag);
          bool str_tag = tag && std::string(tag) == "tag:yaml.org,2002:str";
          n.quoted_ = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || str_tag;
          const std::string& s = n.s_;
          bool null_like =
              !n.quoted_ && (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL");
          n.kind_ = null_like ? PNode::Kind::Null : PNode::Kind::Scalar;
          std::string anchor =
              ev.data.scalar.anchor ? reinterpret_cast<const char*>(ev.data.scalar.anchor) : "";
          PNode* where = nullptr;
          PNode copy = anchor.empty() ? PNode() : n;
          if (!place(std::move(n), ev.start_mark, &where)) return false;
          if (!anchor.empty()) anchors[anchor] = std::move(copy);
          break;
        }
        case YAML_ALIAS_EVENT: {
          // The budget knows every complete anchor; this map holds the same ones.
          if (!budget.alias(reinterpret_cast<const char*>(ev.data.alias.anchor), berr))
            return fail(ev.start_mark, berr.message);
          auto it = anchors.find(reinterpret_cast<const char*>(ev.data.alias.anchor));
          if (it == anchors.end()) return fail(ev.start_mark, "unknown alias");
          PNode* where = nullptr;
          if (!place(PNode(it->second), ev.start_mark, &where)) return false;
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
          const yaml_char_t* a = seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
          if (!budget.open(reinterpret_cast<const char*>(a), berr))
            return fail(ev.start_mark, berr.message);
          PNode n;
          n.make_container(seq ? PNode::Kind::Sequence : PNode::Kind::Map);
          n.mark_ = mark_of(ev.start_mark);
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
          budget.close();
          Frame f = std::move(stack.back());
          stack.pop_back();
          f.node->v_.shrink_to_fit();
          if (f.node->kind_ == PNode::Kind::Map) {
            if (const PNode* dup = PNode::duplicate_key(*f.node)) {
              err.line = dup->mark_.line + 1;
              err.column = dup->mark_.column + 1;
              err.message = "duplicate key `" + dup->s_ + "`";
              return false;
            }
          }
          if (!f.anchor.empty()) anchors[f.anchor] = *f.node;
          break;
        }
        default:
          break;  // stream/document start/end
      }
    }
  }
};

bool parse_pnode(const std::string& text, PNode& out, PNodeError& err, const YamlLimits& limits) {
  out = PNode();
  return PNodeBuilder::run(text, out, err, limits);
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
      for (const auto e : n.entries())
        obj[e.first.Scalar()] = pnode_to_json(e.second);
      return obj;
    }
  }
  return nullptr;
}

}  // namespace gt::gov::policy
