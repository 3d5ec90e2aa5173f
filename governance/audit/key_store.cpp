#include "governance/audit/key_store.hpp"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

namespace gt::gov::audit {

namespace {
bool file_id(const std::filesystem::path& f, ino_t& ino, std::int64_t& mtime_ns) {
  struct stat st {};
  if (::stat(f.c_str(), &st) != 0) return false;
  ino = st.st_ino;
  mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return true;
}
}  // namespace

AgentKeyStore::AgentKeyStore(std::filesystem::path root, std::string tenant)
    : root_(std::move(root)), tenant_(std::move(tenant)) {}

const SigningKey& AgentKeyStore::key_for(const std::string& agent) {
  std::lock_guard lk(mu_);
  auto it = keys_.find(agent);
  if (it != keys_.end()) return it->second->key.key;
  auto e = std::make_unique<Entry>(Entry{load_agent_key(root_, tenant_, agent, true), 0, 0, false});
  if (e->key.source == KeySource::Generated) {
    spdlog::info(
        "audit: generated the signing key of agent `{}` (tenant `{}`): key id {}, public key {}",
        agent, tenant_, e->key.key.key_id(), e->key.key.public_key().base64());
  }
  if (!e->key.file.empty()) file_id(e->key.file, e->ino, e->mtime_ns);
  return keys_.emplace(agent, std::move(e)).first->second->key.key;
}

void AgentKeyStore::refresh() {
  std::lock_guard lk(mu_);
  for (auto& [agent, e] : keys_) {
    if (e->key.file.empty()) continue;
    ino_t ino = 0;
    std::int64_t mtime = 0;
    if (!file_id(e->key.file, ino, mtime) || (ino == e->ino && mtime == e->mtime_ns)) continue;
    try {
      SigningKey k = read_key_file(e->key.file);
      if (k.key_id() != e->key.key.key_id()) {
        spdlog::info("audit: the key of agent `{}` (tenant `{}`) changed: now key id {}", agent,
                     tenant_, k.key_id());
      }
      e->key.key = std::move(k);
      e->ino = ino;
      e->mtime_ns = mtime;
      e->warned = false;
    } catch (const std::exception& ex) {
      if (!e->warned) {
        spdlog::warn("audit: keeping the loaded key of agent `{}`: {}", agent, ex.what());
        e->warned = true;
      }
    }
  }
}

}  // namespace gt::gov::audit
