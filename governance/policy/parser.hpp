// Stage 2 of the condition language: tokens → AST.
//
// Grammar (CEL precedence, lowest first):
//   expr   := or ('?' expr ':' expr)?
//   or     := and ('||' and)*
//   and    := rel ('&&' rel)*
//   rel    := add (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not' 'in'|'contains') add)*
//   add    := mul (('+'|'-') mul)*
//   mul    := unary (('*'|'/'|'%') unary)*
//   unary  := ('!'|'-') unary | member
//   member := primary ('.' IDENT ('(' args ')')? | '[' expr ']')*
//   primary:= IDENT ('(' args ')')? | INT | DOUBLE | STRING | true | false | null
//           | '(' expr ')' | '[' (expr (',' expr)* ','?)? ']' | '{' (expr ':' expr (',' ...)*)? '}'
// `not in` and the infix `contains` are GlassTape SDK extensions kept for compatibility.
//
// Tokens are lexed as the parser needs them, and each finished piece is compiled at once (the
// CompileSink below), so no whole tree is ever built: a long expression costs its compiled size.
// A chain of `||` (or of `&&`) is one n-ary node, and lists and maps of literals are folded into
// one literal while they are read. Everything else that nests is bounded (kMaxExprDepth).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "governance/policy/ast.hpp"
#include "governance/policy/lexer.hpp"

namespace gt::gov::policy {

// A parse error past this many levels, counted two ways: the parser's own recursion
// (parentheses, unary operators, list and map literals, `?:`), and the height of the tree it
// builds, to which every operator that is not `||` or `&&` adds one (so `1 + 1 + ... + 1` may
// have at most 95 `+`). The type checker, compiler, evaluator and destructors recurse only
// as deep as the tree is tall.
inline constexpr int kMaxExprDepth = 96;

// The compiler, as the parser sees it. Positions are in the expression (as in Expr). A compile
// error is thrown by the sink through the parser.
class CompileSink {
 public:
  virtual ~CompileSink() = default;
  // Compiles a finished subtree now (its parts may be Compiled already); returns its node.
  virtual uint32_t compile(Expr& e) = 0;
  // A type check on one compiled element: `||`/`&&` operands are bools, `{}` keys strings.
  virtual void check(const std::string& op, uint32_t node, int line, int column) = 0;
  // An n-ary node over compiled elements: "||", "&&", "[]" (a list), "{}" (keys and values
  // alternating).
  virtual uint32_t sequence(const std::string& op, const std::vector<uint32_t>& kids, int line,
                            int column) = 0;
  // The variable of `list.exists(v, ...)` (and all, exists_one) while its condition is read.
  virtual void push_local(const std::string& name) = 0;
  virtual void pop_local() = 0;
};

// Parses one expression, compiling as it goes. What it returns is the root, left for the
// caller to compile (it may be Compiled already). An empty (all-whitespace) text yields
// nullptr with no error: the SDK's "empty condition matches". On error returns nullopt and
// fills `err`.
std::optional<ExprPtr> parse(std::string_view text, const Origin& origin, LangError& err,
                             CompileSink& sink);

}  // namespace gt::gov::policy
