// Fuzzes what one endpoint makes of many servers' lists (proxy/aggregate_catalog.hpp): every
// list is untrusted server output. The input is either a JSON description of the servers
// (below) or, when it is not JSON, one URI template.
//
//   {"sep": "__", "members": [{"server": "a", "prefix": "", "mode": 0-2, "available": true,
//     "tools": [...], "prompts": [...], "resources": [...], "templates": [...]}],
//    "uris": ["..."]}
//
// Nothing may crash, and what the client is shown must be routable exactly:
//  - no two shown tools (or prompts) share a name; each shown name routes to a member that
//    listed an item of the routed name, and renaming that item back gives the shown name;
//  - every shown resource's URI routes to a member that listed it;
//  - nothing is shown of a member that is down, and no more is shown than was listed;
//  - a template without expressions matches itself and nothing longer.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include <re2/re2.h>
#include <nlohmann/json.hpp>

#include "proxy/aggregate_catalog.hpp"

namespace {

using namespace gt::proxy;
using nlohmann::json;

constexpr std::size_t kMaxMembers = 12;
constexpr std::size_t kMaxItems = 64;  // per list, to keep one input fast

void check_template(std::string_view t) {
  auto pattern = template_pattern(t);
  if (pattern.empty()) return;
  RE2 re(pattern, RE2::Quiet);
  if (!re.ok()) return;  // refused by the catalog with an error line, never routed
  if (t.find('{') == std::string_view::npos) {
    const std::string text(t);
    if (!RE2::FullMatch(text, re)) __builtin_trap();
    if (RE2::FullMatch(text + "x", re)) __builtin_trap();
  }
}

bool listed_name(const MemberListing& m, ListKind k, const std::string& name) {
  for (const auto& item : m.items[std::size_t(k)])
    if (item.is_object() && item.contains("name") && item["name"] == name) return true;
  return false;
}

bool listed_uri(const MemberListing& m, const std::string& uri) {
  for (const auto& item : m.items[std::size_t(ListKind::Resources)])
    if (item.is_object() && item.contains("uri") && item["uri"] == uri) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 18)) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto in = json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) {
    check_template(text);
    return 0;
  }
  std::string sep = "__";
  if (in.contains("sep") && in["sep"].is_string()) sep = in["sep"].get<std::string>();
  std::vector<MemberListing> members;
  if (in.contains("members") && in["members"].is_array()) {
    for (const auto& m : in["members"]) {
      if (members.size() >= kMaxMembers || !m.is_object()) break;
      MemberListing l;
      l.server = "s" + std::to_string(members.size());
      if (m.contains("server") && m["server"].is_string()) l.server = m["server"];
      // Server names are the config's keys: unique.
      bool taken = false;
      for (const auto& other : members)
        taken = taken || other.server == l.server;
      if (taken) continue;
      if (m.contains("prefix") && m["prefix"].is_string()) l.prefix = m["prefix"];
      if (m.contains("mode") && m["mode"].is_number_unsigned())
        l.mode = static_cast<PrefixMode>(m["mode"].get<unsigned>() % 3);
      if (m.contains("available") && m["available"].is_boolean()) l.available = m["available"];
      for (std::size_t k = 0; k < kListKinds; ++k) {
        const char* member = list_member(ListKind(k));
        if (!m.contains(member) || !m[member].is_array()) continue;
        for (const auto& item : m[member]) {
          if (l.items[k].size() >= kMaxItems) break;
          l.items[k].push_back(item);
          if (ListKind(k) == ListKind::Templates && item.is_object() &&
              item.contains("uriTemplate") && item["uriTemplate"].is_string())
            check_template(item["uriTemplate"].get_ref<const std::string&>());
        }
      }
      members.push_back(std::move(l));
    }
  }

  AggregateCatalog catalog;
  catalog.rebuild(members, sep);

  std::size_t listed[kListKinds] = {};
  for (const auto& m : members)
    for (std::size_t k = 0; k < kListKinds; ++k)
      listed[k] += m.available ? m.items[k].size() : 0;
  for (std::size_t k = 0; k < kListKinds; ++k)
    if (catalog.items(ListKind(k)).size() > listed[k]) __builtin_trap();

  for (ListKind k : {ListKind::Tools, ListKind::Prompts}) {
    std::set<std::string> seen;
    for (const auto& item : catalog.items(k)) {
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string())
        __builtin_trap();
      const auto& name = item["name"].get_ref<const std::string&>();
      if (!seen.insert(name).second) __builtin_trap();  // two shown items, one name
      auto route = catalog.by_name(k, name);
      if (!route || route->member >= members.size()) __builtin_trap();
      const auto& owner = members[route->member];
      if (!owner.available || !listed_name(owner, k, route->name)) __builtin_trap();
      if (catalog.exposed(k, route->member, route->name) != name) __builtin_trap();
    }
  }
  for (const auto& item : catalog.items(ListKind::Resources)) {
    if (!item.is_object() || !item.contains("uri") || !item["uri"].is_string()) __builtin_trap();
    const auto& uri = item["uri"].get_ref<const std::string&>();
    auto member = catalog.by_uri(uri);
    if (!member || *member >= members.size() || !listed_uri(members[*member], uri))
      __builtin_trap();
  }
  if (in.contains("uris") && in["uris"].is_array()) {
    for (const auto& u : in["uris"]) {
      if (!u.is_string()) continue;
      std::string why;
      auto member = catalog.by_uri(u.get<std::string>(), &why);
      if (member && *member >= members.size()) __builtin_trap();
      if (!member && why.empty()) __builtin_trap();  // a refusal always says why
    }
  }
  return 0;
}
