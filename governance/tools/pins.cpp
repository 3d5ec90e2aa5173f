#include "governance/tools/pins.hpp"

#include <stdexcept>

#include "governance/audit/jcs.hpp"
#include "governance/audit/sha256.hpp"
#include "governance/audit/time.hpp"

namespace gt::gov::tools {

namespace {

constexpr std::string_view kFormat = "glasstape.pins/1";
const char* const kPinned[] = {"name",        "title",        "description",
                               "inputSchema", "outputSchema", "annotations"};

bool hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string shown(const nlohmann::json& v) {
  std::string d = v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  std::string out;
  for (unsigned char c : d) {
    if (out.size() >= 120) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string token(const std::string& key) {
  std::string out;
  for (char c : key)
    out += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
  return out;
}

void diff_into(const nlohmann::json& a, const nlohmann::json& b, const std::string& at,
               std::vector<std::string>& out, std::size_t depth) {
  if (out.size() > kMaxDiffLines) return;
  if (a == b) return;
  if (a.is_object() && b.is_object() && depth < 64) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      std::string p = at + "/" + token(it.key());
      auto other = b.find(it.key());
      if (other == b.end()) {
        out.push_back("removed " + p + ": " + shown(*it));
      } else {
        diff_into(*it, *other, p, out, depth + 1);
      }
      if (out.size() > kMaxDiffLines) return;
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key()))
        out.push_back("added " + at + "/" + token(it.key()) + ": " + shown(*it));
      if (out.size() > kMaxDiffLines) return;
    }
    return;
  }
  out.push_back("changed " + (at.empty() ? std::string("/") : at) + ": " + shown(a) + " -> " +
                shown(b));
}

}  // namespace

std::optional<PinMode> parse_pin_mode(std::string_view s) {
  if (s == "off") return PinMode::Off;
  if (s == "warn") return PinMode::Warn;
  if (s == "enforce") return PinMode::Enforce;
  if (s == "approve-new") return PinMode::ApproveNew;
  return std::nullopt;
}

std::string_view to_string(PinMode m) {
  switch (m) {
    case PinMode::Off:
      return "off";
    case PinMode::Warn:
      return "warn";
    case PinMode::Enforce:
      return "enforce";
    case PinMode::ApproveNew:
      return "approve-new";
  }
  return "off";
}

nlohmann::json pinned_members(const nlohmann::json& tool) {
  nlohmann::json out = nlohmann::json::object();
  if (!tool.is_object()) return out;
  for (const char* k : kPinned) {
    auto it = tool.find(k);
    if (it != tool.end()) out[k] = *it;
  }
  return out;
}

std::string definition_hash(const nlohmann::json& tool) {
  if (!tool.is_object()) throw std::runtime_error("a tool definition must be a JSON object");
  return audit::sha256_hex(audit::canonicalize(pinned_members(tool)));
}

const Pin* PinSet::find(const std::string& tool) const {
  auto it = pins_.find(tool);
  return it == pins_.end() ? nullptr : &it->second;
}

PinStatus PinSet::check(const nlohmann::json& tool, std::string* hash) const {
  std::string h = definition_hash(tool);
  auto status = check(tool.value("name", std::string()), h);
  if (hash) *hash = std::move(h);
  return status;
}

PinStatus PinSet::check(const std::string& tool, const std::string& sha256) const {
  const Pin* p = find(tool);
  if (!p) return PinStatus::New;
  return p->sha256 == sha256 ? PinStatus::Same : PinStatus::Changed;
}

bool PinSet::pin(const nlohmann::json& tool, std::chrono::system_clock::time_point now) {
  std::string name = tool.value("name", std::string());
  if (!pins_.count(name) && pins_.size() >= kMaxPinnedTools) return false;
  Pin p;
  p.sha256 = definition_hash(tool);
  p.pinned_at = audit::rfc3339_utc(now);
  p.definition = pinned_members(tool);
  pins_[name] = std::move(p);
  return true;
}

bool PinSet::remove(const std::string& tool) {
  return pins_.erase(tool) > 0;
}

std::string PinSet::to_text() const {
  nlohmann::json tools = nlohmann::json::object();
  for (const auto& [name, p] : pins_)
    tools[name] = {{"sha256", p.sha256}, {"pinned_at", p.pinned_at}, {"definition", p.definition}};
  nlohmann::json doc = {{"format", kFormat}, {"server", server_}, {"tools", tools}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::strict) + "\n";
}

std::optional<PinSet> PinSet::parse(std::string_view text, const std::string& where,
                                    std::string& why) {
  auto fail = [&](const std::string& m) {
    why = where + ": " + m;
    return std::nullopt;
  };
  if (text.size() > kMaxPinFileBytes)
    return fail("larger than " + std::to_string(kMaxPinFileBytes) + " bytes");
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return fail("not a JSON object");
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "format" && it.key() != "server" && it.key() != "tools")
      return fail("unknown member `" + it.key() + "`");
  if (doc.value("format", std::string()) != kFormat)
    return fail("`format` must be \"" + std::string(kFormat) + "\"");
  if (!doc.contains("server") || !doc["server"].is_string())
    return fail("`server` must be a string");
  if (!doc.contains("tools") || !doc["tools"].is_object()) return fail("`tools` must be an object");
  if (doc["tools"].size() > kMaxPinnedTools)
    return fail("more than " + std::to_string(kMaxPinnedTools) + " tools");
  PinSet set(doc["server"].get<std::string>());
  for (auto it = doc["tools"].begin(); it != doc["tools"].end(); ++it) {
    const auto& e = *it;
    std::string at = "tools." + it.key();
    if (!e.is_object()) return fail(at + ": must be an object");
    if (!e.contains("sha256") || !e["sha256"].is_string() || !hex64(e["sha256"].get<std::string>()))
      return fail(at + ".sha256: must be 64 lowercase hex digits");
    Pin p;
    p.sha256 = e["sha256"].get<std::string>();
    p.definition = nlohmann::json::object();
    if (auto t = e.find("pinned_at"); t != e.end()) {
      if (!t->is_string()) return fail(at + ".pinned_at: must be a string");
      p.pinned_at = t->get<std::string>();
    }
    if (auto d = e.find("definition"); d != e.end()) p.definition = *d;
    if (!p.definition.is_object()) return fail(at + ".definition: must be an object");
    if (auto n = p.definition.find("name");
        n != p.definition.end() && (!n->is_string() || n->get<std::string>() != it.key()))
      return fail(at + ".definition.name: is not `" + it.key() + "`");
    // The hash is what is enforced; a definition edited by hand without it would show a diff
    // that is not what was approved.
    try {
      if (!p.definition.empty() && definition_hash(p.definition) != p.sha256)
        return fail(at + ": `definition` does not hash to `sha256` (edited by hand?)");
    } catch (const std::exception& ex) {
      return fail(at + ".definition: " + ex.what());
    }
    set.pins_.emplace(it.key(), std::move(p));
  }
  return set;
}

std::vector<std::string> diff(const nlohmann::json& before, const nlohmann::json& after) {
  std::vector<std::string> out;
  diff_into(pinned_members(before), pinned_members(after), "", out, 0);
  if (out.size() > kMaxDiffLines) {
    out.resize(kMaxDiffLines);
    out.push_back("... (more changes not shown)");
  }
  return out;
}

}  // namespace gt::gov::tools
