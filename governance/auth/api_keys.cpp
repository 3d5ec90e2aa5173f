#include "governance/auth/api_keys.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <system_error>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "governance/audit/time.hpp"
#include "governance/audit/trust.hpp"
#include "governance/auth/claims_map.hpp"

namespace gt::auth {

namespace audit = gov::audit;

namespace {

constexpr int kMaxAttributeDepth = 16;
constexpr std::size_t kMaxKeyIdBytes = 64;

// "NAME, line L, column C: where: msg": `name` is "api keys file `PATH`".
std::string at(const std::string& name, const YAML::Node& n, const std::string& where,
               const std::string& msg) {
  std::string head = name;
  auto m = n.Mark();
  if (!m.is_null() && m.line >= 0) {
    head += ", line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
  }
  return head + ": " + where + ": " + msg;
}

bool scalar(const YAML::Node& n, std::string& out) {
  if (!n.IsScalar()) return false;
  out = n.Scalar();
  return true;
}

// Only the keys in `allowed`, each once.
bool check_keys(const YAML::Node& n, const std::set<std::string>& allowed, std::string& bad,
                YAML::Node& where, bool& twice) {
  std::set<std::string> seen;
  for (const auto& kv : n) {
    std::string key;
    if (!scalar(kv.first, key) || !allowed.count(key) || !seen.insert(key).second) {
      bad = key;
      where = kv.first;
      twice = allowed.count(key) > 0;
      return false;
    }
  }
  return true;
}

std::string known_list(const std::set<std::string>& allowed) {
  std::string out;
  for (const auto& k : allowed)
    out += (out.empty() ? "" : ", ") + k;
  return out;
}

// 64 lowercase hex digits.
bool digest_from_lower_hex(const std::string& s, audit::Digest& out) {
  if (s.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

// RFC 3339 in UTC. audit::parse_rfc3339 checks the form; the calendar (no 30 February) is
// checked here, since an impossible date would silently roll over into the next month.
std::optional<Clock::time_point> parse_expiry(const std::string& s) {
  if (s.size() < 20 || (s.back() != 'Z' && s.back() != 'z')) return std::nullopt;
  auto us = audit::parse_rfc3339(s);
  if (!us) return std::nullopt;
  int y = std::atoi(s.substr(0, 4).c_str());
  unsigned m = static_cast<unsigned>(std::atoi(s.substr(5, 2).c_str()));
  unsigned d = static_cast<unsigned>(std::atoi(s.substr(8, 2).c_str()));
  if (!std::chrono::year_month_day{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}}
           .ok()) {
    return std::nullopt;
  }
  return Clock::time_point{
      std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds{*us})};
}

// YAML → JSON for attribute values, typed as the config's identity attributes are (quoted:
// a string; plain: bool, null, integer, number, else string). Bounded in depth and size as
// it goes, since aliases can make a small file expand into a huge value.
bool to_json(const YAML::Node& n, nlohmann::json& out, std::size_t& budget, int depth) {
  if (depth > kMaxAttributeDepth) return false;
  switch (n.Type()) {
    case YAML::NodeType::Map:
      out = nlohmann::json::object();
      for (const auto& kv : n) {
        std::string key;
        if (!scalar(kv.first, key) || key.size() + 4 > budget) return false;
        budget -= key.size() + 4;
        if (!to_json(kv.second, out[key], budget, depth + 1)) return false;
      }
      return true;
    case YAML::NodeType::Sequence:
      out = nlohmann::json::array();
      for (const auto& v : n) {
        if (budget < 2) return false;
        budget -= 2;
        out.push_back(nullptr);
        if (!to_json(v, out.back(), budget, depth + 1)) return false;
      }
      return true;
    case YAML::NodeType::Scalar: {
      const auto& s = n.Scalar();
      if (s.size() + 2 > budget) return false;
      budget -= s.size() + 2;
      out = s;
      if (n.Tag() == "!") return true;  // quoted
      if (s == "true") out = true;
      if (s == "false") out = false;
      if (s == "null" || s == "~") out = nullptr;
      if (s.empty() || !out.is_string()) return true;
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (errno == 0 && *end == '\0') {
        out = v;
        return true;
      }
      double d = std::strtod(s.c_str(), &end);
      bool numeric = s.find_first_not_of("0123456789+-.eE") == std::string::npos;
      if (numeric && *end == '\0') out = d;
      return true;
    }
    default:
      out = nullptr;
      return true;
  }
}

}  // namespace

std::size_t ApiKeyStore::DigestHash::operator()(const audit::Digest& d) const {
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);  // already uniform: the digest is the hash
  return h;
}

bool ApiKeyStore::DigestEqual::operator()(const audit::Digest& a, const audit::Digest& b) const {
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<ApiKeyStore> ApiKeyStore::load(const std::string& path, std::string& why) {
  const std::string name = "api keys file `" + path + "`";
  std::string text;
  try {
    text = audit::read_trusted(path, audit::Trust::Public, "api keys file", kMaxFileBytes);
  } catch (const std::exception& e) {
    why = e.what();
    return std::nullopt;
  }
  return parse(text, name, why);
}

std::optional<ApiKeyStore> ApiKeyStore::parse(std::string_view yaml, const std::string& name,
                                              std::string& why) {
  auto fail = [&](const YAML::Node& n, const std::string& where, const std::string& msg) {
    why = at(name, n, where, msg);
    return std::nullopt;
  };
  if (yaml.size() > kMaxFileBytes) {
    why = name + " is larger than " + std::to_string(kMaxFileBytes) + " bytes";
    return std::nullopt;
  }
  YAML::Node loaded;
  try {
    loaded = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    why = name;
    if (!e.mark.is_null()) {
      why += ", line " + std::to_string(e.mark.line + 1) + ", column " +
             std::to_string(e.mark.column + 1);
    }
    why += ": " + e.msg;
    return std::nullopt;
  }
  const YAML::Node root = loaded;  // const: a lookup never inserts
  if (!root.IsMap()) return fail(root, "keys", "the file must be a mapping with `keys:`");
  {
    std::string bad;
    YAML::Node where;
    bool twice = false;
    if (!check_keys(root, {"keys"}, bad, where, twice)) {
      return fail(where, "keys",
                  twice ? "`keys` is given twice" : "unknown top-level key `" + bad + "`");
    }
  }
  const YAML::Node keys = root["keys"];
  if (!keys || !keys.IsSequence()) {
    return fail(keys ? keys : root, "keys", "must be a list (`keys: []` for none)");
  }
  if (keys.size() > kMaxKeys) {
    return fail(keys, "keys", "has more than " + std::to_string(kMaxKeys) + " keys");
  }

  static const std::set<std::string> entry_keys = {"id", "sha256", "principal", "expires",
                                                   "revoked"};
  static const std::set<std::string> principal_keys = {"id", "tenant", "roles", "attributes"};
  const std::string kTenantRule =
      "must be a tenant id: 1 to 64 letters, digits, `.`, `_`, `-`, not starting with `.`";

  ApiKeyStore store;
  store.entries_.reserve(keys.size());
  std::unordered_map<std::string, std::size_t> by_id;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const YAML::Node e = keys[i];
    const std::string w = "keys[" + std::to_string(i) + "]";
    if (!e.IsMap()) return fail(e, w, "must be a mapping");
    {
      std::string bad;
      YAML::Node where;
      bool twice = false;
      if (!check_keys(e, entry_keys, bad, where, twice)) {
        return fail(where, w,
                    twice
                        ? "`" + bad + "` is given twice"
                        : "unknown key `" + bad + "` (known keys: " + known_list(entry_keys) + ")");
      }
    }
    Entry entry;

    // Key ids are written into receipts and logs: the alphabet of tenant ids.
    const YAML::Node id = e["id"];
    if (!id) return fail(e, w + ".id", "required");
    if (!scalar(id, entry.id) || !is_safe_tenant(entry.id)) {
      return fail(id, w + ".id",
                  "must be 1 to " + std::to_string(kMaxKeyIdBytes) +
                      " letters, digits, `.`, `_`, `-`, not starting with `.`");
    }
    if (auto it = by_id.find(entry.id); it != by_id.end()) {
      return fail(
          id, w + ".id",
          "duplicate key id `" + entry.id + "` (also keys[" + std::to_string(it->second) + "])");
    }

    // The value is not echoed: it may be a key pasted in by mistake.
    const YAML::Node hash = e["sha256"];
    if (!hash) return fail(e, w + ".sha256", "required");
    std::string hex;
    if (!scalar(hash, hex) || !digest_from_lower_hex(hex, entry.digest)) {
      return fail(hash, w + ".sha256",
                  "must be 64 lowercase hex digits (the SHA-256 of the key, from `glasstape "
                  "keys api-key`)");
    }
    if (auto it = store.by_digest_.find(entry.digest); it != store.by_digest_.end()) {
      return fail(hash, w + ".sha256",
                  "the same key as keys[" + std::to_string(it->second) + "] (`" +
                      store.entries_[it->second].id + "`)");
    }

    const YAML::Node p = e["principal"];
    const std::string pw = w + ".principal";
    if (!p) return fail(e, pw, "required");
    if (!p.IsMap()) return fail(p, pw, "must be a mapping");
    {
      std::string bad;
      YAML::Node where;
      bool twice = false;
      if (!check_keys(p, principal_keys, bad, where, twice)) {
        return fail(
            where, pw,
            twice ? "`" + bad + "` is given twice"
                  : "unknown key `" + bad + "` (known keys: " + known_list(principal_keys) + ")");
      }
    }
    if (!p["id"]) return fail(p, pw + ".id", "required");
    if (!scalar(p["id"], entry.principal.id) || !is_valid_agent_id(entry.principal.id)) {
      return fail(p["id"], pw + ".id",
                  "must be a non-empty string of at most " + std::to_string(kMaxAgentIdBytes) +
                      " bytes without control characters");
    }
    if (!p["tenant"]) return fail(p, pw + ".tenant", "required: no tenant, no access");
    if (!scalar(p["tenant"], entry.principal.tenant) || !is_safe_tenant(entry.principal.tenant)) {
      return fail(p["tenant"], pw + ".tenant", kTenantRule);
    }
    if (const YAML::Node r = p["roles"]) {
      if (!r.IsSequence()) return fail(r, pw + ".roles", "must be a list of strings");
      if (r.size() > kMaxRoles) {
        return fail(r, pw + ".roles", "has more than " + std::to_string(kMaxRoles) + " roles");
      }
      for (std::size_t j = 0; j < r.size(); ++j) {
        std::string role;
        if (!scalar(r[j], role) || role.empty() || role.size() > kMaxRoleBytes) {
          return fail(r[j], pw + ".roles[" + std::to_string(j) + "]",
                      "must be a string of 1 to " + std::to_string(kMaxRoleBytes) + " bytes");
        }
        entry.principal.roles.push_back(std::move(role));
      }
    }
    if (const YAML::Node a = p["attributes"]) {
      if (!a.IsMap()) return fail(a, pw + ".attributes", "must be a mapping");
      std::set<std::string> names;
      for (const auto& kv : a) {
        std::string attr;
        if (!scalar(kv.first, attr) || attr.empty()) {
          return fail(kv.first, pw + ".attributes", "an attribute name must be a string");
        }
        const std::string aw = pw + ".attributes." + attr;
        if (!names.insert(attr).second) return fail(kv.first, aw, "is given twice");
        nlohmann::json v;
        std::size_t budget = kMaxAttributeBytes;
        if (!to_json(kv.second, v, budget, 0) || v.dump().size() > kMaxAttributeBytes) {
          return fail(kv.second, aw,
                      "is larger than " + std::to_string(kMaxAttributeBytes) +
                          " bytes or nested deeper than " + std::to_string(kMaxAttributeDepth));
        }
        entry.principal.attributes[attr] = std::move(v);
      }
    }

    if (const YAML::Node x = e["expires"]) {
      std::string text;
      if (!scalar(x, text) || !(entry.expires = parse_expiry(text))) {
        return fail(x, w + ".expires",
                    "must be an RFC 3339 date-time in UTC, e.g. `2027-06-30T00:00:00Z`");
      }
    }
    if (const YAML::Node r = e["revoked"]) {
      std::string text;
      if (!scalar(r, text) || (text != "true" && text != "false")) {
        return fail(r, w + ".revoked", "must be `true` or `false`");
      }
      entry.revoked = text == "true";
    }

    by_id.emplace(entry.id, i);
    store.by_digest_.emplace(entry.digest, i);
    store.entries_.push_back(std::move(entry));
  }
  return store;
}

ApiKeyResult ApiKeyStore::lookup(std::string_view presented, Clock::time_point now) const {
  ApiKeyResult r;
  r.refusal = ApiKeyResult::Refusal::Unknown;
  r.why = "unknown api key";
  if (presented.size() < kMinKeyBytes || presented.size() > kMaxKeyBytes) return r;
  auto it = by_digest_.find(audit::sha256(presented));
  if (it == by_digest_.end()) return r;
  const Entry& e = entries_[it->second];
  r.key_id = e.id;
  if (e.revoked) {
    r.refusal = ApiKeyResult::Refusal::Revoked;
    r.why = "api key `" + e.id + "` is revoked";
    return r;
  }
  if (e.expires && now >= *e.expires) {
    r.refusal = ApiKeyResult::Refusal::Expired;
    r.why = "api key `" + e.id + "` expired at " + audit::rfc3339_utc(*e.expires);
    return r;
  }
  r.ok = true;
  r.refusal = ApiKeyResult::Refusal::None;
  r.why.clear();
  r.principal = e.principal;
  return r;
}

bool ApiKeyFile::Version::operator==(const Version& o) const {
  return exists == o.exists && error == o.error && dev == o.dev && ino == o.ino && size == o.size &&
         mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
         ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
}

ApiKeyFile::Version ApiKeyFile::stat_file() const {
  Version v;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    v.error = errno;
    return v;
  }
  v.exists = true;
  v.dev = st.st_dev;
  v.ino = st.st_ino;
  v.size = st.st_size;
  v.mtime = st.st_mtim;
  v.ctime = st.st_ctim;
  return v;
}

ApiKeyFile::ApiKeyFile(std::string path) : path_(std::move(path)) {
  seen_ = stat_file();  // before the read: a change while reading is picked up next time
  std::string why;
  auto s = ApiKeyStore::load(path_, why);
  if (!s) throw ApiKeyFileError(why);
  store_ = std::make_shared<const ApiKeyStore>(std::move(*s));
}

std::shared_ptr<const ApiKeyStore> ApiKeyFile::current(Clock::time_point now) {
  std::lock_guard lk(mu_);
  if (checked_ && now >= *checked_ && now - *checked_ < std::chrono::seconds(1)) return store_;
  checked_ = now;
  Version v = stat_file();
  if (v == seen_) return store_;  // unchanged, or the same bad version already reported
  seen_ = v;
  std::string why;
  std::optional<ApiKeyStore> s;
  if (!v.exists && v.error == ENOENT) {
    // Removed: the operator's way to stop every key at once. Fail closed.
    std::string ignored;
    store_ = std::make_shared<const ApiKeyStore>(*ApiKeyStore::parse("keys: []", path_, ignored));
    spdlog::error("api keys file `{}` was removed: every API key is refused until it is back",
                  path_);
    return store_;
  }
  if (!v.exists) {
    why = "cannot read api keys file `" + path_ + "`: " + std::generic_category().message(v.error);
  } else {
    s = ApiKeyStore::load(path_, why);
  }
  if (!s) {
    spdlog::error("{}; keeping the {} keys loaded before", why, store_->size());
    return store_;
  }
  store_ = std::make_shared<const ApiKeyStore>(std::move(*s));
  spdlog::info("api keys file `{}` reloaded: {} keys", path_, store_->size());
  return store_;
}

ApiKeyResult ApiKeyFile::lookup(std::string_view presented, Clock::time_point now) {
  return current(now)->lookup(presented, now);
}

std::string new_api_key() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialized");
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  char b64[sodium_base64_ENCODED_LEN(sizeof raw, kVariant)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, kVariant);
  std::string key = "gtk_" + std::string(b64);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(b64, sizeof b64);
  return key;
}

std::string api_key_hash(std::string_view key) {
  return audit::sha256_hex(key);
}

}  // namespace gt::auth
