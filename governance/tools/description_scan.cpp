#include "governance/tools/description_scan.hpp"

#include <re2/re2.h>

#include <cstdint>
#include <memory>

namespace gt::gov::tools {

namespace {

// Instruction-like markup and phrases. Case-insensitive; RE2, so linear in the text.
const RE2& markup_re() {
  static const RE2 re(
      "(?i)(<\\s*/?\\s*(?:important|instructions?|system|secret|hidden|admin|prompt|context|"
      "note_to_(?:ai|assistant|model))\\b[^>]{0,64}>"
      "|\\b(?:ignore|disregard|forget)\\s+(?:all\\s+|any\\s+)?(?:the\\s+)?(?:previous|prior|"
      "above|earlier|other)\\s+(?:instructions?|rules|directions)"
      "|\\bdo\\s+not\\s+(?:tell|mention|inform|reveal|show|notify)(?:\\s+\\w+){0,2}?\\s+(?:the\\s+)"
      "?"
      "user"
      "|\\b(?:without|never)\\s+(?:telling|informing|notifying|asking)\\s+(?:the\\s+)?user"
      "|\\bbefore\\s+(?:using|calling|invoking)\\s+(?:this|any\\s+other|the)\\s+tool"
      "|\\byou\\s+(?:must|should|need\\s+to)\\s+(?:first\\s+|always\\s+)?(?:call|read|run|use|"
      "invoke|send|include|pass)\\b"
      "|\\b(?:system|developer)\\s+prompt\\b)");
  return re;
}

// Credentials and where they are usually kept.
const RE2& secret_re() {
  static const RE2 re(
      "(?i)(~?/?\\.ssh\\b|\\bid_(?:rsa|dsa|ecdsa|ed25519)\\b|/etc/(?:passwd|shadow)\\b"
      "|\\.aws/credentials|(?:^|[^\\w.])\\.env\\b|\\bmcp\\.json\\b|claude_desktop_config"
      "|\\.netrc\\b|\\.npmrc\\b|\\bprivate[ _-]?keys?\\b|\\bsecret[ _-]?keys?\\b"
      "|\\bpasswords?\\b|\\bapi[ _-]?keys?\\b|\\baccess[ _-]?tokens?\\b|\\bseed\\s+phrase\\b)");
  return re;
}

bool word_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string excerpt_of(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= 80) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string code_point_name(std::uint32_t cp) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = "U+";
  int digits = cp > 0xFFFF ? 5 : 4;
  for (int i = digits - 1; i >= 0; --i)
    out += hex[(cp >> (4 * i)) & 15];
  return out;
}

struct Sink {
  ScanReport& out;
  const std::string& where;
  void add(FindingKind k, std::size_t offset, std::string excerpt) {
    if (out.findings.size() >= kMaxFindings) {
      ++out.more;
      return;
    }
    out.findings.push_back(Finding{k, where, offset, std::move(excerpt)});
  }
};

enum class CharClass { Normal, Tag, Invisible, Bidi };

CharClass classify(std::uint32_t cp) {
  if (cp >= 0xE0000 && cp <= 0xE007F) return CharClass::Tag;
  if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) return CharClass::Bidi;
  if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7F ||
      (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || cp == 0x34F || cp == 0x61C || cp == 0x115F ||
      cp == 0x1160 || cp == 0x17B4 || cp == 0x17B5 || cp == 0x180E ||
      (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0x3164 ||
      (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF || cp == 0xFFA0 ||
      (cp >= 0xFFF0 && cp <= 0xFFF8) || (cp >= 0xE0100 && cp <= 0xE01EF) ||
      (cp >= 0x1D173 && cp <= 0x1D17A))
    return CharClass::Invisible;
  return CharClass::Normal;
}

// Decodes one UTF-8 sequence at s[i]; 0 length for an invalid one.
std::size_t decode(std::string_view s, std::size_t i, std::uint32_t& cp) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  static const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Invisible and bidi characters, a run of one class reported once. A run of tag characters is
// shown as the ASCII it spells, since that is the hidden message.
void scan_chars(std::string_view text, Sink& sink) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint32_t cp = 0;
    std::size_t n = decode(text, i, cp);
    if (n == 0) {
      sink.add(FindingKind::Invisible, i,
               "bytes that are not UTF-8: " + excerpt_of(text.substr(i, 4)));
      // Skip the rest of the invalid run.
      while (i < text.size() && decode(text, i, cp) == 0)
        ++i;
      continue;
    }
    CharClass c = classify(cp);
    if (c == CharClass::Normal) {
      i += n;
      continue;
    }
    std::size_t start = i, count = 0;
    std::string spelled;
    std::uint32_t first = cp;
    while (i < text.size()) {
      std::size_t m = decode(text, i, cp);
      if (m == 0 || classify(cp) != c) break;
      if (c == CharClass::Tag && cp >= 0xE0020 && cp <= 0xE007E && spelled.size() < 64)
        spelled += static_cast<char>(cp - 0xE0000);
      ++count;
      i += m;
    }
    std::string what = std::to_string(count) + " character" + (count == 1 ? "" : "s") + " from " +
                       code_point_name(first);
    if (c == CharClass::Tag) {
      sink.add(FindingKind::Invisible, start,
               "Unicode tag characters (" + what + ") spelling \"" + excerpt_of(spelled) + "\"");
    } else if (c == CharClass::Bidi) {
      sink.add(FindingKind::Bidi, start, "bidirectional control (" + what + ")");
    } else {
      sink.add(FindingKind::Invisible, start, "invisible character (" + what + ")");
    }
  }
}

void scan_re(std::string_view text, const RE2& re, FindingKind kind, Sink& sink) {
  re2::StringPiece input(text.data(), text.size());
  re2::StringPiece m;
  std::size_t pos = 0;
  while (pos <= text.size() && re.Match(input, pos, text.size(), RE2::UNANCHORED, &m, 1)) {
    auto at = static_cast<std::size_t>(m.data() - text.data());
    sink.add(kind, at, excerpt_of(std::string_view(m.data(), m.size())));
    pos = at + (m.empty() ? 1 : m.size());
    if (sink.out.findings.size() >= kMaxFindings) break;
  }
}

// A tool name worth looking for in prose: at least 4 bytes, and not a plain lowercase word of
// under 8 letters (`echo`, `fetch`, `search` are words first, tool names second).
bool distinctive(std::string_view name) {
  if (name.size() < 4) return false;
  if (name.size() >= 8) return true;
  for (unsigned char c : name)
    if (c < 'a' || c > 'z') return true;
  return false;
}

std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

struct Walk {
  const ToolNames& others;
  std::string_view self;
  ScanReport& out;
  std::size_t strings = 0, bytes = 0;

  bool budget(std::size_t n) {
    if (strings >= kMaxStrings || bytes + n > kMaxBytes) {
      out.truncated = true;
      return false;
    }
    ++strings;
    bytes += n;
    return true;
  }

  void node(const nlohmann::json& j, const std::string& where, std::size_t depth) {
    if (depth > kMaxDepth) {
      out.truncated = true;
      return;
    }
    if (j.is_string()) {
      const auto& s = j.get_ref<const std::string&>();
      if (budget(s.size())) scan_text(s, where, others, out, self);
    } else if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) {
        std::string child = where + "/" + pointer_token(it.key());
        if (depth == 0 && (it.key() == "name" || it.key() == "uri" || it.key() == "mimeType")) {
          continue;
        }
        if (budget(it.key().size())) {
          Sink sink{out, child};
          scan_chars(it.key(), sink);
        }
        node(*it, child, depth + 1);
      }
    } else if (j.is_array()) {
      std::size_t i = 0;
      for (const auto& e : j)
        node(e, where + "/" + std::to_string(i++), depth + 1);
    }
  }
};

}  // namespace

std::string_view to_string(FindingKind k) {
  switch (k) {
    case FindingKind::Invisible:
      return "invisible";
    case FindingKind::Bidi:
      return "bidi";
    case FindingKind::Markup:
      return "markup";
    case FindingKind::Secret:
      return "secret";
    case FindingKind::ToolReference:
      return "tool-reference";
  }
  return "invisible";
}

// Where the names of a ToolNames occur in one text, as whole words (not inside a longer run
// of letters, digits, `_` and `-`), the first occurrence of each, in the names' order.
struct NameScan {
  static void run(const ToolNames& n, std::string_view text, std::string_view self, Sink& sink) {
    std::vector<std::pair<std::size_t, std::size_t>> hits;  // (name index, offset)
    if (!n.word_.empty()) {
      for (std::size_t i = 0; i < text.size();) {
        if (!word_char(static_cast<unsigned char>(text[i]))) {
          ++i;
          continue;
        }
        std::size_t end = i;
        while (end < text.size() && word_char(static_cast<unsigned char>(text[end])))
          ++end;
        if (auto it = n.word_.find(text.substr(i, end - i)); it != n.word_.end())
          hits.emplace_back(it->second, i);
        i = end;
      }
    }
    for (std::size_t idx : n.punctuated_) {
      const auto& name = n.names_[idx];
      for (std::size_t at = text.find(name); at != std::string_view::npos;
           at = text.find(name, at + 1)) {
        bool before = at > 0 && word_char(static_cast<unsigned char>(text[at - 1]));
        std::size_t end = at + name.size();
        bool after = end < text.size() && word_char(static_cast<unsigned char>(text[end]));
        if (before || after) continue;
        hits.emplace_back(idx, at);
        break;
      }
    }
    // Once per name and string, in the names' order (stable: the first occurrence of each).
    std::stable_sort(hits.begin(), hits.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t k = 0; k < hits.size(); ++k) {
      if (k > 0 && hits[k].first == hits[k - 1].first) continue;
      const auto& name = n.names_[hits[k].first];
      if (name == self) continue;
      sink.add(FindingKind::ToolReference, hits[k].second,
               "names the tool `" + excerpt_of(name) + "`");
    }
  }
};

void ToolNames::add(const std::string& name) {
  if (!distinctive(name)) return;
  bool word = true;
  for (unsigned char c : name)
    word = word && word_char(c);
  if (word) {
    if (word_.count(name)) return;
  } else {
    if (punctuated_.size() >= kMaxPunctuatedNames) return;
    for (auto i : punctuated_)
      if (names_[i] == name) return;
  }
  names_.push_back(name);
  if (word)
    word_.emplace(names_.back(), names_.size() - 1);
  else
    punctuated_.push_back(names_.size() - 1);
}

void scan_text(std::string_view text, const std::string& where, const ToolNames& other_tools,
               ScanReport& out, std::string_view self) {
  Sink sink{out, where};
  scan_chars(text, sink);
  scan_re(text, markup_re(), FindingKind::Markup, sink);
  scan_re(text, secret_re(), FindingKind::Secret, sink);
  NameScan::run(other_tools, text, self, sink);
}

void scan_text(std::string_view text, const std::string& where,
               const std::vector<std::string>& other_tools, ScanReport& out) {
  scan_text(text, where, ToolNames(other_tools), out);
}

ScanReport scan_definition(const nlohmann::json& definition, const ToolNames& other_tools,
                           std::string_view self) {
  ScanReport out;
  Walk w{other_tools, self, out};
  w.node(definition, "", 0);
  return out;
}

ScanReport scan_definition(const nlohmann::json& definition,
                           const std::vector<std::string>& other_tools) {
  return scan_definition(definition, ToolNames(other_tools));
}

}  // namespace gt::gov::tools
