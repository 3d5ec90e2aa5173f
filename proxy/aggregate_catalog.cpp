#include "proxy/aggregate_catalog.hpp"

#include <set>

#include <re2/re2.h>

namespace gt::proxy {

namespace {

constexpr std::array<const char*, kListKinds> kMethods = {
    "tools/list", "prompts/list", "resources/list", "resources/templates/list"};
constexpr std::array<const char*, kListKinds> kMembers = {"tools", "prompts", "resources",
                                                          "resourceTemplates"};
constexpr std::array<const char*, kListKinds> kCapabilities = {"tools", "prompts", "resources",
                                                               "resources"};

const std::string* string_member(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

const std::set<std::string> kRoutable = {"tools", "prompts", "resources", "logging", "completions"};

}  // namespace

std::optional<ListKind> list_kind_of(std::string_view method) {
  for (std::size_t k = 0; k < kListKinds; ++k)
    if (method == kMethods[k]) return static_cast<ListKind>(k);
  return std::nullopt;
}
const char* list_method(ListKind k) {
  return kMethods[std::size_t(k)];
}
const char* list_member(ListKind k) {
  return kMembers[std::size_t(k)];
}
const char* capability_of(ListKind k) {
  return kCapabilities[std::size_t(k)];
}

nlohmann::json merge_initialize(const std::vector<MemberInit>& members, std::string_view version) {
  // The oldest version any server negotiated: the client then speaks one every server knows
  // (versions are dates, so they compare as strings).
  std::string protocol;
  nlohmann::json caps = nlohmann::json::object();
  std::string instructions, names;
  for (const auto& m : members) {
    names += (names.empty() ? "" : ", ") + m.server;
    if (!m.result.is_object()) continue;
    if (auto v = string_member(m.result, "protocolVersion")) {
      if (protocol.empty() || *v < protocol) protocol = *v;
    }
    if (auto i = string_member(m.result, "instructions"); i && !i->empty()) {
      instructions +=
          (instructions.empty() ? "" : "\n\n") + std::string("## Server `") + m.server + "`\n" + *i;
    }
    auto c = m.result.find("capabilities");
    if (c == m.result.end() || !c->is_object()) continue;
    for (auto it = c->begin(); it != c->end(); ++it) {
      // Only what the endpoint can route to one server: not tasks (their ids name no server),
      // not experimental features it cannot know.
      if (!it->is_object() || !kRoutable.count(it.key())) continue;
      auto& mine = caps[it.key()];
      if (!mine.is_object()) mine = nlohmann::json::object();
      // Offered by one server, offered by the endpoint; for flags, true when one says true.
      for (auto f = it->begin(); f != it->end(); ++f) {
        auto have = mine.find(f.key());
        if (f->is_boolean() && (have == mine.end() || have->is_boolean())) {
          mine[f.key()] = (have != mine.end() && have->get<bool>()) || f->get<bool>();
        } else if (have == mine.end()) {
          mine[f.key()] = *f;
        }
      }
    }
  }
  // Servers leave and rejoin: the lists change even when no server's own list does.
  for (const char* k : {"tools", "prompts", "resources"}) {
    if (caps.contains(k)) caps[k]["listChanged"] = true;
  }
  nlohmann::json r = {
      {"protocolVersion", protocol.empty() ? std::string(version) : protocol},
      {"capabilities", caps},
      {"serverInfo",
       {{"name", "glasstape"}, {"version", "0.1.0"}, {"title", "GlassTape: " + names}}}};
  if (!instructions.empty()) r["instructions"] = instructions;
  return r;
}

std::string template_pattern(std::string_view t) {
  if (t.empty() || t.size() > kMaxTemplateBytes) return {};
  std::string out;
  std::size_t i = 0;
  while (i < t.size()) {
    auto open = t.find('{', i);
    auto literal = t.substr(i, open == std::string_view::npos ? t.npos : open - i);
    if (literal.find('}') != std::string_view::npos) return {};
    out += RE2::QuoteMeta(re2::StringPiece(literal.data(), literal.size()));
    if (open == std::string_view::npos) break;
    auto close = t.find('}', open);
    if (close == std::string_view::npos || close == open + 1) return {};
    char op = t[open + 1];
    // What an expression can expand to (RFC 6570 section 3.2): simple ones stop at a
    // reserved character; `+` and `#` may hold any; the others lead with their operator.
    switch (op) {
      case '+':
      case '#':
        out += ".*";
        break;
      case '/':
      case '.':
      case ';':
        out += "(?:\\" + std::string(1, op) + "[^/?#]*)*";
        break;
      case '?':
      case '&':
        out += "(?:[?&].*)?";
        break;
      default:
        out += "[^/?#]*";
    }
    i = close + 1;
  }
  return out;
}

struct AggregateCatalog::Template {
  std::size_t member;
  std::string text;
  RE2 re;
  Template(std::size_t m, std::string t, const std::string& pattern)
      : member(m), text(std::move(t)), re(pattern, RE2::Quiet) {}
};

AggregateCatalog::AggregateCatalog() = default;
AggregateCatalog::~AggregateCatalog() = default;
AggregateCatalog::AggregateCatalog(AggregateCatalog&&) noexcept = default;
AggregateCatalog& AggregateCatalog::operator=(AggregateCatalog&&) noexcept = default;

std::vector<std::string> AggregateCatalog::rebuild(const std::vector<MemberListing>& members,
                                                   std::string_view separator) {
  std::vector<std::string> errors;
  for (auto& s : shown_)
    s.clear();
  for (auto& n : names_)
    n.clear();
  for (auto& e : exposed_)
    e.clear();
  uris_.clear();
  clashes_.clear();
  templates_.clear();

  // Tools and prompts: names merged per kind, every member taking part (a down server's
  // names stay as they were, so no other server's names change while it is away).
  for (std::size_t k = 0; k < 2; ++k) {
    std::vector<ServerNames> servers;
    std::map<std::string, std::size_t> index;
    for (std::size_t m = 0; m < members.size(); ++m) {
      ServerNames s{members[m].server, members[m].prefix, members[m].mode, {}};
      for (const auto& item : members[m].items[k]) {
        if (auto n = string_member(item, "name")) s.names.push_back(*n);
      }
      index[s.server] = m;
      servers.push_back(std::move(s));
    }
    auto merged = merge_names(servers, separator);
    for (auto& e : merged.errors)
      errors.push_back(std::string(k == 0 ? "tools: " : "prompts: ") + e);
    for (const auto& [exposed, route] : merged.routes) {
      auto m = index.at(route.server);
      names_[k][exposed] = CatalogRoute{m, route.name};
      exposed_[k][{m, route.name}] = exposed;
    }
    for (std::size_t m = 0; m < members.size(); ++m) {
      if (!members[m].available) continue;
      for (const auto& item : members[m].items[k]) {
        auto n = string_member(item, "name");
        if (!n) continue;
        auto e = exposed_[k].find({m, *n});
        if (e == exposed_[k].end()) continue;  // in a collision: routed nowhere, not shown
        auto copy = item;
        copy["name"] = e->second;
        shown_[k].push_back(std::move(copy));
      }
    }
  }

  // Resources by URI: one owner each.
  std::map<std::string, std::size_t> owner;
  std::map<std::string, bool> clash;
  for (std::size_t m = 0; m < members.size(); ++m) {
    for (const auto& item : members[m].items[std::size_t(ListKind::Resources)]) {
      auto uri = string_member(item, "uri");
      if (!uri) continue;
      auto [it, fresh] = owner.emplace(*uri, m);
      if (!fresh && it->second != m && !clash[*uri]) {
        clash[*uri] = true;
        const std::string both = "`" + *uri + "` is listed by both server `" +
                                 members[it->second].server + "` and server `" + members[m].server +
                                 "`";
        errors.push_back("resources: " + both + "; neither is routed");
        clashes_[*uri] = both + ", so it is routed to neither";
      }
    }
  }
  for (const auto& [uri, m] : owner)
    if (!clash.count(uri)) uris_[uri] = m;
  for (std::size_t m = 0; m < members.size(); ++m) {
    for (const auto& item : members[m].items[std::size_t(ListKind::Resources)]) {
      auto uri = string_member(item, "uri");
      if (uri && members[m].available && uris_.count(*uri)) shown_[2].push_back(item);
    }
    for (const auto& item : members[m].items[std::size_t(ListKind::Templates)]) {
      auto t = string_member(item, "uriTemplate");
      if (!t) continue;
      auto pattern = template_pattern(*t);
      auto tp = pattern.empty() ? nullptr : std::make_unique<Template>(m, *t, pattern);
      if (!tp || !tp->re.ok()) {
        errors.push_back("resource templates: server `" + members[m].server + "`: `" +
                         t->substr(0, 200) + "` is not a URI template GlassTape can match");
        continue;
      }
      templates_.push_back(std::move(tp));
      if (members[m].available) shown_[3].push_back(item);
    }
  }
  return errors;
}

std::optional<CatalogRoute> AggregateCatalog::by_name(ListKind k, const std::string& name) const {
  if (std::size_t(k) > 1) return std::nullopt;
  auto it = names_[std::size_t(k)].find(name);
  if (it == names_[std::size_t(k)].end()) return std::nullopt;
  return it->second;
}

std::string AggregateCatalog::exposed(ListKind k, std::size_t member,
                                      const std::string& name) const {
  if (std::size_t(k) > 1) return {};
  auto it = exposed_[std::size_t(k)].find({member, name});
  return it == exposed_[std::size_t(k)].end() ? std::string() : it->second;
}

std::optional<std::size_t> AggregateCatalog::by_uri(const std::string& uri, std::string* why,
                                                    bool* ambiguous) const {
  if (ambiguous) *ambiguous = false;
  if (auto it = uris_.find(uri); it != uris_.end()) return it->second;
  if (auto c = clashes_.find(uri); c != clashes_.end()) {
    if (why) *why = c->second;
    if (ambiguous) *ambiguous = true;
    return std::nullopt;
  }
  std::optional<std::size_t> found;
  const Template* first = nullptr;
  for (const auto& t : templates_) {
    if (!RE2::FullMatch(uri, t->re)) continue;
    if (found && *found != t->member) {
      if (why)
        *why = "`" + uri + "` matches templates of two servers (`" + first->text + "` and `" +
               t->text + "`)";
      if (ambiguous) *ambiguous = true;
      return std::nullopt;
    }
    found = t->member;
    first = t.get();
  }
  if (!found && why) *why = "no server lists `" + uri + "` or a template matching it";
  return found;
}

bool list_page(const std::vector<nlohmann::json>& items, const nlohmann::json& cursor,
               std::size_t page_size, const char* member, nlohmann::json& result) {
  std::size_t start = 0;
  if (!cursor.is_null()) {
    if (!cursor.is_string()) return false;
    const auto& c = cursor.get_ref<const std::string&>();
    if (c.rfind("gt:", 0) != 0 || c.size() > 24) return false;
    std::size_t v = 0;
    for (std::size_t i = 3; i < c.size(); ++i) {
      if (c[i] < '0' || c[i] > '9') return false;
      v = v * 10 + std::size_t(c[i] - '0');
    }
    if (c.size() == 3 || v > items.size()) return false;
    start = v;
  }
  auto end = std::min(items.size(), start + page_size);
  result = nlohmann::json::object();
  auto& page = result[member] = nlohmann::json::array();
  for (auto i = start; i < end; ++i)
    page.push_back(items[i]);
  if (end < items.size()) result["nextCursor"] = "gt:" + std::to_string(end);
  return true;
}

}  // namespace gt::proxy
