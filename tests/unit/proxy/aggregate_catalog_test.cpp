// What the client of one endpoint over many servers sees of them (proxy/aggregate_catalog.hpp):
// the merged initialize result, the merged lists with their routes, URI templates as patterns,
// and list pages with the endpoint's own cursors.
#include "proxy/aggregate_catalog.hpp"

#include <catch2/catch.hpp>

using namespace gt::proxy;
using nlohmann::json;

namespace {

std::vector<json> named(std::initializer_list<const char*> names) {
  std::vector<json> out;
  for (const char* n : names)
    out.push_back({{"name", n}, {"description", std::string("does ") + n}});
  return out;
}

std::vector<std::string> names_of(const std::vector<json>& items, const char* key = "name") {
  std::vector<std::string> out;
  for (const auto& i : items)
    out.push_back(i.at(key).get<std::string>());
  return out;
}

MemberListing listing(std::string server, std::vector<json> tools,
                      PrefixMode mode = PrefixMode::OnCollision, std::string prefix = {}) {
  MemberListing l;
  l.server = std::move(server);
  l.prefix = std::move(prefix);
  l.mode = mode;
  l.items[std::size_t(ListKind::Tools)] = std::move(tools);
  return l;
}

}  // namespace

TEST_CASE("catalog: list kinds map to their methods, members and capabilities", "[aggregate]") {
  CHECK(list_kind_of("tools/list") == ListKind::Tools);
  CHECK(list_kind_of("prompts/list") == ListKind::Prompts);
  CHECK(list_kind_of("resources/list") == ListKind::Resources);
  CHECK(list_kind_of("resources/templates/list") == ListKind::Templates);
  CHECK_FALSE(list_kind_of("tools/call"));
  CHECK_FALSE(list_kind_of("resources/templates"));
  CHECK(std::string(list_method(ListKind::Templates)) == "resources/templates/list");
  CHECK(std::string(list_member(ListKind::Templates)) == "resourceTemplates");
  CHECK(std::string(list_member(ListKind::Prompts)) == "prompts");
  CHECK(std::string(capability_of(ListKind::Templates)) == "resources");
  CHECK(std::string(capability_of(ListKind::Tools)) == "tools");
}

TEST_CASE("catalog: initialize results merge into one", "[aggregate]") {
  std::vector<MemberInit> members = {
      {"a",
       {{"protocolVersion", "2025-06-18"},
        {"capabilities",
         {{"tools", {{"listChanged", false}}},
          {"resources", {{"subscribe", false}}},
          {"logging", json::object()},
          {"tasks", {{"list", json::object()}}},
          {"experimental", {{"x", json::object()}}}}},
        {"serverInfo", {{"name", "server-a"}, {"version", "1"}}},
        {"instructions", "Use a for files."}}},
      {"b",
       {{"protocolVersion", "2025-03-26"},
        {"capabilities",
         {{"tools", json::object()},
          {"resources", {{"subscribe", true}}},
          {"prompts", {{"listChanged", false}}},
          {"completions", json::object()},
          {"sampling", json::object()}}},
        {"instructions", "Use b for memory."}}},
      {"c", {{"protocolVersion", "2025-06-18"}, {"instructions", ""}}}};
  auto r = merge_initialize(members, "2025-06-18");
  // The oldest version any server negotiated.
  CHECK(r["protocolVersion"] == "2025-03-26");
  // Union, flags OR'ed, listChanged always on, tasks/experimental/unknown capabilities dropped.
  CHECK(r["capabilities"] == json({{"tools", {{"listChanged", true}}},
                                   {"resources", {{"subscribe", true}, {"listChanged", true}}},
                                   {"prompts", {{"listChanged", true}}},
                                   {"logging", json::object()},
                                   {"completions", json::object()}}));
  CHECK(r["instructions"] == "## Server `a`\nUse a for files.\n\n## Server `b`\nUse b for memory.");
  CHECK(r["serverInfo"] ==
        json({{"name", "glasstape"}, {"version", "0.1.0"}, {"title", "GlassTape: a, b, c"}}));
}

TEST_CASE("catalog: a flag false everywhere stays false; no version falls back to the client's",
          "[aggregate]") {
  auto r = merge_initialize(
      {{"a", {{"capabilities", {{"resources", {{"subscribe", false}}}}}}},
       {"b",
        {{"capabilities", {{"resources", {{"subscribe", false}}}, {"tasks", json::object()}}}}},
       {"c", "not an object"}},
      "2025-06-18");
  CHECK(r["protocolVersion"] == "2025-06-18");
  CHECK(r["capabilities"] == json({{"resources", {{"subscribe", false}, {"listChanged", true}}}}));
  CHECK_FALSE(r.contains("instructions"));
  CHECK(r["serverInfo"]["title"] == "GlassTape: a, b, c");
  // No capability at all: an empty object, never null.
  auto none = merge_initialize({{"a", {{"protocolVersion", "2024-11-05"}}}}, "2025-06-18");
  CHECK(none["protocolVersion"] == "2024-11-05");
  CHECK(none["capabilities"] == json::object());
}

TEST_CASE("catalog: a non-boolean flag from one server does not break the merge", "[aggregate]") {
  // Server `a` writes listChanged as a string (against the spec), server `b` as a boolean: the
  // merge once read a's string as a bool and threw out of the Aggregator's handling of b's
  // initialize answer.
  std::vector<MemberInit> members = {
      {"a", {{"capabilities", {{"tools", {{"listChanged", "yes"}}}}}}},
      {"b", {{"capabilities", {{"tools", {{"listChanged", true}}}}}}}};
  json r;
  REQUIRE_NOTHROW(r = merge_initialize(members, "2025-06-18"));
  CHECK(r["capabilities"]["tools"]["listChanged"] == true);
  // Either order, and a flag the merge does not force.
  std::swap(members[0], members[1]);
  REQUIRE_NOTHROW(r = merge_initialize(members, "2025-06-18"));
  CHECK(r["capabilities"]["tools"]["listChanged"] == true);
  members = {{"a", {{"capabilities", {{"resources", {{"subscribe", 1}}}}}}},
             {"b", {{"capabilities", {{"resources", {{"subscribe", true}}}}}}}};
  REQUIRE_NOTHROW(r = merge_initialize(members, "2025-06-18"));
  CHECK(r["capabilities"]["resources"]["listChanged"] == true);
}

TEST_CASE("catalog: tools collide into prefixed names, each routed to its server", "[aggregate]") {
  AggregateCatalog c;
  auto errors = c.rebuild(
      {listing("a", named({"echo", "read"})), listing("b", named({"echo", "delete_file"}))}, "__");
  CHECK(errors.empty());
  const auto& shown = c.items(ListKind::Tools);
  CHECK(names_of(shown) == std::vector<std::string>{"a__echo", "read", "b__echo", "delete_file"});
  // Only the name changes: every other member of the item is as the server listed it.
  CHECK(shown[2] == json({{"name", "b__echo"}, {"description", "does echo"}}));
  auto r = c.by_name(ListKind::Tools, "b__echo");
  REQUIRE(r);
  CHECK(r->member == 1);
  CHECK(r->name == "echo");
  REQUIRE(c.by_name(ListKind::Tools, "read"));
  CHECK(c.by_name(ListKind::Tools, "read")->member == 0);
  CHECK_FALSE(c.by_name(ListKind::Tools, "echo"));
  CHECK_FALSE(c.by_name(ListKind::Resources, "read"));  // only tools and prompts have names
  CHECK(c.exposed(ListKind::Tools, 1, "echo") == "b__echo");
  CHECK(c.exposed(ListKind::Tools, 0, "read") == "read");
  CHECK(c.exposed(ListKind::Tools, 0, "delete_file").empty());
  CHECK(c.exposed(ListKind::Prompts, 1, "echo").empty());
  // Another separator.
  AggregateCatalog dot;
  dot.rebuild({listing("a", named({"echo"})), listing("b", named({"echo"}))}, ".");
  CHECK(names_of(dot.items(ListKind::Tools)) == std::vector<std::string>{"a.echo", "b.echo"});
}

TEST_CASE("catalog: prefix modes always and never, and a custom prefix", "[aggregate]") {
  AggregateCatalog c;
  auto errors = c.rebuild({listing("filesystem", named({"read_file"}), PrefixMode::Always, "fs"),
                           listing("memory", named({"read_graph", "search"}), PrefixMode::Never),
                           listing("web", named({"search"}), PrefixMode::Always)},
                          "__");
  CHECK(errors.empty());
  CHECK(names_of(c.items(ListKind::Tools)) ==
        std::vector<std::string>{"fs__read_file", "read_graph", "search", "web__search"});
  REQUIRE(c.by_name(ListKind::Tools, "fs__read_file"));
  CHECK(c.by_name(ListKind::Tools, "fs__read_file")->name == "read_file");
  CHECK(c.by_name(ListKind::Tools, "search")->member == 1);
  CHECK(c.by_name(ListKind::Tools, "web__search")->member == 2);
}

TEST_CASE("catalog: a collision that `never` leaves is an error; the name goes nowhere",
          "[aggregate]") {
  AggregateCatalog c;
  auto errors = c.rebuild({listing("a", named({"search", "x"}), PrefixMode::Never),
                           listing("b", named({"search"}), PrefixMode::Never)},
                          "__");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        "tools: `search` is exposed by both server `a` (`search`) and server `b` (`search`); "
        "give one of them a prefix (prefix_mode: always)");
  CHECK_FALSE(c.by_name(ListKind::Tools, "search"));
  CHECK(names_of(c.items(ListKind::Tools)) == std::vector<std::string>{"x"});
  // Prompts are merged on their own, with their own error prefix.
  MemberListing p1, p2;
  p1.server = "a";
  p1.mode = PrefixMode::Never;
  p1.items[std::size_t(ListKind::Prompts)] = named({"summarize"});
  p2.server = "b";
  p2.mode = PrefixMode::Never;
  p2.items[std::size_t(ListKind::Prompts)] = named({"summarize"});
  p2.items[std::size_t(ListKind::Tools)] = named({"summarize"});
  auto perrors = c.rebuild({p1, p2}, "__");
  REQUIRE(perrors.size() == 1);
  CHECK(perrors[0].rfind("prompts: `summarize` is exposed by both", 0) == 0);
  CHECK(c.items(ListKind::Prompts).empty());
  CHECK(names_of(c.items(ListKind::Tools)) == std::vector<std::string>{"summarize"});
  // A rebuild starts over: the earlier tools are gone.
  CHECK_FALSE(c.by_name(ListKind::Tools, "x"));
}

TEST_CASE("catalog: a server that is down keeps its routes and names, but is not listed",
          "[aggregate]") {
  AggregateCatalog c;
  auto b = listing("b", named({"echo", "delete_file"}));
  b.available = false;
  b.items[std::size_t(ListKind::Resources)] = {{{"uri", "mem://b"}}};
  b.items[std::size_t(ListKind::Templates)] = {{{"uriTemplate", "mem://b/{id}"}}};
  auto errors = c.rebuild({listing("a", named({"echo"})), b}, "__");
  CHECK(errors.empty());
  // a's echo stays prefixed while b is away: no name shifts.
  CHECK(names_of(c.items(ListKind::Tools)) == std::vector<std::string>{"a__echo"});
  auto r = c.by_name(ListKind::Tools, "b__echo");
  REQUIRE(r);
  CHECK(r->member == 1);
  CHECK(r->name == "echo");
  REQUIRE(c.by_name(ListKind::Tools, "delete_file"));
  CHECK(c.items(ListKind::Resources).empty());
  CHECK(c.items(ListKind::Templates).empty());
  CHECK(c.by_uri("mem://b") == std::optional<std::size_t>(1));
  CHECK(c.by_uri("mem://b/7") == std::optional<std::size_t>(1));
}

TEST_CASE("catalog: resources keep their URIs; a URI two servers list is routed to neither",
          "[aggregate]") {
  MemberListing a, b;
  a.server = "a";
  a.items[std::size_t(ListKind::Resources)] = {{{"uri", "file:///shared"}, {"name", "a-shared"}},
                                               {{"uri", "file:///a"}, {"name", "a-only"}}};
  b.server = "b";
  b.items[std::size_t(ListKind::Resources)] = {{{"uri", "mem://b"}, {"name", "b-only"}},
                                               {{"uri", "file:///shared"}, {"name", "b-shared"}}};
  AggregateCatalog c;
  auto errors = c.rebuild({a, b}, "__");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        "resources: `file:///shared` is listed by both server `a` and server `b`; neither is "
        "routed");
  CHECK(names_of(c.items(ListKind::Resources)) == std::vector<std::string>{"a-only", "b-only"});
  CHECK(c.by_uri("file:///a") == std::optional<std::size_t>(0));
  CHECK(c.by_uri("mem://b") == std::optional<std::size_t>(1));
  std::string why;
  CHECK_FALSE(c.by_uri("file:///shared", &why));
  // The caller is told why: both servers list it (not that no server does).
  CHECK(why ==
        "`file:///shared` is listed by both server `a` and server `b`, so it is routed to neither");
}

TEST_CASE("catalog: templates route the URIs they match, whole", "[aggregate]") {
  MemberListing a, b;
  a.server = "a";
  a.items[std::size_t(ListKind::Templates)] = {
      {{"uriTemplate", "demo://resource/dynamic/text/{resourceId}"}, {"name", "text"}}};
  b.server = "b";
  b.items[std::size_t(ListKind::Templates)] = {{{"uriTemplate", "file://{+path}"}, {"name", "f"}},
                                               {{"uriTemplate", "bad{"}, {"name", "broken"}}};
  AggregateCatalog c;
  auto errors = c.rebuild({a, b}, "__");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        "resource templates: server `b`: `bad{` is not a URI template GlassTape can match");
  CHECK(names_of(c.items(ListKind::Templates)) == std::vector<std::string>{"text", "f"});
  CHECK(c.by_uri("demo://resource/dynamic/text/42") == std::optional<std::size_t>(0));
  std::string why;
  CHECK_FALSE(c.by_uri("demo://resource/dynamic/text/42/x", &why));
  CHECK(why == "no server lists `demo://resource/dynamic/text/42/x` or a template matching it");
  CHECK_FALSE(c.by_uri("demo://resource/dynamic/text/42?x=1"));
  CHECK_FALSE(c.by_uri("xdemo://resource/dynamic/text/42"));
  CHECK(c.by_uri("file:///etc/hosts") == std::optional<std::size_t>(1));
  // A listed URI wins over a template.
  a.items[std::size_t(ListKind::Resources)] = {{{"uri", "file:///listed"}}};
  c.rebuild({a, b}, "__");
  CHECK(c.by_uri("file:///listed") == std::optional<std::size_t>(0));
}

TEST_CASE("catalog: a URI two servers' templates match goes to neither, with why", "[aggregate]") {
  MemberListing a, b;
  a.server = "a";
  a.items[std::size_t(ListKind::Templates)] = {{{"uriTemplate", "mem://{x}"}},
                                               {{"uriTemplate", "mem://{y}"}}};
  b.server = "b";
  b.items[std::size_t(ListKind::Templates)] = {{{"uriTemplate", "mem://{+rest}"}}};
  AggregateCatalog c;
  CHECK(c.rebuild({a, b}, "__").empty());
  std::string why;
  CHECK_FALSE(c.by_uri("mem://k", &why));
  CHECK(why == "`mem://k` matches templates of two servers (`mem://{y}` and `mem://{+rest}`)");
  // Two templates of one server are no ambiguity.
  CHECK(c.by_uri("mem://k/deeper") == std::optional<std::size_t>(1));
  CHECK(c.rebuild({a}, "__").empty());
  CHECK(c.by_uri("mem://k") == std::optional<std::size_t>(0));
}

TEST_CASE("catalog: URI templates as RE2 patterns", "[aggregate]") {
  CHECK(template_pattern("{id}") == "[^/?#]*");
  CHECK(template_pattern("{+path}") == ".*");
  CHECK(template_pattern("{#frag}") == ".*");
  CHECK(template_pattern("x{/seg}") == "x(?:\\/[^/?#]*)*");
  CHECK(template_pattern("x{.ext}") == "x(?:\\.[^/?#]*)*");
  CHECK(template_pattern("x{;p}") == "x(?:\\;[^/?#]*)*");
  CHECK(template_pattern("x{?q,r}") == "x(?:[?&].*)?");
  CHECK(template_pattern("x{&q}") == "x(?:[?&].*)?");
  CHECK(template_pattern("a.b") == "a\\.b");  // literals are quoted
  CHECK(template_pattern("a{x}b{y}") == "a[^/?#]*b[^/?#]*");
  // Templates that cannot be read.
  CHECK(template_pattern("").empty());
  CHECK(template_pattern("mem://{id").empty());
  CHECK(template_pattern("mem://{}").empty());
  CHECK(template_pattern("mem://}x").empty());
  CHECK(template_pattern(std::string(kMaxTemplateBytes + 1, 'a')).empty());
  CHECK(template_pattern(std::string(kMaxTemplateBytes, 'a')) ==
        std::string(kMaxTemplateBytes, 'a'));
}

TEST_CASE("catalog: list pages with the endpoint's own cursors", "[aggregate]") {
  std::vector<json> items;
  for (int i = 0; i < 5; ++i)
    items.push_back({{"name", "t" + std::to_string(i)}});
  json r;
  REQUIRE(list_page(items, nullptr, 2, "tools", r));
  CHECK(r == json({{"tools", {items[0], items[1]}}, {"nextCursor", "gt:2"}}));
  REQUIRE(list_page(items, "gt:2", 2, "tools", r));
  CHECK(r == json({{"tools", {items[2], items[3]}}, {"nextCursor", "gt:4"}}));
  REQUIRE(list_page(items, "gt:4", 2, "tools", r));
  CHECK(r == json({{"tools", {items[4]}}}));
  CHECK_FALSE(r.contains("nextCursor"));
  // The end itself is a cursor it could have given (an empty page).
  REQUIRE(list_page(items, "gt:5", 2, "prompts", r));
  CHECK(r == json({{"prompts", json::array()}}));
  // An empty list is one empty page.
  REQUIRE(list_page({}, nullptr, 2, "resources", r));
  CHECK(r == json({{"resources", json::array()}}));
  // Cursors this endpoint never gave.
  for (const json& bad :
       {json("gt:x"), json(7), json("gt:99"), json("gt:"), json("2"), json("gt:-1"), json("gt:1 "),
        json::object(), json("gt:" + std::string(30, '1'))}) {
    INFO(bad.dump());
    json untouched = "unchanged";
    CHECK_FALSE(list_page(items, bad, 2, "tools", untouched));
    CHECK(untouched == "unchanged");
  }
}
