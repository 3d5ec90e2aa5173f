// One endpoint for many servers (issue 18): what the client sees of them, as pure code.
//  - The initialize result: the oldest protocol version any server negotiated, capabilities
//    merged (a capability is offered when one server offers it; list changes are always
//    announced, since servers leave and rejoin; only tools, prompts, resources, logging and
//    completions, which the endpoint can route), instructions under each server's name.
//  - The merged lists: tools and prompts renamed by aggregate_names.hpp, resources and
//    resource templates with their URIs unchanged (a URI is an identifier that tool results
//    and links repeat: renaming it would break them). Two servers listing one URI is an error,
//    and that URI is routed to neither.
//  - Where a name or a URI goes: to the server that listed it, even while that server is down
//    (its items are hidden from the lists, and a call gets -32001 rather than "unknown").
// The Aggregator (proxy/aggregator.hpp) keeps one catalog and rebuilds it when a list changes.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy/aggregate_names.hpp"

namespace re2 {
class RE2;
}

namespace gt::proxy {

enum class ListKind : std::size_t { Tools = 0, Prompts, Resources, Templates };
inline constexpr std::size_t kListKinds = 4;
// tools/list, prompts/list, resources/list, resources/templates/list; nullopt otherwise.
std::optional<ListKind> list_kind_of(std::string_view method);
const char* list_method(ListKind k);
const char* list_member(ListKind k);    // the result's array: tools, prompts, resources, ...
const char* capability_of(ListKind k);  // tools, prompts, resources, resources

struct MemberInit {
  std::string server;
  nlohmann::json result;  // its initialize result
};
// The initialize result the client gets. `members` is not empty.
nlohmann::json merge_initialize(const std::vector<MemberInit>& members, std::string_view version);

// Bounds on what one server may list (each list is fetched whole, then merged): beyond them a
// server's list is cut, with an error line.
inline constexpr std::size_t kMaxItemsPerServer = 10000;
inline constexpr std::size_t kMaxTemplateBytes = 1024;

struct MemberListing {
  std::string server;
  std::string prefix;  // empty: the server's name
  PrefixMode mode = PrefixMode::OnCollision;
  bool available = true;  // false: down; its items are routed but not listed
  std::array<std::vector<nlohmann::json>, kListKinds> items;
};

struct CatalogRoute {
  std::size_t member = 0;  // index into the listings given to rebuild()
  std::string name;        // as the server knows it
};

class AggregateCatalog {
 public:
  AggregateCatalog();
  ~AggregateCatalog();
  AggregateCatalog(AggregateCatalog&&) noexcept;
  AggregateCatalog& operator=(AggregateCatalog&&) noexcept;

  // Everything from the members' listings. Returns the error lines (collisions, bad items).
  std::vector<std::string> rebuild(const std::vector<MemberListing>& members,
                                   std::string_view separator);
  // What the client is shown, in member order, tools and prompts renamed.
  const std::vector<nlohmann::json>& items(ListKind k) const { return shown_[std::size_t(k)]; }
  // A tool or prompt by the name the client used.
  std::optional<CatalogRoute> by_name(ListKind k, const std::string& name) const;
  // The member that listed this resource URI, or whose one template matches it. Nullopt with
  // `why`; `ambiguous` is set when the URI could mean two servers (both list it, or templates of
  // two match it) rather than none.
  std::optional<std::size_t> by_uri(const std::string& uri, std::string* why = nullptr,
                                    bool* ambiguous = nullptr) const;
  // The exposed name of a member's tool or prompt (to rename what it says of it), or "".
  std::string exposed(ListKind k, std::size_t member, const std::string& name) const;

 private:
  struct Template;
  std::array<std::vector<nlohmann::json>, kListKinds> shown_;
  std::array<std::map<std::string, CatalogRoute>, 2> names_;  // tools, prompts
  std::array<std::map<std::pair<std::size_t, std::string>, std::string>, 2> exposed_;
  std::map<std::string, std::size_t> uris_;
  std::map<std::string, std::string> clashes_;  // a URI two servers list → why it goes nowhere
  std::vector<std::unique_ptr<Template>> templates_;
};

// One page of `items` for a client's cursor (an offset written as a string; null: the first
// page), as a list result with `member` (tools, prompts, ...) and nextCursor. False when the
// cursor is not one this endpoint gave.
bool list_page(const std::vector<nlohmann::json>& items, const nlohmann::json& cursor,
               std::size_t page_size, const char* member, nlohmann::json& result);

// An RFC 6570 URI template as a full-match RE2 pattern (level 1-3 expressions), or "" when the
// template cannot be read.
std::string template_pattern(std::string_view uri_template);

}  // namespace gt::proxy
