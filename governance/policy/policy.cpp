#include "governance/policy/policy.hpp"

#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>

#include "governance/policy/manifest.hpp"
#include "governance/policy/pnode.hpp"
#include "governance/policy/yaml_json.hpp"
#include "governance/policy/yaml_load.hpp"

namespace gt::gov::policy {

namespace fs = std::filesystem;

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::Monitor:
      return "monitor";
    case Mode::Enforce:
      return "enforce";
    default:
      return "inherit";
  }
}

const char* per_name(Limit::Per p) {
  switch (p) {
    case Limit::Per::Principal:
      return "principal";
    case Limit::Per::Tool:
      return "tool";
    case Limit::Per::PrincipalTool:
      return "principal_tool";
    case Limit::Per::Global:
      return "global";
  }
  return "principal";
}

// Iterative glob with single backtrack point: linear in practice, no recursion.
bool glob_match(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*')
    ++pi;
  return pi == p.size();
}

ToolPattern ToolPattern::parse(const std::string& text) {
  ToolPattern p;
  p.text = text;
  auto slash = text.find('/');
  if (slash == std::string::npos) {
    p.tool = text;
  } else {
    p.server = text.substr(0, slash);
    p.tool = text.substr(slash + 1);
    if (p.server == "*") p.server.clear();
  }
  return p;
}

bool ToolPattern::exact() const {
  return server.empty() && tool.find_first_of("*?") == std::string::npos;
}

bool ToolPattern::matches(std::string_view server_name, std::string_view tool_name) const {
  if (!server.empty() && !glob_match(server, server_name)) return false;
  return glob_match(tool, tool_name);
}

std::string Diagnostic::str() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  return s + ": " + message;
}

std::string sha256_hex(std::string_view data) {
  if (sodium_init() < 0) return {};
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  static const char* hex = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < sizeof h; ++i) {
    out[2 * i] = hex[h[i] >> 4];
    out[2 * i + 1] = hex[h[i] & 15];
  }
  return out;
}

// ---- PolicySet ---------------------------------------------------------------------------
const Policy* PolicySet::find(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : policies[it->second].get();
}

void PolicySet::build_index() {
  by_id_.clear();
  by_exact_tool_.clear();
  globbed_.clear();
  resource_globs_.clear();
  prompt_patterns_.clear();
  for (size_t i = 0; i < policies.size(); ++i) {
    const auto& p = *policies[i];
    by_id_.emplace(p.id, i);
    for (const auto& r : p.resources)
      resource_globs_.emplace_back(r, i);
    for (const auto& t : p.prompts)
      prompt_patterns_.emplace_back(t, i);
    for (const auto& t : p.tools) {
      if (t.exact()) {
        by_exact_tool_[t.tool].push_back(i);
      } else {
        globbed_.emplace_back(t, i);
      }
    }
  }
}

void PolicySet::governing(std::string_view server, std::string_view tool,
                          std::vector<const Policy*>& out, std::vector<std::string>& missing,
                          ToolRef::Kind kind) const {
  out.clear();
  missing.clear();
  auto add = [&](const Policy* p) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  // Resources and prompts: the policies' own lists, in file order (each list is in order).
  if (kind == ToolRef::Kind::Resource) {
    for (const auto& [glob, i] : resource_globs_)
      if (glob_match(glob, tool)) add(policies[i].get());
    return;
  }
  if (kind == ToolRef::Kind::Prompt) {
    for (const auto& [pat, i] : prompt_patterns_)
      if (pat.matches(server, tool)) add(policies[i].get());
    return;
  }
  for (const auto& b : options.bindings) {
    if (!b.pattern.matches(server, tool)) continue;
    for (const auto& id : b.policies) {
      if (const Policy* p = find(id)) {
        add(p);
      } else {
        missing.push_back(id);
      }
    }
  }
  // Policies' own `tools`, in file order: exact names and globs merged by index.
  std::vector<size_t> idx;
  auto it = by_exact_tool_.find(std::string(tool));
  if (it != by_exact_tool_.end()) idx = it->second;
  for (const auto& [pat, i] : globbed_) {
    if (pat.matches(server, tool)) idx.push_back(i);
  }
  std::sort(idx.begin(), idx.end());
  for (size_t i : idx)
    add(policies[i].get());
}

const PolicySet::Governing& PolicySet::governing_cached(std::string_view server,
                                                        std::string_view tool,
                                                        ToolRef::Kind kind) const {
  std::string key;
  key.reserve(server.size() + tool.size() + 2);
  key.push_back(static_cast<char>('0' + static_cast<int>(kind)));
  key.append(server).push_back('\x1f');
  key.append(tool);
  {
    std::shared_lock<std::shared_mutex> g(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return *it->second;
  }
  auto fresh = std::make_unique<Governing>();
  governing(server, tool, fresh->policies, fresh->missing, kind);
  std::unique_lock<std::shared_mutex> g(cache_mu_);
  auto it = cache_.find(key);
  if (it != cache_.end()) return *it->second;
  // Bounded: past the cap (many distinct tool names), keep serving without growing. The
  // entries already cached are never erased, so returned references stay valid.
  if (cache_.size() >= kMaxCachedTools) {
    thread_local Governing scratch;
    scratch = std::move(*fresh);
    return scratch;
  }
  return *cache_.emplace(std::move(key), std::move(fresh)).first->second;
}

// ---- parsing -------------------------------------------------------------------------------
namespace {

const std::set<std::string> kRootNames = {"args", "principal", "tool", "resource", "prompt", "env"};
const std::set<std::string> kReserved = {"true", "false", "null", "in", "not", "contains"};

bool valid_ident(const std::string& s) {
  if (s.empty()) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

bool valid_id(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.' || c == ':' || c == '/' || c == '@')) {
      return false;
    }
  }
  return true;
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::char_traits<char>::length(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

class PolicyParser {
 public:
  PolicyParser(const std::string& text, const std::string& file, std::vector<Diagnostic>& errors,
               const YamlLimits& limits)
      : text_(text), file_(file), errors_(errors), start_(errors.size()), limits_(limits) {}

  std::shared_ptr<Policy> run() {
    auto p = parse();
    arena_->shrink();
    if (dropped_ > 0) {
      errors_.push_back({file_, 0, 0,
                         "and " + std::to_string(dropped_) + " more error" +
                             (dropped_ == 1 ? "" : "s") + " in this file"});
    }
    return p;
  }

 private:
  std::shared_ptr<Policy> parse() {
    PNode root;
    PNodeError perr;
    // A `.json` file is read as JSON, which allows characters YAML does not (a raw DEL, C1
    // controls); both give the same tree under the same limits.
    const bool is_json = ends_with(file_, ".json");
    if (!(is_json ? parse_pnode_json(text_, root, perr, limits_)
                  : parse_pnode(text_, root, perr, limits_))) {
      Diagnostic d;
      d.file = file_;
      d.line = static_cast<int>(perr.line);
      d.column = static_cast<int>(perr.column);
      d.message = (is_json ? "invalid json: " : "invalid yaml/json: ") + perr.message;
      errors_.push_back(std::move(d));
      return nullptr;
    }
    if (!root.IsMap()) {
      err(root, "a policy file must hold one mapping (policy_id, version, rules, ...)");
      return nullptr;
    }
    auto p = std::make_shared<Policy>();
    p->file = file_;
    static const std::set<std::string> known = {
        "policy_id",  "version", "description", "tools",
        "resources",  "prompts", "mode",        "extraction_bindings",
        "icp_schema", "rules",   "limits",      "metadata"};
    for (const auto& kv : root.entries()) {
      std::string k = kv.first.Scalar();
      if (!known.count(k)) {
        err(kv.first,
            "unknown key `" + k +
                "` (known: policy_id, version, description, tools, resources, prompts, mode, "
                "extraction_bindings, rules, limits, metadata, icp_schema)");
      }
    }
    if (!scalar(root["policy_id"], p->id, "policy_id", root)) return nullptr;
    if (!valid_id(p->id))
      err(root["policy_id"], "invalid policy_id `" + p->id + "` (letters, digits and `_-.:/@`)");
    if (root["version"]) scalar(root["version"], p->version, "version", root);
    if (root["description"]) scalar(root["description"], p->description, "description", root);
    if (const auto& m = root["mode"]) {
      std::string mode;
      if (scalar(m, mode, "mode", root)) {
        if (mode == "enforce") {
          p->mode = Mode::Enforce;
        } else if (mode == "monitor") {
          p->mode = Mode::Monitor;
        } else {
          err(m, "mode must be `enforce` or `monitor`, not `" + mode + "`");
        }
      }
    }
    if (const auto& t = root["tools"]) parse_tools(t, *p);
    if (const auto& r = root["resources"]) parse_names(r, "resources", p->resources);
    if (const auto& t = root["prompts"]) {
      std::vector<std::string> names;
      parse_names(t, "prompts", names);
      for (const auto& n : names)
        p->prompts.push_back(ToolPattern::parse(n));
    }
    if (const auto& b = root["extraction_bindings"]) parse_bindings(b, *p);
    CompileEnv cenv;
    for (const auto& b : p->bindings)
      cenv.bindings.push_back(b.name);
    if (const auto& r = root["rules"]) {
      if (!r.IsMap()) {
        err(r, "`rules` must be a mapping with `deny` and/or `allow` lists");
      } else {
        for (const auto& kv : r.entries()) {
          std::string k = kv.first.Scalar();
          if (k != "deny" && k != "allow")
            err(kv.first, "unknown key `" + k + "` in rules (use `deny` and `allow`)");
        }
        std::set<std::string> ids;
        parse_rules(r["deny"], "deny", p->deny, cenv, ids);
        parse_rules(r["allow"], "allow", p->allow, cenv, ids);
      }
    } else {
      err(root, "policy `" + p->id + "` has no `rules`");
    }
    if (const auto& l = root["limits"]) parse_limits(l, *p, cenv);
    if (errors_.size() != start_) return nullptr;
    return p;
  }

  // A file reports at most this many errors (then a count): a hostile file cannot make the
  // report larger than itself many times over.
  static constexpr size_t kMaxErrors = 100;

  const std::string& text_;
  const std::string& file_;
  std::vector<Diagnostic>& errors_;
  size_t start_;
  YamlLimits limits_;
  size_t dropped_ = 0;
  // Every condition of the file is compiled into this one arena, shared by its Programs.
  std::shared_ptr<Code> arena_ = std::make_shared<Code>();

  bool full() {
    if (errors_.size() - start_ < kMaxErrors) return false;
    ++dropped_;
    return true;
  }
  void err(const PNode& at, std::string msg) {
    if (full()) return;
    Diagnostic d;
    d.file = file_;
    auto m = at.GetMark();
    if (m.line >= 0) {
      d.line = m.line + 1;
      d.column = m.column + 1;
    }
    d.message = std::move(msg);
    errors_.push_back(std::move(d));
  }
  void err(const LangError& e) {
    if (full()) return;
    Diagnostic d;
    d.file = file_;
    d.line = e.loc.line;
    d.column = e.loc.column;
    std::string s = e.str();
    // e.str() is "file:line:col: stage: msg"; keep "stage: msg"
    std::string prefix =
        e.loc.file + ":" + std::to_string(e.loc.line) + ":" + std::to_string(e.loc.column) + ": ";
    d.message = s.rfind(prefix, 0) == 0 ? s.substr(prefix.size()) : s;
    errors_.push_back(std::move(d));
  }

  bool scalar(const PNode& n, std::string& out, const std::string& what, const PNode& parent) {
    if (!n) {
      err(parent, "missing `" + what + "`");
      return false;
    }
    if (!n.IsScalar()) {
      err(n, "`" + what + "` must be a string");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  // Where a scalar's text starts in the file (after an opening quote / block indicator).
  Origin origin_of(const PNode& n) {
    Origin o;
    o.file = file_;
    auto m = n.GetMark();
    if (m.pos < 0) return o;
    size_t pos = static_cast<size_t>(m.pos);
    o.line = m.line + 1;
    o.column = m.column + 1;
    if (pos < text_.size()) {
      char c = text_[pos];
      if (c == '"' || c == '\'') {
        o.column += 1;
      } else if (c == '|' || c == '>') {
        size_t nl = text_.find('\n', pos);
        if (nl != std::string::npos) {
          size_t q = nl + 1;
          while (q < text_.size() && text_[q] == ' ')
            ++q;
          o.line += 1;
          o.column = static_cast<int>(q - nl);
        }
      }
    }
    return o;
  }

  // `resources:` (URI globs) and `prompts:` (names, globs, `server/prompt`): a string or a
  // list of strings.
  void parse_names(const PNode& t, const char* key, std::vector<std::string>& out) {
    auto one = [&](const PNode& n) {
      if (!n.IsScalar() || n.Scalar().empty()) {
        err(n, std::string("a `") + key + "` entry must be a non-empty string (a name or glob)");
        return;
      }
      out.push_back(n.Scalar());
    };
    if (t.IsSequence()) {
      for (const auto& n : t.items())
        one(n);
    } else {
      one(t);
    }
  }

  void parse_tools(const PNode& t, Policy& p) {
    auto one = [&](const PNode& n) {
      if (n.IsScalar()) {
        if (n.Scalar().empty()) {
          err(n, "empty tool pattern");
          return;
        }
        p.tools.push_back(ToolPattern::parse(n.Scalar()));
      } else if (n.IsMap()) {
        ToolPattern tp;
        if (n["server"]) tp.server = n["server"].Scalar();
        if (tp.server == "*") tp.server.clear();
        const auto& name = n["tool"] ? n["tool"] : n["name"];
        if (!name || !name.IsScalar() || name.Scalar().empty()) {
          err(n, "a tool entry needs `tool` (name or glob)");
          return;
        }
        tp.tool = name.Scalar();
        tp.text = (tp.server.empty() ? "" : tp.server + "/") + tp.tool;
        p.tools.push_back(std::move(tp));
      } else {
        err(n, "a tool entry must be a name, a glob, `server/tool`, or {server, tool}");
      }
    };
    if (t.IsSequence()) {
      for (const auto& n : t.items())
        one(n);
    } else {
      one(t);
    }
  }

  void parse_bindings(const PNode& eb, Policy& p) {
    const PNode* list = &eb;
    if (eb.IsMap()) list = &eb["bindings"];
    if (!*list) return;
    if (!list->IsSequence()) {
      err(eb, "`extraction_bindings` must be a list, or a mapping with a `bindings` list");
      return;
    }
    std::set<std::string> names;
    for (const auto& bn : list->items()) {
      if (!bn.IsMap()) {
        err(bn, "a binding must be a mapping with `path` and `sources`");
        continue;
      }
      ExtractionBinding b;
      if (bn["path"] && bn["path"].IsScalar()) {
        b.path = bn["path"].Scalar();
        auto dot = b.path.rfind('.');
        b.name = dot == std::string::npos ? b.path : b.path.substr(dot + 1);
      }
      if (bn["name"] && bn["name"].IsScalar()) b.name = bn["name"].Scalar();
      if (b.path.empty()) b.path = b.name;
      if (!valid_ident(b.name)) {
        err(bn, "binding needs a `path` whose last segment is a name, got `" + b.path + "`");
        continue;
      }
      if (kRootNames.count(b.name) || kReserved.count(b.name)) {
        err(bn, "binding name `" + b.name + "` is reserved");
        continue;
      }
      if (!names.insert(b.name).second) {
        err(bn, "duplicate binding `" + b.name + "`");
        continue;
      }
      if (bn["required"]) {
        auto r = pnode_to_json(bn["required"]);
        if (!r.is_boolean()) {
          err(bn["required"], "`required` must be true or false");
        } else {
          b.required = r.get<bool>();
        }
      }
      const auto& srcs = bn["sources"];
      if (!srcs || !srcs.IsSequence() || srcs.size() == 0) {
        err(bn, "binding `" + b.name + "` needs a non-empty `sources` list");
        continue;
      }
      for (const auto& sn : srcs.items()) {
        BindingSource s;
        std::string type = sn.IsMap() && sn["type"] ? sn["type"].Scalar() : "";
        if (type == "arg" || type == "context") {
          s.kind = type == "arg" ? BindingSource::Kind::Arg : BindingSource::Kind::Context;
          if (!sn["name"] || !sn["name"].IsScalar() || sn["name"].Scalar().empty()) {
            err(sn, "a `" + type + "` source needs a `name`");
            continue;
          }
          s.name = sn["name"].Scalar();
        } else if (type == "literal") {
          s.kind = BindingSource::Kind::Literal;
          if (!sn["value"]) {
            err(sn, "a `literal` source needs a `value`");
            continue;
          }
          s.value = pnode_to_json(sn["value"]);
        } else {
          err(sn, "source type must be `arg`, `context` or `literal`, not `" + type + "`");
          continue;
        }
        b.sources.push_back(std::move(s));
      }
      if (const PNode& tr = bn["transform"] ? bn["transform"] : bn["transforms"]) {
        auto one = [&](const PNode& tn) {
          std::string name =
              tn.IsScalar() ? tn.Scalar() : (tn.IsMap() && tn["name"] ? tn["name"].Scalar() : "");
          Transform t;
          if (name == "to_number") {
            t.kind = Transform::Kind::ToNumber;
          } else if (name == "currency_normalize") {
            t.kind = Transform::Kind::CurrencyNormalize;
            if (tn.IsMap() && tn["params"] && tn["params"]["default"])
              t.default_currency = tn["params"]["default"].Scalar();
          } else {
            err(tn, "unknown transform `" + name + "` (use `to_number` or `currency_normalize`)");
            return;
          }
          b.transforms.push_back(std::move(t));
        };
        if (tr.IsSequence()) {
          for (const auto& tn : tr.items())
            one(tn);
        } else {
          one(tr);
        }
      }
      p.bindings.push_back(std::move(b));
    }
  }

  void parse_rules(const PNode& list, const char* kind, std::vector<Rule>& out,
                   const CompileEnv& cenv, std::set<std::string>& ids) {
    if (!list) return;
    if (list.IsNull()) return;
    if (!list.IsSequence()) {
      err(list, std::string("`rules.") + kind + "` must be a list of rules");
      return;
    }
    for (const auto& rn : list.items()) {
      if (!rn.IsMap()) {
        err(rn, "a rule must be a mapping with `id`, `condition` and `reason`");
        continue;
      }
      for (const auto& kv : rn.entries()) {
        std::string k = kv.first.Scalar();
        if (k != "id" && k != "condition" && k != "reason" && k != "description") {
          err(kv.first, "unknown key `" + k + "` in rule (use id, condition, reason)");
        }
      }
      Rule r;
      if (!scalar(rn["id"], r.id, "id", rn)) continue;
      if (!valid_id(r.id)) err(rn["id"], "invalid rule id `" + r.id + "`");
      if (!ids.insert(r.id).second) err(rn["id"], "duplicate rule id `" + r.id + "`");
      if (rn["reason"]) scalar(rn["reason"], r.reason, "reason", rn);
      const auto& c = rn["condition"];
      if (!c) {
        err(rn, "rule `" + r.id + "` has no `condition` (use \"\" to match every call)");
        continue;
      }
      if (!c.IsScalar() && !c.IsNull()) {
        err(c, "`condition` must be a string");
        continue;
      }
      Origin o = origin_of(c);
      r.loc = {file_, o.line, o.column};
      LangError le;
      auto prog = compile(c.IsNull() ? std::string() : c.Scalar(), o, cenv, le, true, arena_);
      if (!prog) {
        err(le);
        continue;
      }
      r.condition = std::move(*prog);
      if (r.reason.empty()) r.reason = std::string(kind) + " rule `" + r.id + "`";
      out.push_back(std::move(r));
    }
  }

  static bool parse_duration(const std::string& s, int64_t& secs) {
    if (s.empty()) return false;
    size_t i = 0;
    int64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i] - '0');
      if (v > 100000000) return false;
      ++i;
    }
    if (i == 0) return false;
    std::string unit = s.substr(i);
    int64_t mul = 0;
    if (unit.empty() || unit == "s") mul = 1;
    if (unit == "m") mul = 60;
    if (unit == "h") mul = 3600;
    if (unit == "d") mul = 86400;
    if (unit == "w") mul = 7 * 86400;
    if (mul == 0) return false;
    secs = v * mul;
    return secs > 0 && secs <= 366 * 86400;
  }

  void parse_limits(const PNode& list, Policy& p, const CompileEnv& cenv) {
    if (!list.IsSequence()) {
      err(list, "`limits` must be a list");
      return;
    }
    std::set<std::string> ids;
    for (const auto& ln : list.items()) {
      if (!ln.IsMap()) {
        err(ln, "a limit must be a mapping with `id`, `type`, `max`, `window` and `per`");
        continue;
      }
      static const std::set<std::string> known = {"id",  "type",   "max",  "window",
                                                  "per", "amount", "when", "description"};
      for (const auto& kv : ln.entries()) {
        if (!known.count(kv.first.Scalar())) {
          err(kv.first, "unknown key `" + kv.first.Scalar() +
                            "` in limit (use id, type, max, window, per, amount, when)");
        }
      }
      Limit l;
      auto m = ln.GetMark();
      l.loc = {file_, m.line + 1, m.column + 1};
      if (!scalar(ln["id"], l.id, "id", ln)) continue;
      if (!valid_id(l.id)) err(ln["id"], "invalid limit id `" + l.id + "`");
      if (!ids.insert(l.id).second) err(ln["id"], "duplicate limit id `" + l.id + "`");
      std::string type;
      if (!scalar(ln["type"], type, "type", ln)) continue;
      if (type == "rate") {
        l.kind = Limit::Kind::Rate;
      } else if (type == "spend") {
        l.kind = Limit::Kind::Spend;
      } else {
        err(ln["type"], "limit type must be `rate` or `spend`, not `" + type + "`");
        continue;
      }
      auto mx = ln["max"] ? pnode_to_json(ln["max"]) : json();
      if (!mx.is_number() || !(mx.get<double>() > 0) || !std::isfinite(mx.get<double>())) {
        err(ln["max"] ? ln["max"] : ln, "limit `" + l.id + "` needs a positive number `max`");
        continue;
      }
      l.max = mx.get<double>();
      if (l.kind == Limit::Kind::Rate && !mx.is_number_integer()) {
        err(ln["max"], "a rate limit's `max` must be a whole number of calls");
        continue;
      }
      if (!scalar(ln["window"], l.window_text, "window", ln)) continue;
      if (!parse_duration(l.window_text, l.window_seconds)) {
        err(ln["window"], "invalid window `" + l.window_text +
                              "` (e.g. `30s`, `1m`, `1h`, `24h`, `7d`; at most 366d)");
        continue;
      }
      std::string per = "principal";
      if (ln["per"]) scalar(ln["per"], per, "per", ln);
      if (per == "principal") {
        l.per = Limit::Per::Principal;
      } else if (per == "tool") {
        l.per = Limit::Per::Tool;
      } else if (per == "principal_tool" || per == "both") {
        l.per = Limit::Per::PrincipalTool;
      } else if (per == "global") {
        l.per = Limit::Per::Global;
      } else {
        err(ln["per"],
            "`per` must be `principal`, `tool`, `principal_tool` or `global`, not `" + per + "`");
        continue;
      }
      if (l.kind == Limit::Kind::Spend) {
        const auto& a = ln["amount"];
        if (!a || !a.IsScalar() || a.Scalar().empty()) {
          err(ln, "spend limit `" + l.id + "` needs an `amount` expression such as `args.amount`");
          continue;
        }
        LangError le;
        auto prog = compile(a.Scalar(), origin_of(a), cenv, le, false, arena_);
        if (!prog) {
          err(le);
          continue;
        }
        Type t = prog->type();
        if (t != Type::Dyn && t != Type::Int && t != Type::Double) {
          err(a, std::string("a spend amount must be a number, got ") + type_name(t));
          continue;
        }
        l.amount = std::move(*prog);
      } else if (ln["amount"]) {
        err(ln["amount"], "a rate limit counts calls and takes no `amount`");
        continue;
      }
      if (const auto& w = ln["when"]) {
        LangError le;
        auto prog = compile(w.IsScalar() ? w.Scalar() : std::string(), origin_of(w), cenv, le, true,
                            arena_);
        if (!prog) {
          err(le);
          continue;
        }
        l.when = std::move(*prog);
      }
      p.limits.push_back(std::move(l));
    }
  }
};

}  // namespace

std::shared_ptr<Policy> parse_policy(const std::string& text, const std::string& file,
                                     std::vector<Diagnostic>& errors, size_t max_bytes) {
  YamlLimits limits;
  limits.max_bytes = max_bytes;
  PolicyParser p(text, file, errors, limits);
  auto pol = p.run();
  if (pol) pol->sha256 = sha256_hex(text);
  return pol;
}

bool is_test_file(const fs::path& rel) {
  std::string name = rel.filename().string();
  return ends_with(name, "_test.yaml") || ends_with(name, "_test.yml") ||
         ends_with(name, "_test.json");
}

bool is_policy_file(const fs::path& rel) {
  for (const auto& part : rel) {
    std::string s = part.string();
    if (!s.empty() && s[0] == '.') return false;
  }
  std::string name = rel.filename().string();
  if (name == kManifestFile) return false;
  if (is_test_file(rel)) return false;
  return ends_with(name, ".yaml") || ends_with(name, ".yml") || ends_with(name, ".json");
}

std::vector<fs::path> list_files(const fs::path& dir, bool (*want)(const fs::path&),
                                 std::string& error) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    error = "policy directory `" + dir.string() + "` does not exist or is not a directory";
    return out;
  }
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) {
    error = "cannot read policy directory `" + dir.string() + "`: " + ec.message();
    return out;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      error = "cannot read policy directory `" + dir.string() + "`: " + ec.message();
      return {};
    }
    fs::path rel = it->path().lexically_relative(dir);
    std::string fname = rel.filename().string();
    if (!fname.empty() && fname[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!want(rel)) continue;
    // A file we would read must be readable: a symlink loop or a dangling link named like a
    // policy is an error, never silently skipped (it may be the policy that denies).
    bool regular = it->is_regular_file(ec);
    if (ec) {
      error = "cannot read `" + rel.generic_string() + "`: " + ec.message();
      return {};
    }
    if (regular) out.push_back(rel);
  }
  if (ec) {
    error = "cannot read policy directory `" + dir.string() + "`: " + ec.message();
    return {};
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> list_policy_files(const fs::path& dir, std::string& error) {
  return list_files(dir, &is_policy_file, error);
}

LoadReport load_policy_dir(const fs::path& dir, const SetOptions& options) {
  LoadReport rep;
  std::string lerr;
  auto files = list_policy_files(dir, lerr);
  if (!lerr.empty()) {
    rep.errors.push_back({dir.string(), 0, 0, lerr});
    return rep;
  }
  rep.files = files.size();
  auto set = std::make_shared<PolicySet>();
  set->options = options;
  set->dir = dir.string();

  // Signed policies: verify the manifest once; each file's hash is checked below.
  VerifyResult manifest;
  if (options.require_signed) {
    if (options.public_key.size() != 32) {
      rep.errors.push_back(
          {dir.string(), 0, 0, "require_signed is set but no valid public_key is configured"});
      return rep;
    }
    PublicKey pk;
    std::copy(options.public_key.begin(), options.public_key.end(), pk.begin());
    manifest = verify_manifest(dir, pk);
  }

  // Phase 1, in parallel: read, hash and parse every file (each file is independent).
  struct Parsed {
    bool read = false;
    std::string read_error;
    std::string sha256;
    std::shared_ptr<Policy> policy;
    std::vector<Diagnostic> errors;
  };
  std::vector<Parsed> parsed(files.size());
  {
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i = next++; i < files.size(); i = next++) {
        std::string text;
        Parsed& out = parsed[i];
        // Nothing a file holds may end the process (this runs on the hot-reload thread too):
        // any failure, out of memory included, is this file's error.
        try {
          if (!read_text_file(dir / files[i], options.max_file_bytes, text, out.read_error)) {
            if (out.read_error.find("over the limit") != std::string::npos)
              out.read_error += " (max_file_bytes)";
            continue;
          }
          out.read = true;
          out.policy =
              parse_policy(text, files[i].generic_string(), out.errors, options.max_file_bytes);
          out.sha256 = out.policy ? out.policy->sha256 : sha256_hex(text);
        } catch (const std::exception& e) {
          out.read = true;
          out.policy.reset();
          out.errors.clear();
          out.errors.push_back(
              {files[i].generic_string(), 0, 0,
               std::string("cannot load this file: ") +
                   (dynamic_cast<const std::bad_alloc*>(&e) ? "out of memory" : e.what())});
        }
      }
    };
    size_t hw = std::max(1u, std::thread::hardware_concurrency());
    size_t nthreads = std::min<size_t>({hw, 8, files.size() / 32 + 1});
    std::vector<std::thread> pool;
    for (size_t t = 1; t < nthreads; ++t)
      pool.emplace_back(work);
    work();
    for (auto& t : pool)
      t.join();
  }
  // Phase 2, in file order: signatures, duplicates, assembly (deterministic).
  std::set<std::string> seen_ids;
  for (size_t fi = 0; fi < files.size(); ++fi) {
    const auto& rel = files[fi];
    std::string label = rel.generic_string();
    Parsed& pf = parsed[fi];
    if (!pf.read) {
      rep.errors.push_back({label, 0, 0, "cannot read file: " + pf.read_error});
      continue;
    }
    std::string rejected;
    if (options.require_signed) {
      if (!manifest.ok) {
        rejected = "policy file `" + label + "` is not trusted: " + manifest.error;
      } else {
        auto it = manifest.files.find(label);
        if (it == manifest.files.end()) {
          rejected = "policy file `" + label + "` is not in the signed manifest";
        } else if (it->second != pf.sha256) {
          rejected = "policy file `" + label + "` was altered after signing (sha256 mismatch)";
        }
      }
    }
    std::vector<Diagnostic>& errs = pf.errors;
    std::shared_ptr<Policy> pol = std::move(pf.policy);
    if (!rejected.empty()) {
      // Not loaded. If it parses, keep a placeholder with its id and tools that denies
      // every call it would govern; otherwise only the file name is known.
      auto ph = std::make_shared<Policy>();
      ph->file = label;
      ph->sha256 = pf.sha256;
      ph->rejected = rejected;
      if (pol) {
        ph->id = pol->id;
        ph->version = pol->version;
        ph->tools = pol->tools;
      } else {
        ph->id = "rejected:" + label;
      }
      set->rejected_files.push_back(label + ": " + rejected);
      rep.warnings.push_back({label, 0, 0, rejected});
      if (seen_ids.insert(ph->id).second) set->policies.push_back(std::move(ph));
      continue;
    }
    if (!pol) {
      for (auto& e : errs)
        rep.errors.push_back(std::move(e));
      continue;
    }
    if (!seen_ids.insert(pol->id).second) {
      rep.errors.push_back(
          {label, 0, 0, "duplicate policy_id `" + pol->id + "` (also defined in another file)"});
      continue;
    }
    set->policies.push_back(std::move(pol));
  }
  set->build_index();
  // Config references to unknown policies are warnings here and denials at decision time.
  for (const auto& b : options.bindings) {
    for (const auto& id : b.policies) {
      if (!set->find(id)) {
        rep.warnings.push_back({dir.string(), 0, 0,
                                "binding `" + b.pattern.text + "` names unknown policy `" + id +
                                    "` (its tools are denied)"});
      }
    }
  }
  if (!options.default_policy.empty() && !set->find(options.default_policy)) {
    rep.warnings.push_back(
        {dir.string(), 0, 0,
         "default_policy `" + options.default_policy +
             "` is not defined in the policy directory (ungoverned tools are denied)"});
  }
  for (const auto& p : set->policies) {
    if (!p->rejected.empty()) continue;
    bool bound = !p->tools.empty() || !p->resources.empty() || !p->prompts.empty() ||
                 p->id == options.default_policy;
    for (const auto& b : options.bindings) {
      bound = bound || std::find(b.policies.begin(), b.policies.end(), p->id) != b.policies.end();
    }
    if (!bound) {
      rep.warnings.push_back(
          {p->file, 0, 0,
           "policy `" + p->id +
               "` governs nothing (add `tools:`, `resources:` or `prompts:`, or bind it in the "
               "config)"});
    }
    if (p->allow.empty()) {
      rep.warnings.push_back(
          {p->file, 0, 0,
           "policy `" + p->id + "` has no allow rules: it denies every call it governs"});
    }
  }
  set->warnings = rep.warnings;
  if (rep.errors.empty()) rep.set = std::move(set);
  return rep;
}

}  // namespace gt::gov::policy
