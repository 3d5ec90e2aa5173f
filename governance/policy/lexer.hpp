// Stage 1 of the condition language: text → tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "governance/policy/ast.hpp"

namespace gt::gov::policy {

struct Token {
  enum class Kind {
    End,
    Ident,
    Int,
    Double,
    String,
    Punct,  // ( ) [ ] { } . , : ? ! && || == != < <= > >= + - * / %
  };
  Kind kind = Kind::End;
  std::string text;  // identifier, punctuation, or decoded string value
  int64_t i = 0;
  double d = 0;
  // Int only: the literal is 9223372036854775808 (2^63), which is no int64 on its own; the
  // parser accepts it only right after a unary minus (`-9223372036854775808`, as in CEL).
  bool int_min_magnitude = false;
  int line = 1;
  int column = 1;
};

// Maps a position inside the expression to a position in its file.
SourceLoc locate(const Origin& origin, int line, int column);

// Tokenizes on demand, so a long expression never holds all its tokens at once.
class Lexer {
 public:
  Lexer(std::string_view text, const Origin& origin) : s_(text), origin_(origin) {}
  // The next token (End at the end, and again after). On error returns false and fills
  // `err` (stage Lex).
  bool next(Token& t, LangError& err);

 private:
  std::string_view s_;
  const Origin& origin_;
  size_t i_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
};

// Tokenizes all of `text`. On error returns nullopt and fills `err` (stage Lex).
std::optional<std::vector<Token>> lex(std::string_view text, const Origin& origin, LangError& err);

}  // namespace gt::gov::policy
