// The audit log writer, part 1: construction, the queue, the writer thread and the caller's
// inline writes, and a batch's way through process_locked(). The other parts:
//   log_seal.cpp      chaining, signing, checkpoints; writing and syncing a batch (commit)
//   log_recovery.cpp  what a start finds (torn tails, lost records, v1 logs); write failures
//   log_sharing.cpp   several processes appending to one directory
//   log_rotation.cpp  closing a full file and starting the next
#include "governance/audit/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <spdlog/spdlog.h>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/dsse.hpp"
#include "governance/audit/log_internal.hpp"

namespace gt::gov::audit {

using namespace detail;

std::optional<FsyncMode> parse_fsync_mode(std::string_view s) {
  if (s == "always") return FsyncMode::Always;
  if (s == "group") return FsyncMode::Group;
  if (s == "off") return FsyncMode::Off;
  return std::nullopt;
}

std::string_view to_string(FsyncMode m) {
  switch (m) {
    case FsyncMode::Always:
      return "always";
    case FsyncMode::Group:
      return "group";
    case FsyncMode::Off:
      return "off";
  }
  return "group";
}

AuditLog::AuditLog(LogOptions opts, std::shared_ptr<KeyProvider> keys, std::string log_agent)
    : opts_(std::move(opts)), keys_(std::move(keys)), log_agent_(std::move(log_agent)) {
  if (opts_.group_records == 0) opts_.group_records = 1;
  check_key_name("tenant", opts_.tenant);
  try {
    fsutil::make_dirs(opts_.dir, 0700);
  } catch (const std::system_error& e) {
    throw AuditError(std::string("cannot create the audit directory: ") + e.what());
  }
  try {
    lock_ = std::make_unique<DirLock>(opts_.dir);
  } catch (const std::system_error& e) {
    throw AuditError(std::string("cannot lock the audit directory: ") + e.what());
  }
  active_ = opts_.dir / kActiveLogName;
  keys_->key_for(log_agent_);  // fail now, not at the first call, if the key is unusable

  // Several processes may share the directory (e.g. one proxy per MCP server for the same
  // tenant): every batch is appended under an exclusive flock, after catching up with what
  // the others wrote (sync()).
  std::lock_guard held(*lock_);
  std::vector<Item> startup;
  open_existing_or_create(startup);
  check_continuity(startup);
  Item start = system_item("start");
  start.payload.set_string("version", opts_.version);
  start.payload.set_int("pid", static_cast<std::int64_t>(::getpid()));
  start.payload.set_string("fsync", to_string(opts_.fsync));
  startup.push_back(std::move(start));
  std::string err;
  if (!commit(startup, false, &err)) {
    throw AuditError("cannot write the audit log `" + active_.string() + "`: " + err);
  }
  {
    std::lock_guard lk(mu_);
    stats_.next_seq = state_.seq;
  }
  last_checkpoint_ = SteadyClock::now();
  publish();
  if (opts_.nonce_pool > 0) nonces_ = std::make_unique<NoncePool>(opts_.nonce_pool);
  writer_ = std::thread([this] { writer_loop(); });
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
  if (!backlog_.empty() || failure_dropped_ > 0) {
    // Late records live in memory only (see backlog_max): they die with the process.
    spdlog::error(
        "audit: {} late record(s) of tenant `{}` could not be written before shutdown and are "
        "lost ({} more were dropped earlier)",
        backlog_.size(), opts_.tenant, failure_dropped_);
  }
}

fs::path AuditLog::active_file() const {
  return active_;
}

void AuditLog::thaw(Item& item) {
  if (!item.is_frozen) return;
  item.payload = item.frozen.thaw();
  item.frozen = FrozenPayload{};
  item.is_frozen = false;
}

AuditLog::Item AuditLog::system_item(const std::string& kind) {
  Item it;
  it.kind = Kind::System;
  it.agent = log_agent_;
  it.payload.set_string("format", kReceiptFormat);
  it.payload.set_string("kind", kind);
  it.payload.set_string("id", new_receipt_id());
  it.payload.set_string("ts", rfc3339_utc(Clock::now()));
  it.payload.set_string("tenant", opts_.tenant);
  it.payload.set_string("agent", log_agent_);
  return it;
}

void AuditLog::process(std::vector<Item>& batch) {
  std::lock_guard held(*lock_);
  if (process_locked(batch) && rotation_due()) {
    rotate();
    publish();
  }
}

void AuditLog::publish() {
  std::lock_guard lk(mu_);
  pub_.since_checkpoint = state_.since_checkpoint;
  pub_.last_checkpoint = last_checkpoint_;
  pub_.retry_backlog = failing_ && !backlog_.empty();
  pub_.seal_pending = seal_pending_now();
  pub_.unsealed_since = unsealed_since_;
  pub_.unsynced = unsynced_;
  pub_.unsynced_since = unsynced_since_;
  // The writer thread owes records their seal (or their sync) by a deadline. Woken only when
  // its wait ends later (or never): a wait that ends earlier finds the new deadline when it
  // recomputes, so a caller writing one record after another inline does not wake it for each.
  const auto due = next_due();
  if (due && writer_waiting_ && writer_deadline_ > *due) cv_.notify_one();
}

std::optional<SteadyClock::time_point> AuditLog::next_due() const {
  std::optional<SteadyClock::time_point> due;
  auto earliest = [&](SteadyClock::time_point t) {
    if (!due || t < *due) due = t;
  };
  if (pub_.since_checkpoint > 0 && opts_.checkpoint_interval.count() > 0)
    earliest(pub_.last_checkpoint + opts_.checkpoint_interval);
  if (pub_.unsynced) earliest(pub_.unsynced_since + kDeferredSync);
  if (pub_.seal_pending) earliest(pub_.unsealed_since + seal_window());
  return due;
}

bool AuditLog::try_inline(Item& it, bool caller_idle) {
  if (!opts_.caller_writes || tl_roles_held > 0) return false;
  // What writing it would make the caller wait for: the disk in always mode, and in group mode
  // for a record a call waits for (process_locked() syncs and seals those at once). Only a
  // caller with nothing else to do meanwhile waits for the disk itself.
  const bool waits_for_disk = opts_.fsync == FsyncMode::Always ||
                              (opts_.fsync == FsyncMode::Group && static_cast<bool>(it.done));
  if (waits_for_disk && !caller_idle) return false;
  std::unique_lock role(role_mu_, std::try_to_lock);
  // The writer thread is busy, or the log is failing (its backlog goes first, in order), or
  // another process holds the directory lock: queue, never wait on the caller's thread.
  if (!role.owns_lock() || failing_) return false;
  {
    // Only when the writer is waiting for work and nothing is queued: under concurrent load
    // records are batched by the writer (one write(2) for many, and no caller holds the role
    // while it may be preempted by the others).
    std::lock_guard lk(mu_);
    if (stop_ || !queue_.empty() || !writer_waiting_) return false;
  }
  if (!lock_->lock(false)) return false;
  std::lock_guard held_lock(*lock_, std::adopt_lock);
  {
    std::lock_guard lk(mu_);
    if (stop_) return false;
    ++enqueued_;
  }
  // Counted as completed however process_locked() ends, so flush() never waits for it.
  struct Completed {
    AuditLog& log;
    ~Completed() {
      {
        std::lock_guard lk(log.mu_);
        ++log.completed_;
        ++log.stats_.inline_records;
      }
      log.idle_cv_.notify_all();
      if (log.want_rotate_) log.cv_.notify_one();
    }
  } completed{*this};
  std::vector<Item> batch;
  batch.push_back(std::move(it));
  RoleHeld held;
  // Rotation syncs and renames files: the writer thread does it, not a caller.
  if (process_locked(batch) && rotation_due()) want_rotate_ = true;
  return true;
}

bool AuditLog::process_locked(std::vector<Item>& batch) {
  // Keys are reloaded only when no record waits for its seal: the seal is signed with the keys
  // those records name.
  if (!seal_pending_now()) keys_->refresh();
  std::string err;
  std::vector<Item> items;
  try {
    catch_up(items);
  } catch (const std::exception& e) {
    err = e.what();
    if (!failing_) {
      spdlog::error(
          "audit: CANNOT WRITE the audit log of tenant `{}`: {}; calls are denied until it can be "
          "written",
          opts_.tenant, err);
      failing_ = true;
      failure_error_ = err;
      failure_since_ = rfc3339_utc(Clock::now());
    }
    fail_items(batch, err);
    publish();
    return false;
  }
  bool recovering = false;
  if (failing_) {
    recovering = true;
    if (failure_evidence_) items.push_back(std::move(*failure_evidence_));
    failure_evidence_.reset();
    Item rec = system_item("recovery");
    rec.payload.set_string("event", "write-failure");
    rec.payload.set_string("error", failure_error_);
    rec.payload.set_string("since", failure_since_);
    rec.payload.set_int("denied", static_cast<std::int64_t>(failure_denied_));
    rec.payload.set_int("late_records", static_cast<std::int64_t>(backlog_.size()));
    rec.payload.set_int("dropped", static_cast<std::int64_t>(failure_dropped_));
    items.push_back(std::move(rec));
    while (!backlog_.empty()) {
      items.push_back(std::move(backlog_.front()));
      backlog_.pop_front();
    }
  }
  std::size_t late_count = 0;
  for (const auto& it : items)
    late_count += it.late ? 1 : 0;
  // In group mode a batch nobody waits for (result records, timed checkpoints) is written now
  // and synced with the next batch that has a waiter, or within kDeferredSync: a decision
  // never waits behind the sync of a record that no call depends on.
  const bool waited_for = std::any_of(batch.begin(), batch.end(),
                                      [](const Item& it) { return static_cast<bool>(it.done); });
  bool durable = opts_.fsync != FsyncMode::Group || recovering || waited_for;
  // Sealed now when a call waits for it (group, always) or after a failure; otherwise (fsync
  // off, results) within the seal window, one signature for many batches.
  const bool seal = recovering || (opts_.fsync != FsyncMode::Off && waited_for);
  for (auto& b : batch)
    items.push_back(std::move(b));
  batch.clear();
  last_sync_ = std::chrono::nanoseconds{0};
  if (commit(items, true, &err, durable, seal)) {
    if (opts_.on_batch) opts_.on_batch(items.size(), last_sync_);
    if (recovering) {
      spdlog::warn(
          "audit: the log of tenant `{}` is writable again; {} denied call(s) recorded late, "
          "{} dropped",
          opts_.tenant, failure_denied_, failure_dropped_);
      failing_ = false;
      failure_denied_ = failure_dropped_ = 0;
    }
    std::uint64_t written = 0;
    for (auto& item : items) {
      ++written;
      if (item.done)
        item.done(AppendResult{item.error.empty(), item.error, item.seq, item.leaf, log_id_});
    }
    {
      std::lock_guard lk(mu_);
      stats_.records += written;
      stats_.late_written += late_count;
      ++stats_.batches;
      stats_.next_seq = state_.seq;
      stats_.failing = false;
    }
    publish();
    return true;
  }
  if (!failing_) {
    // The one loud line an operator sees; the calls themselves are denied quietly after it.
    spdlog::error(
        "audit: CANNOT WRITE the audit log of tenant `{}`: {}; calls are denied until it "
        "can be written (denials are kept in memory and recorded when it recovers)",
        opts_.tenant, err);
    failing_ = true;
    failure_error_ = err;
    failure_since_ = rfc3339_utc(Clock::now());
  }
  fail_items(items, err);
  {
    std::lock_guard lk(mu_);
    ++stats_.failed_batches;
    stats_.dropped = failure_dropped_;
    stats_.failing = true;
  }
  publish();
  return false;
}

void AuditLog::writer_loop() {
  const std::size_t max_batch = opts_.fsync == FsyncMode::Always ? 1 : opts_.group_records;
  for (;;) {
    std::vector<Item> batch;
    bool stopping = false;
    {
      std::unique_lock lk(mu_);
      writer_waiting_ = true;
      for (;;) {
        if (!queue_.empty() || stop_ || want_rotate_ ||
            (want_checkpoint_ && pub_.since_checkpoint > 0))
          break;
        // Records written without a seal or sync (inline writes too), a timed checkpoint.
        const auto due = next_due();
        if (due) {
          // Due now: write the timed checkpoint, seal or sync what nobody waited for. Otherwise
          // wait, and recompute: an inline write may have sealed and synced it meanwhile.
          if (SteadyClock::now() >= *due) break;
          writer_deadline_ = *due;
          cv_.wait_until(lk, *due);
        } else if (pub_.retry_backlog) {
          // Retry the backlog now and then even when no new call arrives.
          writer_deadline_ = SteadyClock::now() + std::chrono::seconds(1);
          if (cv_.wait_until(lk, writer_deadline_) == std::cv_status::timeout) break;
        } else {
          writer_deadline_ = SteadyClock::time_point::max();
          cv_.wait(lk);
        }
      }
      writer_waiting_ = false;
      stopping = stop_;
      auto take = [&](std::size_t n) {
        while (n-- > 0 && !queue_.empty()) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      };
      take(max_batch);
      if (opts_.fsync == FsyncMode::Group && opts_.group_window.count() > 0 && !stopping &&
          !batch.empty() && batch.size() < max_batch) {
        auto deadline = batch.front().enqueued + opts_.group_window;
        while (batch.size() < max_batch) {
          auto now = SteadyClock::now();
          if (now >= deadline) break;
          auto until = std::min(deadline, now + kGroupIdleGap);
          if (!cv_.wait_until(lk, until, [&] { return !queue_.empty() || stop_; })) break;
          take(max_batch - batch.size());
          if (stop_) break;
        }
      }
    }
    for (auto& item : batch) {
      if (item.build) {  // payloads deferred to this thread (append(PayloadFn))
        item.payload = item.build();
        item.build = nullptr;
      }
    }
    std::size_t n = batch.size();
    if (stopping) {
      std::lock_guard lk(mu_);
      if (queue_.empty()) want_checkpoint_ = true;  // a final checkpoint covers everything
    }
    {
      std::lock_guard role(role_mu_);
      RoleHeld held;
      want_rotate_ = false;  // process() rotates when the file is over the size
      process(batch);
      const auto now = SteadyClock::now();
      if (seal_pending_now() && (stopping || now >= unsealed_since_ + seal_window())) {
        seal_pending();  // and synced with it
        publish();
      }
      if (unsynced_ && (stopping || now >= unsynced_since_ + kDeferredSync)) {
        sync_deferred();
        publish();
      }
    }
    {
      std::lock_guard lk(mu_);
      completed_ += n;
    }
    idle_cv_.notify_all();
    if (stopping) {
      std::lock_guard lk(mu_);
      if (queue_.empty()) return;
    }
  }
}

void AuditLog::append(std::string agent, PayloadBuilder payload, Kind kind, AppendCallback done,
                      bool caller_idle) {
  // Frozen on the caller's thread: the writer only splices the chain members in.
  append(std::move(agent), payload.freeze(), kind, std::move(done), caller_idle);
}

void AuditLog::append(std::string agent, FrozenPayload payload, Kind kind, AppendCallback done,
                      bool caller_idle) {
  Item it;
  it.kind = kind;
  it.agent = std::move(agent);
  it.frozen = std::move(payload);
  it.is_frozen = true;
  it.done = std::move(done);
  if (try_inline(it, caller_idle)) return;
  enqueue(std::move(it));
}

void AuditLog::append(std::string agent, PayloadFn build, Kind kind, AppendCallback done) {
  Item it;
  it.kind = kind;
  it.agent = std::move(agent);
  it.build = std::move(build);
  it.done = std::move(done);
  enqueue(std::move(it));
}

void AuditLog::enqueue(Item it) {
  it.enqueued = SteadyClock::now();
  {
    std::unique_lock lk(mu_);
    if (stop_ || queue_.size() >= opts_.queue_max) {
      lk.unlock();
      std::string why = stop_ ? "the audit log is shutting down" : "the audit writer is overloaded";
      spdlog::error("audit: record for tenant `{}` refused: {}", opts_.tenant, why);
      if (it.done) it.done(AppendResult{false, why, 0, {}, {}});
      return;
    }
    queue_.push_back(std::move(it));
    ++enqueued_;
  }
  cv_.notify_one();
}

void AuditLog::flush() {
  std::unique_lock lk(mu_);
  std::uint64_t target = enqueued_;
  idle_cv_.wait(lk, [&] { return completed_ >= target; });
}

void AuditLog::request_checkpoint() {
  {
    std::lock_guard lk(mu_);
    want_checkpoint_ = true;
  }
  cv_.notify_one();
}

LogStats AuditLog::stats() const {
  LogStats s;
  {
    std::lock_guard lk(mu_);
    s = stats_;
  }
  s.sole = lock_->sole();
  s.leases_given_up = lock_->leases_given_up();
  if (nonces_) {
    auto ns = nonces_->stats();
    s.presigned = ns.taken;
    s.nonces_made = ns.made;
  }
  return s;
}

}  // namespace gt::gov::audit
