// Time zones for `env` (time of day, weekday, date) without any network.
//
// libstdc++ 12 (Debian 12) does not implement C++20 std::chrono::tzdb/zoned_time (added in
// GCC 14), and Debian ships no packaged C++ tz library headers (abseil's cctz headers are not
// installed). So this file reads the system tz database itself: /usr/share/zoneinfo/<Name>
// in TZif format (RFC 8536), versions 2+ (64-bit transition table) plus the POSIX TZ footer
// rule for instants after the last transition (Debian's "slim" files depend on it). A fixed
// offset such as `UTC`, `+05:30` or `UTC-08:00` is also accepted and needs no file.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gt::gov::policy {

struct LocalTime {
  int year = 1970, month = 1, day = 1;  // civil date in the zone
  int hour = 0, minute = 0, second = 0;
  int weekday = 4;           // 0 = Sunday … 6 = Saturday (CEL getDayOfWeek)
  int utc_offset = 0;        // seconds east of UTC
  std::string abbreviation;  // e.g. "CET"
};

class TimeZone {
 public:
  // Loads `name` ("UTC", "Europe/Berlin", "+02:00", "UTC-08:00"). On error returns nullptr
  // and sets `error` (lowercase, one line). `zoneinfo_dir` defaults to /usr/share/zoneinfo
  // (or $TZDIR when set).
  static std::shared_ptr<const TimeZone> load(const std::string& name, std::string& error,
                                              const std::string& zoneinfo_dir = "");
  static std::shared_ptr<const TimeZone> utc();

  const std::string& name() const { return name_; }
  // Offset (seconds east of UTC) and abbreviation in effect at unix time `t`.
  int offset_at(int64_t t, std::string* abbreviation = nullptr) const;
  LocalTime local(std::chrono::system_clock::time_point tp) const;

  struct Rule;  // POSIX TZ footer rule (implementation detail)

 private:
  struct Type {
    int32_t offset = 0;
    bool dst = false;
    std::string abbr;
  };
  std::string name_;
  std::vector<int64_t> transitions_;
  std::vector<uint8_t> transition_types_;
  std::vector<Type> types_;
  std::shared_ptr<const Rule> footer_;  // may be null
  int fixed_offset_ = 0;
  std::string fixed_abbr_ = "UTC";
  bool fixed_ = true;

  friend struct TzParser;
};

// Civil date helpers (Howard Hinnant's algorithms, public domain), exposed for tests.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int& y, int& m, int& d);

}  // namespace gt::gov::policy
