// The KeyProvider the proxy uses: each agent's key loaded (or created) on first use from
// GT_ED25519_PRIVATE_KEY or <root>/<tenant>/<agent>/agent.key, and reloaded when
// `glasstape keys rotate` replaces the file while the proxy runs.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "governance/audit/log_writer.hpp"

namespace gt::gov::audit {

class AgentKeyStore : public KeyProvider {
 public:
  AgentKeyStore(std::filesystem::path root, std::string tenant);
  const SigningKey& key_for(const std::string& agent) override;
  void refresh() override;
  const std::filesystem::path& root() const { return root_; }

 private:
  struct Entry {
    AgentKey key;
    ino_t ino = 0;
    std::int64_t mtime_ns = 0;
    bool warned = false;
  };
  std::filesystem::path root_;
  std::string tenant_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> keys_;
};

}  // namespace gt::gov::audit
