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
#pragma once

#include <optional>
#include <string_view>

#include "governance/policy/ast.hpp"
#include "governance/policy/lexer.hpp"

namespace gt::gov::policy {

// Nesting deeper than this is a parse error (keeps evaluation recursion bounded).
inline constexpr int kMaxExprDepth = 96;

// Parses one expression. An empty (all-whitespace) text yields nullptr with no error: the
// SDK's "empty condition matches". On error returns nullopt and fills `err`.
std::optional<ExprPtr> parse(std::string_view text, const Origin& origin, LangError& err);

}  // namespace gt::gov::policy
