#include "transport/inspect.hpp"

#include <simdjson.h>

#include <cstring>
#include <memory>
#include <new>

namespace gt::transport {

namespace {

// Messages up to this size reuse one parser per thread, which never grows past it; a larger
// one gets a parser of its own, freed as soon as the message is inspected. A simdjson parser
// keeps about 2 bytes per byte of capacity resident once used, so a single 5 MB tools/call
// used to leave 10 MB behind for the life of the process.
constexpr std::size_t kKeepCapacity = 64 * 1024;

simdjson::dom::parser& parser_for(std::size_t max_depth) {
  thread_local simdjson::dom::parser parser{kKeepCapacity};
  thread_local std::size_t depth = 0;
  if (depth != max_depth) {
    parser = simdjson::dom::parser(kKeepCapacity);
    if (parser.allocate(kKeepCapacity, max_depth) != simdjson::SUCCESS) throw std::bad_alloc();
    depth = max_depth;
  }
  return parser;
}

bool id_from(simdjson::dom::element e, nlohmann::json& out) {
  switch (e.type()) {
    case simdjson::dom::element_type::STRING:
      out = std::string(std::string_view(e));
      return true;
    case simdjson::dom::element_type::INT64:
      out = int64_t(e);
      return true;
    case simdjson::dom::element_type::UINT64:
      out = uint64_t(e);
      return true;
    case simdjson::dom::element_type::DOUBLE:
      out = double(e);
      return true;
    case simdjson::dom::element_type::NULL_VALUE:
      out = nullptr;
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string id_key(const nlohmann::json& id) {
  if (id.is_string()) return "s:" + id.get_ref<const std::string&>();
  if (id.is_number_integer()) return "i:" + std::to_string(id.get<std::int64_t>());
  if (id.is_number_unsigned()) return "i:" + std::to_string(id.get<std::uint64_t>());
  if (id.is_null()) return "n:";
  return "d:" + id.dump();
}

// The slow path, for JSON that simdjson does not represent: integers beyond 64 bits
// (which JSON allows and nlohmann reads as doubles). Same rules, on the parsed message.
Inspection inspect_with_nlohmann(std::string_view line, std::size_t max_depth) {
  Inspection r;
  auto body = parse(line, &r.error, max_depth);
  if (body.is_discarded()) return r;
  if (body.is_array()) {
    r.shape = Inspection::Shape::Batch;
    return r;
  }
  r.shape = body.is_object() ? Inspection::Shape::Object : Inspection::Shape::Other;
  const bool unique = body.is_object() && unique_members(line, {"jsonrpc", "id", "method", "params",
                                                                "result", "error"});
  auto m = classify(std::move(body));
  r.kind = m.kind;
  r.id = m.id;
  r.error = m.invalid_reason;
  r.method = m.method;
  if (!r.id.is_null() || (m.body.is_object() && m.body.contains("id"))) r.id_key = id_key(r.id);
  r.has_result = m.body.is_object() && m.body.contains("result");
  if (!unique) {
    r.kind = MessageKind::Invalid;
    r.error = "a member occurs more than once";
    return r;
  }
  const bool by_uri = r.method == "resources/read";
  if (r.kind == MessageKind::Request &&
      (r.method == "tools/call" || r.method == "prompts/get" || by_uri) &&
      m.body["params"].is_object()) {
    auto params = member_span(line, {"params"});
    const char* key = by_uri ? "uri" : "name";
    if (!params || !(by_uri ? unique_members(*params, {"uri", "_meta"})
                            : unique_members(*params, {"name", "arguments", "_meta"}))) {
      r.kind = MessageKind::Invalid;
      r.error = "a member of `params` occurs more than once";
    } else if (auto n = m.body["params"].find(key); n != m.body["params"].end() && n->is_string()) {
      r.tool = n->get<std::string>();
    }
  }
  return r;
}

Inspection inspect(std::string_view line, std::size_t max_depth) {
  Inspection r;
  // JSON has no raw NUL byte anywhere (in a string, U+0000 is written \u0000). simdjson and
  // nlohmann both stop reading at one in some places (`[1]<NUL>,2]` was accepted as `[1]`),
  // and a server's parser may not stop there: one judged text, two readings. Malformed.
  if (std::memchr(line.data(), 0, line.size()) != nullptr) {
    r.error = "a raw NUL byte (JSON allows none; write \\u0000 inside a string)";
    return r;
  }
  simdjson::dom::element doc;  // lives in `parser`: used only inside this function
  std::unique_ptr<simdjson::dom::parser> large;
  simdjson::dom::parser* parser = nullptr;
  if (line.size() <= kKeepCapacity) {
    parser = &parser_for(max_depth);
  } else {
    large = std::make_unique<simdjson::dom::parser>(line.size());
    if (large->allocate(line.size(), max_depth) != simdjson::SUCCESS) throw std::bad_alloc();
    parser = large.get();
  }
  auto err = parser->parse(line.data(), line.size()).get(doc);
  // simdjson 3.0 reports integers beyond 64 bits as NUMBER_ERROR; nlohmann decides.
  if (err == simdjson::NUMBER_ERROR) return inspect_with_nlohmann(line, max_depth);
  if (err) {
    r.error = err == simdjson::DEPTH_ERROR
                  ? "nesting deeper than " + std::to_string(max_depth) + " levels"
                  : std::string(simdjson::error_message(err));
    return r;
  }
  if (doc.is_array()) {
    r.shape = Inspection::Shape::Batch;
    return r;
  }
  if (!doc.is_object()) {
    r.shape = Inspection::Shape::Other;
    r.error = "a JSON-RPC message must be an object";
    return r;
  }
  r.shape = Inspection::Shape::Object;
  simdjson::dom::element jsonrpc, id, method, params, result, error;
  bool has_jsonrpc = false, has_id = false, has_method = false, has_params = false,
       has_error = false, duplicate = false;
  auto take = [&](bool& has, simdjson::dom::element& slot, simdjson::dom::element v) {
    if (has) duplicate = true;
    has = true;
    slot = v;
  };
  simdjson::dom::object top;
  if (doc.get_object().get(top) != simdjson::SUCCESS) return r;
  for (auto field : top) {
    std::string_view k = field.key;
    if (k == "jsonrpc")
      take(has_jsonrpc, jsonrpc, field.value);
    else if (k == "id")
      take(has_id, id, field.value);
    else if (k == "method")
      take(has_method, method, field.value);
    else if (k == "params")
      take(has_params, params, field.value);
    else if (k == "result")
      take(r.has_result, result, field.value);
    else if (k == "error")
      take(has_error, error, field.value);
  }
  const bool id_ok = has_id && id_from(id, r.id);
  if (id_ok) r.id_key = id_key(r.id);
  if (duplicate) {
    r.error = "a member occurs more than once";
  } else if (!has_jsonrpc || !jsonrpc.is_string() || std::string_view(jsonrpc) != "2.0") {
    r.error = "`jsonrpc` must be \"2.0\"";
  } else if (has_id && !id_ok) {
    r.error = "`id` must be a string or a number";
  } else if (has_method && (r.has_result || has_error)) {
    // Parsers differ on what such a message is (a request, or an answer): refused.
    r.error = "a message carries either `method` or `result`/`error`, not both";
  } else if (has_method) {
    if (!method.is_string()) {
      r.error = "`method` must be a string";
    } else if (has_params && !params.is_object() && !params.is_array()) {
      r.error = "`params` must be an object or an array";
    } else {
      r.method = std::string(std::string_view(method));
      r.kind = has_id ? MessageKind::Request : MessageKind::Notification;
    }
  } else if (r.has_result || has_error) {
    if (!has_id) {
      r.error = "a response must carry an `id`";
    } else if (r.has_result == has_error) {
      r.error = "a response carries exactly one of `result` and `error`";
    } else {
      r.kind = MessageKind::Response;
    }
  } else {
    r.error = "a message needs `method`, `result` or `error`";
  }
  // The members that say what is judged: a copy a server's parser might prefer is a bypass.
  const bool by_uri = r.method == "resources/read";
  if (r.kind == MessageKind::Request &&
      (r.method == "tools/call" || r.method == "prompts/get" || by_uri) && has_params &&
      params.is_object()) {
    bool has_name = false, has_args = false, has_meta = false;
    simdjson::dom::element name, args, meta;
    duplicate = false;
    simdjson::dom::object pobj;
    if (params.get_object().get(pobj) != simdjson::SUCCESS) return r;
    for (auto field : pobj) {
      if (field.key == (by_uri ? "uri" : "name"))
        take(has_name, name, field.value);
      else if (field.key == "arguments")
        take(has_args, args, field.value);
      else if (field.key == "_meta")
        take(has_meta, meta, field.value);
    }
    if (duplicate) {
      r.kind = MessageKind::Invalid;
      r.error = "a member of `params` occurs more than once";
    } else if (has_name && name.is_string()) {
      r.tool = std::string(std::string_view(name));
    }
  }
  return r;
}

}  // namespace gt::transport
