// Time zones from the system tz database (TZif + POSIX footer rules) and fixed offsets.
#include <catch2/catch.hpp>

#include "governance/policy/options.hpp"
#include "governance/policy/timezone.hpp"
#include "helpers.hpp"

using namespace gt::gov::policy;

namespace {
std::chrono::system_clock::time_point t(const char* s) {
  return parse_rfc3339(s).value();
}
}  // namespace

TEST_CASE("zoneinfo zones follow DST, past and future", "[timezone]") {
  std::string err;
  auto berlin = TimeZone::load("Europe/Berlin", err);
  REQUIRE(berlin);
  CHECK(berlin->local(t("2025-01-06T12:00:00Z")).hour == 13);
  CHECK(berlin->local(t("2025-07-01T12:00:00Z")).hour == 14);
  std::string abbr;
  CHECK(berlin->offset_at(std::chrono::duration_cast<std::chrono::seconds>(
                              t("2025-07-01T12:00:00Z").time_since_epoch())
                              .count(),
                          &abbr) == 7200);
  CHECK(abbr == "CEST");
  // DST starts 2025-03-30 01:00 UTC; far future uses the POSIX footer rule.
  CHECK(berlin->local(t("2025-03-30T00:59:59Z")).utc_offset == 3600);
  CHECK(berlin->local(t("2025-03-30T01:00:00Z")).utc_offset == 7200);
  CHECK(berlin->local(t("2091-07-01T00:00:00Z")).utc_offset == 7200);
  CHECK(berlin->local(t("2091-12-01T00:00:00Z")).utc_offset == 3600);
  auto ny = TimeZone::load("America/New_York", err);
  REQUIRE(ny);
  auto lt = ny->local(t("2025-11-02T05:59:59Z"));  // 01:59:59 EDT
  CHECK(lt.hour == 1);
  CHECK(lt.utc_offset == -4 * 3600);
  CHECK(ny->local(t("2025-11-02T06:00:00Z")).utc_offset == -5 * 3600);
  auto syd = TimeZone::load("Australia/Sydney", err);
  REQUIRE(syd);
  CHECK(syd->local(t("2040-01-15T00:00:00Z")).utc_offset == 11 * 3600);  // southern summer
  CHECK(syd->local(t("2040-07-15T00:00:00Z")).utc_offset == 10 * 3600);
}

TEST_CASE("local fields: date, weekday, across midnight", "[timezone]") {
  std::string err;
  auto tokyo = TimeZone::load("Asia/Tokyo", err);
  REQUIRE(tokyo);
  auto lt = tokyo->local(t("2025-01-05T20:30:00Z"));  // Sunday UTC → Monday 05:30 JST
  CHECK(lt.year == 2025);
  CHECK(lt.month == 1);
  CHECK(lt.day == 6);
  CHECK(lt.weekday == 1);
  CHECK(lt.hour == 5);
  CHECK(lt.minute == 30);
}

TEST_CASE("fixed offsets and bad names", "[timezone]") {
  std::string err;
  auto z = TimeZone::load("+05:30", err);
  REQUIRE(z);
  CHECK(z->local(t("2025-01-06T00:00:00Z")).hour == 5);
  CHECK(z->local(t("2025-01-06T00:00:00Z")).minute == 30);
  REQUIRE(TimeZone::load("UTC-08:00", err));
  CHECK_FALSE(TimeZone::load("../../etc/passwd", err));
  CHECK(err == "invalid time zone name `../../etc/passwd`");
  CHECK_FALSE(TimeZone::load("Mars/Olympus", err));
  CHECK(err.rfind("unknown time zone `Mars/Olympus`", 0) == 0);
}

TEST_CASE("env sees the configured zone", "[timezone]") {
  std::string err;
  auto berlin = TimeZone::load("Europe/Berlin", err);
  REQUIRE(berlin);
  auto now = t("2025-01-06T16:30:00Z");  // 17:30 in Berlin
  auto j = gt_test::run_expr("[env.hour, env.time_of_day, env.timezone, env.utc_offset]",
                             gt_test::json::object(), nullptr, nullptr, now, berlin.get());
  CHECK(j == gt_test::json::parse(R"([17, "17:30:00", "Europe/Berlin", 3600])"));
}

TEST_CASE("rfc 3339 parsing", "[timezone]") {
  CHECK(parse_rfc3339("2025-01-06T12:00:00Z") == gt_test::at(1736164800));
  CHECK(parse_rfc3339("2025-01-06T13:00:00+01:00") == gt_test::at(1736164800));
  CHECK(parse_rfc3339("2025-01-06T12:00:00.5Z").has_value());
  CHECK_FALSE(parse_rfc3339("2025-01-06 12:00"));
  CHECK_FALSE(parse_rfc3339("2025-13-06T12:00:00Z"));
}
