// http(s) URLs of remote MCP servers: parsing and resolving a reference against a base (the
// legacy SSE transport's `endpoint` event). Only what an HTTP client needs: scheme, host,
// port, and the request target (path and query; a fragment is dropped). Userinfo
// (`user:pass@`) is refused: credentials belong in configured headers, not in URLs that get
// logged. Parsing and RFC 3986 resolution are Boost.URL's (compiled into gt_transport from
// its header-only sources, transport/boost_url.cpp: Debian ships no libboost-url binary).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gt::transport {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6 literals
  std::string port;    // always set (80 / 443 by default)
  std::string target;  // path and query, at least "/"

  bool tls() const { return scheme == "https"; }
  bool ipv6() const { return host.find(':') != std::string::npos; }
  // scheme://host:port (the port always present): what "same origin" compares.
  std::string origin() const;
  // The Host header value: the port only when it is not the scheme's default.
  std::string host_header() const;
  std::string str() const { return scheme + "://" + host_header() + target; }

  // Parses an absolute http(s) URL; on failure returns nullopt and sets *error.
  static std::optional<Url> parse(std::string_view text, std::string* error = nullptr);
  // Resolves a reference (absolute URL, `//host/...`, `/path`, `path`, `?query`) against
  // this URL, as RFC 3986 section 5.2 says (dot segments removed).
  std::optional<Url> resolve(std::string_view ref, std::string* error = nullptr) const;
};

}  // namespace gt::transport
