// The append-only audit log of one tenant: JSON Lines of DSSE envelopes, hash-chained,
// with signed Merkle checkpoints, group commit, crash recovery and size rotation.
//
// Files in `dir`:
//   audit.jsonl                the active file; its first record is an `open` record
//   audit-<first seq>.jsonl    rotated files (12 digits), in chain order by name
//   checkpoint                 the latest signed checkpoint (copy it elsewhere)
//   audit.jsonl.torn-<time>-<offset>   bytes of a torn last line found at startup
//   .lock                      flock held while a batch is appended (dir_lock.hpp)
//   .writers                   OFD locks: which logs append to the directory (dir_lock.hpp)
//
// Several processes may append to one directory (e.g. a proxy per MCP server, all for the
// same tenant): each batch is written under the exclusive flock, after reading what the
// others appended since (their records join this process's view of the chain and tree).
// A log appending alone keeps the flock between batches until another one asks for it, and
// then checks the active file (for someone cutting or replacing it) only once per
// kSoleCheck (dir_lock.hpp).
//
// Every record's payload carries `seq` (0, 1, 2, ... across files) and `prev` (lowercase hex
// SHA-256 of the previous line's bytes, without its newline; 64 zeros for seq 0). Every line
// is also a leaf of the RFC 6962 tree that checkpoints sign.
//
// One writer thread owns the file. append() queues; the writer takes a batch, chains and
// signs each record, writes the batch with one write(2), syncs it per the fsync mode, and
// then runs each record's callback. So a callback that reports ok means: written (off), or
// written and on stable storage (group, always).
//
// With `caller_writes`, a record whose payload is ready is written by the calling thread itself
// when the writer is idle (append() takes the writer role and the directory lock without
// waiting, or else queues), as long as that does not block the caller on the disk: with fsync
// off, and in group mode for records nobody waits for (results). A record a call waits for in
// group or always mode is written, sealed and synced by the caller only when it says it has
// nothing else to do meanwhile (`caller_idle`: the only call in flight). A call then waits for
// its own write(2), seal and fdatasync, not also for two thread hand-offs (waking the writer,
// and being woken by it), which cost more than the work on a small VM. Whoever holds the role
// (a mutex) owns the file, chain and failure state; the writer thread keeps group commit under
// load, deferred syncs and seals, rotation, timed checkpoints and the failure backlog. It
// suits one caller thread (the proxy's session thread): with many, a caller holding the role
// can be preempted by the others, and batching is better.
//
// A failed write or sync (disk full, permissions, I/O error) fails that batch's callbacks;
// the chain state rolls back, and the failed decisions are kept in memory (up to
// backlog_max) as the denials the clients got. When a later batch succeeds, the log first
// gets a `recovery` record (event `write-failure`), then those late denials, then the batch.
// Bytes a failed write left behind are moved aside like a torn tail, never chained.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/dir_lock.hpp"
#include "governance/audit/fsutil.hpp"
#include "governance/audit/keys.hpp"
#include "governance/audit/merkle.hpp"
#include "governance/audit/nonce_pool.hpp"
#include "governance/audit/receipt.hpp"
#include "governance/audit/records.hpp"

namespace gt::gov::audit {

struct AuditError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class FsyncMode { Always, Group, Off };
std::optional<FsyncMode> parse_fsync_mode(std::string_view s);
std::string_view to_string(FsyncMode m);

// Operations a test can make fail through LogOptions::fault.
enum class IoOp { Open, Write, Sync, Rotate };

struct LogOptions {
  std::filesystem::path dir;
  std::string tenant = "default";
  FsyncMode fsync = FsyncMode::Group;
  // Group commit: a batch is what is queued when the writer is free (up to group_records);
  // records that arrive during its fdatasync form the next batch, so the sync itself is the
  // window and a lone call is never held back. group_window > 0 additionally lets a batch
  // wait up to that long after its first record for more (closing early when none arrives
  // for kGroupIdleGap): fewer syncs, more latency.
  std::chrono::microseconds group_window{0};
  std::size_t group_records = 256;
  std::uint64_t checkpoint_every = 1000;                 // records; 0 = by time only
  std::chrono::milliseconds checkpoint_interval{10000};  // 0 = by count only
  std::uint64_t rotate_bytes = 64ull << 20;              // 0 = never rotate
  std::size_t backlog_max = 10000;                       // failed records kept in memory for later
  std::size_t queue_max = 100000;  // queued records; beyond, appends fail (fail closed)
  std::string version = "0.1.0";   // written into `start` records
  // Signing nonces computed ahead of time on a thread of the log's own (nonce_pool.hpp), so a
  // record waits for a hash and two scalar operations instead of a full Ed25519 signature.
  // 0: every record is signed the RFC 8032 way on the writer thread.
  std::size_t nonce_pool = 1024;
  // A caller may write its own record when the writer is idle (see above).
  bool caller_writes = false;
  // fsync off: records are written at once and sealed together at most this long after the
  // first of them (a call does not wait for a signature). Group mode seals every batch a call
  // waits for, and those nobody waits for (results) within kDeferredSync.
  std::chrono::milliseconds seal_window{50};
  // At start, a directory whose `checkpoint` covers records the log no longer has (cut from
  // the end, deleted, replaced or rewritten) is refused with an AuditError naming what is
  // missing. With accept_loss (`glasstape recover`) the log continues instead, after a
  // signed `recovery` record that says what was lost; the checkpoint is kept as evidence.
  bool accept_loss = false;
  std::function<int(IoOp)> fault;  // tests: return an errno to fail that operation
  // Observer (metrics): called on the writer thread after each batch is written, with its
  // record count and how long its fdatasync took (zero when the batch was not synced).
  std::function<void(std::size_t records, std::chrono::nanoseconds sync)> on_batch;
  // Observer (witnessing): called with the log id and the signed checkpoint note after each
  // checkpoint is written (and synced, per the fsync mode), on the thread that wrote it.
  // Must be quick: keep the note and return.
  std::function<void(const std::string& log_id, const std::string& note)> on_checkpoint;
};

inline constexpr std::chrono::microseconds kGroupIdleGap{200};
// A log holding the directory lock without a break checks the active file at least this
// often (for a file cut, moved or replaced by hand), instead of at every batch.
inline constexpr std::chrono::seconds kSoleCheck{1};
// Group mode: records no call waits for (results, timed checkpoints) are synced at the latest
// this long after they were written.
inline constexpr std::chrono::milliseconds kDeferredSync{5};

// Signing keys by agent. key_for() runs on the writer thread and may load or create a key.
class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  virtual const SigningKey& key_for(const std::string& agent) = 0;  // throws KeyError
  // Before each batch: reload keys whose files were replaced (`glasstape keys rotate`).
  virtual void refresh() {}
};

// A fixed map of keys (tests, benchmarks, the env key).
class StaticKeys : public KeyProvider {
 public:
  explicit StaticKeys(SigningKey fallback) : fallback_(std::move(fallback)) {}
  const SigningKey& key_for(const std::string&) override { return fallback_; }

 private:
  SigningKey fallback_;
};

struct AppendResult {
  bool ok = true;
  std::string error;
  std::uint64_t seq = 0;
  // When ok: the record's RFC 6962 leaf hash (merkle.hpp) and the id of the log it is in.
  Digest leaf_hash{};
  std::string log_id;
};
using AppendCallback = std::function<void(const AppendResult&)>;

struct LogStats {
  std::uint64_t next_seq = 0;
  std::uint64_t records = 0;  // written by this process
  std::uint64_t batches = 0;
  std::uint64_t syncs = 0;
  std::uint64_t failed_batches = 0;
  std::uint64_t late_written = 0;  // backlog records written after a failure
  std::uint64_t dropped = 0;       // failed records that did not fit the backlog
  std::uint64_t checkpoints = 0;   // times `checkpoint` was refreshed from the latest seal
  std::uint64_t seals = 0;
  std::uint64_t rotations = 0;
  std::uint64_t presigned = 0;        // records signed with a precomputed nonce
  std::uint64_t nonces_made = 0;      // nonces the pool has computed so far
  std::uint64_t inline_records = 0;   // fsync off: records written on the caller's thread
  bool sole = false;                  // appending alone: the directory lock is kept (dir_lock.hpp)
  std::uint64_t leases_given_up = 0;  // times another log asked this one for the lock
  bool failing = false;
};

class AuditLog {
 public:
  enum class Kind { Decision, Result, System };

  // Opens or creates the log, recovers a torn tail, writes `open`/`start` records and starts
  // the writer thread. `log_agent` names the key that signs system records and checkpoints.
  // Throws AuditError (or KeyError) with a one-line message.
  AuditLog(LogOptions opts, std::shared_ptr<KeyProvider> keys, std::string log_agent);
  ~AuditLog();  // drains the queue, writes a final checkpoint, joins the writer
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues a record signed with `agent`'s key. `done` (may be empty) runs on the writer
  // thread when the record is durable per the fsync mode, or has failed. With caller_writes
  // it may instead run on the calling thread before append() returns (written inline; see
  // above for when, and `caller_idle`).
  void append(std::string agent, PayloadBuilder payload, Kind kind, AppendCallback done,
              bool caller_idle = false);
  // The same for a payload already frozen by the caller (e.g. decision_frozen()).
  void append(std::string agent, FrozenPayload payload, Kind kind, AppendCallback done,
              bool caller_idle = false);
  // The same, with the payload built on the writer thread: for records no call waits for
  // (results), whose payload (parsing and hashing the response) need not hold up the caller.
  // `build` must not throw; it runs once.
  using PayloadFn = std::function<PayloadBuilder()>;
  void append(std::string agent, PayloadFn build, Kind kind, AppendCallback done);
  // Blocks until everything queued before the call is written or failed.
  void flush();
  // Queues a checkpoint now (it is written with the next batch).
  void request_checkpoint();

  LogStats stats() const;
  const LogOptions& options() const { return opts_; }
  std::filesystem::path active_file() const;
  const std::string& log_id() const { return log_id_; }
  // With accept_loss: what was found lost at start and recorded ("" when nothing was).
  const std::string& loss_recorded() const { return loss_recorded_; }

 private:
  struct Item {
    Kind kind = Kind::System;
    std::string agent;
    PayloadBuilder payload;  // system records and failure paths
    PayloadFn build;         // built on the writer thread (see append(PayloadFn))
    FrozenPayload frozen;    // appended records: built on the caller's thread
    bool is_frozen = false;
    AppendCallback done;
    bool late = false;      // from the backlog: already failed once
    std::string error;      // set when the record was written but the call must fail
    std::uint64_t seq = 0;  // assigned when chained
    Digest leaf{};          // its leaf hash, when chained
    std::chrono::steady_clock::time_point enqueued;
  };
  struct ChainState {
    std::uint64_t seq = 0;
    std::string prev_hex = std::string(kGenesisPrev);
    CompactRange tree;
    std::uint64_t file_size = 0;
    std::uint64_t since_checkpoint = 0;  // records since `checkpoint` was last refreshed
    // Records already in the log that no seal covers yet (left by a crash, found at start or
    // while catching up with another process): the next seal is signed by their agents' keys.
    std::vector<std::string> unsealed_agents;
    std::uint64_t unsealed_from = 0, unsealed_count = 0;
  };
  struct Tail {
    std::uint64_t size = 0;      // file size
    std::uint64_t good_end = 0;  // end of the last complete, parseable line
  };

  void open_existing_or_create(std::vector<Item>& startup);
  void load_dir_checkpoint();
  void note_root_at_checkpoint();
  // Refuses (AuditError) a directory whose checkpoint shows records that are gone, unless
  // LogOptions::accept_loss; gives a v1 log its log id.
  void check_continuity(std::vector<Item>& startup);
  Tail scan_tail(const std::filesystem::path& file);
  Item move_aside(const std::filesystem::path& file, const Tail& tail, const std::string& event);
  void replay(const std::filesystem::path& file, std::uint64_t end);
  void open_active(bool create);
  Item system_item(const std::string& kind);
  static void thaw(Item& item);
  void enqueue(Item it);
  void writer_loop();
  void process(std::vector<Item>& batch);
  // The body of process(), with the directory lock held; true when the batch was written.
  bool process_locked(std::vector<Item>& batch);
  bool rotation_due() const;
  // Writes `it` on this thread if caller_writes allows it (see above) and the role and the
  // directory lock are free now.
  bool try_inline(Item& it, bool caller_idle);
  // Copies what writer_loop()'s wait needs into pub_ (role holder, after each change).
  void publish();
  // From pub_ (mu_ held): when the writer must next act without new work, if ever.
  std::optional<std::chrono::steady_clock::time_point> next_due() const;
  // durable: sync before the callbacks run (fsync group/always). Otherwise the batch is
  // written and left for the next durable batch or sync_deferred().
  // seal: end the batch with a seal over everything before it (group and always seal every
  // batch a call waits for; fsync off and batches nobody waits for leave it to seal_pending()).
  bool commit(std::vector<Item>& items, bool allow_checkpoint, std::string* error,
              bool durable = true, bool seal = true);
  std::chrono::milliseconds seal_window() const {
    return opts_.fsync == FsyncMode::Off ? opts_.seal_window : kDeferredSync;
  }
  bool seal_pending_now() const { return !seal_keys_.empty() || !state_.unsealed_agents.empty(); }
  // Writes the seal of the records written without one (and syncs, per the fsync mode).
  void seal_pending();
  void sync_deferred();
  void undo_failed_write();
  void sync(std::vector<Item>& recovered);
  // sync(), unless the directory lock was held without a break since the last batch (no
  // other process can have appended) and the last check is less than kSoleCheck old.
  void catch_up(std::vector<Item>& recovered);
  void absorb_rotated(std::vector<Item>& recovered);
  std::uint64_t absorb(int fd, const std::filesystem::path& path, std::uint64_t from,
                       std::uint64_t to, std::vector<Item>& recovered);
  void rotate();
  void append_record(Item& item, const SigningKey& key);
  // Appends the seal of everything before it; returns its signed note.
  std::string append_seal(const SigningKey& log_key);
  // A line already in the log (replayed, or written by another process) with its seq: kept
  // while no seal follows it. settle_unsealed() turns those kept into unsealed_agents.
  void note_existing_line(std::string_view line, std::uint64_t seq);
  void settle_unsealed();
  Item unsealed_record();  // the recovery record for records found without a seal
  void publish_checkpoint();
  void fail_items(std::vector<Item>& items, const std::string& error);
  int fault(IoOp op) const { return opts_.fault ? opts_.fault(op) : 0; }
  bool checkpoint_due(std::chrono::steady_clock::time_point now) const;

  LogOptions opts_;
  std::shared_ptr<KeyProvider> keys_;
  std::unique_ptr<NoncePool> nonces_;
  std::string log_agent_;
  std::string origin_;
  std::string log_id_;     // random, made when the log was created (or switched to v2)
  bool created_ = false;   // no log file existed at start: a new log
  bool upgraded_ = false;  // a log without an id got one at this start
  // The directory's `checkpoint` at start, and the log's root at its size (when replayed).
  std::optional<Checkpoint> dir_checkpoint_;
  std::string dir_checkpoint_error_;
  std::optional<Digest> root_at_checkpoint_;
  std::string loss_recorded_;
  std::filesystem::path active_;
  std::unique_ptr<DirLock> lock_;
  std::chrono::steady_clock::time_point next_catch_up_;  // see catch_up()
  int fd_ = -1;
  ino_t ino_ = 0;  // of the active file fd_ refers to
  std::uint64_t file_first_seq_ = 0;
  std::string last_rotated_;

  ChainState state_;
  std::chrono::steady_clock::time_point last_checkpoint_;
  std::atomic<bool> want_checkpoint_{false};

  // Failure handling (role holder only).
  bool failing_ = false;
  std::string failure_error_;
  std::string failure_since_;
  std::uint64_t failure_denied_ = 0;
  std::uint64_t failure_dropped_ = 0;
  std::optional<Item> failure_evidence_;  // bytes a failed write left, moved aside
  std::deque<Item> backlog_;

  // Written but not yet synced (group and always mode; published for the writer's wait).
  bool unsynced_ = false;
  std::chrono::nanoseconds last_sync_{0};  // the latest batch's fdatasync
  std::chrono::steady_clock::time_point unsynced_since_;

  // Reused buffer (role holder only).
  std::string buf_;
  // The keys of the records appended since the last seal (the next seal is signed by each),
  // and the latest seal's note (what `checkpoint` and witnesses get).
  std::vector<const SigningKey*> seal_keys_;
  std::uint64_t unsealed_records_ = 0;  // written since the last seal
  std::chrono::steady_clock::time_point unsealed_since_;
  std::string last_seal_note_;
  // Lines read after the last seal (a crash between records and their seal).
  std::vector<std::string> unsealed_lines_;
  bool replayed_v1_ = false;  // the log's last record at start was a v1 record

  // The writer role: whoever holds it owns the file, chain and failure state above (the
  // writer thread, or with fsync off a caller writing its own record inline).
  std::mutex role_mu_;
  std::atomic<bool> want_rotate_{false};  // an inline write filled the file: writer rotates

  mutable std::mutex mu_;
  // What the writer thread's wait needs of the role-owned state, copied under mu_ by publish().
  struct Published {
    std::uint64_t since_checkpoint = 0;
    std::chrono::steady_clock::time_point last_checkpoint;
    bool retry_backlog = false;
    bool seal_pending = false;  // records written without a seal, since `unsealed_since`
    std::chrono::steady_clock::time_point unsealed_since;
    bool unsynced = false;  // records written without a sync, since `unsynced_since`
    std::chrono::steady_clock::time_point unsynced_since;
  } pub_;
  std::condition_variable cv_;       // the writer waits for work
  std::condition_variable idle_cv_;  // flush() waits for progress
  std::deque<Item> queue_;
  std::uint64_t enqueued_ = 0, completed_ = 0;
  bool stop_ = false;
  bool writer_waiting_ = false;  // the writer thread is idle (inline writes only then)
  // While writer_waiting_: when its current wait ends by itself (max: it waits for work only).
  std::chrono::steady_clock::time_point writer_deadline_ =
      std::chrono::steady_clock::time_point::max();
  LogStats stats_;
  std::thread writer_;
};

}  // namespace gt::gov::audit
