// compile(): schema JSON -> Program (see compiled.hpp).
//
// Two passes over each document:
//  1. scan: walk every subschema position (by dialect), record its base URI, dialect,
//     vocabularies, resource and JSON pointer; register $id resources and anchors.
//  2. compile: turn schema objects into Schema nodes. $ref targets are resolved to JSON
//     nodes at once but compiled from a work list, so recursion depth is bounded by the
//     nesting of one document (checked up front), never by the length of a $ref chain.
// Documents outside the schema come only from the SchemaStore; nothing is fetched.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "governance/schema/compiled.hpp"
#include "governance/schema/json_util.hpp"
#include "governance/schema/metaschemas.hpp"
#include "governance/schema/regex.hpp"
#include "governance/schema/uri.hpp"
#include "governance/schema/validator.hpp"

namespace gt::gov::schema {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------
// SchemaStore

namespace {
std::string store_key(std::string_view uri) {
  std::string without, frag;
  detail::split_fragment(uri, without, frag);
  return without;
}
}  // namespace

void SchemaStore::add(std::string uri, json doc) {
  docs_[store_key(uri)] = std::move(doc);
}

const json* SchemaStore::find(std::string_view uri) const {
  auto it = docs_.find(store_key(uri));
  return it == docs_.end() ? nullptr : &it->second;
}

SchemaStore SchemaStore::load_dir(const std::filesystem::path& dir,
                                  std::vector<std::string>* errors) {
  SchemaStore s;
  std::error_code ec;
  auto note = [&](std::string m) {
    if (errors) errors->push_back(std::move(m));
  };
  if (!std::filesystem::is_directory(dir, ec)) {
    note("schema_dir `" + dir.string() + "` is not a directory");
    return s;
  }
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".json") continue;
    std::ifstream in(it->path(), std::ios::binary);
    json doc = json::parse(in, nullptr, false);
    if (doc.is_discarded()) {
      note("schema file `" + it->path().string() + "` is not valid json");
      continue;
    }
    if (!doc.is_object() || !doc.contains("$id") || !doc["$id"].is_string()) {
      note("schema file `" + it->path().string() + "` has no top-level string `$id`; skipped");
      continue;
    }
    std::string id = doc["$id"].get<std::string>();
    s.add(std::move(id), std::move(doc));
  }
  if (ec) note("cannot read schema_dir `" + dir.string() + "`: " + ec.message());
  return s;
}

// ---------------------------------------------------------------------------------------
// Compiler

namespace {

enum class Dialect { Draft7, Draft2020 };

enum Vocab : std::uint32_t {
  kVApplicator = 1,
  kVValidation = 2,
  kVUnevaluated = 4,
  kVFormatAssertion = 8,
  kVAll2020 = kVApplicator | kVValidation | kVUnevaluated,
};

constexpr std::string_view kDefaultBase = "gt:/root.json";
constexpr std::size_t kMaxUri = 4096;

struct CompileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct NodeInfo {
  std::string base;  // base URI, no fragment
  Dialect dialect = Dialect::Draft2020;
  std::uint32_t vocab = kVAll2020;
  std::string doc;      // URI of the document that holds the node
  std::string pointer;  // JSON pointer of the node within its resource's document
  Resource* resource = nullptr;
};

std::string strip_empty_fragment(std::string u) {
  if (!u.empty() && u.back() == '#') u.pop_back();
  return u;
}

class Compiler {
 public:
  Compiler(const Options& o, Program& p) : opts_(o), lim_(o.compile_limits), prog_(p) {
    if (o.store) {
      store_ = o.store;
    } else if (!o.schema_dir.empty()) {
      store_ = std::make_shared<SchemaStore>(SchemaStore::load_dir(o.schema_dir, nullptr));
    }
  }

  void run(const json& schema) {
    check_depth(schema, "the schema");  // before any recursive copy or walk
    const json& root = docs_.emplace_back(schema);
    Dialect d = Dialect::Draft2020;
    std::uint32_t vocab = kVAll2020;
    if (opts_.default_dialect == "draft-07") {
      d = Dialect::Draft7;
      vocab = kVApplicator | kVValidation;
    } else if (opts_.default_dialect != "2020-12") {
      throw CompileError("unknown default dialect `" + detail::quote(opts_.default_dialect) + "`");
    }
    if (root.is_object()) {
      if (auto it = root.find("$schema"); it != root.end()) {
        if (!it->is_string()) throw CompileError("`$schema` must be a string");
        resolve_dialect(it->get<std::string>(), d, vocab);
      }
    }
    prog_.dialect = d == Dialect::Draft7 ? "draft-07" : "2020-12";
    root_doc_ = std::string(kDefaultBase);
    add_document(root, root_doc_, d, vocab);
    prog_.root = compile(root);
    drain();
  }

 private:
  // ----- documents, scanning ------------------------------------------------------------

  void check_depth(const json& doc, const std::string& what) {
    auto m = detail::measure(doc, lim_.max_schema_depth, std::numeric_limits<std::size_t>::max(),
                             std::numeric_limits<std::size_t>::max(),
                             std::numeric_limits<std::size_t>::max());
    if (!m.exceeded.empty()) {
      throw CompileError(what + " nests deeper than " + std::to_string(lim_.max_schema_depth) +
                         " levels");
    }
  }

  Resource* new_resource(const std::string& uri) {
    auto it = resource_objs_.find(uri);
    if (it != resource_objs_.end()) return it->second;
    Resource& r = prog_.resources.emplace_back();
    r.uri = uri;
    resource_objs_[uri] = &r;
    return &r;
  }

  void add_document(const json& doc, const std::string& uri, Dialect d, std::uint32_t vocab) {
    loaded_.insert(uri);
    NodeInfo ctx;
    ctx.base = uri;
    ctx.dialect = d;
    ctx.vocab = vocab;
    ctx.doc = uri;
    ctx.resource = new_resource(uri);
    resources_.emplace(uri, &doc);
    scan(doc, ctx, "", true, 0);
  }

  void resolve_dialect(const std::string& raw, Dialect& d, std::uint32_t& vocab, int hops = 0) {
    std::string u = strip_empty_fragment(raw);
    if (u == "https://json-schema.org/draft/2020-12/schema") {
      d = Dialect::Draft2020;
      vocab = kVAll2020;
      return;
    }
    if (u == "http://json-schema.org/draft-07/schema" ||
        u == "https://json-schema.org/draft-07/schema") {
      d = Dialect::Draft7;
      vocab = kVApplicator | kVValidation;
      return;
    }
    // A custom meta-schema: only if it is available locally, and only if every vocabulary
    // it requires is one we implement.
    const json* meta = store_ ? store_->find(u) : nullptr;
    if (!meta || !meta->is_object() || hops > 4) {
      throw CompileError("unsupported `$schema` `" + detail::quote(raw, 120) +
                         "`: supported are draft-07 and 2020-12");
    }
    std::string parent = meta->contains("$schema") && (*meta)["$schema"].is_string()
                             ? (*meta)["$schema"].get<std::string>()
                             : std::string("https://json-schema.org/draft/2020-12/schema");
    resolve_dialect(parent, d, vocab, hops + 1);
    if (auto v = meta->find("$vocabulary"); v != meta->end() && v->is_object()) {
      std::uint32_t bits = 0;
      for (auto it = v->begin(); it != v->end(); ++it) {
        const std::string& name = it.key();
        bool required = it.value().is_boolean() && it.value().get<bool>();
        std::string_view pre = "https://json-schema.org/draft/2020-12/vocab/";
        std::string_view tail = std::string_view(name).starts_with(pre)
                                    ? std::string_view(name).substr(pre.size())
                                    : std::string_view();
        if (tail == "core" || tail == "meta-data" || tail == "content" ||
            tail == "format-annotation") {
          continue;
        } else if (tail == "applicator") {
          bits |= kVApplicator;
        } else if (tail == "validation") {
          bits |= kVValidation;
        } else if (tail == "unevaluated") {
          bits |= kVUnevaluated;
        } else if (tail == "format-assertion") {
          bits |= kVFormatAssertion;
        } else if (required) {
          throw CompileError("meta-schema `" + detail::quote(raw, 120) +
                             "` requires the unsupported vocabulary `" + detail::quote(name, 120) +
                             "`");
        }
      }
      vocab = bits;
    }
  }

  static void append_token(std::string& p, std::string_view t) {
    detail::append_pointer_token(p, t);
  }

  void scan(const json& node, const NodeInfo& parent, const std::string& pointer, bool doc_root,
            std::size_t depth) {
    if (info_.count(&node)) return;
    if (depth > lim_.max_schema_depth) {
      throw CompileError("schema nesting exceeds " + std::to_string(lim_.max_schema_depth));
    }
    NodeInfo me = parent;
    me.pointer = pointer;
    if (!node.is_object()) {
      info_.emplace(&node, me);
      return;
    }
    auto id_it = node.find("$id");
    bool has_ref = node.contains("$ref");
    auto sch = node.find("$schema");
    if (sch != node.end() && sch->is_string() && !doc_root && id_it != node.end()) {
      resolve_dialect(sch->get<std::string>(), me.dialect, me.vocab);
    }
    bool d7 = me.dialect == Dialect::Draft7;
    if (id_it != node.end() && !(d7 && has_ref)) {
      if (!id_it->is_string()) throw CompileError("`$id` at `" + pointer + "` must be a string");
      const std::string& id = id_it->get_ref<const std::string&>();
      if (id.size() > kMaxUri) throw CompileError("`$id` is longer than 4096 bytes");
      std::string abs = detail::resolve_uri(me.base, id);
      std::string without, frag;
      detail::split_fragment(abs, without, frag);
      if (d7 && !id.empty() && id[0] == '#') {
        anchors_[me.base + "#" + frag] = &node;  // draft-07 plain-name fragment id
      } else {
        if (!frag.empty()) {
          if (!d7)
            throw CompileError("`$id` `" + detail::quote(id) + "` must not contain a fragment");
          anchors_[without + "#" + frag] = &node;
        }
        me.base = without;
        me.resource = new_resource(without);
        resources_.emplace(without, &node);
      }
    }
    if (!d7) {
      if (auto a = node.find("$anchor"); a != node.end() && a->is_string()) {
        anchors_[me.base + "#" + a->get<std::string>()] = &node;
      }
      if (auto a = node.find("$dynamicAnchor"); a != node.end() && a->is_string()) {
        std::string key = me.base + "#" + a->get<std::string>();
        anchors_[key] = &node;
        dynamic_keys_.insert(key);
        dyn_nodes_.push_back({me.resource, a->get<std::string>(), &node});
      }
    }
    info_.emplace(&node, me);

    auto one = [&](const char* kw) {
      if (auto it = node.find(kw); it != node.end()) {
        std::string p = me.pointer;
        append_token(p, kw);
        scan(*it, me, p, false, depth + 1);
      }
    };
    auto list = [&](const char* kw) {
      if (auto it = node.find(kw); it != node.end() && it->is_array()) {
        for (std::size_t i = 0; i < it->size(); ++i) {
          std::string p = me.pointer;
          append_token(p, kw);
          append_token(p, std::to_string(i));
          scan((*it)[i], me, p, false, depth + 1);
        }
      }
    };
    auto map = [&](const char* kw, bool only_schemas) {
      if (auto it = node.find(kw); it != node.end() && it->is_object()) {
        for (auto e = it->begin(); e != it->end(); ++e) {
          if (only_schemas && !(e.value().is_object() || e.value().is_boolean())) continue;
          std::string p = me.pointer;
          append_token(p, kw);
          append_token(p, e.key());
          scan(e.value(), me, p, false, depth + 1);
        }
      }
    };
    for (const char* kw :
         {"additionalProperties", "propertyNames", "not", "if", "then", "else", "contains"}) {
      one(kw);
    }
    for (const char* kw : {"allOf", "anyOf", "oneOf"})
      list(kw);
    map("properties", false);
    map("patternProperties", false);
    map("$defs", false);
    map("definitions", false);
    if (d7) {
      if (auto it = node.find("items"); it != node.end() && it->is_array()) {
        list("items");
      } else {
        one("items");
      }
      one("additionalItems");
      map("dependencies", true);
    } else {
      one("items");
      list("prefixItems");
      map("dependentSchemas", false);
      one("unevaluatedProperties");
      one("unevaluatedItems");
    }
  }

  const json* find_resource(const std::string& uri, const NodeInfo& from) {
    if (auto it = resources_.find(uri); it != resources_.end()) return it->second;
    if (loaded_.count(uri)) return nullptr;
    const json* src = store_ ? store_->find(uri) : nullptr;
    if (!src) src = builtin_metaschema(uri);
    if (!src) return nullptr;
    if (docs_.size() > 1000) throw CompileError("schema references more than 1000 documents");
    check_depth(*src, "document `" + detail::quote(uri, 120) + "`");
    const json& doc = docs_.emplace_back(*src);
    Dialect d = from.dialect;
    std::uint32_t vocab =
        from.dialect == Dialect::Draft7 ? (kVApplicator | kVValidation) : kVAll2020;
    if (doc.is_object()) {
      if (auto it = doc.find("$schema"); it != doc.end() && it->is_string()) {
        resolve_dialect(it->get<std::string>(), d, vocab);
      }
    }
    add_document(doc, uri, d, vocab);
    auto it = resources_.find(uri);
    return it == resources_.end() ? nullptr : it->second;
  }

  const json* navigate(const json* node, const std::string& ptr, const std::string& shown) {
    // ptr starts with '/'
    const NodeInfo* last = &info_.at(node);
    std::string pointer = last->pointer;
    std::size_t i = 1;
    while (true) {
      std::size_t next = ptr.find('/', i);
      std::string tok = ptr.substr(i, next == std::string::npos ? std::string::npos : next - i);
      std::string key;
      for (std::size_t k = 0; k < tok.size(); ++k) {
        if (tok[k] == '~' && k + 1 < tok.size() && (tok[k + 1] == '0' || tok[k + 1] == '1')) {
          key.push_back(tok[k + 1] == '0' ? '~' : '/');
          ++k;
        } else {
          key.push_back(tok[k]);
        }
      }
      if (node->is_object()) {
        auto it = node->find(key);
        if (it == node->end())
          throw CompileError("`$ref` `" + detail::quote(shown) + "` points to nothing");
        node = &*it;
      } else if (node->is_array()) {
        if (key.empty() || key.size() > 9 || (key.size() > 1 && key[0] == '0') ||
            !std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          throw CompileError("`$ref` `" + detail::quote(shown) + "` has a bad array index");
        }
        std::size_t idx = std::stoul(key);
        if (idx >= node->size())
          throw CompileError("`$ref` `" + detail::quote(shown) + "` points to nothing");
        node = &(*node)[idx];
      } else {
        throw CompileError("`$ref` `" + detail::quote(shown) + "` points to nothing");
      }
      append_token(pointer, key);
      if (auto f = info_.find(node); f != info_.end()) {
        last = &f->second;
        pointer = last->pointer;
      }
      if (next == std::string::npos) break;
      i = next + 1;
    }
    if (!info_.count(node)) {
      // A location no keyword walk reached (e.g. inside an unknown keyword): take it as a
      // schema with the nearest known ancestor's base.
      NodeInfo ctx = *last;
      scan(*node, ctx, pointer, false, 0);
    }
    return node;
  }

  struct Target {
    const json* node;
    bool dynamic;  // reached through a $dynamicAnchor plain-name fragment
    std::string anchor;
  };

  Target resolve(const std::string& ref, const NodeInfo& from, const char* kw) {
    if (ref.size() > kMaxUri)
      throw CompileError(std::string("`") + kw + "` is longer than 4096 bytes");
    std::string abs = detail::resolve_uri(from.base, ref);
    std::string uri, frag;
    detail::split_fragment(abs, uri, frag);
    const json* root = find_resource(uri, from);
    if (!root) {
      if (uri.starts_with(kDefaultBase)) {
        throw CompileError(std::string("`") + kw + "` `" + detail::quote(ref, 120) +
                           "` cannot be resolved");
      }
      throw CompileError(std::string("`") + kw + "` `" + detail::quote(ref, 120) +
                         "` names a document that is not available locally (remote schemas are "
                         "never fetched; put it in schema_dir)");
    }
    std::string dec;
    if (!detail::percent_decode(frag, dec)) {
      throw CompileError(std::string("`") + kw + "` `" + detail::quote(ref, 120) +
                         "` has a bad escape");
    }
    if (dec.empty()) return {root, false, {}};
    if (dec[0] == '/') return {navigate(root, dec, ref), false, {}};
    std::string key = uri + "#" + dec;
    auto a = anchors_.find(key);
    if (a == anchors_.end()) {
      throw CompileError(std::string("`") + kw + "` `" + detail::quote(ref, 120) +
                         "` names an unknown anchor");
    }
    return {a->second, dynamic_keys_.count(key) > 0, dec};
  }

  // ----- compiling -----------------------------------------------------------------------

  [[noreturn]] void invalid(const Schema& s, const char* kw, const std::string& what) {
    throw CompileError("invalid schema: `" + std::string(kw) + "` at `" + s.location + "` " + what);
  }

  std::size_t non_negative(const Schema& s, const json& v, const char* kw) {
    if (v.is_number_unsigned()) return static_cast<std::size_t>(v.get<std::uint64_t>());
    if (v.is_number_integer()) {
      auto i = v.get<std::int64_t>();
      if (i >= 0) return static_cast<std::size_t>(i);
    }
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (d >= 0 && std::floor(d) == d) {
        return d >= 1.8e19 ? std::numeric_limits<std::size_t>::max() : static_cast<std::size_t>(d);
      }
    }
    invalid(s, kw, "must be a non-negative integer");
  }

  double number(const Schema& s, const json& v, const char* kw) {
    if (!v.is_number()) invalid(s, kw, "must be a number");
    return v.get<double>();
  }

  Regex regex(const Schema& s, const json& v, const char* kw) {
    if (!v.is_string()) invalid(s, kw, "must be a string");
    const std::string& src = v.get_ref<const std::string&>();
    if (auto it = regex_cache_.find(src); it != regex_cache_.end()) return it->second;
    if (regex_cache_.size() >= lim_.max_patterns) {
      throw CompileError("schema has more than " + std::to_string(lim_.max_patterns) + " patterns");
    }
    auto c = detail::compile_ecma_regex(src, lim_.regex_max_mem);
    if (!c.re) {
      throw CompileError("unsupported regex `" + detail::quote(src, 120) + "` in `" + kw +
                         "` at `" + s.location + "`: " + c.error);
    }
    Regex r{c.re, src};
    regex_cache_.emplace(src, r);
    return r;
  }

  const Schema* sub(const json& v) {
    if (!v.is_object() && !v.is_boolean()) {
      auto it = info_.find(&v);
      std::string loc = it == info_.end() ? "?" : it->second.pointer;
      throw CompileError("invalid schema: the subschema at `#" + loc +
                         "` must be an object or a boolean");
    }
    return compile(v);
  }

  void defer(const Schema** slot, const json* target) { pending_.push_back({slot, target}); }

  void drain() {
    std::size_t dyn_done = 0;
    while (true) {
      while (!pending_.empty()) {
        auto [slot, target] = pending_.back();
        pending_.pop_back();
        *slot = sub(*target);
      }
      if (dyn_done == dyn_nodes_.size()) break;
      // Every $dynamicAnchor of every loaded resource may be chosen at run time.
      for (; dyn_done < dyn_nodes_.size(); ++dyn_done) {
        auto& d = dyn_nodes_[dyn_done];
        const Schema* s = sub(*d.node);
        d.resource->dynamic_anchors.emplace(d.name, s);
      }
    }
  }

  const Schema* compile(const json& node) {
    if (auto it = compiled_.find(&node); it != compiled_.end()) return it->second;
    auto ii = info_.find(&node);
    if (ii == info_.end()) throw CompileError("internal error: subschema was not scanned");
    const NodeInfo& in = ii->second;
    if (prog_.nodes.size() >= lim_.max_schema_nodes) {
      throw CompileError("schema has more than " + std::to_string(lim_.max_schema_nodes) +
                         " subschemas");
    }
    Schema& s = prog_.nodes.emplace_back();
    compiled_.emplace(&node, &s);
    s.location = (in.doc == root_doc_ ? std::string() : in.doc) + "#" + in.pointer;
    s.resource = in.resource;
    if (node.is_boolean()) {
      s.kind = node.get<bool>() ? Schema::Kind::True : Schema::Kind::False;
      return &s;
    }
    if (!node.is_object()) {
      throw CompileError("invalid schema: `" + s.location + "` must be an object or a boolean");
    }
    compile_object(s, node, in);
    return &s;
  }

  void compile_object(Schema& s, const json& n, const NodeInfo& in) {
    const bool d7 = in.dialect == Dialect::Draft7;
    const bool A = in.vocab & kVApplicator;
    const bool V = in.vocab & kVValidation;
    const bool U = !d7 && (in.vocab & kVUnevaluated);
    auto get = [&](const char* kw) -> const json* {
      auto it = n.find(kw);
      return it == n.end() ? nullptr : &*it;
    };

    if (const json* r = get("$ref")) {
      if (!r->is_string()) invalid(s, "$ref", "must be a string");
      Target t = resolve(r->get<std::string>(), in, "$ref");
      defer(&s.ref, t.node);
      if (d7) return;  // draft-07: $ref makes every sibling keyword ignored
    }
    if (!d7) {
      if (const json* r = get("$dynamicRef")) {
        if (!r->is_string()) invalid(s, "$dynamicRef", "must be a string");
        Target t = resolve(r->get<std::string>(), in, "$dynamicRef");
        s.has_dynamic_ref = true;
        defer(&s.dynamic_ref, t.node);
        if (t.dynamic) s.dynamic_anchor = t.anchor;
      }
    }

    if (V) {
      if (const json* t = get("type")) {
        auto bit = [&](const json& name) -> std::uint8_t {
          if (!name.is_string()) invalid(s, "type", "must be a type name or a list of them");
          const std::string& x = name.get_ref<const std::string&>();
          if (x == "null") return kNull;
          if (x == "boolean") return kBoolean;
          if (x == "object") return kObject;
          if (x == "array") return kArray;
          if (x == "number") return kNumber;
          if (x == "string") return kString;
          if (x == "integer") return kInteger;
          invalid(s, "type", "names an unknown type `" + detail::quote(x) + "`");
        };
        if (t->is_array()) {
          if (t->empty()) invalid(s, "type", "must not be an empty list");
          for (const auto& e : *t)
            s.types |= bit(e);
        } else {
          s.types = bit(*t);
        }
      }
      if (const json* c = get("const")) {
        s.has_const = true;
        s.const_value = *c;
      }
      if (const json* e = get("enum")) {
        if (!e->is_array()) invalid(s, "enum", "must be an array");
        if (e->size() > lim_.max_enum_values) {
          invalid(s, "enum", "has more than " + std::to_string(lim_.max_enum_values) + " values");
        }
        s.has_enum = true;
        s.enum_count = e->size();
        s.enum_sorted.assign(e->begin(), e->end());
        std::uint64_t work = 0;
        std::sort(s.enum_sorted.begin(), s.enum_sorted.end(), [&](const json& a, const json& b) {
          return detail::json_compare(a, b, work) < 0;
        });
        s.enum_sorted.erase(std::unique(s.enum_sorted.begin(), s.enum_sorted.end(),
                                        [&](const json& a, const json& b) {
                                          return detail::json_compare(a, b, work) == 0;
                                        }),
                            s.enum_sorted.end());
        for (std::size_t i = 0; i < e->size() && i < 5; ++i) {
          if (i) s.enum_preview += ", ";
          s.enum_preview += detail::short_value((*e)[i], 40);
        }
        if (e->size() > 5) s.enum_preview += ", ...";
      }
      if (const json* v = get("minimum"))
        s.has_minimum = true, s.minimum = number(s, *v, "minimum");
      if (const json* v = get("maximum"))
        s.has_maximum = true, s.maximum = number(s, *v, "maximum");
      if (const json* v = get("exclusiveMinimum")) {
        s.has_xminimum = true, s.xminimum = number(s, *v, "exclusiveMinimum");
      }
      if (const json* v = get("exclusiveMaximum")) {
        s.has_xmaximum = true, s.xmaximum = number(s, *v, "exclusiveMaximum");
      }
      if (const json* v = get("multipleOf")) {
        s.has_multiple_of = true;
        s.multiple_of = number(s, *v, "multipleOf");
        if (!(s.multiple_of > 0)) invalid(s, "multipleOf", "must be greater than 0");
        if (v->is_number_integer() && v->get<std::int64_t>() > 0) {
          s.multiple_of_int = v->get<std::int64_t>();
        }
      }
      if (const json* v = get("minLength")) s.min_length = non_negative(s, *v, "minLength");
      if (const json* v = get("maxLength")) s.max_length = non_negative(s, *v, "maxLength");
      if (const json* v = get("pattern")) {
        s.has_pattern = true;
        s.pattern = regex(s, *v, "pattern");
      }
      if (const json* v = get("minItems")) s.min_items = non_negative(s, *v, "minItems");
      if (const json* v = get("maxItems")) s.max_items = non_negative(s, *v, "maxItems");
      if (const json* v = get("uniqueItems")) {
        if (!v->is_boolean()) invalid(s, "uniqueItems", "must be a boolean");
        s.unique_items = v->get<bool>();
      }
      if (!d7) {
        if (const json* v = get("minContains")) s.min_contains = non_negative(s, *v, "minContains");
        if (const json* v = get("maxContains")) s.max_contains = non_negative(s, *v, "maxContains");
      }
      if (const json* v = get("minProperties"))
        s.min_properties = non_negative(s, *v, "minProperties");
      if (const json* v = get("maxProperties"))
        s.max_properties = non_negative(s, *v, "maxProperties");
      if (const json* v = get("required")) {
        if (!v->is_array()) invalid(s, "required", "must be an array of strings");
        for (const auto& e : *v) {
          if (!e.is_string()) invalid(s, "required", "must be an array of strings");
          s.required.push_back(e.get<std::string>());
        }
      }
      auto dep_required = [&](const std::string& prop, const json& names, const char* kw) {
        std::vector<std::string> list;
        for (const auto& e : names) {
          if (!e.is_string()) invalid(s, kw, "must map names to arrays of strings");
          list.push_back(e.get<std::string>());
        }
        s.dependent_required.emplace_back(prop, std::move(list));
      };
      if (!d7) {
        if (const json* v = get("dependentRequired")) {
          if (!v->is_object()) invalid(s, "dependentRequired", "must be an object");
          for (auto it = v->begin(); it != v->end(); ++it) {
            if (!it.value().is_array())
              invalid(s, "dependentRequired", "must map names to arrays of strings");
            dep_required(it.key(), it.value(), "dependentRequired");
          }
        }
      } else if (const json* v = get("dependencies")) {
        if (!v->is_object()) invalid(s, "dependencies", "must be an object");
        for (auto it = v->begin(); it != v->end(); ++it) {
          if (it.value().is_array()) {
            dep_required(it.key(), it.value(), "dependencies");
          } else if (A) {
            s.dependent_schemas.emplace_back(it.key(), sub(it.value()));
          }
        }
      }
    } else if (d7 && A) {
      if (const json* v = get("dependencies"); v && v->is_object()) {
        for (auto it = v->begin(); it != v->end(); ++it) {
          if (!it.value().is_array()) s.dependent_schemas.emplace_back(it.key(), sub(it.value()));
        }
      }
    }

    if (const json* f = get("format"); f && f->is_string()) {
      s.format_name = f->get<std::string>();
      if (opts_.format_assertion || (in.vocab & kVFormatAssertion)) {
        s.format = detail::format_from_name(s.format_name);
      }
    }

    if (A) {
      auto list = [&](const char* kw, std::vector<const Schema*>& out) {
        if (const json* v = get(kw)) {
          if (!v->is_array() || v->empty()) invalid(s, kw, "must be a non-empty array of schemas");
          for (const auto& e : *v)
            out.push_back(sub(e));
        }
      };
      list("allOf", s.all_of);
      list("anyOf", s.any_of);
      list("oneOf", s.one_of);
      if (const json* v = get("not")) s.not_ = sub(*v);
      if (const json* v = get("if")) {
        s.if_ = sub(*v);
        if (const json* t = get("then")) s.then_ = sub(*t);
        if (const json* e = get("else")) s.else_ = sub(*e);
      }
      if (const json* v = get("properties")) {
        if (!v->is_object()) invalid(s, "properties", "must be an object");
        for (auto it = v->begin(); it != v->end(); ++it)
          s.properties.emplace_back(it.key(), sub(it.value()));
        // nlohmann objects iterate in key order, so the list is already sorted.
      }
      if (const json* v = get("patternProperties")) {
        if (!v->is_object()) invalid(s, "patternProperties", "must be an object");
        for (auto it = v->begin(); it != v->end(); ++it) {
          s.pattern_properties.emplace_back(regex(s, json(it.key()), "patternProperties"),
                                            sub(it.value()));
        }
      }
      if (const json* v = get("additionalProperties")) s.additional_properties = sub(*v);
      if (const json* v = get("propertyNames")) s.property_names = sub(*v);
      if (!d7) {
        if (const json* v = get("dependentSchemas")) {
          if (!v->is_object()) invalid(s, "dependentSchemas", "must be an object");
          for (auto it = v->begin(); it != v->end(); ++it)
            s.dependent_schemas.emplace_back(it.key(), sub(it.value()));
        }
        if (const json* v = get("prefixItems")) {
          if (!v->is_array() || v->empty())
            invalid(s, "prefixItems", "must be a non-empty array of schemas");
          for (const auto& e : *v)
            s.prefix_items.push_back(sub(e));
        }
        if (const json* v = get("items")) {
          if (v->is_array()) {
            invalid(s, "items",
                    "must be a schema in 2020-12 (use `prefixItems` for tuples, or declare "
                    "`$schema` draft-07)");
          }
          s.items = sub(*v);
        }
      } else {
        if (const json* v = get("items")) {
          if (v->is_array()) {
            for (const auto& e : *v)
              s.prefix_items.push_back(sub(e));
            if (const json* ai = get("additionalItems")) s.items = sub(*ai);
          } else {
            s.items = sub(*v);
          }
        }
      }
      if (const json* v = get("contains")) s.contains = sub(*v);
    }
    if (U) {
      if (const json* v = get("unevaluatedProperties")) s.unevaluated_properties = sub(*v);
      if (const json* v = get("unevaluatedItems")) s.unevaluated_items = sub(*v);
    }

    s.has_unevaluated = s.unevaluated_properties || s.unevaluated_items;
    s.has_number_keywords =
        s.has_minimum || s.has_maximum || s.has_xminimum || s.has_xmaximum || s.has_multiple_of;
    s.has_string_keywords = s.min_length != kUnset || s.max_length != kUnset || s.has_pattern ||
                            s.format != detail::Format::None;
    s.has_array_keywords = !s.prefix_items.empty() || s.items || s.contains ||
                           s.min_items != kUnset || s.max_items != kUnset || s.unique_items ||
                           s.unevaluated_items;
    s.has_object_keywords = !s.properties.empty() || !s.pattern_properties.empty() ||
                            s.additional_properties || s.property_names ||
                            s.unevaluated_properties || !s.required.empty() ||
                            !s.dependent_required.empty() || !s.dependent_schemas.empty() ||
                            s.min_properties != kUnset || s.max_properties != kUnset;
  }

  const Options& opts_;
  const CompileLimits& lim_;
  Program& prog_;
  std::shared_ptr<const SchemaStore> store_;
  std::string root_doc_;
  std::deque<json> docs_;
  std::unordered_set<std::string> loaded_;
  std::unordered_map<std::string, const json*> resources_;
  std::unordered_map<std::string, Resource*> resource_objs_;
  std::unordered_map<std::string, const json*> anchors_;
  std::unordered_set<std::string> dynamic_keys_;
  struct DynNode {
    Resource* resource;
    std::string name;
    const json* node;
  };
  std::vector<DynNode> dyn_nodes_;
  std::unordered_map<const json*, NodeInfo> info_;
  std::unordered_map<const json*, Schema*> compiled_;
  std::vector<std::pair<const Schema**, const json*>> pending_;
  std::unordered_map<std::string, Regex> regex_cache_;
};

}  // namespace

Compiled compile(const json& schema, const Options& opts) {
  Compiled out;
  auto prog = std::make_shared<Program>();
  prog->limits = opts.limits;
  prog->format_assertion = opts.format_assertion;
  try {
    Compiler c(opts, *prog);
    c.run(schema);
  } catch (const CompileError& e) {
    out.error = e.what();
    return out;
  } catch (const std::exception& e) {
    out.error = std::string("cannot compile the schema: ") + e.what();
    return out;
  }
  out.validator = std::make_shared<Validator>(std::move(prog));
  return out;
}

}  // namespace gt::gov::schema
