#include "governance/audit/log_reader.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "governance/audit/records.hpp"

namespace gt::gov::audit {

std::optional<nlohmann::json> decode_payload(std::string_view line) {
  auto r = parse_record(line);
  if (!r) return std::nullopt;
  return std::move(r->payload);
}

namespace {

std::string s(const nlohmann::json& p, const char* name) {
  auto it = p.find(name);
  return it != p.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool flag(const nlohmann::json& p, const char* name) {
  auto it = p.find(name);
  return it != p.end() && it->is_boolean() && it->get<bool>();
}

bool glob_match(const std::string& pattern, const std::string& text) {
  return ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

}  // namespace

bool tail_matches(const nlohmann::json& p, const TailFilter& f) {
  std::string kind = s(p, "kind");
  if (kind == "decision") {
    if (f.denied_only && s(p, "decision") != "deny" && !flag(p, "would_deny")) return false;
    if (!f.tool_glob.empty()) {
      std::string tool = s(p, "tool");
      if (!glob_match(f.tool_glob, tool) && !glob_match(f.tool_glob, s(p, "server") + "/" + tool)) {
        return false;
      }
    }
    return true;
  }
  // Recovery events matter to anyone watching denials; hide them only under a tool filter.
  return kind == "recovery" && f.tool_glob.empty();
}

std::string format_tail_line(const nlohmann::json& p, bool color) {
  auto paint = [&](const char* code, const std::string& text) {
    return color ? std::string("\x1b[") + code + "m" + text + "\x1b[0m" : text;
  };
  std::string ts = s(p, "ts");
  if (ts.size() >= 19) ts = ts.substr(0, 19) + "Z";
  std::string kind = s(p, "kind");
  if (kind == "recovery") {
    std::string what = s(p, "event");
    if (p.contains("denied"))
      what += ": " + p["denied"].dump() + " call(s) denied while the log failed";
    if (p.contains("bytes"))
      what += ": " + p["bytes"].dump() + " byte(s) kept as " + s(p, "evidence");
    return paint("2", ts) + "  " + paint("1;36", "RECOVERY") + "  " + what;
  }
  std::string decision = s(p, "decision");
  std::string label, code;
  if (decision == "deny") {
    label = flag(p, "late") ? "DENY*" : "DENY";
    code = "1;31";
  } else if (flag(p, "would_deny")) {
    label = "WOULD-DENY";
    code = "1;33";
  } else {
    label = "ALLOW";
    code = "32";
  }
  std::string tool = s(p, "server").empty() ? s(p, "tool") : s(p, "server") + "/" + s(p, "tool");
  std::string rule = s(p, "rule_id");
  if (rule.empty()) rule = s(p, "code");
  if (rule.empty()) rule = "-";
  std::string reason = s(p, "reason");
  std::string line = paint("2", ts) + "  " + s(p, "agent") + "  " + paint("1", tool) + "  " +
                     paint(code.c_str(), label) + "  " + paint("36", rule);
  if (!reason.empty()) line += "  " + reason;
  line += "  " + paint("2", "[" + s(p, "id") + "]");
  return line;
}

LogFollower::LogFollower(std::filesystem::path file, bool from_end) : file_(std::move(file)) {
  reopen();
  if (from_end && fd_ >= 0) {
    struct stat st {};
    if (::fstat(fd_, &st) == 0) offset_ = static_cast<std::uint64_t>(st.st_size);
  }
}

LogFollower::~LogFollower() {
  if (fd_ >= 0) ::close(fd_);
}

void LogFollower::reopen() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  offset_ = 0;
  partial_.clear();
  ino_ = 0;
  struct stat st {};
  if (fd_ >= 0 && ::fstat(fd_, &st) == 0) ino_ = st.st_ino;
}

std::vector<std::string> LogFollower::drain() {
  std::vector<std::string> out;
  if (fd_ < 0) return out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(offset_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    offset_ += static_cast<std::uint64_t>(n);
    partial_.append(buf, static_cast<std::size_t>(n));
  }
  std::size_t start = 0;
  for (;;) {
    auto nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    out.push_back(partial_.substr(start, nl - start));
    start = nl + 1;
  }
  partial_.erase(0, start);
  return out;
}

void LogFollower::note_seq(const std::vector<std::string>& lines) {
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (auto r = parse_record(*it)) {
      last_seq_ = r->seq;
      return;
    }
  }
}

std::vector<std::string> LogFollower::poll() {
  std::vector<std::string> out = drain();
  note_seq(out);
  struct stat st {};
  bool replaced = ::stat(file_.c_str(), &st) == 0 && (fd_ < 0 || st.st_ino != ino_);
  if (!replaced) return out;
  // Files rotated since the last poll: every record after the last one returned.
  auto keep_after = [&](const std::string& line) {
    if (!last_seq_) return true;
    auto r = parse_record(line);
    return !r || r->seq > *last_seq_;
  };
  if (file_.filename() == kActiveLogName && last_seq_) {
    std::vector<std::pair<std::uint64_t, std::filesystem::path>> rotated;
    for (const auto& f : log_files_in(file_.parent_path())) {
      std::string name = f.filename().string();
      if (is_rotated_log_name(name))
        rotated.emplace_back(std::stoull(name.substr(6, name.size() - 12)), f);
    }
    for (std::size_t i = 0; i < rotated.size(); ++i) {
      // A file whose successor starts at or before the next seq holds nothing new.
      if (i + 1 < rotated.size() && rotated[i + 1].first <= *last_seq_ + 1) continue;
      LogFollower older(rotated[i].second, false);
      std::vector<std::string> fresh;
      for (auto& l : older.drain()) {
        if (keep_after(l)) fresh.push_back(std::move(l));
      }
      note_seq(fresh);
      for (auto& l : fresh)
        out.push_back(std::move(l));
    }
  }
  reopen();
  auto lines = drain();
  std::vector<std::string> fresh;
  for (auto& l : lines) {
    if (keep_after(l)) fresh.push_back(std::move(l));
  }
  note_seq(fresh);
  for (auto& l : fresh)
    out.push_back(std::move(l));
  return out;
}

}  // namespace gt::gov::audit
