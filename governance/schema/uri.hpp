// URI reference resolution (RFC 3986 section 5.2) for $id and $ref. Hand-written: Boost.URL
// 1.81 is packaged by Debian without its compiled library, and only resolution, fragment
// splitting and percent-decoding are needed here.
#pragma once

#include <string>
#include <string_view>

namespace gt::gov::schema::detail {

// Resolves `ref` against the absolute `base`. Dot segments are removed.
std::string resolve_uri(std::string_view base, std::string_view ref);

// Splits "uri#fragment" at the first '#'. `fragment` excludes the '#'.
void split_fragment(std::string_view uri, std::string& without, std::string& fragment);

// %XX decoding; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

// True when `uri` has a scheme (an absolute URI or URN).
bool has_scheme(std::string_view uri);

}  // namespace gt::gov::schema::detail
