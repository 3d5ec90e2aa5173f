// The bundled example MCP tool server (stdio). The default config puts GlassTape in front of
// it, the tests and benchmarks use it as a fast upstream. It is deliberately harmless: its
// "files" live in memory and its `fetch` makes no network call.
//
// Tools: echo, get_sum, make_payment, read_file, write_file, delete_file, list_files, fetch,
// slow (sleeps, with progress), crash (exits at once: for restart tests).
// Flags: --name NAME (server name), --sleep-us N (delay every reply, for load tests),
// --extra-tools N (also list N read-only tools extra_0 … that echo, for large-catalog benches;
// at most 10000).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

using json = nlohmann::json;

namespace {

std::map<std::string, std::string> g_files = {
    {"/docs/readme.txt", "Welcome to the GlassTape example server.\n"},
    {"/docs/budget.csv", "item,amount\nlaptop,1200\nmouse,25\n"},
};
std::string g_name = "glasstape-example-server";
long g_sleep_us = 0;
long g_extra_tools = 0;

json tool(const char* name, const char* description, json props, json required,
          json annotations = json::object()) {
  json schema = {{"type", "object"},
                 {"properties", std::move(props)},
                 {"required", std::move(required)},
                 {"additionalProperties", false}};
  json t = {{"name", name}, {"description", description}, {"inputSchema", std::move(schema)}};
  if (!annotations.empty()) t["annotations"] = std::move(annotations);
  return t;
}

json tools_list() {
  json str = {{"type", "string"}};
  json path = {{"type", "string"}, {"pattern", "^/[A-Za-z0-9._/-]*$"}, {"maxLength", 256}};
  return json::array({
      tool("echo", "Echoes the message back.", {{"message", str}}, {"message"},
           {{"readOnlyHint", true}}),
      tool("get_sum", "Adds two numbers.",
           {{"a", {{"type", "number"}}}, {"b", {{"type", "number"}}}}, {"a", "b"},
           {{"readOnlyHint", true}}),
      tool("make_payment", "Sends a payment (simulated).",
           {{"amount", {{"type", "number"}, {"exclusiveMinimum", 0}}},
            {"recipient", {{"type", "string"}, {"minLength", 1}}},
            {"currency", {{"type", "string"}, {"enum", {"USD", "EUR", "CAD"}}}}},
           {"amount", "recipient"}, {{"destructiveHint", true}}),
      tool("read_file", "Reads a file from the in-memory store.", {{"path", path}}, {"path"},
           {{"readOnlyHint", true}}),
      tool("list_files", "Lists the files in the in-memory store.", json::object(), json::array(),
           {{"readOnlyHint", true}}),
      tool("write_file", "Writes a file in the in-memory store.",
           {{"path", path}, {"content", {{"type", "string"}, {"maxLength", 1048576}}}},
           {"path", "content"}, {{"destructiveHint", true}}),
      tool("delete_file", "Deletes a file from the in-memory store.", {{"path", path}}, {"path"},
           {{"destructiveHint", true}}),
      tool("fetch", "Fetches a URL (simulated: no network call is made).",
           {{"url", {{"type", "string"}, {"format", "uri"}, {"pattern", "^https?://"}}}}, {"url"},
           {{"openWorldHint", true}}),
      tool("slow", "Waits, reporting progress.",
           {{"ms", {{"type", "integer"}, {"minimum", 0}, {"maximum", 60000}}},
            {"steps", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}}},
           json::array()),
      tool("crash", "Exits the server process at once (for restart tests).", json::object(),
           json::array()),
  });
}

json all_tools() {
  json out = tools_list();
  for (long i = 0; i < g_extra_tools; ++i) {
    const std::string name = "extra_" + std::to_string(i);
    out.push_back(tool(name.c_str(), "Echoes the message back (an extra tool).",
                       {{"message", {{"type", "string"}}}}, {"message"}, {{"readOnlyHint", true}}));
  }
  return out;
}

json text_result(const std::string& text, bool is_error = false) {
  json r = {{"content", json::array({{{"type", "text"}, {"text", text}}})}};
  if (is_error) r["isError"] = true;
  return r;
}

void send(const json& msg) {
  std::cout << msg.dump() << '\n';
}

json call_tool(const std::string& name, const json& args, const json& progress_token) {
  auto str = [&](const char* k) { return args.value(k, std::string()); };
  if (name == "echo" || (name.rfind("extra_", 0) == 0 && g_extra_tools > 0))
    return text_result(str("message"));
  if (name == "get_sum") {
    double s = args.value("a", 0.0) + args.value("b", 0.0);
    json r = text_result(json(s).dump());
    r["structuredContent"] = {{"sum", s}};
    return r;
  }
  if (name == "make_payment") {
    return text_result("paid " + json(args.value("amount", 0.0)).dump() + " " +
                       args.value("currency", std::string("USD")) + " to " + str("recipient"));
  }
  if (name == "read_file") {
    auto it = g_files.find(str("path"));
    return it == g_files.end() ? text_result("no such file: " + str("path"), true)
                               : text_result(it->second);
  }
  if (name == "list_files") {
    std::string out;
    for (auto& [p, c] : g_files)
      out += p + " (" + std::to_string(c.size()) + " bytes)\n";
    return text_result(out);
  }
  if (name == "write_file") {
    g_files[str("path")] = str("content");
    return text_result("wrote " + str("path"));
  }
  if (name == "delete_file") {
    return g_files.erase(str("path")) ? text_result("deleted " + str("path"))
                                      : text_result("no such file: " + str("path"), true);
  }
  if (name == "fetch") return text_result("fetched " + str("url") + " (simulated)");
  if (name == "slow") {
    int ms = args.value("ms", 100), steps = args.value("steps", 5);
    for (int i = 1; i <= steps; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms / steps));
      if (!progress_token.is_null()) {
        send({{"jsonrpc", "2.0"},
              {"method", "notifications/progress"},
              {"params", {{"progressToken", progress_token}, {"progress", i}, {"total", steps}}}});
        std::cout.flush();
      }
    }
    return text_result("waited " + std::to_string(ms) + " ms");
  }
  if (name == "crash") {
    std::cout.flush();
    std::_Exit(3);
  }
  return json();  // unknown
}

void handle(const json& msg) {
  if (!msg.is_object() || !msg.contains("method")) return;  // responses/garbage: ignore
  const std::string method = msg["method"].get<std::string>();
  if (!msg.contains("id")) return;  // notifications need no answer
  const json& id = msg["id"];
  const json params = msg.value("params", json::object());
  json result;
  if (method == "initialize") {
    result = {{"protocolVersion", params.value("protocolVersion", std::string("2025-06-18"))},
              {"capabilities", {{"tools", {{"listChanged", false}}}}},
              {"serverInfo", {{"name", g_name}, {"version", "0.1.0"}}}};
  } else if (method == "ping") {
    result = json::object();
  } else if (method == "tools/list") {
    result = {{"tools", all_tools()}};
  } else if (method == "tools/call") {
    json token = params.contains("_meta") ? params["_meta"].value("progressToken", json()) : json();
    result = call_tool(params.value("name", std::string()),
                       params.value("arguments", json::object()), token);
    if (result.is_null()) {
      send({{"jsonrpc", "2.0"},
            {"id", id},
            {"error", {{"code", -32602}, {"message", "unknown tool"}}}});
      return;
    }
  } else {
    send({{"jsonrpc", "2.0"},
          {"id", id},
          {"error", {{"code", -32601}, {"message", "Method not found"}}}});
    return;
  }
  send({{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--name" && i + 1 < argc)
      g_name = argv[++i];
    else if (a == "--sleep-us" && i + 1 < argc)
      g_sleep_us = std::atol(argv[++i]);
    else if (a == "--extra-tools" && i + 1 < argc)
      g_extra_tools = std::min(std::atol(argv[++i]), 10000L);
  }
  std::ios::sync_with_stdio(false);
  std::cin.tie(nullptr);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json msg = json::parse(line, nullptr, false);
    if (msg.is_discarded()) {
      send({{"jsonrpc", "2.0"},
            {"id", nullptr},
            {"error", {{"code", -32700}, {"message", "Parse error"}}}});
    } else {
      if (g_sleep_us) std::this_thread::sleep_for(std::chrono::microseconds(g_sleep_us));
      handle(msg);
    }
    // Flush only when no more input is waiting: pipelined requests share one write.
    if (std::cin.rdbuf()->in_avail() <= 0) std::cout.flush();
  }
  std::cout.flush();
  std::fprintf(stderr, "%s: stdin closed, exiting\n", g_name.c_str());
  return 0;
}
