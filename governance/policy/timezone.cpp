#include "governance/policy/timezone.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace gt::gov::policy {

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yy + (m <= 2));
}

namespace {

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}
int days_in_month(int64_t y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}
int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

// One POSIX TZ rule, e.g. "CET-1CEST,M3.5.0,M10.5.0/3".
struct TimeZone::Rule {
  struct When {
    char kind = 'M';  // 'J' (1..365, no Feb 29), 'N' (0..365), 'M' (month.week.day)
    int n = 0, month = 0, week = 0, wday = 0;
    int64_t time = 7200;  // seconds after local midnight
  };
  std::string std_abbr, dst_abbr;
  int32_t std_off = 0;  // seconds east of UTC
  int32_t dst_off = 0;
  bool has_dst = false;
  When start, end;

  int64_t day_of_year_start(int64_t y, const When& w) const {
    int64_t jan1 = days_from_civil(y, 1, 1);
    switch (w.kind) {
      case 'J': {
        int64_t n = w.n - 1;
        if (is_leap(y) && w.n >= 60) n += 1;
        return jan1 + n;
      }
      case 'N':
        return jan1 + w.n;
      default: {
        int64_t first = days_from_civil(y, static_cast<unsigned>(w.month), 1);
        int wd_first = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01 was Thursday (4)
        int day = 1 + (w.wday - wd_first + 7) % 7 + (w.week - 1) * 7;
        while (day > days_in_month(y, w.month))
          day -= 7;
        return first + day - 1;
      }
    }
  }
  // Unix times at which DST starts and ends in year y.
  void transitions(int64_t y, int64_t& s, int64_t& e) const {
    s = day_of_year_start(y, start) * 86400 + start.time - std_off;
    e = day_of_year_start(y, end) * 86400 + end.time - dst_off;
  }
  bool in_dst(int64_t t) const {
    if (!has_dst) return false;
    int64_t days = floor_div(t, 86400);
    int y, m, d;
    civil_from_days(days, y, m, d);
    int64_t s, e;
    transitions(y, s, e);
    if (s < e) return t >= s && t < e;
    return !(t >= e && t < s);
  }
};

namespace {

// --- POSIX TZ string parsing ---
struct TzStr {
  const std::string& s;
  size_t i = 0;
  bool eof() const { return i >= s.size(); }
  bool name(std::string& out) {
    if (eof()) return false;
    if (s[i] == '<') {
      size_t e = s.find('>', i);
      if (e == std::string::npos) return false;
      out = s.substr(i + 1, e - i - 1);
      i = e + 1;
      return out.size() >= 1;
    }
    size_t b = i;
    while (!eof() && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
      ++i;
    out = s.substr(b, i - b);
    return out.size() >= 3;
  }
  bool num(int& v) {
    if (eof() || s[i] < '0' || s[i] > '9') return false;
    v = 0;
    while (!eof() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i] - '0');
      if (v > 1000000) return false;
      ++i;
    }
    return true;
  }
  // [+-]hh[:mm[:ss]] → seconds
  bool hms(int64_t& out) {
    int sign = 1;
    if (!eof() && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
    int h = 0, m = 0, sec = 0;
    if (!num(h)) return false;
    if (!eof() && s[i] == ':') {
      ++i;
      if (!num(m)) return false;
      if (!eof() && s[i] == ':') {
        ++i;
        if (!num(sec)) return false;
      }
    }
    if (h > 167 || m > 59 || sec > 59) return false;
    out = sign * (static_cast<int64_t>(h) * 3600 + m * 60 + sec);
    return true;
  }
  bool when(TimeZone::Rule::When& w) {
    if (eof()) return false;
    if (s[i] == 'M') {
      ++i;
      w.kind = 'M';
      if (!num(w.month) || eof() || s[i] != '.') return false;
      ++i;
      if (!num(w.week) || eof() || s[i] != '.') return false;
      ++i;
      if (!num(w.wday)) return false;
      if (w.month < 1 || w.month > 12 || w.week < 1 || w.week > 5 || w.wday > 6) return false;
    } else if (s[i] == 'J') {
      ++i;
      w.kind = 'J';
      if (!num(w.n) || w.n < 1 || w.n > 365) return false;
    } else {
      w.kind = 'N';
      if (!num(w.n) || w.n > 365) return false;
    }
    w.time = 7200;
    if (!eof() && s[i] == '/') {
      ++i;
      if (!hms(w.time)) return false;
    }
    return true;
  }
};

std::shared_ptr<TimeZone::Rule> parse_posix(const std::string& s) {
  auto r = std::make_shared<TimeZone::Rule>();
  TzStr p{s};
  int64_t off = 0;
  if (!p.name(r->std_abbr) || !p.hms(off)) return nullptr;
  r->std_off = static_cast<int32_t>(-off);
  if (p.eof()) return r;
  if (!p.name(r->dst_abbr)) return nullptr;
  r->has_dst = true;
  r->dst_off = r->std_off + 3600;
  if (!p.eof() && p.s[p.i] != ',') {
    if (!p.hms(off)) return nullptr;
    r->dst_off = static_cast<int32_t>(-off);
  }
  if (p.eof()) {
    // No rule given: POSIX default is US rules; tzdata always gives one. Treat as M3.2.0,M11.1.0.
    r->start = {'M', 0, 3, 2, 0, 7200};
    r->end = {'M', 0, 11, 1, 0, 7200};
    return r;
  }
  if (p.s[p.i] != ',') return nullptr;
  ++p.i;
  if (!p.when(r->start)) return nullptr;
  if (p.eof() || p.s[p.i] != ',') return nullptr;
  ++p.i;
  if (!p.when(r->end)) return nullptr;
  if (!p.eof()) return nullptr;
  return r;
}

bool parse_fixed(const std::string& name, int& offset) {
  std::string s = name;
  if (s == "UTC" || s == "Z" || s == "GMT" || s == "Etc/UTC") {
    offset = 0;
    return true;
  }
  if (s.rfind("UTC", 0) == 0) s = s.substr(3);
  if (s.empty() || (s[0] != '+' && s[0] != '-')) return false;
  int sign = s[0] == '-' ? -1 : 1;
  int h = 0, m = 0;
  size_t i = 1;
  auto digits = [&](int& v, size_t n) {
    v = 0;
    for (size_t k = 0; k < n; ++k, ++i) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  if (!digits(h, 2)) return false;
  if (i < s.size()) {
    if (s[i] == ':') ++i;
    if (!digits(m, 2)) return false;
  }
  if (i != s.size() || h > 18 || m > 59) return false;
  offset = sign * (h * 3600 + m * 60);
  return true;
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
int64_t be64(const unsigned char* p) {
  uint64_t v = 0;
  for (int k = 0; k < 8; ++k)
    v = (v << 8) | p[k];
  return static_cast<int64_t>(v);
}

}  // namespace

struct TzParser {
  static bool parse(const std::string& data, TimeZone& tz, std::string& err) {
    const auto* b = reinterpret_cast<const unsigned char*>(data.data());
    size_t n = data.size();
    auto header = [&](size_t at, uint32_t c[6]) {
      if (at + 44 > n || data.compare(at, 4, "TZif") != 0) return false;
      for (int k = 0; k < 6; ++k)
        c[k] = be32(b + at + 20 + 4 * k);
      return true;
    };
    uint32_t c[6];
    if (!header(0, c)) {
      err = "not a tzif file";
      return false;
    }
    char version = data[4];
    auto block_size = [&](uint32_t cc[6], size_t tsz) {
      // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
      return static_cast<size_t>(cc[3]) * tsz + cc[3] + static_cast<size_t>(cc[4]) * 6 + cc[5] +
             static_cast<size_t>(cc[2]) * (tsz + 4) + cc[1] + cc[0];
    };
    size_t at = 44;
    size_t tsz = 4;
    if (version >= '2') {
      at += block_size(c, 4);
      if (!header(at, c)) {
        err = "truncated tzif file";
        return false;
      }
      at += 44;
      tsz = 8;
    }
    if (c[4] == 0 || c[4] > 256 || at + block_size(c, tsz) > n) {
      err = "truncated tzif file";
      return false;
    }
    size_t timecnt = c[3], typecnt = c[4], charcnt = c[5];
    const unsigned char* p = b + at;
    tz.transitions_.resize(timecnt);
    for (size_t k = 0; k < timecnt; ++k) {
      tz.transitions_[k] = tsz == 8 ? be64(p + 8 * k) : static_cast<int32_t>(be32(p + 4 * k));
    }
    p += timecnt * tsz;
    tz.transition_types_.assign(p, p + timecnt);
    p += timecnt;
    const unsigned char* types = p;
    const char* chars = reinterpret_cast<const char*>(p + typecnt * 6);
    tz.types_.resize(typecnt);
    for (size_t k = 0; k < typecnt; ++k) {
      auto& t = tz.types_[k];
      t.offset = static_cast<int32_t>(be32(types + 6 * k));
      t.dst = types[6 * k + 4] != 0;
      size_t idx = types[6 * k + 5];
      if (idx < charcnt) {
        const char* s = chars + idx;
        size_t len = 0;
        while (idx + len < charcnt && s[len])
          ++len;
        t.abbr.assign(s, len);
      }
    }
    for (auto ty : tz.transition_types_) {
      if (ty >= typecnt) {
        err = "corrupt tzif file";
        return false;
      }
    }
    at += block_size(c, tsz);
    if (version >= '2' && at < n && data[at] == '\n') {
      size_t e = data.find('\n', at + 1);
      if (e != std::string::npos && e > at + 1) {
        tz.footer_ = parse_posix(data.substr(at + 1, e - at - 1));
      }
    }
    tz.fixed_ = false;
    return true;
  }
};

std::shared_ptr<const TimeZone> TimeZone::utc() {
  static auto z = [] {
    auto t = std::make_shared<TimeZone>();
    t->name_ = "UTC";
    return std::shared_ptr<const TimeZone>(t);
  }();
  return z;
}

std::shared_ptr<const TimeZone> TimeZone::load(const std::string& name, std::string& error,
                                               const std::string& zoneinfo_dir) {
  int off = 0;
  if (parse_fixed(name, off)) {
    auto t = std::make_shared<TimeZone>();
    t->name_ = name;
    t->fixed_offset_ = off;
    if (off != 0) {
      int a = off < 0 ? -off : off;
      char buf[16];
      std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, (a % 3600) / 60);
      t->fixed_abbr_ = buf;
    }
    return t;
  }
  // Names are relative paths inside the zoneinfo directory: letters, digits, `_+-/`.
  bool ok =
      !name.empty() && name.size() < 64 && name[0] != '/' && name.find("..") == std::string::npos;
  for (char ch : name) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '+' || ch == '-' || ch == '/')) {
      ok = false;
    }
  }
  if (!ok) {
    error = "invalid time zone name `" + name + "`";
    return nullptr;
  }
  std::string dir = zoneinfo_dir;
  if (dir.empty()) {
    const char* env = std::getenv("TZDIR");
    dir = env && *env ? env : "/usr/share/zoneinfo";
  }
  std::ifstream in(dir + "/" + name, std::ios::binary);
  if (!in) {
    error = "unknown time zone `" + name + "` (no file in `" + dir + "`)";
    return nullptr;
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto t = std::make_shared<TimeZone>();
  t->name_ = name;
  std::string perr;
  if (!TzParser::parse(data, *t, perr)) {
    error = "cannot read time zone `" + name + "`: " + perr;
    return nullptr;
  }
  return t;
}

int TimeZone::offset_at(int64_t t, std::string* abbr) const {
  if (fixed_) {
    if (abbr) *abbr = fixed_abbr_;
    return fixed_offset_;
  }
  if (footer_ && (transitions_.empty() || t >= transitions_.back())) {
    bool dst = footer_->in_dst(t);
    if (abbr) *abbr = dst ? footer_->dst_abbr : footer_->std_abbr;
    return dst ? footer_->dst_off : footer_->std_off;
  }
  const Type* ty = nullptr;
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  if (it == transitions_.begin()) {
    // Before the first transition: the first non-DST type (RFC 8536 §3.2), else type 0.
    for (const auto& x : types_) {
      if (!x.dst) {
        ty = &x;
        break;
      }
    }
    if (!ty) ty = &types_[0];
  } else {
    ty = &types_[transition_types_[static_cast<size_t>(it - transitions_.begin() - 1)]];
  }
  if (abbr) *abbr = ty->abbr;
  return ty->offset;
}

LocalTime TimeZone::local(std::chrono::system_clock::time_point tp) const {
  int64_t t = std::chrono::duration_cast<std::chrono::seconds>(tp.time_since_epoch()).count();
  if (tp.time_since_epoch() <
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::seconds(t))) {
    --t;  // floor for negative sub-second times
  }
  LocalTime lt;
  lt.utc_offset = offset_at(t, &lt.abbreviation);
  int64_t l = t + lt.utc_offset;
  int64_t days = floor_div(l, 86400);
  int64_t secs = l - days * 86400;
  civil_from_days(days, lt.year, lt.month, lt.day);
  lt.hour = static_cast<int>(secs / 3600);
  lt.minute = static_cast<int>((secs % 3600) / 60);
  lt.second = static_cast<int>(secs % 60);
  lt.weekday = static_cast<int>(((days % 7) + 11) % 7);
  return lt;
}

}  // namespace gt::gov::policy
