// `format` checks, used when Options::format_assertion is on. Hand-written parsers (no
// regex at all): each is a linear scan of the string, following the RFC each format names.
#pragma once

#include <cstdint>
#include <string_view>

namespace gt::gov::schema::detail {

enum class Format : std::uint8_t {
  None,  // unknown or annotation-only format
  DateTime,
  Date,
  Time,
  Email,
  Hostname,
  Ipv4,
  Ipv6,
  Uri,
  Uuid,
};

Format format_from_name(std::string_view name);
bool check_format(Format f, std::string_view s);

bool is_date(std::string_view s);       // RFC 3339 full-date
bool is_time(std::string_view s);       // RFC 3339 full-time (offset required)
bool is_date_time(std::string_view s);  // RFC 3339 date-time
bool is_email(std::string_view s);      // RFC 5321 Mailbox (dot-atom or quoted local part)
bool is_hostname(std::string_view s);   // RFC 1123 host name
bool is_ipv4(std::string_view s);       // dotted quad, no leading zeros
bool is_ipv6(std::string_view s);       // RFC 4291 text form
bool is_uri(std::string_view s);        // RFC 3986 URI (absolute, with scheme)
bool is_uuid(std::string_view s);       // RFC 4122 8-4-4-4-12 hex

}  // namespace gt::gov::schema::detail
