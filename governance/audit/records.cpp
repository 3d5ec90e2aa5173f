#include "governance/audit/records.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <sodium.h>

namespace gt::gov::audit {

namespace fs = std::filesystem;

std::string rotated_log_name(std::uint64_t first_seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "audit-%012llu.jsonl", static_cast<unsigned long long>(first_seq));
  return buf;
}

bool is_rotated_log_name(const std::string& name) {
  if (name.size() < 6 + 6 || name.rfind("audit-", 0) != 0) return false;
  if (name.substr(name.size() - 6) != ".jsonl") return false;
  std::string digits = name.substr(6, name.size() - 12);
  return !digits.empty() &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<fs::path> log_files_in(const fs::path& dir) {
  std::vector<std::pair<std::uint64_t, fs::path>> rotated;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (is_rotated_log_name(name)) {
      rotated.emplace_back(std::stoull(name.substr(6, name.size() - 12)), e.path());
    }
  }
  std::sort(rotated.begin(), rotated.end());
  std::vector<fs::path> out;
  for (auto& r : rotated)
    out.push_back(r.second);
  if (fs::exists(dir / kActiveLogName)) out.push_back(dir / kActiveLogName);
  return out;
}

std::string new_log_id() {
  std::uint8_t raw[16];
  randombytes_buf(raw, sizeof raw);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (auto b : raw) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

bool valid_log_id(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string current_log_id(const fs::path& dir) {
  auto files = log_files_in(dir);
  for (auto f = files.rbegin(); f != files.rend(); ++f) {
    std::ifstream in(*f, std::ios::binary);
    if (!in) continue;
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    const std::streamoff from = size > (1 << 20) ? size - (1 << 20) : 0;
    std::string buf(static_cast<std::size_t>(size - from), '\0');
    in.seekg(from);
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    buf.resize(static_cast<std::size_t>(in.gcount()));
    auto end = buf.rfind('\n');
    if (end == std::string::npos) continue;
    auto start = buf.rfind('\n', end == 0 ? 0 : end - 1);
    start = (start == std::string::npos || end == 0) ? 0 : start + 1;
    if (auto r = parse_record(std::string_view(buf).substr(start, end - start))) return r->log_id;
  }
  return {};
}

std::vector<std::string_view> split_lines(std::string_view buf) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto nl = buf.find('\n', start);
    if (nl == std::string_view::npos) {
      out.push_back(buf.substr(start));
      return out;
    }
    out.push_back(buf.substr(start, nl - start));
    start = nl + 1;
  }
}

}  // namespace gt::gov::audit
