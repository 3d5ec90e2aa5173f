#include "transport/url.hpp"

#include <algorithm>
#include <cctype>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace gt::transport {

namespace urls = boost::urls;

namespace {

std::optional<Url> fail(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
  return std::nullopt;
}

std::optional<Url> from_view(urls::url_view v, std::string_view text, std::string* error) {
  Url u;
  u.scheme = v.scheme();
  for (auto& c : u.scheme)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.scheme != "http" && u.scheme != "https") {
    return fail(error, "unsupported URL scheme `" + u.scheme + "` in `" + std::string(text) +
                           "` (http or https)");
  }
  if (v.has_userinfo()) {
    return fail(error, "credentials in a URL are not supported; configure a header instead");
  }
  u.host = v.host_address();
  for (auto& c : u.host)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.host.empty()) return fail(error, "no host in `" + std::string(text) + "`");
  if (v.has_port() && !v.port().empty()) {
    std::string p = v.port();
    if (p.size() > 5 || std::stoul(p) == 0 || std::stoul(p) > 65535) {
      return fail(error, "bad port `" + p + "` in `" + std::string(text) + "`");
    }
    u.port = std::to_string(std::stoul(p));
  } else {
    u.port = u.tls() ? "443" : "80";
  }
  u.target = v.encoded_path();
  if (v.has_query()) u.target += "?" + std::string(v.encoded_query());
  if (u.target.empty() || u.target[0] != '/') u.target.insert(0, "/");
  return u;
}

}  // namespace

std::string Url::origin() const {
  return scheme + "://" + (ipv6() ? "[" + host + "]" : host) + ":" + port;
}

std::string Url::host_header() const {
  std::string h = ipv6() ? "[" + host + "]" : host;
  if (port != (tls() ? "443" : "80")) h += ":" + port;
  return h;
}

std::optional<Url> Url::parse(std::string_view text, std::string* error) {
  auto r = urls::parse_uri(text);
  if (!r) {
    return fail(error,
                "`" + std::string(text) + "` is not an absolute URL (" + r.error().message() + ")");
  }
  return from_view(*r, text, error);
}

std::optional<Url> Url::resolve(std::string_view ref, std::string* error) const {
  std::string base_text = str();  // the view parsed below points into it
  auto base = urls::parse_uri(base_text);
  auto r = urls::parse_uri_reference(ref);
  if (!base || !r) {
    return fail(error, "`" + std::string(ref) + "` is not a URL reference");
  }
  urls::url dest;
  if (auto rr = urls::resolve(*base, *r, dest); !rr) {
    return fail(error, "cannot resolve `" + std::string(ref) + "` against `" + str() + "`");
  }
  // Boost 1.81's resolve() leaves the url's decoded-size bookkeeping wrong after it removes
  // dot segments (a debug assertion fires in its accessors): read the result back from its
  // text instead.
  std::string text(dest.buffer());
  auto again = urls::parse_uri(text);
  if (!again)
    return fail(error, "cannot resolve `" + std::string(ref) + "` against `" + str() + "`");
  return from_view(*again, ref, error);
}

}  // namespace gt::transport
