// Hand-written: Boost and the other Debian libraries offer no RFC 3339 / RFC 5321 string
// validators, and regex-based ones would need a backtracking engine.
#include "governance/schema/format.hpp"

#include <string>

namespace gt::gov::schema::detail {

namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}
bool alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool hexd(char c) {
  return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool num(std::string_view s, std::size_t pos, std::size_t n, int& v) {
  if (pos + n > s.size()) return false;
  v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!digit(s[pos + i])) return false;
    v = v * 10 + (s[pos + i] - '0');
  }
  return true;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

}  // namespace

Format format_from_name(std::string_view n) {
  if (n == "date-time") return Format::DateTime;
  if (n == "date") return Format::Date;
  if (n == "time") return Format::Time;
  if (n == "email") return Format::Email;
  if (n == "hostname") return Format::Hostname;
  if (n == "ipv4") return Format::Ipv4;
  if (n == "ipv6") return Format::Ipv6;
  if (n == "uri") return Format::Uri;
  if (n == "uuid") return Format::Uuid;
  return Format::None;
}

bool check_format(Format f, std::string_view s) {
  switch (f) {
    case Format::DateTime:
      return is_date_time(s);
    case Format::Date:
      return is_date(s);
    case Format::Time:
      return is_time(s);
    case Format::Email:
      return is_email(s);
    case Format::Hostname:
      return is_hostname(s);
    case Format::Ipv4:
      return is_ipv4(s);
    case Format::Ipv6:
      return is_ipv6(s);
    case Format::Uri:
      return is_uri(s);
    case Format::Uuid:
      return is_uuid(s);
    case Format::None:
      return true;
  }
  return true;
}

bool is_date(std::string_view s) {
  int y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!num(s, 0, 4, y) || !num(s, 5, 2, m) || !num(s, 8, 2, d)) return false;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  int max = days[m - 1] + (m == 2 && leap(y) ? 1 : 0);
  return d <= max;
}

bool is_time(std::string_view s) {
  int h, mi, se;
  if (s.size() < 9 || s[2] != ':' || s[5] != ':') return false;
  if (!num(s, 0, 2, h) || !num(s, 3, 2, mi) || !num(s, 6, 2, se)) return false;
  if (h > 23 || mi > 59 || se > 60) return false;
  std::size_t i = 8;
  if (i < s.size() && s[i] == '.') {
    std::size_t start = ++i;
    while (i < s.size() && digit(s[i]))
      ++i;
    if (i == start) return false;
  }
  if (i >= s.size()) return false;  // the offset is required
  int oh = 0, om = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    if (i + 1 != s.size()) return false;
  } else if (s[i] == '+' || s[i] == '-') {
    if (s.size() != i + 6 || s[i + 3] != ':') return false;
    if (!num(s, i + 1, 2, oh) || !num(s, i + 4, 2, om) || oh > 23 || om > 59) return false;
    if (s[i] == '-') {
      oh = -oh;
      om = -om;
    }
  } else {
    return false;
  }
  if (se == 60) {
    // A leap second exists only at 23:59:60 UTC.
    int total = h * 60 + mi - (oh * 60 + om);
    total = ((total % 1440) + 1440) % 1440;
    if (total != 23 * 60 + 59) return false;
  }
  return true;
}

bool is_date_time(std::string_view s) {
  if (s.size() < 20) return false;
  if (s[10] != 'T' && s[10] != 't') return false;
  return is_date(s.substr(0, 10)) && is_time(s.substr(11));
}

bool is_hostname(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string_view label =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!(alpha(c) || digit(c) || c == '-')) return false;
    }
    // "xn--" labels are punycode; two hyphens in positions 3-4 are reserved otherwise.
    if (label.size() >= 4 && label[2] == '-' && label[3] == '-' &&
        !((label[0] == 'x' || label[0] == 'X') && (label[1] == 'n' || label[1] == 'N'))) {
      return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool is_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (parts < 4) {
    std::size_t start = i;
    int v = 0;
    while (i < s.size() && digit(s[i]) && i - start < 3)
      v = v * 10 + (s[i++] - '0');
    std::size_t len = i - start;
    if (len == 0 || v > 255 || (len > 1 && s[start] == '0')) return false;
    ++parts;
    if (parts < 4) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

bool is_ipv6(std::string_view s) {
  if (s.size() < 2 || s.size() > 45) return false;
  int groups = 0;
  bool compressed = false;
  std::size_t i = 0;
  if (s.starts_with("::")) {
    compressed = true;
    i = 2;
    if (i == s.size()) return true;
  } else if (s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    std::size_t start = i;
    while (i < s.size() && hexd(s[i]) && i - start < 5)
      ++i;
    std::size_t len = i - start;
    if (i < s.size() && s[i] == '.') {
      // Embedded IPv4 in the last 32 bits.
      if (!is_ipv4(s.substr(start))) return false;
      groups += 2;
      i = s.size();
      break;
    }
    if (len == 0 || len > 4) return false;
    ++groups;
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (compressed) return false;
      compressed = true;
      ++i;
      if (i == s.size()) break;
    } else if (i == s.size()) {
      return false;  // trailing single colon
    }
  }
  return compressed ? groups < 8 : groups == 8;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !hexd(s[i])) return false;
  }
  return true;
}

bool is_email(std::string_view s) {
  std::size_t at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= s.size()) return false;
  std::string_view local = s.substr(0, at), domain = s.substr(at + 1);
  if (local.size() > 64) return false;
  if (local.front() == '"') {
    if (local.size() < 2 || local.back() != '"') return false;
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
      char c = local[i];
      if (c == '\\') {
        if (++i + 1 >= local.size()) return false;
        continue;
      }
      if (c == '"' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    }
  } else {
    static const std::string_view atext = "!#$%&'*+-/=?^_`{|}~";
    if (local.front() == '.' || local.back() == '.') return false;
    for (std::size_t i = 0; i < local.size(); ++i) {
      char c = local[i];
      if (c == '.') {
        if (local[i - 1] == '.') return false;
        continue;
      }
      if (!(alpha(c) || digit(c) || atext.find(c) != std::string_view::npos ||
            static_cast<unsigned char>(c) >= 0x80)) {
        return false;
      }
    }
  }
  if (domain.front() == '[') {
    if (domain.back() != ']') return false;
    std::string_view lit = domain.substr(1, domain.size() - 2);
    if (lit.starts_with("IPv6:")) return is_ipv6(lit.substr(5));
    return is_ipv4(lit);
  }
  return is_hostname(domain);
}

bool is_uri(std::string_view s) {
  // scheme ":" then characters allowed in URIs, with valid percent-encodings.
  std::size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || !alpha(s[0])) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    char c = s[i];
    if (!(alpha(c) || digit(c) || c == '+' || c == '-' || c == '.')) return false;
  }
  static const std::string_view allowed = "-._~!$&'()*+,;=:@/?#[]";
  for (std::size_t i = colon + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !hexd(s[i + 1]) || !hexd(s[i + 2])) return false;
      i += 2;
      continue;
    }
    if (!(alpha(c) || digit(c) || allowed.find(c) != std::string_view::npos)) return false;
  }
  // An authority, when present, must not contain '[' or ']' outside an IP literal; the
  // fragment must not contain '#'. Keep these two common checks.
  std::size_t hash = s.find('#');
  if (hash != std::string_view::npos && s.find('#', hash + 1) != std::string_view::npos)
    return false;
  std::string_view rest = s.substr(colon + 1);
  if (rest.starts_with("//")) {
    std::string_view auth = rest.substr(2);
    std::size_t end = auth.find_first_of("/?#");
    if (end != std::string_view::npos) auth = auth.substr(0, end);
    std::size_t lb = auth.find('[');
    if (lb != std::string_view::npos) {
      std::size_t rb = auth.find(']', lb);
      if (rb == std::string_view::npos) return false;
      std::string_view lit = auth.substr(lb + 1, rb - lb - 1);
      if (!lit.empty() && (lit[0] == 'v' || lit[0] == 'V')) return true;  // IPvFuture
      if (!is_ipv6(lit)) return false;
    } else if (auth.find(']') != std::string_view::npos) {
      return false;
    }
    // Port must be digits.
    std::size_t at = auth.rfind('@');
    std::string_view hostport = at == std::string_view::npos ? auth : auth.substr(at + 1);
    std::size_t rb = hostport.rfind(']');
    std::size_t pc = hostport.rfind(':');
    if (pc != std::string_view::npos && (rb == std::string_view::npos || pc > rb)) {
      for (char c : hostport.substr(pc + 1)) {
        if (!digit(c)) return false;
      }
    }
  } else {
    if (rest.find('[') != std::string_view::npos || rest.find(']') != std::string_view::npos) {
      // Brackets are only allowed in the authority's IP literal.
      std::size_t q = rest.find_first_of("?#");
      if (rest.substr(0, q).find_first_of("[]") != std::string_view::npos) return false;
    }
  }
  return true;
}

}  // namespace gt::gov::schema::detail
