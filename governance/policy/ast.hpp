// The condition language, stage by stage (Cedar style):
//
//   text ──lex()──► tokens ──parse()──► AST (Expr) ──compile()──► Program ──eval──► Value
//
// Each stage reports a LangError carrying the stage, file, line and column. Messages are
// lowercase, one line, with the user's input in backticks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::gov::policy {

// A position inside a policy file (1-based). `file` may be empty for inline expressions.
struct SourceLoc {
  std::string file;
  int line = 1;
  int column = 1;
};

// Where a condition string starts in its file, so that errors point into the file.
struct Origin {
  std::string file;
  int line = 1;    // line of the first character of the expression
  int column = 1;  // column of the first character of the expression
};

enum class Stage { Lex, Parse, Type, Load };

struct LangError {
  Stage stage = Stage::Parse;
  SourceLoc loc;
  std::string message;  // lowercase, one line
  // "file:line:column: parse error: message"
  std::string str() const;
};

// ---- AST ---------------------------------------------------------------------------------
struct Expr {
  enum class Kind : uint8_t {
    Literal,   // value (the parser folds lists and maps of literals into one literal)
    Ident,     // name
    Select,    // kids[0].name
    Index,     // kids[0][kids[1]]
    Call,      // name(kids...) or kids[0].name(kids[1..]) when has_target
    List,      // [kids...]
    Map,       // {kids[0]: kids[1], ...}
    Unary,     // op kids[0]   (op: "!" or "-")
    Binary,    // kids[0] op kids[1]   (op: || && == != < <= > >= + - * / % in "not in" contains);
               // a chain of `||` or of `&&` is one node: kids[0] op kids[1] op kids[2] ...
    Cond,      // kids[0] ? kids[1] : kids[2]
    Compiled,  // already compiled (parser.hpp: CompileSink): node
  };
  Kind kind = Kind::Literal;
  bool has_target = false;
  uint16_t height = 1;  // levels in this subtree (the parser bounds it: kMaxExprDepth)
  int line = 1;
  int column = 1;
  uint32_t node = 0;     // Compiled
  nlohmann::json value;  // Literal
  std::string name;      // Ident name, Select field, Call function, Unary/Binary operator
  std::vector<std::unique_ptr<Expr>> kids;
};
using ExprPtr = std::unique_ptr<Expr>;

}  // namespace gt::gov::policy
