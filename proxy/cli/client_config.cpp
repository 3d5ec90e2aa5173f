#include "proxy/cli/client_config.hpp"

#include <algorithm>
#include <sstream>

namespace gt::proxy::clients {

namespace {

std::string basename_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string text_of(const Json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// The args of a `glasstape run` entry, as strings.
std::vector<std::string> args_of(const Json& entry) {
  std::vector<std::string> out;
  auto it = entry.find("args");
  if (it == entry.end() || !it->is_array()) return out;
  for (const auto& a : *it)
    out.push_back(text_of(a));
  return out;
}

bool is_glasstape_run(const Json& entry) {
  auto c = entry.find("command");
  if (c == entry.end() || !c->is_string() || basename_of(c->get<std::string>()) != "glasstape")
    return false;
  auto a = entry.find("args");
  return a != entry.end() && a->is_array() && !a->empty() && a->front() == "run";
}

// The wrapped entry's original command and args: what follows `--`.
Json unwrapped_entry(const Json& entry) {
  Json out = entry;
  const auto& args = entry["args"];
  std::size_t i = 0;
  while (i < args.size() && args[i] != "--")
    ++i;
  Json rest = Json::array();
  for (std::size_t j = i + 2; j < args.size(); ++j)
    rest.push_back(args[j]);
  out["command"] = i + 1 < args.size() ? args[i + 1] : Json("");
  out["args"] = rest;
  return out;
}

Json run_args(const WrapOptions& o, const std::string* server) {
  Json a = Json::array({"run", "--config", o.config});
  if (server) {
    a.push_back("--server");
    a.push_back(*server);
  }
  if (!o.tenant.empty()) {
    a.push_back("--tenant");
    a.push_back(o.tenant);
  }
  return a;
}

bool vscode_shape(Shape s) {
  return s == Shape::VsCode || s == Shape::VsCodeSettings;
}

// "line 3, column 5: syntax error ..." from nlohmann's "[json.exception...] parse error at ...".
std::string parse_message(const std::string& what) {
  auto at = what.find("parse error at ");
  if (at != std::string::npos) return what.substr(at + 15);
  auto close = what.find("] ");
  return close == std::string::npos ? what : what.substr(close + 2);
}

void detect_indent(const std::string& text, ClientFile& f) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '\t') {
      f.indent_char = '\t';
      f.indent = 1;
      return;
    }
    if (line[0] == ' ') {
      f.indent = static_cast<int>(line.find_first_not_of(' '));
      if (f.indent <= 0 || f.indent > 8) f.indent = 2;
      return;
    }
  }
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto nl = s.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(s.substr(start));
      break;
    }
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

}  // namespace

std::optional<Shape> parse_client(std::string_view name) {
  if (name == "claude-desktop" || name == "cursor" || name == "mcp-servers")
    return Shape::McpServers;
  if (name == "vscode") return Shape::VsCode;
  if (name == "vscode-settings") return Shape::VsCodeSettings;
  return std::nullopt;
}

const char* shape_name(Shape s) {
  switch (s) {
    case Shape::McpServers:
      return "mcpServers";
    case Shape::VsCode:
      return "servers (VS Code)";
    case Shape::VsCodeSettings:
      return "mcp.servers (VS Code settings)";
  }
  return "?";
}

Json& ClientFile::servers() {
  if (shape == Shape::McpServers) return doc["mcpServers"];
  if (shape == Shape::VsCode) return doc["servers"];
  return doc["mcp"]["servers"];
}

const Json& ClientFile::servers() const {
  if (shape == Shape::McpServers) return doc.at("mcpServers");
  if (shape == Shape::VsCode) return doc.at("servers");
  return doc.at("mcp").at("servers");
}

ClientFile parse_client_file(const std::string& text, std::optional<Shape> forced) {
  ClientFile f;
  try {
    f.doc = Json::parse(text);
  } catch (const Json::parse_error&) {
    try {
      f.doc = Json::parse(text, nullptr, true, /*ignore_comments=*/true);
      f.had_comments = true;
    } catch (const Json::parse_error& e) {
      throw ClientError("invalid JSON: " + parse_message(e.what()));
    } catch (const Json::exception& e) {
      throw ClientError(std::string("invalid JSON: ") + e.what());
    }
  } catch (const Json::exception& e) {
    // Not a syntax error: a number out of range (1e999) and the like (found by the fuzzer).
    throw ClientError(std::string("invalid JSON: ") + e.what());
  }
  if (!f.doc.is_object())
    throw ClientError(std::string("unknown shape: the file holds a JSON ") + f.doc.type_name() +
                      ", not an object");
  auto object_at = [&](Shape s) {
    if (s == Shape::McpServers)
      return f.doc.contains("mcpServers") && f.doc["mcpServers"].is_object();
    if (s == Shape::VsCode) return f.doc.contains("servers") && f.doc["servers"].is_object();
    return f.doc.contains("mcp") && f.doc["mcp"].is_object() && f.doc["mcp"].contains("servers") &&
           f.doc["mcp"]["servers"].is_object();
  };
  if (forced) {
    if (!object_at(*forced))
      throw ClientError(std::string("unknown shape: no `") + shape_name(*forced) + "` object");
    f.shape = *forced;
  } else if (object_at(Shape::McpServers)) {
    f.shape = Shape::McpServers;
  } else if (object_at(Shape::VsCode)) {
    f.shape = Shape::VsCode;
  } else if (object_at(Shape::VsCodeSettings)) {
    f.shape = Shape::VsCodeSettings;
  } else {
    throw ClientError(
        "unknown shape: no `mcpServers`, `servers` or `mcp.servers` object (Claude Desktop, "
        "Cursor, VS Code); --client names the shape");
  }
  if (f.servers().empty())
    throw ClientError(std::string("no servers in `") + shape_name(f.shape) + "`");
  f.trailing_newline = !text.empty() && text.back() == '\n';
  detect_indent(text, f);
  return f;
}

std::string render(const ClientFile& f) {
  return f.doc.dump(f.indent, f.indent_char) + (f.trailing_newline ? "\n" : "");
}

std::string render_masked(const ClientFile& f) {
  ClientFile m = f;
  for (auto& [name, entry] : m.servers().items()) {
    if (!entry.is_object()) continue;
    for (const char* key : {"env", "headers"}) {
      auto it = entry.find(key);
      if (it == entry.end() || !it->is_object()) continue;
      for (auto& [k, v] : it->items())
        v = "***";
    }
  }
  return render(m);
}

EntryKind classify(const Json& entry) {
  if (!entry.is_object()) return EntryKind::Other;
  if (entry.contains("command") && entry["command"].is_string()) {
    if (!is_glasstape_run(entry)) return EntryKind::Stdio;
    auto args = args_of(entry);
    if (std::find(args.begin(), args.end(), "--") != args.end()) return EntryKind::Wrapped;
    if (std::find(args.begin(), args.end(), "--server") != args.end()) return EntryKind::WrappedUrl;
    return EntryKind::Aggregate;
  }
  if (entry.contains("url") && entry["url"].is_string()) return EntryKind::Url;
  return EntryKind::Other;
}

namespace {

Json wrap_url_entry(const Json& entry, const std::string& name, const WrapOptions& o, Shape shape) {
  Json out = Json::object();
  if (vscode_shape(shape)) out["type"] = "stdio";
  out["command"] = o.glasstape;
  out["args"] = run_args(o, &name);
  for (const auto& [k, v] : entry.items()) {
    if (k != "url" && k != "headers" && k != "type") out[k] = v;
  }
  return out;
}

Rewrite wrap_each(const ClientFile& f, const WrapOptions& o) {
  Rewrite r{f, {}, false};
  for (auto& [name, entry] : r.file.servers().items()) {
    switch (classify(entry)) {
      case EntryKind::Stdio: {
        Json args = run_args(o, &name);
        args.push_back("--");
        args.push_back(entry["command"]);
        if (entry.contains("args") && entry["args"].is_array()) {
          for (const auto& a : entry["args"])
            args.push_back(a);
        }
        entry["command"] = o.glasstape;
        entry["args"] = args;
        r.notes.push_back({name, "wrapped: glasstape run --server " + name + " -- <its command>"});
        r.changed = true;
        break;
      }
      case EntryKind::Url:
        if (o.url_servers.count(name)) {
          entry = wrap_url_entry(entry, name, o, f.shape);
          r.notes.push_back({name, "wrapped: glasstape run --server " + name +
                                       " (the config's `url:` server of that name)"});
          r.changed = true;
        } else {
          r.notes.push_back({name,
                             "left as is: a url entry; `glasstape run` fronts it only when the "
                             "config names it as a `url:` server (`glasstape init` writes that)"});
        }
        break;
      case EntryKind::Wrapped:
      case EntryKind::WrappedUrl:
      case EntryKind::Aggregate:
        r.notes.push_back({name, "already behind GlassTape"});
        break;
      case EntryKind::Other:
        r.notes.push_back({name, "left as is: neither `command` nor `url`"});
        break;
    }
  }
  return r;
}

Rewrite wrap_aggregate(const ClientFile& f, const WrapOptions& o) {
  const std::string& agg = *o.aggregate;
  Rewrite r{f, {}, false};
  const Json& servers = f.servers();
  std::vector<std::string> gathered;
  for (const auto& [name, entry] : servers.items()) {
    auto k = classify(entry);
    if (k == EntryKind::Stdio || k == EntryKind::Wrapped || k == EntryKind::WrappedUrl ||
        (k == EntryKind::Url && o.url_servers.count(name)))
      gathered.push_back(name);
  }
  bool existing = servers.contains(agg);
  if (existing && classify(servers[agg]) != EntryKind::Aggregate &&
      std::find(gathered.begin(), gathered.end(), agg) == gathered.end())
    throw ClientError("an entry named `" + agg +
                      "` exists already; choose another --aggregate name");
  for (const auto& [name, entry] : servers.items()) {
    if (std::find(gathered.begin(), gathered.end(), name) != gathered.end()) continue;
    if (name == agg) {
      r.notes.push_back({name, "already behind GlassTape (aggregated)"});
    } else if (classify(entry) == EntryKind::Url) {
      r.notes.push_back(
          {name, "left as is: a url entry the config does not name as a `url:` server"});
    } else if (classify(entry) == EntryKind::Aggregate) {
      r.notes.push_back({name, "already behind GlassTape"});
    } else {
      r.notes.push_back({name, "left as is: neither `command` nor `url`"});
    }
  }
  if (gathered.empty()) return r;

  // One entry, one environment: the servers' env is merged, and must not conflict.
  Json env = Json::object();
  std::map<std::string, std::string> set_by;
  if (existing && servers[agg].contains("env") && servers[agg]["env"].is_object()) {
    env = servers[agg]["env"];
    for (const auto& [k, v] : env.items())
      set_by[k] = agg;
  }
  for (const auto& name : gathered) {
    if (!o.config_servers.count(name))
      throw ClientError("server `" + name + "` is not in the config `" + o.config +
                        "`; `glasstape init` writes a config that names every server");
    const Json& e = servers[name];
    if (!e.contains("env") || !e["env"].is_object()) continue;
    for (const auto& [k, v] : e["env"].items()) {
      if (env.contains(k) && env[k] != v)
        throw ClientError("servers `" + set_by[k] + "` and `" + name + "` set `" + k +
                          "` differently; an aggregated entry has one environment: wrap them "
                          "one per server");
      env[k] = v;
      set_by.emplace(k, name);
    }
  }
  Json entry = Json::object();
  if (vscode_shape(f.shape)) entry["type"] = "stdio";
  entry["command"] = o.glasstape;
  entry["args"] = run_args(o, nullptr);
  if (!env.empty()) entry["env"] = env;

  Json out = Json::object();
  bool placed = false;
  for (const auto& [name, e] : servers.items()) {
    bool taken = name == agg || std::find(gathered.begin(), gathered.end(), name) != gathered.end();
    if (!taken) {
      out[name] = e;
      continue;
    }
    if (!placed) out[agg] = entry;
    placed = true;
  }
  for (const auto& name : gathered)
    r.notes.push_back({name, "behind the aggregated entry `" + agg + "`"});
  r.changed = out != servers;
  r.file.servers() = out;
  return r;
}

}  // namespace

Rewrite wrap(const ClientFile& f, const WrapOptions& o) {
  return o.aggregate ? wrap_aggregate(f, o) : wrap_each(f, o);
}

Rewrite unwrap_in_place(const ClientFile& f) {
  Rewrite r{f, {}, false};
  for (auto& [name, entry] : r.file.servers().items()) {
    switch (classify(entry)) {
      case EntryKind::Wrapped:
        entry = unwrapped_entry(entry);
        r.notes.push_back({name, "unwrapped from its arguments after `--`"});
        r.changed = true;
        break;
      case EntryKind::WrappedUrl:
        r.notes.push_back(
            {name, "left as is: a wrapped url entry is restored from the backup only"});
        break;
      case EntryKind::Aggregate:
        r.notes.push_back(
            {name, "left as is: an aggregated entry is restored from the backup only"});
        break;
      default:
        break;
    }
  }
  return r;
}

bool backup_matches(const ClientFile& current, const ClientFile& backup) {
  if (current.shape != backup.shape) return false;
  ClientFile a = current, b = backup;
  a.servers() = nullptr;
  b.servers() = nullptr;
  if (a.doc != b.doc) return false;
  const Json& cur = current.servers();
  const Json& bak = backup.servers();
  bool aggregated = false;
  for (const auto& [name, e] : cur.items()) {
    switch (classify(e)) {
      case EntryKind::Aggregate:
        aggregated = true;
        break;
      case EntryKind::WrappedUrl:
        if (!bak.contains(name)) return false;
        break;
      case EntryKind::Wrapped: {
        if (!bak.contains(name) || !bak[name].is_object()) return false;
        Json u = unwrapped_entry(e);
        Json was = bak[name];
        if (!was.contains("args")) was["args"] = Json::array();
        if (u["command"] != was["command"] || u["args"] != was["args"]) return false;
        break;
      }
      default:
        if (!bak.contains(name) || bak[name] != e) return false;
    }
  }
  for (const auto& [name, e] : bak.items()) {
    if (!cur.contains(name) && !aggregated) return false;
  }
  return true;
}

std::vector<ClientServer> servers_of(const ClientFile& f, std::vector<EntryNote>& skipped) {
  std::vector<ClientServer> out;
  for (const auto& [name, raw] : f.servers().items()) {
    auto kind = classify(raw);
    if (kind == EntryKind::WrappedUrl || kind == EntryKind::Aggregate || kind == EntryKind::Other) {
      skipped.push_back({name, kind == EntryKind::Other
                                   ? "skipped: neither `command` nor `url`"
                                   : "skipped: already behind GlassTape (its config names it)"});
      continue;
    }
    const Json entry = kind == EntryKind::Wrapped ? unwrapped_entry(raw) : raw;
    ClientServer s;
    s.name = name;
    if (kind == EntryKind::Url) {
      s.url = entry["url"].get<std::string>();
      if (entry.contains("headers") && entry["headers"].is_object()) {
        for (const auto& [k, v] : entry["headers"].items())
          s.headers[k] = text_of(v);
      }
    } else {
      s.command.push_back(text_of(entry["command"]));
      for (auto& a : args_of(entry))
        s.command.push_back(a);
    }
    if (entry.contains("env") && entry["env"].is_object()) {
      for (const auto& [k, v] : entry["env"].items())
        s.env[k] = text_of(v);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string unified_diff(const std::string& a, const std::string& b, const std::string& a_label,
                         const std::string& b_label) {
  if (a == b) return "";
  auto x = split_lines(a), y = split_lines(b);
  // Common head and tail first; the LCS table covers only the middle.
  std::size_t head = 0;
  while (head < x.size() && head < y.size() && x[head] == y[head])
    ++head;
  std::size_t tail = 0;
  while (tail < x.size() - head && tail < y.size() - head &&
         x[x.size() - 1 - tail] == y[y.size() - 1 - tail])
    ++tail;
  std::size_t n = x.size() - head - tail, m = y.size() - head - tail;
  std::vector<std::vector<std::uint32_t>> lcs(n + 1, std::vector<std::uint32_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      lcs[i][j] = x[head + i] == y[head + j] ? lcs[i + 1][j + 1] + 1
                                             : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  struct Op {
    char tag;
    std::size_t ai, bi;  // line indexes before this op, in a and b
    std::string text;
  };
  std::vector<Op> ops;
  for (std::size_t k = 0; k < head; ++k)
    ops.push_back({' ', k, k, x[k]});
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[head + i] == y[head + j]) {
      ops.push_back({' ', head + i, head + j, x[head + i]});
      ++i, ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push_back({'-', head + i, head + j, x[head + i]});  // deletions first, as diff does
      ++i;
    } else {
      ops.push_back({'+', head + i, head + j, y[head + j]});
      ++j;
    }
  }
  for (std::size_t k = 0; k < tail; ++k)
    ops.push_back({' ', head + n + k, head + m + k, x[head + n + k]});

  constexpr std::size_t kContext = 3;
  std::ostringstream out;
  out << "--- " << a_label << "\n+++ " << b_label << "\n";
  std::size_t k = 0;
  while (k < ops.size()) {
    while (k < ops.size() && ops[k].tag == ' ')
      ++k;
    if (k == ops.size()) break;
    std::size_t start = k >= kContext ? k - kContext : 0;
    std::size_t end = k;  // one past the last change of the hunk
    while (end < ops.size()) {
      std::size_t next = end;
      while (next < ops.size() && ops[next].tag != ' ')
        ++next;
      end = next;
      std::size_t gap = end;
      while (gap < ops.size() && ops[gap].tag == ' ')
        ++gap;
      if (gap == ops.size() || gap - end > 2 * kContext) break;
      end = gap;
    }
    std::size_t stop = std::min(ops.size(), end + kContext);
    std::size_t a_count = 0, b_count = 0;
    for (std::size_t q = start; q < stop; ++q) {
      if (ops[q].tag != '+') ++a_count;
      if (ops[q].tag != '-') ++b_count;
    }
    out << "@@ -" << (ops[start].ai + (a_count ? 1 : 0)) << "," << a_count << " +"
        << (ops[start].bi + (b_count ? 1 : 0)) << "," << b_count << " @@\n";
    for (std::size_t q = start; q < stop; ++q)
      out << ops[q].tag << ops[q].text << "\n";
    k = stop;
  }
  return out.str();
}

}  // namespace gt::proxy::clients
