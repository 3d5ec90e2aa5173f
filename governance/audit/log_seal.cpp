// The audit log writer: chaining records, sealing each batch (one signed checkpoint over the
// whole log after it), refreshing the `checkpoint` file, and writing and syncing a batch
// (commit). See log_writer.cpp for the other parts.
#include "governance/audit/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/log_internal.hpp"

namespace gt::gov::audit {

using namespace detail;

void AuditLog::append_record(Item& item, const SigningKey& key) {
  // The line is the record itself (v2): no envelope and no signature of its own; the seal
  // after the batch signs the tree over it, with this key among the signers.
  const std::size_t start = buf_.size();
  const ChainMembers chain{key.key_id(), log_id_, state_.prev_hex, state_.seq};
  if (item.is_frozen) {
    item.frozen.finish_into(buf_, chain);
  } else {
    item.payload.finish_into(buf_, chain);
  }
  std::string_view line(buf_.data() + start, buf_.size() - start);
  state_.prev_hex = to_hex(sha256(line));
  item.leaf = merkle_leaf_hash(line);
  state_.tree.append(item.leaf);
  buf_ += '\n';
  item.seq = state_.seq++;
  ++state_.since_checkpoint;
  ++unsealed_records_;
  if (std::find(seal_keys_.begin(), seal_keys_.end(), &key) == seal_keys_.end())
    seal_keys_.push_back(&key);
}

std::string AuditLog::append_seal(const SigningKey& log_key) {
  // The chain head ties the signature to the last line by hash too: a reader following the
  // log from any point verifies a line by hashing forward to the seal (decision_feed.hpp).
  const Checkpoint cp{origin_, state_.seq, state_.tree.root(), state_.prev_hex};
  // Signed by the log's key, then by the key of every record since the last seal: each
  // agent's records are vouched for by its own key, one signature per key per batch.
  std::vector<const SigningKey*> keys{&log_key};
  auto add = [&](const SigningKey* k) {
    for (const SigningKey* have : keys)
      if (have->key_id() == k->key_id()) return;
    keys.push_back(k);
  };
  for (const SigningKey* k : seal_keys_)
    add(k);
  for (const auto& agent : state_.unsealed_agents) {
    try {
      add(&keys_->key_for(agent));
    } catch (const std::exception& e) {
      // verify will name the records whose key did not sign; the log goes on.
      spdlog::error("audit: cannot seal records of agent `{}` left unsealed: {}", agent, e.what());
    }
  }
  std::string note = sign_checkpoint(cp, keys, nonces_.get());
  Item seal = system_item("seal");
  seal.payload.set_string("origin", origin_);
  seal.payload.set_int("tree_size", static_cast<std::int64_t>(cp.size));
  seal.payload.set_string("root", to_base64(cp.root));
  seal.payload.set_string("note", note);
  append_record(seal, log_key);
  seal_keys_.clear();
  unsealed_records_ = 0;
  state_.unsealed_agents.clear();
  state_.unsealed_count = 0;
  return note;
}

bool AuditLog::checkpoint_due(SteadyClock::time_point now) const {
  if (state_.since_checkpoint == 0) return false;
  if (want_checkpoint_) return true;
  if (opts_.checkpoint_every > 0 && state_.since_checkpoint >= opts_.checkpoint_every) return true;
  return opts_.checkpoint_interval.count() > 0 &&
         now - last_checkpoint_ >= opts_.checkpoint_interval;
}

void AuditLog::publish_checkpoint() {
  // The latest seal, where operators and witnesses look for it: `checkpoint` is a convenience
  // copy (the seal in the log is authoritative), replaced atomically but not synced.
  last_checkpoint_ = SteadyClock::now();
  want_checkpoint_ = false;
  state_.since_checkpoint = 0;
  if (last_seal_note_.empty()) return;
  try {
    fsutil::atomic_write(opts_.dir / kCheckpointFileName, last_seal_note_, 0644, false);
  } catch (const std::exception& e) {
    spdlog::warn("audit: cannot update `{}`: {}", (opts_.dir / kCheckpointFileName).string(),
                 e.what());
  }
  if (opts_.on_checkpoint) opts_.on_checkpoint(log_id_, last_seal_note_);
  std::lock_guard lk(mu_);
  ++stats_.checkpoints;
}

bool AuditLog::commit(std::vector<Item>& items, bool allow_checkpoint, std::string* error,
                      bool durable, bool seal) {
  if (fd_ < 0) {
    try {
      open_active(true);
    } catch (const AuditError& e) {
      *error = e.what();
      return false;
    }
  }
  ChainState snapshot = state_;
  const auto keys_snapshot = seal_keys_;
  const auto unsealed_snapshot = unsealed_records_;
  const bool was_pending = seal_pending_now();
  buf_.clear();
  const SigningKey* log_key = nullptr;
  try {
    log_key = &keys_->key_for(log_agent_);
  } catch (const std::exception& e) {
    *error = std::string("cannot load the log key: ") + e.what();
    return false;
  }
  if (state_.file_size == 0) {
    // A new file starts with the tree frontier so it can be resumed and verified alone.
    Item open = system_item("open");
    nlohmann::json frontier = nlohmann::json::array();
    for (const auto& d : state_.tree.frontier())
      frontier.push_back(to_base64(d));
    open.payload.set_int("tree_size", static_cast<std::int64_t>(state_.seq));
    open.payload.set("frontier", frontier);
    open.payload.set_string("prev_file", last_rotated_);
    append_record(open, *log_key);
  }
  // The key of the previous record's agent: a batch is usually one agent's, and key_for()
  // takes a lock and a map lookup. References stay valid until the next refresh().
  const std::string* cached_agent = nullptr;
  const SigningKey* cached_key = nullptr;
  for (auto& item : items) {
    const SigningKey* key = log_key;
    if (item.kind != Kind::System && cached_agent && *cached_agent == item.agent) {
      key = cached_key;
    } else if (item.kind != Kind::System) {
      try {
        key = &keys_->key_for(item.agent);
        cached_agent = &item.agent;
        cached_key = key;
      } catch (const std::exception& e) {
        // Without the agent's key the decision cannot be sealed as that agent's: record the
        // denial the client gets, vouched for by the log key.
        item.error =
            std::string("cannot load the signing key of agent `") + item.agent + "`: " + e.what();
        thaw(item);
        if (item.kind == Kind::Decision && !item.late) {
          item.payload = late_denial_payload(item.payload, item.error, Clock::now());
          item.payload.set_string("code", "GT-AUDIT-KEY");
          item.payload.erase("late");
          item.payload.erase("decided_at");
        }
        item.payload.set_string("signed_by", log_agent_);
        key = log_key;
      }
    }
    append_record(item, *key);
  }
  // A batch a call waits for ends with its seal, in the same write(2): such a record is never
  // on disk without the seal that follows it, except after a crash in the middle of the write
  // (start then seals what it finds, with a recovery record). Others wait for seal_pending().
  // However it goes, a seal comes at least every 16 batches' worth of records.
  std::string note;
  if (seal_pending_now() && (seal || unsealed_records_ >= 16 * opts_.group_records))
    note = append_seal(*log_key);
  const bool publish = allow_checkpoint && checkpoint_due(SteadyClock::now());
  if (buf_.empty() && !publish) return true;
  int err = 0;
  if (!buf_.empty()) {
    err = fault(IoOp::Write);
    if (err == 0) {
      try {
        fsutil::write_all(fd_, buf_, "write");
      } catch (const std::system_error& e) {
        err = e.code().value();
      }
    }
    if (err == 0 && opts_.fsync != FsyncMode::Off && durable) {
      err = fault(IoOp::Sync);
      const auto sync_start = SteadyClock::now();
      if (err == 0 && ::fdatasync(fd_) != 0) err = errno;
      if (err == 0) {
        last_sync_ = SteadyClock::now() - sync_start;
        unsynced_ = false;
        std::lock_guard lk(mu_);
        ++stats_.syncs;
      }
    } else if (err == 0 && opts_.fsync != FsyncMode::Off && !unsynced_) {
      unsynced_ = true;  // synced by the next batch someone waits for, or by sync_deferred()
      unsynced_since_ = SteadyClock::now();
    }
  }
  if (err != 0) {
    state_ = std::move(snapshot);
    seal_keys_ = keys_snapshot;
    unsealed_records_ = unsealed_snapshot;
    *error = err_text(err, "cannot write `" + active_.string() + "`");
    undo_failed_write();
    return false;
  }
  state_.file_size += buf_.size();
  if (!was_pending && seal_pending_now()) unsealed_since_ = SteadyClock::now();
  if (!note.empty()) {
    last_seal_note_ = std::move(note);
    std::lock_guard lk(mu_);
    ++stats_.seals;
  }
  if (publish) publish_checkpoint();
  return true;
}

void AuditLog::seal_pending() {
  if (!seal_pending_now()) return;
  // Like any batch: under the directory lock, after what other processes appended since.
  std::lock_guard held(*lock_);
  std::vector<Item> recovered;
  std::string err;
  try {
    catch_up(recovered);
  } catch (const std::exception& e) {
    spdlog::error("audit: cannot seal the audit log of tenant `{}`: {}", opts_.tenant, e.what());
    unsealed_since_ = SteadyClock::now();
    return;
  }
  if (!commit(recovered, false, &err, true, true)) {
    // The records stay unsealed; the next batch, or the next try, seals them.
    spdlog::error("audit: cannot seal the audit log of tenant `{}`: {}", opts_.tenant, err);
    unsealed_since_ = SteadyClock::now();
  }
}

void AuditLog::sync_deferred() {
  if (fd_ < 0) {
    unsynced_ = false;
    return;
  }
  int err = fault(IoOp::Sync);
  if (err == 0 && ::fdatasync(fd_) != 0) err = errno;
  if (err != 0) {
    // The records stay in the chain; the next batch a call waits for syncs again, and if that
    // fails too, those calls are denied (fail closed) like any failed write.
    spdlog::error("audit: cannot sync `{}`: {}; retrying with the next decision", active_.string(),
                  fsutil::errno_text(err));
    unsynced_since_ = SteadyClock::now();
    return;
  }
  unsynced_ = false;
  std::lock_guard lk(mu_);
  ++stats_.syncs;
}

}  // namespace gt::gov::audit
