#include "governance/policy/parser.hpp"

#include <deque>
#include <limits>

namespace gt::gov::policy {

namespace {

using json = nlohmann::json;

struct ParseFail {};

class Parser {
 public:
  Parser(std::string_view text, const Origin& origin, LangError& err, CompileSink& sink)
      : lex_(text, origin), origin_(origin), err_(err), sink_(sink) {}

  bool at_end() { return peek().kind == Token::Kind::End; }

  ExprPtr parse_all() {
    ExprPtr e = expr();
    if (peek().kind != Token::Kind::End)
      fail(peek(), "unexpected " + describe(peek()) + " after expression");
    return e;
  }

 private:
  Lexer lex_;
  std::deque<Token> ahead_;  // tokens lexed but not consumed (at most 3)
  const Origin& origin_;
  LangError& err_;
  CompileSink& sink_;
  int depth_ = 0;

  // The token k places ahead; valid until the next call to next().
  const Token& peek(size_t k = 0) {
    while (ahead_.size() <= k) {
      if (!ahead_.empty() && ahead_.back().kind == Token::Kind::End) {
        ahead_.push_back(ahead_.back());
        continue;
      }
      Token t;
      if (!lex_.next(t, err_)) throw ParseFail{};
      ahead_.push_back(std::move(t));
    }
    return ahead_[k];
  }
  Token next() {
    peek();
    Token tok = std::move(ahead_.front());
    ahead_.pop_front();
    return tok;
  }
  bool is_punct(const char* s, size_t k = 0) {
    return peek(k).kind == Token::Kind::Punct && peek(k).text == s;
  }
  bool is_ident(const char* s, size_t k = 0) {
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
  [[noreturn]] void fail(const Token& at, std::string msg) { fail_at(at.line, at.column, msg); }
  [[noreturn]] void fail_at(int line, int column, std::string msg) {
    err_.stage = Stage::Parse;
    err_.loc = locate(origin_, line, column);
    err_.message = std::move(msg);
    throw ParseFail{};
  }
  static std::string too_deep() {
    return "expression nests deeper than " + std::to_string(kMaxExprDepth) + " levels";
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
  // Every recursion over the tree (type checking, compiling, evaluating, freeing) is as deep as
  // the tree is tall, so the tree's height is bounded here, whatever made it tall: nesting,
  // a chain of `+` or `==`, `.field` selections.
  void grow(uint16_t& height, const Expr& kid, int line, int column) {
    if (kid.height + 1 > height) {
      if (kid.height + 1 > kMaxExprDepth) fail_at(line, column, too_deep());
      height = static_cast<uint16_t>(kid.height + 1);
    }
  }
  // Which finished kids are compiled at once. Only what the compiler must still see as a
  // tree is kept: a root name before `.field` (`principal.id`), and the arguments of a call
  // (`has(args.a)` takes a selection, `exists` a variable name, `matches` a literal).
  enum class Keep { Nothing, Ident, Shape, Everything };
  uint32_t compiled(Expr& x) { return x.kind == Expr::Kind::Compiled ? x.node : sink_.compile(x); }
  ExprPtr marker(uint32_t node, int line, int column, uint16_t height) {
    auto m = std::make_unique<Expr>();
    m->kind = Expr::Kind::Compiled;
    m->node = node;
    m->line = line;
    m->column = column;
    m->height = height;
    return m;
  }
  ExprPtr settle(ExprPtr x, Keep keep) {
    using K = Expr::Kind;
    bool kept = x->kind == K::Compiled || keep == Keep::Everything ||
                (keep != Keep::Nothing && x->kind == K::Ident) ||
                (keep == Keep::Shape && (x->kind == K::Select || x->kind == K::Literal));
    if (kept) return x;
    uint32_t n = sink_.compile(*x);
    return marker(n, x->line, x->column, x->height);
  }
  void add_kid(Expr& parent, ExprPtr kid, Keep keep = Keep::Nothing) {
    grow(parent.height, *kid, parent.line, parent.column);
    parent.kids.push_back(settle(std::move(kid), keep));
  }
  // Recursion in the parser itself (parentheses, unary operators, list and map literals).
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& pp, const Token& at) : p(pp) {
      if (++p.depth_ > kMaxExprDepth) p.fail(at, too_deep());
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr expr() {
    DepthGuard g(*this, peek());
    ExprPtr c = or_expr();
    if (is_punct("?")) {
      Token q = next();
      ExprPtr a = expr();
      expect(":", "in conditional expression");
      ExprPtr b = expr();
      auto e = make(Expr::Kind::Cond, q);
      add_kid(*e, std::move(c));
      add_kid(*e, std::move(a));
      add_kid(*e, std::move(b));
      return e;
    }
    return c;
  }
  ExprPtr binary(const Token& at, std::string op, ExprPtr l, ExprPtr r) {
    auto e = make(Expr::Kind::Binary, at);
    e->name = std::move(op);
    add_kid(*e, std::move(l));
    add_kid(*e, std::move(r));
    return e;
  }
  // `a || b || c ...` (and `&&`) is one node however long the chain: no recursion grows
  // with it.
  ExprPtr chain(const char* op, ExprPtr (Parser::*operand)()) {
    ExprPtr l = (this->*operand)();
    if (!is_punct(op)) return l;
    Token at = peek();
    std::vector<uint32_t> kids;
    uint16_t height = 1;
    auto take = [&](ExprPtr x) {
      grow(height, *x, at.line, at.column);
      kids.push_back(compiled(*x));
      sink_.check(op, kids.back(), x->line, x->column);
    };
    take(std::move(l));
    while (is_punct(op)) {
      next();
      take((this->*operand)());
    }
    return marker(sink_.sequence(op, kids, at.line, at.column), at.line, at.column, height);
  }
  ExprPtr or_expr() { return chain("||", &Parser::and_expr); }
  ExprPtr and_expr() { return chain("&&", &Parser::rel_expr); }
  ExprPtr rel_expr() {
    ExprPtr l = add_expr();
    for (;;) {
      Token at = peek();
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
      Token op = next();
      l = binary(op, op.text, std::move(l), mul_expr());
    }
    return l;
  }
  ExprPtr mul_expr() {
    ExprPtr l = unary();
    while (is_punct("*") || is_punct("/") || is_punct("%")) {
      Token op = next();
      l = binary(op, op.text, std::move(l), unary());
    }
    return l;
  }
  ExprPtr unary() {
    if (is_punct("!") || is_punct("-")) {
      DepthGuard g(*this, peek());
      Token op = next();
      // Fold a negative numeric literal so that `-5` is a constant.
      if (op.text == "-" &&
          (peek().kind == Token::Kind::Int || peek().kind == Token::Kind::Double) &&
          !is_punct(".", 1) && !is_punct("[", 1)) {
        Token n = next();
        auto e = make(Expr::Kind::Literal, op);
        if (n.kind == Token::Kind::Int) {
          // -9223372036854775808 is INT64_MIN itself (its magnitude alone is no int64).
          e->value = n.int_min_magnitude ? n.i : -n.i;
        } else {
          e->value = -n.d;
        }
        return e;
      }
      auto e = make(Expr::Kind::Unary, op);
      e->name = op.text;
      add_kid(*e, unary());
      return e;
    }
    return member();
  }
  // A list of literals becomes one literal as it is read, so a long constant list costs its
  // values and not one node each; other lists are compiled element by element.
  ExprPtr list(const Token& open) {
    DepthGuard g(*this, open);
    next();
    json values = json::array();
    std::vector<uint32_t> kids;
    uint16_t height = 1;
    bool folding = true;
    auto literal = [&](json v) {
      auto l = make(Expr::Kind::Literal, open);
      l->value = std::move(v);
      return sink_.compile(*l);
    };
    while (!is_punct("]")) {
      ExprPtr x = expr();
      grow(height, *x, open.line, open.column);
      if (folding && x->kind == Expr::Kind::Literal) {
        values.push_back(std::move(x->value));
      } else {
        if (folding) {
          for (auto& v : values)
            kids.push_back(literal(std::move(v)));
          values = json::array();
          folding = false;
        }
        kids.push_back(compiled(*x));
      }
      if (is_punct(",")) {
        next();
        continue;
      }
      if (!is_punct("]")) fail(peek(), "expected `,` or `]` in list, found " + describe(peek()));
    }
    next();
    if (folding) {
      values.get_ref<json::array_t&>().shrink_to_fit();  // kept for the policy's lifetime
      auto e = make(Expr::Kind::Literal, open);
      e->value = std::move(values);
      return e;
    }
    return marker(sink_.sequence("[]", kids, open.line, open.column), open.line, open.column,
                  height);
  }
  // Likewise a map whose keys are string literals and whose values are literals. A repeated
  // key is an error, as in CEL: here at load for literal keys, at evaluation for others.
  ExprPtr map(const Token& open) {
    DepthGuard g(*this, open);
    next();
    json values = json::object();
    std::vector<uint32_t> kids;
    uint16_t height = 1;
    bool folding = true;
    auto literal = [&](json v) {
      auto l = make(Expr::Kind::Literal, open);
      l->value = std::move(v);
      return sink_.compile(*l);
    };
    while (!is_punct("}")) {
      ExprPtr k = expr();
      expect(":", "between map key and value");
      ExprPtr v = expr();
      grow(height, *k, open.line, open.column);
      grow(height, *v, open.line, open.column);
      if (folding && k->kind == Expr::Kind::Literal && k->value.is_string() &&
          v->kind == Expr::Kind::Literal) {
        const auto& key = k->value.get_ref<const std::string&>();
        if (values.contains(key)) fail_at(k->line, k->column, "repeated map key `" + key + "`");
        values[key] = std::move(v->value);
      } else {
        if (folding) {
          for (auto& [key, val] : values.items()) {
            kids.push_back(literal(key));
            kids.push_back(literal(std::move(val)));
          }
          values = json::object();
          folding = false;
        }
        kids.push_back(compiled(*k));
        sink_.check("{}", kids.back(), k->line, k->column);
        kids.push_back(compiled(*v));
      }
      if (is_punct(",")) {
        next();
        continue;
      }
      if (!is_punct("}")) fail(peek(), "expected `,` or `}` in map, found " + describe(peek()));
    }
    next();
    if (folding) {
      auto e = make(Expr::Kind::Literal, open);
      e->value = std::move(values);
      return e;
    }
    return marker(sink_.sequence("{}", kids, open.line, open.column), open.line, open.column,
                  height);
  }
  // '(' already consumed. The variable of a macro (`list.exists(v, cond)`) is declared to the
  // compiler while `cond` is read, as the compiler will declare it.
  std::vector<ExprPtr> call_args(const std::string& name, bool method) {
    struct Local {
      CompileSink* sink = nullptr;
      ~Local() {
        if (sink) sink->pop_local();
      }
    } local;
    bool macro = method && (name == "exists" || name == "all" || name == "exists_one");
    std::vector<ExprPtr> args;
    if (is_punct(")")) {
      next();
      return args;
    }
    for (;;) {
      ExprPtr a = expr();
      if (macro && args.empty() && a->kind == Expr::Kind::Ident) {
        sink_.push_local(a->name);
        local.sink = &sink_;
      }
      args.push_back(settle(std::move(a), Keep::Shape));
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
    for (;;) {
      if (is_punct(".")) {
        Token dot = next();
        if (peek().kind != Token::Kind::Ident)
          fail(peek(), "expected a field name after `.`, found " + describe(peek()));
        Token name = next();
        if (is_punct("(")) {
          next();
          auto c = make(Expr::Kind::Call, name);
          c->name = name.text;
          c->has_target = true;
          add_kid(*c, std::move(e), Keep::Ident);
          for (auto& a : call_args(name.text, true))
            add_kid(*c, std::move(a), Keep::Everything);
          e = std::move(c);
        } else {
          auto s = make(Expr::Kind::Select, name);
          s->name = name.text;
          add_kid(*s, std::move(e), Keep::Ident);
          e = std::move(s);
        }
      } else if (is_punct("[")) {
        Token br = next();
        auto ix = make(Expr::Kind::Index, br);
        add_kid(*ix, std::move(e));
        add_kid(*ix, expr());
        expect("]", "after index");
        e = std::move(ix);
      } else {
        return e;
      }
    }
  }
  ExprPtr primary() {
    Token tok = peek();
    switch (tok.kind) {
      case Token::Kind::Int: {
        if (tok.int_min_magnitude)
          fail(tok, "integer literal `" + tok.text + "` is out of range (only `-" + tok.text +
                        "` is an int)");
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
          for (auto& a : call_args(tok.text, false))
            add_kid(*c, std::move(a), Keep::Everything);
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
        if (tok.text == "[") return list(tok);
        if (tok.text == "{") return map(tok);
        fail(tok, "unexpected " + describe(tok));
      }
      case Token::Kind::End:
        fail(tok, "unexpected end of expression");
    }
    fail(tok, "unexpected " + describe(tok));
  }
};

}  // namespace

std::optional<ExprPtr> parse(std::string_view text, const Origin& origin, LangError& err,
                             CompileSink& sink) {
  Parser p(text, origin, err, sink);
  try {
    if (p.at_end()) return ExprPtr{};  // empty condition
    return p.parse_all();
  } catch (const ParseFail&) {
    return std::nullopt;
  }
}

}  // namespace gt::gov::policy
