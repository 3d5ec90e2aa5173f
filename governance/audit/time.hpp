// RFC 3339 timestamps in UTC, as written into receipts and keyrings:
// "2025-06-01T12:34:56.789012Z" (always microseconds, always `Z`).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gt::gov::audit {

using Clock = std::chrono::system_clock;

std::string rfc3339_utc(Clock::time_point t);
// Microseconds since the Unix epoch. Accepts any RFC 3339 date-time: fractional seconds of
// any length, `Z`/`z` or a numeric offset. nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view s);
std::int64_t to_micros(Clock::time_point t);

}  // namespace gt::gov::audit
