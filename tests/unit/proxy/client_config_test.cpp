// MCP client configuration files as `glasstape wrap` / `glasstape init` see them
// (proxy/cli/client_config.hpp): detection, rewriting, idempotence, undo, masking, JSONC.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "proxy/cli/client_config.hpp"

using namespace gt::proxy::clients;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(GT_SOURCE_DIR) + "/tests/fixtures/clients/" + name);
  REQUIRE(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

WrapOptions options() {
  WrapOptions o;
  o.glasstape = "/usr/local/bin/glasstape";
  o.config = "/home/me/.glasstape/glasstape.yaml";
  return o;
}

std::string error_of(const std::string& text, std::optional<Shape> forced = std::nullopt) {
  try {
    parse_client_file(text, forced);
  } catch (const ClientError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("client files: the shape is detected", "[client-config]") {
  SECTION("Claude Desktop and Cursor: mcpServers") {
    auto f = parse_client_file(fixture("claude_desktop_config.json"));
    CHECK(f.shape == Shape::McpServers);
    CHECK(f.servers().size() == 2);
    CHECK_FALSE(f.had_comments);
    CHECK(parse_client_file(fixture("cursor_mcp.json")).shape == Shape::McpServers);
  }
  SECTION("VS Code .vscode/mcp.json: servers") {
    auto f = parse_client_file(fixture("vscode_mcp.json"));
    CHECK(f.shape == Shape::VsCode);
    CHECK(f.doc["inputs"].size() == 1);
  }
  SECTION("VS Code settings.json with comments: mcp.servers, JSONC") {
    auto f = parse_client_file(fixture("vscode_settings.json"));
    CHECK(f.shape == Shape::VsCodeSettings);
    CHECK(f.had_comments);
    CHECK(f.indent == 4);
    CHECK(f.servers().contains("filesystem"));
  }
  SECTION("--client forces a shape") {
    auto text = R"({"servers": {"a": {"command": "x"}}, "mcpServers": {"b": {"command": "y"}}})";
    CHECK(parse_client_file(text).shape == Shape::McpServers);
    auto f = parse_client_file(text, parse_client("vscode"));
    CHECK(f.shape == Shape::VsCode);
    CHECK(f.servers().contains("a"));
    CHECK(error_of(R"({"mcpServers": {"b": {"command": "y"}}})", Shape::VsCodeSettings) ==
          "unknown shape: no `mcp.servers (VS Code settings)` object");
    CHECK(parse_client("claude-desktop") == Shape::McpServers);
    CHECK(parse_client("cursor") == Shape::McpServers);
    CHECK_FALSE(parse_client("emacs"));
  }
}

TEST_CASE("client files: errors are one line", "[client-config]") {
  auto bad = error_of("{\"mcpServers\": {\n  \"a\": }\n}");
  CHECK(bad.rfind("invalid JSON: line 2, column ", 0) == 0);
  CHECK(bad.find("unexpected '}'") != std::string::npos);
  CHECK(error_of("[1, 2]") == "unknown shape: the file holds a JSON array, not an object");
  CHECK(error_of(R"({"editor.fontSize": 14})").rfind("unknown shape: no `mcpServers`", 0) == 0);
  CHECK(error_of(R"({"mcpServers": {}})") == "no servers in `mcpServers`");
  CHECK(error_of(R"({"mcpServers": []})").rfind("unknown shape", 0) == 0);
  // A number JSON cannot hold is a readable error too, not an escaped exception (the fuzzer).
  CHECK(error_of(R"({"mcpServers": {"a": {"command": "x", "args": [1e999]}}})")
            .rfind("invalid JSON: ", 0) == 0);
  for (const auto& e : {error_of("{\"mcpServers\": {\n  \"a\": }\n}"), error_of("[1]")})
    CHECK(e.find('\n') == std::string::npos);
}

TEST_CASE("wrap: each stdio server runs behind glasstape run", "[client-config]") {
  auto f = parse_client_file(fixture("claude_desktop_config.json"));
  auto r = wrap(f, options());
  REQUIRE(r.changed);
  const auto& fs = r.file.servers()["filesystem"];
  CHECK(fs["command"] == "/usr/local/bin/glasstape");
  CHECK(fs["args"] == Json::parse(R"(["run", "--config", "/home/me/.glasstape/glasstape.yaml",
      "--server", "filesystem", "--", "npx", "-y", "@modelcontextprotocol/server-filesystem",
      "/Users/me/Desktop"])"));
  const auto& gh = r.file.servers()["github"];
  CHECK(gh["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"] == "ghp_secret_do_not_print");  // env kept
  CHECK(classify(gh) == EntryKind::Wrapped);
  CHECK(r.file.doc["globalShortcut"] == "Ctrl+Space");  // the rest of the file is kept
  // Key order is the file's: mcpServers stays first, and render keeps the file's indentation.
  auto text = render(r.file);
  CHECK(text.rfind("{\n  \"mcpServers\": {\n    \"filesystem\": {\n      \"command\"", 0) == 0);
  CHECK(text.back() == '\n');

  SECTION("--tenant goes into every entry") {
    auto o = options();
    o.tenant = "team-a";
    auto args = wrap(f, o).file.servers()["github"]["args"];
    CHECK(args[5] == "--tenant");
    CHECK(args[6] == "team-a");
    CHECK(args[7] == "--");
  }
  SECTION("VS Code keeps type and inputs") {
    auto v = wrap(parse_client_file(fixture("vscode_mcp.json")), options());
    const auto& e = v.file.servers()["fetch"];
    CHECK(e["type"] == "stdio");
    CHECK(e["env"]["FETCH_API_KEY"] == "${input:api-key}");
    CHECK(v.file.doc["inputs"].size() == 1);
    // The http entry cannot be fronted: the config does not name it.
    CHECK(v.file.servers()["everything"] ==
          Json::parse(fixture("vscode_mcp.json"))["servers"]["everything"]);
    bool said = false;
    for (const auto& n : v.notes)
      said |= n.name == "everything" && n.note.rfind("left as is: a url entry", 0) == 0;
    CHECK(said);
  }
}

TEST_CASE("wrap: idempotent", "[client-config]") {
  for (const char* name : {"claude_desktop_config.json", "cursor_mcp.json", "vscode_mcp.json",
                           "vscode_settings.json"}) {
    auto once = wrap(parse_client_file(fixture(name)), options());
    auto twice = wrap(once.file, options());
    INFO(name);
    CHECK_FALSE(twice.changed);
    CHECK(render(twice.file) == render(once.file));
    auto o = options();
    o.aggregate = "tools";
    for (const auto& [k, v] : once.file.servers().items())
      o.config_servers.insert(k);
    auto agg = wrap(once.file, o);
    CHECK_FALSE(wrap(agg.file, o).changed);
  }
}

TEST_CASE("wrap: url entries are wrapped when the config names them as url servers",
          "[client-config]") {
  auto f = parse_client_file(fixture("cursor_mcp.json"));
  auto o = options();
  o.url_servers = {"remote-docs"};
  auto r = wrap(f, o);
  const auto& e = r.file.servers()["remote-docs"];
  CHECK_FALSE(e.contains("url"));
  CHECK_FALSE(e.contains("headers"));
  CHECK(classify(e) == EntryKind::WrappedUrl);
  CHECK(e["args"].back() == "remote-docs");
  // Unwrapping from the arguments cannot bring the url back: the backup does.
  auto u = unwrap_in_place(r.file);
  CHECK(classify(u.file.servers()["remote-docs"]) == EntryKind::WrappedUrl);
  CHECK(backup_matches(r.file, f));
}

TEST_CASE("wrap --aggregate: one entry for every server", "[client-config]") {
  auto f = parse_client_file(fixture("claude_desktop_config.json"));
  auto o = options();
  o.aggregate = "glasstape";
  o.config_servers = {"filesystem", "github"};
  auto r = wrap(f, o);
  REQUIRE(r.file.servers().size() == 1);
  const auto& e = r.file.servers()["glasstape"];
  CHECK(e["args"] == Json::array({"run", "--config", "/home/me/.glasstape/glasstape.yaml"}));
  CHECK(e["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"] == "ghp_secret_do_not_print");
  CHECK(classify(e) == EntryKind::Aggregate);
  CHECK(backup_matches(r.file, f));

  SECTION("every server must be in the config") {
    o.config_servers = {"filesystem"};
    CHECK_THROWS_WITH(wrap(f, o), Catch::StartsWith("server `github` is not in the config"));
  }
  SECTION("conflicting env values are refused") {
    auto text = R"({"mcpServers": {"a": {"command": "x", "env": {"K": "1"}},
                                    "b": {"command": "y", "env": {"K": "2"}}}})";
    o.config_servers = {"a", "b"};
    CHECK_THROWS_WITH(wrap(parse_client_file(text), o),
                      Catch::StartsWith("servers `a` and `b` set `K` differently"));
  }
  SECTION("the name must be free") {
    auto text = R"({"mcpServers": {"a": {"command": "x"}, "glasstape": {"url": "http://h/mcp"}}})";
    o.config_servers = {"a"};
    CHECK_THROWS_WITH(wrap(parse_client_file(text), o),
                      "an entry named `glasstape` exists already; choose another --aggregate name");
  }
  SECTION("VS Code entries say type stdio") {
    o.config_servers = {"fetch"};
    auto v = wrap(parse_client_file(fixture("vscode_mcp.json")), o);
    CHECK(v.file.servers()["glasstape"]["type"] == "stdio");
    CHECK(v.file.servers().contains("everything"));  // the url entry stays
    CHECK(v.file.servers().begin().key() == "glasstape");
  }
}

TEST_CASE("undo: from the arguments, and the backup check", "[client-config]") {
  auto f = parse_client_file(fixture("claude_desktop_config.json"));
  auto w = wrap(f, options());
  auto u = unwrap_in_place(w.file);
  CHECK(u.changed);
  CHECK(u.file.doc == f.doc);
  CHECK(render(u.file) == fixture("claude_desktop_config.json"));
  CHECK(backup_matches(w.file, f));

  SECTION("an entry with no args gets an empty list back") {
    auto g = parse_client_file(R"({"mcpServers": {"a": {"command": "srv"}}})");
    auto back = unwrap_in_place(wrap(g, options()).file);
    CHECK(back.file.servers()["a"] == Json::parse(R"({"command": "srv", "args": []})"));
    CHECK(backup_matches(wrap(g, options()).file, g));
  }
  SECTION("a file changed since the backup does not match it") {
    auto edited = w.file;
    edited.servers()["new"] = Json::parse(R"({"command": "other"})");
    CHECK_FALSE(backup_matches(edited, f));
    auto args_edited = w.file;
    args_edited.servers()["filesystem"]["args"].push_back("/tmp");
    CHECK_FALSE(backup_matches(args_edited, f));
    auto outside = w.file;
    outside.doc["globalShortcut"] = "Alt+Space";
    CHECK_FALSE(backup_matches(outside, f));
  }
  SECTION("an aggregated entry is left for the backup") {
    auto o = options();
    o.aggregate = "all";
    o.config_servers = {"filesystem", "github"};
    auto a = unwrap_in_place(wrap(f, o).file);
    CHECK_FALSE(a.changed);
    REQUIRE(a.notes.size() == 1);
    CHECK(a.notes[0].note == "left as is: an aggregated entry is restored from the backup only");
  }
}

TEST_CASE("printing masks env and header values", "[client-config]") {
  auto f = parse_client_file(fixture("cursor_mcp.json"));
  auto masked = render_masked(wrap(f, options()).file);
  CHECK(masked.find("memory.jsonl") == std::string::npos);
  CHECK(masked.find("sk-live-secret") == std::string::npos);
  CHECK(masked.find("\"MEMORY_FILE_PATH\": \"***\"") != std::string::npos);
  CHECK(masked.find("\"Authorization\": \"***\"") != std::string::npos);
  // render() itself keeps them: that is what is written.
  CHECK(render(f).find("sk-live-secret") != std::string::npos);
}

TEST_CASE("JSONC: comments are dropped when the file is rendered", "[client-config]") {
  auto f = parse_client_file(fixture("vscode_settings.json"));
  auto r = wrap(f, options());
  auto text = render(r.file);
  CHECK(text.find("//") == std::string::npos);
  CHECK(text.find("/*") == std::string::npos);
  CHECK(text.find("\n    \"mcp\": {") != std::string::npos);  // four spaces, as the file
  CHECK(r.file.servers()["filesystem"]["args"].back() == "${workspaceFolder}");
}

TEST_CASE("servers_of: the servers as the client starts them", "[client-config]") {
  auto f = parse_client_file(fixture("cursor_mcp.json"));
  std::vector<EntryNote> skipped;
  auto s = servers_of(wrap(f, options()).file, skipped);  // wrapped entries are seen unwrapped
  REQUIRE(s.size() == 2);
  CHECK(s[0].name == "memory");
  CHECK(s[0].command ==
        std::vector<std::string>{"npx", "-y", "@modelcontextprotocol/server-memory"});
  CHECK(s[0].env.at("MEMORY_FILE_PATH") == "/home/me/.cursor/memory.jsonl");
  CHECK(s[1].url == "https://docs.example.com/mcp");
  CHECK(s[1].headers.at("Authorization") == "Bearer sk-live-secret");
  CHECK(skipped.empty());
}

TEST_CASE("unified_diff", "[client-config]") {
  CHECK(unified_diff("a\nb\n", "a\nb\n", "x", "y").empty());
  std::string a, b;
  for (int i = 1; i <= 20; ++i) {
    a += std::to_string(i) + "\n";
    b += (i == 5 ? std::string("five") : std::to_string(i)) + "\n";
    if (i == 15) b += "15.5\n";
  }
  CHECK(unified_diff(a, b, "old", "new") ==
        "--- old\n+++ new\n"
        "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        "@@ -13,6 +13,7 @@\n 13\n 14\n 15\n+15.5\n 16\n 17\n 18\n");
  // Changes within six lines of each other share a hunk.
  CHECK(unified_diff("1\n2\n3\n4\n", "0\n1\n2\n3\n4\n5\n", "a", "b") ==
        "--- a\n+++ b\n@@ -1,4 +1,6 @@\n+0\n 1\n 2\n 3\n 4\n+5\n");
}
