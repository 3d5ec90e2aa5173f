#include "governance/schema/uri.hpp"

#include <optional>

namespace gt::gov::schema::detail {

namespace {

struct Parts {
  std::string_view scheme;
  std::optional<std::string_view> authority;
  std::string_view path;
  std::optional<std::string_view> query;
  std::optional<std::string_view> fragment;
};

bool scheme_char(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (first) return alpha;
  return alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

Parts parse(std::string_view s) {
  Parts p;
  std::size_t colon = s.find(':');
  std::size_t stop = s.find_first_of("/?#");
  if (colon != std::string_view::npos && colon > 0 &&
      (stop == std::string_view::npos || colon < stop)) {
    bool ok = true;
    for (std::size_t i = 0; i < colon; ++i)
      ok = ok && scheme_char(s[i], i == 0);
    if (ok) {
      p.scheme = s.substr(0, colon);
      s.remove_prefix(colon + 1);
    }
  }
  if (auto h = s.find('#'); h != std::string_view::npos) {
    p.fragment = s.substr(h + 1);
    s = s.substr(0, h);
  }
  if (auto q = s.find('?'); q != std::string_view::npos) {
    p.query = s.substr(q + 1);
    s = s.substr(0, q);
  }
  if (s.starts_with("//")) {
    s.remove_prefix(2);
    std::size_t slash = s.find('/');
    p.authority = s.substr(0, slash);
    s = slash == std::string_view::npos ? std::string_view{} : s.substr(slash);
  }
  p.path = s;
  return p;
}

// RFC 3986 5.2.4. Quadratic in the worst case: compile() caps URI lengths.
std::string remove_dot_segments(std::string_view in) {
  std::string input(in), out;
  auto pop = [&out] {
    auto last = out.rfind('/');
    out.erase(last == std::string::npos ? 0 : last);
  };
  while (!input.empty()) {
    std::string_view v(input);
    if (v.starts_with("../")) {
      input.erase(0, 3);
    } else if (v.starts_with("./")) {
      input.erase(0, 2);
    } else if (v.starts_with("/./")) {
      input.replace(0, 3, "/");
    } else if (v == "/.") {
      input = "/";
    } else if (v.starts_with("/../")) {
      input.replace(0, 4, "/");
      pop();
    } else if (v == "/..") {
      input = "/";
      pop();
    } else if (v == "." || v == "..") {
      input.clear();
    } else {
      std::size_t n = input.find('/', input[0] == '/' ? 1 : 0);
      if (n == std::string::npos) n = input.size();
      out.append(input, 0, n);
      input.erase(0, n);
    }
  }
  return out;
}

std::string compose(std::string_view scheme, const std::optional<std::string_view>& auth,
                    std::string_view path, const std::optional<std::string_view>& query,
                    const std::optional<std::string_view>& frag) {
  std::string r;
  if (!scheme.empty()) {
    r.append(scheme);
    r.push_back(':');
  }
  if (auth) {
    r += "//";
    r.append(*auth);
  }
  r.append(path);
  if (query) {
    r.push_back('?');
    r.append(*query);
  }
  if (frag) {
    r.push_back('#');
    r.append(*frag);
  }
  return r;
}

}  // namespace

bool has_scheme(std::string_view uri) {
  return !parse(uri).scheme.empty();
}

std::string resolve_uri(std::string_view base_s, std::string_view ref_s) {
  Parts r = parse(ref_s), b = parse(base_s);
  std::string path;
  std::optional<std::string_view> auth, query;
  std::string_view scheme;
  if (!r.scheme.empty()) {
    scheme = r.scheme;
    auth = r.authority;
    path = remove_dot_segments(r.path);
    query = r.query;
  } else {
    scheme = b.scheme;
    if (r.authority) {
      auth = r.authority;
      path = remove_dot_segments(r.path);
      query = r.query;
    } else {
      auth = b.authority;
      if (r.path.empty()) {
        path = std::string(b.path);
        query = r.query ? r.query : b.query;
      } else {
        if (r.path.starts_with("/")) {
          path = remove_dot_segments(r.path);
        } else {
          std::string merged;
          if (b.authority && b.path.empty()) {
            merged = "/" + std::string(r.path);
          } else {
            auto slash = b.path.rfind('/');
            merged = slash == std::string_view::npos
                         ? std::string(r.path)
                         : std::string(b.path.substr(0, slash + 1)) + std::string(r.path);
          }
          path = remove_dot_segments(merged);
        }
        query = r.query;
      }
    }
  }
  std::optional<std::string_view> frag = r.fragment;
  return compose(scheme, auth, path, query, frag);
}

void split_fragment(std::string_view uri, std::string& without, std::string& fragment) {
  auto h = uri.find('#');
  if (h == std::string_view::npos) {
    without.assign(uri);
    fragment.clear();
  } else {
    without.assign(uri.substr(0, h));
    fragment.assign(uri.substr(h + 1));
  }
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  auto hv = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int a = hv(in[i + 1]), b = hv(in[i + 2]);
      if (a < 0 || b < 0) return false;
      out.push_back(static_cast<char>(a * 16 + b));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return true;
}

}  // namespace gt::gov::schema::detail
