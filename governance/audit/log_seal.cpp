// The audit log writer: chaining and signing records, checkpoints, and writing and syncing a
// batch (commit). See log_writer.cpp for the other parts.
#include "governance/audit/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/dsse.hpp"
#include "governance/audit/log_internal.hpp"

namespace gt::gov::audit {

using namespace detail;

void AuditLog::append_record(Item& item, const SigningKey& key) {
  payload_.clear();
  if (item.is_frozen) {
    item.frozen.finish_into(payload_,
                            ChainMembers{key.key_id(), log_id_, state_.prev_hex, state_.seq});
  } else {
    item.payload.finish_into(payload_,
                             ChainMembers{key.key_id(), log_id_, state_.prev_hex, state_.seq});
  }
  std::size_t start = buf_.size();
  append_envelope(buf_, scratch_, kReceiptPayloadType, payload_, key, nonces_.get());
  std::string_view line(buf_.data() + start, buf_.size() - start);
  state_.prev_hex = to_hex(sha256(line));
  item.leaf = merkle_leaf_hash(line);
  state_.tree.append(item.leaf);
  buf_ += '\n';
  item.seq = state_.seq++;
}

std::string AuditLog::append_checkpoint(const SigningKey& log_key) {
  Checkpoint cp{origin_, state_.seq, state_.tree.root()};
  std::string note = sign_checkpoint(cp, log_key);
  Item c = system_item("checkpoint");
  c.payload.set_string("origin", origin_);
  c.payload.set_int("tree_size", static_cast<std::int64_t>(cp.size));
  c.payload.set_string("root", to_base64(cp.root));
  c.payload.set_string("note", note);
  append_record(c, log_key);
  state_.since_checkpoint = 0;
  return note;
}

bool AuditLog::checkpoint_due(SteadyClock::time_point now) const {
  if (state_.since_checkpoint == 0) return false;
  if (want_checkpoint_) return true;
  if (opts_.checkpoint_every > 0 && state_.since_checkpoint >= opts_.checkpoint_every) return true;
  return opts_.checkpoint_interval.count() > 0 &&
         now - last_checkpoint_ >= opts_.checkpoint_interval;
}

bool AuditLog::commit(std::vector<Item>& items, bool allow_checkpoint, std::string* error,
                      bool durable) {
  if (fd_ < 0) {
    try {
      open_active(true);
    } catch (const AuditError& e) {
      *error = e.what();
      return false;
    }
  }
  ChainState snapshot = state_;
  buf_.clear();
  const SigningKey* log_key = nullptr;
  try {
    log_key = &keys_->key_for(log_agent_);
  } catch (const std::exception& e) {
    *error = std::string("cannot load the log key: ") + e.what();
    return false;
  }
  std::string note;  // the last checkpoint note of this batch
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
    ++state_.since_checkpoint;
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
        // Without the agent's key the decision cannot be signed as that agent: record the
        // denial the client gets, signed with the log key.
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
    ++state_.since_checkpoint;
    // Every checkpoint_every records, even in the middle of a batch.
    if (allow_checkpoint && opts_.checkpoint_every > 0 &&
        state_.since_checkpoint >= opts_.checkpoint_every) {
      note = append_checkpoint(*log_key);
    }
  }
  if (allow_checkpoint && checkpoint_due(SteadyClock::now())) note = append_checkpoint(*log_key);
  if (buf_.empty()) return true;
  int err = fault(IoOp::Write);
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
  if (err != 0) {
    state_ = std::move(snapshot);
    *error = err_text(err, "cannot write `" + active_.string() + "`");
    undo_failed_write();
    return false;
  }
  state_.file_size += buf_.size();
  if (!note.empty()) {
    last_checkpoint_ = SteadyClock::now();
    want_checkpoint_ = false;
    try {
      // A convenience copy for operators to ship elsewhere; the signed record in the log
      // is authoritative, so this file is replaced atomically but not synced.
      fsutil::atomic_write(opts_.dir / kCheckpointFileName, note, 0644, false);
    } catch (const std::exception& e) {
      spdlog::warn("audit: cannot update `{}`: {}", (opts_.dir / kCheckpointFileName).string(),
                   e.what());
    }
    if (opts_.on_checkpoint) opts_.on_checkpoint(log_id_, note);
    std::lock_guard lk(mu_);
    ++stats_.checkpoints;
  }
  return true;
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
