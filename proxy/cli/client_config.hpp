// MCP client configuration files (Claude Desktop, Cursor, VS Code) as `glasstape wrap` and
// `glasstape init` read and rewrite them. Pure: text in, text out, no file or process I/O.
//
//   shape            where the servers are              files
//   mcp-servers      {"mcpServers": {name: entry}}      claude_desktop_config.json,
//   ~/.cursor/mcp.json vscode           {"servers": {name: entry}}         .vscode/mcp.json
//   vscode-settings  {"mcp": {"servers": {...}}}        VS Code user settings.json
//
// An entry is stdio (`command`, `args`, `env`), URL (`url`, `headers`, or `type` http/sse), or
// something else, which is left alone. Wrapping makes a stdio entry's command
//   <glasstape> run --config CFG --server NAME [--tenant T] -- <command> <args...>
// keeping every other key (env, cwd, type); `--aggregate` puts the servers behind one entry
//   <glasstape> run --config CFG [--tenant T]
// whose config names them all (`glasstape init` writes it).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::proxy::clients {

using Json = nlohmann::ordered_json;  // keeps the file's key order

// A file that cannot be used: bad JSON, unknown shape, no servers, a conflict. One line.
struct ClientError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Shape { McpServers, VsCode, VsCodeSettings };

// `--client` values: claude-desktop, cursor, mcp-servers → McpServers; vscode; vscode-settings.
std::optional<Shape> parse_client(std::string_view name);
const char* shape_name(
    Shape s);  // "mcpServers", "servers (VS Code)", "mcp.servers (VS Code settings)"

struct ClientFile {
  Json doc;
  Shape shape = Shape::McpServers;
  bool had_comments = false;  // JSONC: parsed with comments ignored, so writing drops them
  int indent = 2;             // the file's indentation, kept when it is written
  char indent_char = ' ';
  bool trailing_newline = true;

  Json& servers();
  const Json& servers() const;
};

// Parses a client file; `forced` skips detection. Throws ClientError: "invalid JSON: line L,
// column C: ...", "unknown shape: ...", "no servers in ...".
ClientFile parse_client_file(const std::string& text, std::optional<Shape> forced = std::nullopt);
// The file's text, in its own indentation.
std::string render(const ClientFile& f);
// As render(), with every `env` and `headers` value shown as `***`: for printing.
std::string render_masked(const ClientFile& f);

enum class EntryKind {
  Stdio,       // command + args
  Url,         // url / type http or sse
  Wrapped,     // glasstape run ... -- <command>: one server behind GlassTape
  WrappedUrl,  // glasstape run --server NAME without `--`: a config's url server
  Aggregate,   // glasstape run --config CFG without --server or `--`: several servers
  Other,
};
EntryKind classify(const Json& entry);

struct WrapOptions {
  std::string glasstape;                 // absolute path of the glasstape binary
  std::string config;                    // absolute path of the glasstape config
  std::string tenant;                    // --tenant, when not empty
  std::optional<std::string> aggregate;  // the one entry's name
  std::set<std::string> config_servers;  // servers the config names
  std::set<std::string> url_servers;     // ... of them, the `url:` ones (run can front them)
};

// What happened to one entry, for the report: "filesystem: wrapped".
struct EntryNote {
  std::string name;
  std::string note;
};

struct Rewrite {
  ClientFile file;
  std::vector<EntryNote> notes;
  bool changed = false;
};

// Puts every stdio entry (and every url entry the config names as a url server) behind
// GlassTape. Idempotent: wrapped entries are left as they are. Throws ClientError when
// `aggregate` cannot be done (a server missing from the config, conflicting env values, the
// name taken).
Rewrite wrap(const ClientFile& f, const WrapOptions& o);

// Undoes wrap() from the entries alone: the command after `--` becomes the entry's command
// again. Entries that cannot be unwrapped this way (aggregate, url) are noted and left.
Rewrite unwrap_in_place(const ClientFile& f);

// Whether `backup` is what `current` was before wrap(): outside the servers, the documents are
// equal; every server not wrapped in `current` is equal in both; every wrapped one is in the
// backup (or covered by an aggregate entry). Then restoring the backup loses nothing.
bool backup_matches(const ClientFile& current, const ClientFile& backup);

// A server as the client would start it (wrapped entries are seen unwrapped).
struct ClientServer {
  std::string name;
  std::vector<std::string> command;  // argv; empty for url servers
  std::map<std::string, std::string> env;
  std::string url;
  std::map<std::string, std::string> headers;
};
// The servers of a file, and notes on the entries skipped (aggregate, other).
std::vector<ClientServer> servers_of(const ClientFile& f, std::vector<EntryNote>& skipped);

// A unified diff (3 lines of context) of two texts; empty when they are equal.
std::string unified_diff(const std::string& a, const std::string& b, const std::string& a_label,
                         const std::string& b_label);

}  // namespace gt::proxy::clients
