#include "governance/policy/lexer.hpp"

#include <cerrno>
#include <cstdlib>
#include <limits>

namespace gt::gov::policy {

namespace {

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::Lex:
      return "syntax error";
    case Stage::Parse:
      return "parse error";
    case Stage::Type:
      return "type error";
    case Stage::Load:
      return "error";
  }
  return "error";
}

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || is_digit(c);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string LangError::str() const {
  std::string out;
  if (!loc.file.empty()) out += loc.file + ":";
  out += std::to_string(loc.line) + ":" + std::to_string(loc.column) + ": ";
  out += stage_name(stage);
  out += ": ";
  out += message;
  return out;
}

SourceLoc locate(const Origin& origin, int line, int column) {
  SourceLoc l;
  l.file = origin.file;
  // Only block scalars (`|`, `>`) keep newlines; their lines share the first line's indent.
  l.line = origin.line + (line > 1 ? line - 1 : 0);
  l.column = origin.column + column - 1;
  return l;
}

bool Lexer::next(Token& t, LangError& err) {
  std::string_view s = s_;
  size_t& i = i_;
  int& line = line_;
  size_t& line_start = line_start_;
  auto col_of = [&](size_t pos) { return static_cast<int>(pos - line_start) + 1; };
  auto fail = [&](size_t pos, std::string msg) {
    err.stage = Stage::Lex;
    err.loc = locate(origin_, line, col_of(pos));
    err.message = std::move(msg);
    return false;
  };
  t = Token();
  while (i < s.size()) {
    char c = s[i];
    if (c == '\n') {
      ++i;
      ++line;
      line_start = i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    t.line = line;
    t.column = col_of(i);
    if (is_ident_start(c)) {
      size_t b = i;
      while (i < s.size() && is_ident_char(s[i]))
        ++i;
      t.kind = Token::Kind::Ident;
      t.text = std::string(s.substr(b, i - b));
      // r'...' / r"..." raw strings
      if ((t.text == "r" || t.text == "R") && i < s.size() && (s[i] == '\'' || s[i] == '"')) {
        char q = s[i++];
        size_t b2 = i;
        while (i < s.size() && s[i] != q && s[i] != '\n')
          ++i;
        if (i >= s.size() || s[i] != q) return fail(b, "unterminated string");
        t.kind = Token::Kind::String;
        t.text = std::string(s.substr(b2, i - b2));
        ++i;
      }
      return true;
    }
    if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      size_t b = i;
      bool is_double = false;
      if (c == '0' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        i += 2;
        size_t hb = i;
        uint64_t v = 0;
        constexpr uint64_t kMinMagnitude = uint64_t{1} << 63;  // |INT64_MIN|
        while (i < s.size() && hexval(s[i]) >= 0) {
          if (v > (kMinMagnitude >> 4) ||
              v * 16 + static_cast<uint64_t>(hexval(s[i])) > kMinMagnitude) {
            return fail(
                b, "integer literal `" + std::string(s.substr(b, i - b + 1)) + "` is out of range");
          }
          v = v * 16 + static_cast<uint64_t>(hexval(s[i]));
          ++i;
        }
        if (i == hb)
          return fail(b, "invalid hex literal `" + std::string(s.substr(b, i - b)) + "`");
        t.kind = Token::Kind::Int;
        t.int_min_magnitude = v == kMinMagnitude;
        t.i = t.int_min_magnitude ? std::numeric_limits<int64_t>::min() : static_cast<int64_t>(v);
        t.text = std::string(s.substr(b, i - b));
      } else {
        while (i < s.size() && is_digit(s[i]))
          ++i;
        if (i < s.size() && s[i] == '.' && i + 1 < s.size() && is_digit(s[i + 1])) {
          is_double = true;
          ++i;
          while (i < s.size() && is_digit(s[i]))
            ++i;
        }
        if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
          size_t save = i;
          ++i;
          if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
          if (i < s.size() && is_digit(s[i])) {
            is_double = true;
            while (i < s.size() && is_digit(s[i]))
              ++i;
          } else {
            i = save;
          }
        }
        t.text = std::string(s.substr(b, i - b));
        if (is_double) {
          t.kind = Token::Kind::Double;
          t.d = std::strtod(t.text.c_str(), nullptr);
        } else {
          t.kind = Token::Kind::Int;
          errno = 0;
          unsigned long long v = std::strtoull(t.text.c_str(), nullptr, 10);
          constexpr unsigned long long kMinMagnitude = 1ULL << 63;  // |INT64_MIN|
          if (errno == ERANGE || v > kMinMagnitude)
            return fail(b, "integer literal `" + t.text + "` is out of range");
          t.int_min_magnitude = v == kMinMagnitude;
          t.i = t.int_min_magnitude ? std::numeric_limits<int64_t>::min() : static_cast<int64_t>(v);
        }
      }
      if (i < s.size() && is_ident_start(s[i])) {
        return fail(i, "unexpected character `" + std::string(1, s[i]) + "` after number");
      }
      return true;
    }
    if (c == '\'' || c == '"') {
      char q = c;
      size_t b = i++;
      std::string v;
      bool closed = false;
      while (i < s.size()) {
        char d = s[i];
        if (d == q) {
          closed = true;
          ++i;
          break;
        }
        if (d == '\n') break;
        if (d == '\\') {
          if (i + 1 >= s.size()) break;
          char e = s[i + 1];
          i += 2;
          switch (e) {
            case 'n':
              v += '\n';
              break;
            case 't':
              v += '\t';
              break;
            case 'r':
              v += '\r';
              break;
            case '0':
              v += '\0';
              break;
            case '\\':
              v += '\\';
              break;
            case '\'':
              v += '\'';
              break;
            case '"':
              v += '"';
              break;
            case 'u': {
              if (i + 4 > s.size()) return fail(i - 2, "invalid `\\u` escape");
              uint32_t cp = 0;
              for (int k = 0; k < 4; ++k) {
                int h = hexval(s[i + static_cast<size_t>(k)]);
                if (h < 0) return fail(i - 2, "invalid `\\u` escape");
                cp = cp * 16 + static_cast<uint32_t>(h);
              }
              i += 4;
              if (cp >= 0xD800 && cp <= 0xDFFF)
                return fail(i - 6, "surrogate `\\u` escapes are not supported");
              append_utf8(v, cp);
              break;
            }
            default:
              return fail(i - 2, std::string("unknown escape `\\") + e + "`");
          }
          continue;
        }
        v += d;
        ++i;
      }
      if (!closed) return fail(b, "unterminated string");
      t.kind = Token::Kind::String;
      t.text = std::move(v);
      return true;
    }
    // punctuation
    static const char* two[] = {"&&", "||", "==", "!=", "<=", ">="};
    bool matched = false;
    if (i + 1 < s.size()) {
      for (const char* p : two) {
        if (s[i] == p[0] && s[i + 1] == p[1]) {
          t.kind = Token::Kind::Punct;
          t.text = p;
          i += 2;
          matched = true;
          break;
        }
      }
    }
    if (!matched) {
      static const std::string_view one = "()[]{}.,:?!<>+-*/%";
      if (one.find(c) == std::string_view::npos) {
        unsigned char uc = static_cast<unsigned char>(c);
        std::string shown =
            (uc >= 0x20 && uc < 0x7f) ? std::string(1, c) : "\\x" + std::to_string(uc);
        if (c == '=') return fail(i, "unexpected `=` (use `==` to compare)");
        if (c == '&' || c == '|') return fail(i, "unexpected `" + shown + "` (use `&&` or `||`)");
        return fail(i, "unexpected character `" + shown + "`");
      }
      t.kind = Token::Kind::Punct;
      t.text = std::string(1, c);
      ++i;
    }
    return true;
  }
  t.kind = Token::Kind::End;
  t.line = line;
  t.column = col_of(i);
  return true;
}

std::optional<std::vector<Token>> lex(std::string_view text, const Origin& origin, LangError& err) {
  Lexer lx(text, origin);
  std::vector<Token> out;
  for (;;) {
    Token t;
    if (!lx.next(t, err)) return std::nullopt;
    bool end = t.kind == Token::Kind::End;
    out.push_back(std::move(t));
    if (end) return out;
  }
}

}  // namespace gt::gov::policy
