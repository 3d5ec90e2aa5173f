#include "governance/policy/parser.hpp"

#include <limits>

namespace gt::gov::policy {

namespace {

struct ParseFail {};

class Parser {
 public:
  Parser(const std::vector<Token>& toks, const Origin& origin, LangError& err)
      : t_(toks), origin_(origin), err_(err) {}

  ExprPtr parse_all() {
    ExprPtr e = expr();
    if (peek().kind != Token::Kind::End)
      fail(peek(), "unexpected " + describe(peek()) + " after expression");
    return e;
  }

 private:
  const std::vector<Token>& t_;
  const Origin& origin_;
  LangError& err_;
  size_t p_ = 0;
  int depth_ = 0;

  const Token& peek(size_t k = 0) const {
    size_t i = p_ + k;
    return i < t_.size() ? t_[i] : t_.back();
  }
  const Token& next() {
    const Token& tok = t_[p_];
    if (p_ + 1 < t_.size()) ++p_;
    return tok;
  }
  bool is_punct(const char* s, size_t k = 0) const {
    return peek(k).kind == Token::Kind::Punct && peek(k).text == s;
  }
  bool is_ident(const char* s, size_t k = 0) const {
    return peek(k).kind == Token::Kind::Ident && peek(k).text == s;
  }
  static std::string describe(const Token& tok) {
    switch (tok.kind) {
      case Token::Kind::End:
        return "end of expression";
      case Token::Kind::String:
        return "string `" + tok.text + "`";
      default:
        return "`" + tok.text + "`";
    }
  }
  [[noreturn]] void fail(const Token& at, std::string msg) {
    err_.stage = Stage::Parse;
    err_.loc = locate(origin_, at.line, at.column);
    err_.message = std::move(msg);
    throw ParseFail{};
  }
  void expect(const char* punct, const char* what) {
    if (!is_punct(punct))
      fail(peek(), std::string("expected `") + punct + "` " + what + ", found " + describe(peek()));
    next();
  }
  ExprPtr make(Expr::Kind k, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& pp, const Token& at) : p(pp) {
      if (++p.depth_ > kMaxExprDepth) {
        p.fail(at, "expression nests deeper than " + std::to_string(kMaxExprDepth) + " levels");
      }
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr expr() {
    DepthGuard g(*this, peek());
    ExprPtr c = or_expr();
    if (is_punct("?")) {
      const Token& q = next();
      ExprPtr a = expr();
      expect(":", "in conditional expression");
      ExprPtr b = expr();
      auto e = make(Expr::Kind::Cond, q);
      e->kids.push_back(std::move(c));
      e->kids.push_back(std::move(a));
      e->kids.push_back(std::move(b));
      return e;
    }
    return c;
  }
  ExprPtr binary(const Token& at, std::string op, ExprPtr l, ExprPtr r) {
    auto e = make(Expr::Kind::Binary, at);
    e->name = std::move(op);
    e->kids.push_back(std::move(l));
    e->kids.push_back(std::move(r));
    return e;
  }
  ExprPtr or_expr() {
    ExprPtr l = and_expr();
    while (is_punct("||")) {
      const Token& op = next();
      l = binary(op, "||", std::move(l), and_expr());
    }
    return l;
  }
  ExprPtr and_expr() {
    ExprPtr l = rel_expr();
    while (is_punct("&&")) {
      const Token& op = next();
      l = binary(op, "&&", std::move(l), rel_expr());
    }
    return l;
  }
  ExprPtr rel_expr() {
    ExprPtr l = add_expr();
    for (;;) {
      const Token& at = peek();
      std::string op;
      if (at.kind == Token::Kind::Punct && (at.text == "==" || at.text == "!=" || at.text == "<" ||
                                            at.text == "<=" || at.text == ">" || at.text == ">=")) {
        op = at.text;
        next();
      } else if (is_ident("in")) {
        op = "in";
        next();
      } else if (is_ident("not") && is_ident("in", 1)) {
        op = "not in";
        next();
        next();
      } else if (is_ident("contains") && !is_punct("(", 1)) {
        op = "contains";
        next();
      } else {
        break;
      }
      l = binary(at, op, std::move(l), add_expr());
    }
    return l;
  }
  ExprPtr add_expr() {
    ExprPtr l = mul_expr();
    while (is_punct("+") || is_punct("-")) {
      const Token& op = next();
      l = binary(op, op.text, std::move(l), mul_expr());
    }
    return l;
  }
  ExprPtr mul_expr() {
    ExprPtr l = unary();
    while (is_punct("*") || is_punct("/") || is_punct("%")) {
      const Token& op = next();
      l = binary(op, op.text, std::move(l), unary());
    }
    return l;
  }
  ExprPtr unary() {
    if (is_punct("!") || is_punct("-")) {
      DepthGuard g(*this, peek());
      const Token& op = next();
      // Fold a negative numeric literal so that `-5` is a constant.
      if (op.text == "-" &&
          (peek().kind == Token::Kind::Int || peek().kind == Token::Kind::Double) &&
          !is_punct(".", 1) && !is_punct("[", 1)) {
        const Token& n = next();
        auto e = make(Expr::Kind::Literal, op);
        if (n.kind == Token::Kind::Int) {
          e->value = -n.i;
        } else {
          e->value = -n.d;
        }
        return e;
      }
      auto e = make(Expr::Kind::Unary, op);
      e->name = op.text;
      e->kids.push_back(unary());
      return e;
    }
    return member();
  }
  std::vector<ExprPtr> call_args() {
    // '(' already consumed
    std::vector<ExprPtr> args;
    if (is_punct(")")) {
      next();
      return args;
    }
    for (;;) {
      args.push_back(expr());
      if (is_punct(",")) {
        next();
        continue;
      }
      expect(")", "after function arguments");
      return args;
    }
  }
  ExprPtr member() {
    ExprPtr e = primary();
    int chain = 0;
    for (;;) {
      if (is_punct(".")) {
        if (++chain > kMaxExprDepth)
          fail(peek(), "expression nests deeper than " + std::to_string(kMaxExprDepth) + " levels");
        const Token& dot = next();
        if (peek().kind != Token::Kind::Ident)
          fail(peek(), "expected a field name after `.`, found " + describe(peek()));
        const Token& name = next();
        if (is_punct("(")) {
          next();
          auto c = make(Expr::Kind::Call, name);
          c->name = name.text;
          c->has_target = true;
          c->kids.push_back(std::move(e));
          for (auto& a : call_args())
            c->kids.push_back(std::move(a));
          e = std::move(c);
        } else {
          auto s = make(Expr::Kind::Select, dot);
          s->line = name.line;
          s->column = name.column;
          s->name = name.text;
          s->kids.push_back(std::move(e));
          e = std::move(s);
        }
      } else if (is_punct("[")) {
        if (++chain > kMaxExprDepth)
          fail(peek(), "expression nests deeper than " + std::to_string(kMaxExprDepth) + " levels");
        const Token& br = next();
        auto ix = make(Expr::Kind::Index, br);
        ix->kids.push_back(std::move(e));
        ix->kids.push_back(expr());
        expect("]", "after index");
        e = std::move(ix);
      } else {
        return e;
      }
    }
  }
  ExprPtr primary() {
    const Token& tok = peek();
    switch (tok.kind) {
      case Token::Kind::Int: {
        next();
        auto e = make(Expr::Kind::Literal, tok);
        e->value = tok.i;
        return e;
      }
      case Token::Kind::Double: {
        next();
        auto e = make(Expr::Kind::Literal, tok);
        e->value = tok.d;
        return e;
      }
      case Token::Kind::String: {
        next();
        auto e = make(Expr::Kind::Literal, tok);
        e->value = tok.text;
        return e;
      }
      case Token::Kind::Ident: {
        next();
        if (tok.text == "true" || tok.text == "false") {
          auto e = make(Expr::Kind::Literal, tok);
          e->value = tok.text == "true";
          return e;
        }
        if (tok.text == "null") {
          auto e = make(Expr::Kind::Literal, tok);
          e->value = nullptr;
          return e;
        }
        if (tok.text == "in" || tok.text == "not")
          fail(tok, "unexpected keyword `" + tok.text + "`");
        if (is_punct("(")) {
          next();
          auto c = make(Expr::Kind::Call, tok);
          c->name = tok.text;
          for (auto& a : call_args())
            c->kids.push_back(std::move(a));
          return c;
        }
        auto e = make(Expr::Kind::Ident, tok);
        e->name = tok.text;
        return e;
      }
      case Token::Kind::Punct: {
        if (tok.text == "(") {
          next();
          ExprPtr e = expr();
          expect(")", "to close `(`");
          return e;
        }
        if (tok.text == "[") {
          DepthGuard g(*this, tok);
          next();
          auto e = make(Expr::Kind::List, tok);
          while (!is_punct("]")) {
            e->kids.push_back(expr());
            if (is_punct(",")) {
              next();
              continue;
            }
            if (!is_punct("]"))
              fail(peek(), "expected `,` or `]` in list, found " + describe(peek()));
          }
          next();
          return e;
        }
        if (tok.text == "{") {
          DepthGuard g(*this, tok);
          next();
          auto e = make(Expr::Kind::Map, tok);
          while (!is_punct("}")) {
            e->kids.push_back(expr());
            expect(":", "between map key and value");
            e->kids.push_back(expr());
            if (is_punct(",")) {
              next();
              continue;
            }
            if (!is_punct("}"))
              fail(peek(), "expected `,` or `}` in map, found " + describe(peek()));
          }
          next();
          return e;
        }
        fail(tok, "unexpected " + describe(tok));
      }
      case Token::Kind::End:
        fail(tok, "unexpected end of expression");
    }
    fail(tok, "unexpected " + describe(tok));
  }
};

}  // namespace

std::optional<ExprPtr> parse(std::string_view text, const Origin& origin, LangError& err) {
  auto toks = lex(text, origin, err);
  if (!toks) return std::nullopt;
  if (toks->size() == 1) return ExprPtr{};  // empty condition
  Parser p(*toks, origin, err);
  try {
    return p.parse_all();
  } catch (const ParseFail&) {
    return std::nullopt;
  }
}

}  // namespace gt::gov::policy
