// Hand-written because no Debian package translates ECMA-262 patterns for RE2; the
// translation is a single left-to-right pass that refuses anything it does not know.
#include "governance/schema/regex.hpp"

#include <cstdio>
#include <map>

namespace gt::gov::schema::detail {

namespace {

// ECMA \s: WhiteSpace and LineTerminator code points.
constexpr const char* kSpaceBody =
    "\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}"
    "\\x{3000}\\x{FEFF}";

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
unsigned hex_val(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  return static_cast<unsigned>(c - 'A' + 10);
}

std::string code_point(unsigned cp) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "\\x{%X}", cp);
  return buf;
}

// General_Category long names (ECMA accepts them) to the short names RE2 knows.
const std::map<std::string, std::string, std::less<>>& category_aliases() {
  static const std::map<std::string, std::string, std::less<>> m = {
      {"Letter", "L"},
      {"Uppercase_Letter", "Lu"},
      {"Lowercase_Letter", "Ll"},
      {"Titlecase_Letter", "Lt"},
      {"Modifier_Letter", "Lm"},
      {"Other_Letter", "Lo"},
      {"Mark", "M"},
      {"Combining_Mark", "M"},
      {"Nonspacing_Mark", "Mn"},
      {"Spacing_Mark", "Mc"},
      {"Enclosing_Mark", "Me"},
      {"Number", "N"},
      {"Decimal_Number", "Nd"},
      {"digit", "Nd"},
      {"Letter_Number", "Nl"},
      {"Other_Number", "No"},
      {"Punctuation", "P"},
      {"punct", "P"},
      {"Connector_Punctuation", "Pc"},
      {"Dash_Punctuation", "Pd"},
      {"Open_Punctuation", "Ps"},
      {"Close_Punctuation", "Pe"},
      {"Initial_Punctuation", "Pi"},
      {"Final_Punctuation", "Pf"},
      {"Other_Punctuation", "Po"},
      {"Symbol", "S"},
      {"Math_Symbol", "Sm"},
      {"Currency_Symbol", "Sc"},
      {"Modifier_Symbol", "Sk"},
      {"Other_Symbol", "So"},
      {"Separator", "Z"},
      {"Space_Separator", "Zs"},
      {"Line_Separator", "Zl"},
      {"Paragraph_Separator", "Zp"},
      {"Other", "C"},
      {"Control", "Cc"},
      {"cntrl", "Cc"},
      {"Format", "Cf"},
      {"Surrogate", "Cs"},
      {"Private_Use", "Co"},
  };
  return m;
}

bool is_short_category(std::string_view n) {
  static const char* cats[] = {"L",  "Lu", "Ll", "Lt", "Lm", "Lo", "M",  "Mn", "Mc",
                               "Me", "N",  "Nd", "Nl", "No", "P",  "Pc", "Pd", "Ps",
                               "Pe", "Pi", "Pf", "Po", "S",  "Sm", "Sc", "Sk", "So",
                               "Z",  "Zs", "Zl", "Zp", "C",  "Cc", "Cf", "Cs", "Co"};
  for (const char* c : cats) {
    if (n == c) return true;
  }
  return false;
}

bool is_script_name(std::string_view n) {
  // RE2 knows Unicode script names; they are words of letters and underscores starting
  // with a capital. RE2 itself rejects unknown ones, which makes the schema unsupported.
  if (n.empty() || !(n[0] >= 'A' && n[0] <= 'Z')) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')) return false;
  }
  return true;
}

class Translator {
 public:
  Translator(std::string_view p, std::string& out, std::string& err)
      : p_(p), out_(out), err_(err) {}

  bool run() {
    out_.clear();
    while (i_ < p_.size()) {
      char c = p_[i_];
      if (c == '\\') {
        if (!escape(false)) return false;
      } else if (c == '[') {
        if (!char_class()) return false;
      } else if (c == '(') {
        if (!group()) return false;
      } else if (c == '.') {
        out_ += "[^\\n\\r\\x{2028}\\x{2029}]";
        ++i_;
      } else {
        out_.push_back(c);
        ++i_;
      }
    }
    return true;
  }

 private:
  bool fail(std::string msg) {
    err_ = std::move(msg);
    return false;
  }

  bool group() {
    // at '('
    if (i_ + 1 < p_.size() && p_[i_ + 1] == '?') {
      std::string_view rest = p_.substr(i_ + 2);
      if (rest.starts_with(":")) {
        out_ += "(?:";
        i_ += 3;
        return true;
      }
      if (rest.starts_with("=") || rest.starts_with("!") || rest.starts_with("<=") ||
          rest.starts_with("<!")) {
        return fail("lookaround assertions are not supported");
      }
      if (rest.starts_with("<")) {
        out_ += "(?P<";
        i_ += 3;
        return true;
      }
      return fail("unsupported group syntax `(?`");
    }
    out_.push_back('(');
    ++i_;
    return true;
  }

  bool char_class() {
    // at '['
    ++i_;
    bool negated = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negated = true;
      ++i_;
    }
    if (i_ < p_.size() && p_[i_] == ']') {
      // ECMA: [] matches nothing, [^] matches any character.
      out_ += negated ? "(?s:.)" : "[^\\x00-\\x{10FFFF}]";
      ++i_;
      return true;
    }
    out_ += negated ? "[^" : "[";
    while (i_ < p_.size() && p_[i_] != ']') {
      char c = p_[i_];
      if (c == '\\') {
        if (!escape(true)) return false;
      } else if (c == '[') {
        out_ += "\\[";  // literal in ECMA; RE2 would read [:alpha:] as a POSIX class
        ++i_;
      } else {
        out_.push_back(c);
        ++i_;
      }
    }
    if (i_ >= p_.size()) return fail("unterminated character class");
    out_.push_back(']');
    ++i_;
    return true;
  }

  bool read_hex(std::size_t from, std::size_t n, unsigned& v) {
    if (from + n > p_.size()) return false;
    v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      if (!is_hex(p_[from + k])) return false;
      v = v * 16 + hex_val(p_[from + k]);
    }
    return true;
  }

  bool escape(bool in_class) {
    // at '\'
    if (i_ + 1 >= p_.size()) return fail("pattern ends with a lone backslash");
    char e = p_[i_ + 1];
    i_ += 2;
    switch (e) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 't':
      case 'n':
      case 'r':
      case 'f':
        out_.push_back('\\');
        out_.push_back(e);
        return true;
      case 'v':
        out_ += "\\x0B";
        return true;
      case 'b':
      case 'B':
        if (in_class) {
          if (e == 'b') {
            out_ += "\\x08";  // [\b] is backspace
            return true;
          }
          return fail("`\\B` inside a character class is not valid");
        }
        out_.push_back('\\');
        out_.push_back(e);
        return true;
      case 's':
        if (in_class) {
          out_ += kSpaceBody;
        } else {
          out_ += "[";
          out_ += kSpaceBody;
          out_ += "]";
        }
        return true;
      case 'S':
        if (in_class) return fail("`\\S` inside a character class is not supported");
        out_ += "[^";
        out_ += kSpaceBody;
        out_ += "]";
        return true;
      case '0':
        if (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') {
          return fail("octal escapes are not supported");
        }
        out_ += "\\x00";
        return true;
      case 'x': {
        unsigned v;
        if (!read_hex(i_, 2, v)) return fail("invalid `\\x` escape");
        i_ += 2;
        out_ += code_point(v);
        return true;
      }
      case 'u':
        return unicode_escape();
      case 'c': {
        if (i_ >= p_.size()) return fail("invalid `\\c` escape");
        char l = p_[i_];
        if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')))
          return fail("invalid `\\c` escape");
        ++i_;
        out_ += code_point(static_cast<unsigned>(l) % 32);
        return true;
      }
      case 'p':
      case 'P':
        return property(e == 'P');
      case 'k':
        return fail("named backreferences are not supported");
      default:
        break;
    }
    if (e >= '1' && e <= '9') return fail("backreferences are not supported");
    static const std::string_view syntax = "^$\\.*+?()[]{}|/-";
    if (syntax.find(e) != std::string_view::npos) {
      if (e == '/') {
        out_.push_back('/');
      } else {
        out_.push_back('\\');
        out_.push_back(e);
      }
      return true;
    }
    std::string shown(1, e);
    return fail("unsupported escape `\\" + shown + "`");
  }

  bool unicode_escape() {
    // after "\u"
    unsigned v;
    if (i_ < p_.size() && p_[i_] == '{') {
      std::size_t end = p_.find('}', i_);
      if (end == std::string_view::npos || end == i_ + 1 || end - i_ - 1 > 6) {
        return fail("invalid `\\u{...}` escape");
      }
      if (!read_hex(i_ + 1, end - i_ - 1, v) || v > 0x10FFFF)
        return fail("invalid `\\u{...}` escape");
      i_ = end + 1;
    } else {
      if (!read_hex(i_, 4, v)) return fail("invalid `\\u` escape");
      i_ += 4;
      if (v >= 0xD800 && v <= 0xDBFF) {
        unsigned lo;
        if (i_ + 1 < p_.size() && p_[i_] == '\\' && p_[i_ + 1] == 'u' && read_hex(i_ + 2, 4, lo) &&
            lo >= 0xDC00 && lo <= 0xDFFF) {
          i_ += 6;
          v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        } else {
          return fail("lone surrogate escapes are not supported");
        }
      }
    }
    if (v >= 0xD800 && v <= 0xDFFF) return fail("lone surrogate escapes are not supported");
    out_ += code_point(v);
    return true;
  }

  bool property(bool negated) {
    // after "\p" or "\P"
    if (i_ >= p_.size() || p_[i_] != '{') return fail("invalid property escape");
    std::size_t end = p_.find('}', i_);
    if (end == std::string_view::npos) return fail("invalid property escape");
    std::string_view name = p_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    std::string rname;
    if (auto eq = name.find('='); eq != std::string_view::npos) {
      std::string_view key = name.substr(0, eq), val = name.substr(eq + 1);
      if (key == "General_Category" || key == "gc") {
        name = val;
      } else if (key == "Script" || key == "sc") {
        if (!is_script_name(val)) return fail("unsupported property escape");
        rname = std::string(val);
      } else {
        return fail("unsupported property escape `" + std::string(key) + "`");
      }
    }
    if (rname.empty()) {
      auto& al = category_aliases();
      if (auto it = al.find(name); it != al.end()) {
        rname = it->second;
      } else if (is_short_category(name) || name == "Any") {
        rname = std::string(name);
      } else if (is_script_name(name)) {
        // ECMA requires Script= for scripts; a bare name is a binary property such as
        // Alphabetic, which RE2 does not have.
        return fail("unsupported property escape `" + std::string(name) + "`");
      } else {
        return fail("unsupported property escape `" + std::string(name) + "`");
      }
    }
    out_ += negated ? "\\P{" : "\\p{";
    out_ += rname;
    out_ += "}";
    return true;
  }

  std::string_view p_;
  std::string& out_;
  std::string& err_;
  std::size_t i_ = 0;
};

}  // namespace

bool translate_ecma_regex(std::string_view pattern, std::string& out, std::string& error) {
  return Translator(pattern, out, error).run();
}

CompiledRegex compile_ecma_regex(std::string_view pattern, std::int64_t max_mem) {
  CompiledRegex r;
  std::string translated, err;
  if (!translate_ecma_regex(pattern, translated, err)) {
    r.error = err;
    return r;
  }
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(max_mem);
  o.set_encoding(RE2::Options::EncodingUTF8);
  auto re = std::make_shared<RE2>(translated, o);
  if (!re->ok()) {
    r.error = "re2 cannot compile it: " + re->error();
    return r;
  }
  r.re = std::move(re);
  return r;
}

}  // namespace gt::gov::schema::detail
