// `.json` policy files are parsed as JSON (not through libyaml): the same tree, limits and
// errors as a YAML file, and the characters JSON allows in a string that YAML does not.
#include <catch2/catch.hpp>
#include <functional>

#include "governance/policy/pnode.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;
using gt_test::json;
using gt_test::TempDir;

namespace {

Result call(const PolicySet& set, const std::string& tool, json args = json::object()) {
  gt::gov::Principal p;
  p.id = "agent";
  gt::gov::ToolRef t;
  t.server = "srv";
  t.name = tool;
  return evaluate(Request{p, t, args, gt_test::at(1736164800)}, set);
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out += s;
  return out;
}

// Kind, text, quoting and position of every node, recursively. libyaml's byte offset (`pos`)
// counts characters, the JSON parser's bytes: they agree only on ASCII text.
void same_tree(const PNode& a, const PNode& b, const std::string& where, bool ascii) {
  INFO(where);
  REQUIRE(a.kind() == b.kind());
  CHECK(a.Scalar() == b.Scalar());
  CHECK(a.quoted() == b.quoted());
  if (ascii) CHECK(a.GetMark().pos == b.GetMark().pos);
  CHECK(a.GetMark().line == b.GetMark().line);
  CHECK(a.GetMark().column == b.GetMark().column);
  REQUIRE(a.size() == b.size());
  if (a.IsSequence()) {
    for (size_t i = 0; i < a.size(); ++i)
      same_tree(a.items()[i], b.items()[i], where + "/" + std::to_string(i), ascii);
  } else if (a.IsMap()) {
    auto ia = a.entries().begin();
    auto ib = b.entries().begin();
    for (; ia != a.entries().end(); ++ia, ++ib) {
      same_tree((*ia).first, (*ib).first, where + "/key", ascii);
      same_tree((*ia).second, (*ib).second, where + "/" + (*ia).first.Scalar(), ascii);
    }
  }
}

Diagnostic only_error(const TempDir& d) {
  auto rep = load_policy_dir(d.path, {});
  CHECK_FALSE(rep.set);
  REQUIRE(rep.errors.size() == 1);
  return rep.errors.front();
}

}  // namespace

// A JSON mark's `pos` is the byte where the node starts: its quote, bracket or first character.
void marks_point_at_nodes(const PNode& n, const std::string& text) {
  const auto m = n.GetMark();
  REQUIRE(m.pos >= 0);
  REQUIRE(static_cast<size_t>(m.pos) < text.size());
  const char c = text[static_cast<size_t>(m.pos)];
  if (n.IsMap()) CHECK(c == '{');
  if (n.IsSequence()) CHECK(c == '[');
  if (n.IsScalar() && n.quoted()) CHECK(c == '"');
  if (n.IsScalar() && !n.quoted()) CHECK(text.compare(m.pos, n.Scalar().size(), n.Scalar()) == 0);
  if (n.IsNull()) CHECK(text.compare(m.pos, 4, "null") == 0);
  for (const auto& i : n.items())
    marks_point_at_nodes(i, text);
  for (const auto e : n.entries()) {
    marks_point_at_nodes(e.first, text);
    marks_point_at_nodes(e.second, text);
  }
}

TEST_CASE("a JSON document gives the tree libyaml gives for the same text", "[policy-json]") {
  // Valid JSON is valid YAML when it holds only YAML-printable characters: both parsers must
  // then agree on every node's kind, text, quoting and position (columns count characters).
  const std::string ascii =
      "{\n"
      "  \"policy_id\": \"p\", \"version\": 1.50, \"n\": -0, \"big\": 18446744073709551615,\n"
      "  \"e\": 1E+5, \"t\": true, \"f\": false, \"z\": null, \"neg\": -12,\n"
      "  \"s\": [\"a \\\"q\\\" \\u00e9\", \"\", [], {}, [1, [2, {\"k\": \"v\"}]]],\n"
      "\t\"tab\": {\"x\": \"y\"}\r\n"
      "}\n";
  const std::string utf8 =
      "{\"caf\xc3\xa9\": [\"\xc3\xa9t\xc3\xa9\", 1, {\"\xc3\xa9\": null}],\n"
      " \"\xc3\xa9\xc3\xa9\": [true, \"\xe2\x82\xac\", 2.5]}";
  for (const auto* text : {&ascii, &utf8}) {
    PNode from_yaml, from_json;
    PNodeError ye, je;
    REQUIRE(parse_pnode(*text, from_yaml, ye));
    REQUIRE(parse_pnode_json(*text, from_json, je));
    same_tree(from_json, from_yaml, "", text == &ascii);
    marks_point_at_nodes(from_json, *text);
    CHECK(pnode_to_json(from_json) == pnode_to_json(from_yaml));
  }
  PNode root;
  PNodeError je;
  REQUIRE(parse_pnode_json(ascii, root, je));
  CHECK(pnode_to_json(root)["version"] == 1.5);
  CHECK(root["version"].Scalar() == "1.50");  // as written, as YAML keeps it
  CHECK(root["n"].Scalar() == "-0");
  CHECK(root["s"].items()[0].Scalar() == "a \"q\" \xc3\xa9");
  CHECK(root["z"].IsNull());
}

TEST_CASE("a .json policy may hold a raw DEL and C1 characters in a string", "[policy-json]") {
  // U+007F and U+0080/U+009F written raw: JSON allows them; YAML's printable set does not.
  const std::string reason =
      "no\x7f"
      "deletes \xc2\x80here\xc2\x9f";
  const std::string text =
      "{\"policy_id\": \"files\", \"tools\": [\"delete_file\"],\n"
      " \"description\": \"raw \x7f and \xc2\x9f\",\n"
      " \"rules\": {\"deny\": [{\"id\": \"never\", \"condition\": \"true\", "
      "\"reason\": \"" +
      reason + "\"}]}}\n";
  TempDir d;
  d.write("files.json", text);
  auto rep = load_policy_dir(d.path, {});
  for (const auto& e : rep.errors)
    UNSCOPED_INFO(e.str());
  REQUIRE(rep.set);
  auto r = call(*rep.set, "delete_file");
  CHECK(r.effect == Effect::Deny);
  CHECK(r.rule_id == "never");
  CHECK(r.reason == reason);
  // The same text in a .yaml file goes through libyaml, which refuses it (and says where).
  TempDir y;
  y.write("files.yaml", text);
  auto e = only_error(y);
  CHECK(e.message.rfind("invalid yaml/json: ", 0) == 0);
  CHECK(e.message.find("control characters are not allowed") != std::string::npos);
}

TEST_CASE("a malformed .json policy is an error at file:line:column", "[policy-json]") {
  {
    TempDir d;
    d.write("bad.json", "{\n  \"policy_id\": \"p\",\n  \"rules\": {\"deny\": [}\n}\n");
    auto e = only_error(d);
    CHECK(e.str().rfind("bad.json:3:22: invalid json: syntax error while parsing value", 0) == 0);
    CHECK(e.message.find("[json.exception") == std::string::npos);  // no library prefix
  }
  {
    // Columns count characters, not bytes: `é` is one column.
    TempDir d;
    d.write("bad.json", "{\"d\": \"\xc3\xa9\xc3\xa9\", \"policy_id\" \"p\"}");
    auto e = only_error(d);
    CHECK(e.str().rfind("bad.json:1:25: invalid json: ", 0) == 0);
  }
  {
    // A raw line feed inside a string: JSON forbids it; the error points at it.
    TempDir d;
    d.write("bad.json", "{\"policy_id\": \"p\",\n \"description\": \"two\nlines\"}");
    auto e = only_error(d);
    CHECK(e.line == 2);
    CHECK(e.column == 21);
    CHECK(e.message.find("control character U+000A") != std::string::npos);
  }
  {
    // Trailing content after the document.
    TempDir d;
    d.write("bad.json", "{\"policy_id\": \"p\"}\n{}\n");
    auto e = only_error(d);
    CHECK(e.line == 2);
    CHECK(e.column == 1);
  }
  {
    // Unexpected end of input: the position just past the last byte.
    TempDir d;
    d.write("bad.json", "{\"policy_id\": \"p\",\n");
    auto e = only_error(d);
    CHECK(e.line == 2);
    CHECK(e.column == 1);
    CHECK(e.message.find("unexpected end of input") != std::string::npos);
  }
  {
    // Errors found after parsing point into the file exactly as for the same text in a YAML
    // file: an unknown key, and a condition's syntax error at its column inside the string.
    const std::string text =
        "{\"policy_id\": \"p\",\n"
        "  \"rule\": {},\n"
        "  \"rules\": {\"deny\": [{\"id\": \"r\", \"condition\": \"args.a >\"}]}}\n";
    TempDir d, y;
    d.write("p.json", text);
    y.write("p.yaml", text);
    auto rep = load_policy_dir(d.path, {});
    auto yrep = load_policy_dir(y.path, {});
    CHECK_FALSE(rep.set);
    REQUIRE(rep.errors.size() == 2);
    REQUIRE(yrep.errors.size() == 2);
    CHECK(rep.errors[0].str().rfind("p.json:2:3: unknown key `rule`", 0) == 0);
    for (size_t i = 0; i < 2; ++i) {
      CHECK(rep.errors[i].line == yrep.errors[i].line);
      CHECK(rep.errors[i].column == yrep.errors[i].column);
      CHECK(rep.errors[i].message == yrep.errors[i].message);
    }
    CHECK(rep.errors[1].line == 3);
    CHECK(rep.errors[1].column == 56);  // just past `args.a >`, inside the quotes
  }
}

TEST_CASE("duplicate keys in a .json policy are refused, as in YAML", "[policy-json]") {
  TempDir d;
  d.write(
      "dup.json",
      "{\"policy_id\": \"a\",\n \"rules\": {\"allow\": [{\"id\": \"x\", \"condition\": \"\"}]},\n"
      " \"policy_id\": \"b\"}\n");
  auto e = only_error(d);
  CHECK(e.str() == "dup.json:3:2: invalid json: duplicate key `policy_id`");

  PNode root;
  PNodeError pe;
  CHECK_FALSE(parse_pnode_json("{\"m\": {\"a\": 1, \"b\": 2, \"a\": 3, \"b\": 4}}", root, pe));
  CHECK(pe.message == "duplicate key `a`");
  CHECK(pe.line == 1);
  CHECK(pe.column == 24);
  // Keys are compared as decoded: `\u0061` is `a`.
  CHECK_FALSE(parse_pnode_json("{\"a\": 1, \"\\u0061\": 2}", root, pe));
  CHECK(pe.message == "duplicate key `a`");
  // Many distinct keys are fine (and checked in linear-logarithmic time).
  std::string many = "{\"m\": {";
  for (int i = 0; i < 75'000; ++i)
    many += (i ? ", \"k" : "\"k") + std::to_string(i) + "\": 1";
  many += "}}";
  REQUIRE(parse_pnode_json(many, root, pe));
  CHECK(root["m"].size() == 75'000);
}

TEST_CASE("a .json policy has the limits a YAML file has", "[policy-json]") {
  PNode root;
  PNodeError je, ye;
  // Depth: the same message and place for the same text.
  const std::string deep = repeat("[", 129) + repeat("]", 129);
  CHECK_FALSE(parse_pnode_json(deep, root, je));
  CHECK_FALSE(parse_pnode(deep, root, ye));
  CHECK(je.message == "nesting deeper than 128 levels");
  CHECK(je.message == ye.message);
  CHECK(je.line == ye.line);
  CHECK(je.column == ye.column);
  CHECK(je.column == 129);
  CHECK(parse_pnode_json(repeat("[", 128) + repeat("]", 128), root, je));
  // Far deeper than the limit: refused at the limit, not after reading it all.
  CHECK_FALSE(parse_pnode_json(repeat("[", 1'000'000), root, je));
  CHECK(je.message == "nesting deeper than 128 levels");
  // Size: refused before parsing.
  YamlLimits small;
  small.max_bytes = 10;
  CHECK(parse_pnode_json("[1, 2, 3]", root, je, small));
  CHECK_FALSE(parse_pnode_json("[1, 2, 3, 4, 5]", root, je, small));
  CHECK(je.message == "the document is 15 bytes, over the limit of 10 bytes");
  // Nodes: the same count as YAML (containers, keys and values).
  YamlLimits few;
  few.max_nodes = 6;
  CHECK(parse_pnode_json("{\"a\": [1, 2]}", root, je, few));  // map, key, list, 2 items: 5
  CHECK(parse_pnode("{\"a\": [1, 2]}", root, ye, few));
  CHECK_FALSE(parse_pnode_json("{\"a\": [1, 2, 3, 4]}", root, je, few));
  CHECK_FALSE(parse_pnode("{\"a\": [1, 2, 3, 4]}", root, ye, few));
  CHECK(je.message == "document has more than 6 nodes (aliases expanded)");
  CHECK(je.message == ye.message);
  CHECK(je.column == ye.column);
  // Through the loader: a policy directory's max_file_bytes applies to .json files too.
  TempDir d;
  d.write("p.json", "{\"policy_id\": \"p\", \"description\": \"" + repeat("x", 2000) + "\"}");
  SetOptions o;
  o.max_file_bytes = 1000;
  auto rep = load_policy_dir(d.path, o);
  CHECK_FALSE(rep.set);
  REQUIRE_FALSE(rep.errors.empty());
  CHECK(rep.errors.front().str().find("over the limit of 1000 bytes") != std::string::npos);
}
