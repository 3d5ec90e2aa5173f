// Audit log benchmark: sign + append throughput (group commit and fsync off), verification
// throughput, and the latency a call waits for its decision record under concurrent load.
//
//   audit_bench [--records N] [--clients C] [--seconds S] [--dir DIR]
//
// Throughput: the payloads are built first (that work happens on the sessions' threads in
// the proxy), then timed from the first append to the last acknowledgement; the writer is
// one thread, and its CPU time is reported as records per CPU-second.
// Latency: C client threads each append a decision and wait for its acknowledgement, in a
// closed loop, for S seconds; reported per fsync mode as p50/p99/max.
#include <fcntl.h>
#include <sodium.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/dsse.hpp"
#include "governance/audit/log_writer.hpp"
#include "governance/audit/receipt.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/verifier.hpp"

using namespace gt::gov::audit;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

FrozenPayload decision(std::uint64_t i, const std::string& raw) {
  DecisionInput in;
  in.receipt_id = new_receipt_id();
  in.ts = Clock::now();
  in.tenant = "bench";
  in.agent = "bench-agent";
  in.session = "2f1c6a1e-bench-session";
  in.server = "filesystem";
  in.tool = i % 4 == 0 ? "write_file" : "read_file";
  in.request_id = static_cast<std::int64_t>(i);
  in.raw_arguments = raw;
  in.allowed = i % 4 != 0;
  in.mode = "enforce";
  in.schema_outcome = "valid";
  in.policy_id = "filesystem-guard";
  in.policy_version = "7";
  in.policy_sha256 = std::string(64, 'c');
  if (!in.allowed) {
    in.reason = "writes outside /workspace are not allowed";
    in.code = "GT-POLICY-DENY";
    in.decided_by = "policy";
    in.rule_id = "no-writes-outside-workspace";
  }
  return decision_frozen(in);  // what the proxy does on its I/O thread
}

struct Opts {
  std::uint64_t records = 200000;
  int clients = 16;
  double seconds = 3;
  fs::path dir = fs::temp_directory_path();
};

LogOptions log_options(const fs::path& dir, FsyncMode mode) {
  LogOptions o;
  o.dir = dir;
  o.tenant = "bench";
  o.fsync = mode;
  o.rotate_bytes = 0;
  o.queue_max = 10'000'000;
  return o;
}

void throughput(const Opts& o, FsyncMode mode, const SigningKey& key, fs::path& dir_out) {
  fs::path dir = o.dir / ("gt-audit-bench-" + std::string(to_string(mode)));
  fs::remove_all(dir);
  std::string raw = R"({"path":"/workspace/src/main.cpp","encoding":"utf-8","max_bytes":65536})";
  auto t_build = SteadyClock::now();
  std::vector<FrozenPayload> payloads;
  payloads.reserve(o.records);
  for (std::uint64_t i = 0; i < o.records; ++i)
    payloads.push_back(decision(i, raw));
  double build_s = std::chrono::duration<double>(SteadyClock::now() - t_build).count();
  std::uint64_t bytes = 0;
  {
    AuditLog log(log_options(dir, mode),
                 std::make_shared<StaticKeys>(SigningKey::parse(key.seed_base64(), "k")),
                 "bench-agent");
    std::atomic<std::uint64_t> acked{0}, failed{0};
    // `clients` threads append at once (the sessions of a busy proxy), each its share.
    std::atomic<double> producers_cpu{0};
    double cpu0 = cpu_seconds();
    auto t0 = SteadyClock::now();
    std::vector<std::thread> producers;
    const std::size_t per = (payloads.size() + static_cast<std::size_t>(o.clients) - 1) /
                            static_cast<std::size_t>(o.clients);
    for (int c = 0; c < o.clients; ++c) {
      producers.emplace_back([&, c] {
        double mine0 = thread_cpu_seconds();
        const std::size_t lo = static_cast<std::size_t>(c) * per;
        const std::size_t hi = std::min(payloads.size(), lo + per);
        for (std::size_t k = lo; k < hi; ++k) {
          log.append("bench-agent", std::move(payloads[k]), AuditLog::Kind::Decision,
                     [&](const AppendResult& r) { (r.ok ? acked : failed)++; });
        }
        double used = thread_cpu_seconds() - mine0;
        double cur = producers_cpu.load();
        while (!producers_cpu.compare_exchange_weak(cur, cur + used)) {
        }
      });
    }
    for (auto& t : producers)
      t.join();
    log.flush();
    double wall = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    double writer_cpu = (cpu_seconds() - cpu0) - producers_cpu.load();
    auto st = log.stats();
    bytes = fs::file_size(dir / kActiveLogName);
    std::printf(
        "sign+append fsync=%-5s %d writers: %8llu records in %6.3f s = %8.0f records/s wall, %8.0f "
        "records per log CPU-second; %llu syncs, %llu batches (seals), %.0f bytes/record, failed "
        "%llu\n",
        std::string(to_string(mode)).c_str(), o.clients,
        static_cast<unsigned long long>(acked.load()), wall, static_cast<double>(acked) / wall,
        static_cast<double>(acked) / writer_cpu, static_cast<unsigned long long>(st.syncs),
        static_cast<unsigned long long>(st.seals),
        static_cast<double>(bytes) / static_cast<double>(o.records),
        static_cast<unsigned long long>(failed.load()));
  }
  std::printf("  (building the payloads, on the callers' threads in the proxy: %.2f us/record)\n",
              build_s * 1e6 / static_cast<double>(o.records));
  dir_out = dir;
}

// A v1 log (one DSSE signature per record, a checkpoint record every 1000) with as many
// decisions as `like` holds records: what `glasstape verify` read before sealed batches.
fs::path v1_log_like(const Opts& o, std::uint64_t records, const SigningKey& key) {
  fs::path dir = o.dir / "gt-audit-bench-v1";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string raw = R"({"path":"/workspace/src/main.cpp","encoding":"utf-8","max_bytes":65536})";
  std::string out, prev(kGenesisPrev);
  CompactRange tree;
  std::uint64_t seq = 0;
  auto add = [&](const PayloadBuilder& p) {
    std::string line = make_envelope(kReceiptPayloadType, p.finish(seq, prev, key.key_id()), key);
    tree.append(merkle_leaf_hash(line));
    prev = sha256_hex(line);
    out += line;
    out += '\n';
    ++seq;
  };
  auto system = [&](const std::string& kind) {
    PayloadBuilder p;
    p.set_string("format", kReceiptFormatV1);
    p.set_string("kind", kind);
    p.set_string("id", new_receipt_id());
    p.set_string("ts", rfc3339_utc(Clock::now()));
    p.set_string("tenant", "bench");
    p.set_string("agent", "bench-agent");
    return p;
  };
  auto open = system("open");
  open.set_int("tree_size", 0);
  open.set("frontier", nlohmann::json::array());
  open.set_string("prev_file", "");
  add(open);
  while (seq < records) {
    if (seq % 1000 == 999) {
      auto c = system("checkpoint");
      Checkpoint cp{checkpoint_origin("bench"), seq, tree.root(), {}};
      c.set_string("origin", cp.origin);
      c.set_int("tree_size", static_cast<std::int64_t>(cp.size));
      c.set_string("root", to_base64(cp.root));
      c.set_string("note", sign_checkpoint(cp, key));
      add(c);
      continue;
    }
    auto d = decision(seq, raw).thaw();
    d.set_string("format", kReceiptFormatV1);
    add(d);
  }
  std::FILE* f = std::fopen((dir / kActiveLogName).c_str(), "wb");
  std::fwrite(out.data(), 1, out.size(), f);
  std::fclose(f);
  return dir;
}

// Records per second, one thread then all, of `glasstape verify`'s check of `dir`.
std::pair<double, double> verification(const fs::path& dir, const SigningKey& key,
                                       const char* what) {
  std::pair<double, double> rates;
  VerifyOptions vo;
  KeyringEntry e;
  e.key_id = key.key_id();
  e.public_key = key.public_key();
  vo.keyring.entries.push_back(e);
  for (unsigned threads : {1u, 0u}) {
    vo.threads = threads;
    double cpu0 = cpu_seconds();
    auto t0 = SteadyClock::now();
    auto rep = verify_log(log_files_in(dir), vo);
    double wall = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    double cpu = cpu_seconds() - cpu0;
    (threads ? rates.first : rates.second) = static_cast<double>(rep.records) / wall;
    std::printf(
        "verify %s threads=%-3s %8llu records in %6.3f s = %8.0f records/s wall, %8.0f records "
        "per CPU-second (%s)\n",
        what, threads ? std::to_string(threads).c_str() : "all",
        static_cast<unsigned long long>(rep.records), wall, static_cast<double>(rep.records) / wall,
        static_cast<double>(rep.records) / cpu, rep.ok ? "intact" : rep.first.message.c_str());
  }
  return rates;
}

void latency(const Opts& o, FsyncMode mode, const SigningKey& key) {
  fs::path dir = o.dir / ("gt-audit-bench-lat-" + std::string(to_string(mode)));
  fs::remove_all(dir);
  std::vector<std::vector<double>> per(static_cast<std::size_t>(o.clients));
  {
    AuditLog log(log_options(dir, mode),
                 std::make_shared<StaticKeys>(SigningKey::parse(key.seed_base64(), "k")),
                 "bench-agent");
    std::string raw = R"({"path":"/workspace/README.md"})";
    auto end = SteadyClock::now() + std::chrono::duration<double>(o.seconds);
    std::vector<std::thread> clients;
    for (int c = 0; c < o.clients; ++c) {
      clients.emplace_back([&, c] {
        std::mutex mu;
        std::condition_variable cv;
        std::uint64_t i = 0;
        while (SteadyClock::now() < end) {
          bool done = false;
          auto t0 = SteadyClock::now();
          // The recorder's work on the caller's thread (payload) plus the wait for the record.
          log.append("bench-agent", decision(i++, raw), AuditLog::Kind::Decision,
                     [&](const AppendResult&) {
                       std::lock_guard lk(mu);
                       done = true;
                       cv.notify_one();
                     });
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return done; });
          per[static_cast<std::size_t>(c)].push_back(
              std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
        }
      });
    }
    for (auto& t : clients)
      t.join();
  }
  std::vector<double> all;
  for (auto& v : per)
    all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) {
    return all[std::min(all.size() - 1, static_cast<std::size_t>(q * all.size()))];
  };
  std::printf(
      "latency fsync=%-5s clients=%d: %zu calls, %.0f calls/s, p50 %.0f us, p99 %.0f us, max %.0f "
      "us\n",
      std::string(to_string(mode)).c_str(), o.clients, all.size(),
      static_cast<double>(all.size()) / o.seconds, pct(0.50), pct(0.99), all.back());
  fs::remove_all(dir);
}

// What this machine allows: raw Ed25519 signing on one thread, and raw fdatasync latency
// of a small append on the log's disk. The figures above are bounded by these.
void baseline(const Opts& o, const SigningKey& key) {
  std::string msg(1100, 'x');
  double c0 = thread_cpu_seconds();
  auto t0 = SteadyClock::now();
  int n = 20000;
  for (int i = 0; i < n; ++i) {
    msg[0] = static_cast<char>(i);
    (void)key.sign(msg);
  }
  double wall = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  double cpu = thread_cpu_seconds() - c0;
  std::printf("baseline: raw Ed25519 sign of 1.1 KB: %.0f/s wall, %.0f per CPU-second\n", n / wall,
              n / cpu);
  // The same with libsodium's crypto_sign_detached() (SigningKey::sign() uses a precomputed
  // expanded key and OpenSSL's SHA-512 and makes the same signatures).
  {
    std::uint8_t pk[32], sk[64], sig[64];
    crypto_sign_keypair(pk, sk);
    c0 = thread_cpu_seconds();
    t0 = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      msg[0] = static_cast<char>(i);
      crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size(), sk);
    }
    double w = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    double c = thread_cpu_seconds() - c0;
    std::printf(
        "baseline: libsodium crypto_sign_detached of 1.1 KB: %.0f/s wall, %.0f per "
        "CPU-second\n",
        n / w, n / c);
  }
  // Verification of distinct records, as a log is: Ed25519 verification is variable-time,
  // and checking one signature over and over lets the branch predictor learn it (about 30%
  // faster than the same number of different signatures on this VM).
  std::vector<std::string> msgs, sigs;
  for (int i = 0; i < 2000; ++i) {
    msg[0] = static_cast<char>(i);
    msg[1] = static_cast<char>(i >> 8);
    msgs.push_back(msg);
    sigs.push_back(key.sign(msg));
  }
  c0 = thread_cpu_seconds();
  t0 = SteadyClock::now();
  int ok = 0;
  for (int i = 0; i < n / 2; ++i) {
    std::size_t k = static_cast<std::size_t>(i) % msgs.size();
    ok += ed25519_verify(key.public_key(), msgs[k], sigs[k]) ? 1 : 0;
  }
  wall = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  cpu = thread_cpu_seconds() - c0;
  std::printf(
      "baseline: raw Ed25519 verify of 2000 distinct 1.1 KB records: %.0f/s wall, %.0f per "
      "CPU-second (%d ok)\n",
      n / 2 / wall, n / 2 / cpu, ok);
  fs::path f = o.dir / "gt-audit-bench-fsync";
  int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  std::vector<double> lat;
  for (int i = 0; i < 200 && fd >= 0; ++i) {
    if (::write(fd, msg.data(), msg.size()) < 0) break;
    auto s0 = SteadyClock::now();
    ::fdatasync(fd);
    lat.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - s0).count());
  }
  if (fd >= 0) ::close(fd);
  fs::remove(f);
  std::sort(lat.begin(), lat.end());
  if (!lat.empty()) {
    std::printf("baseline: fdatasync of a 1.1 KB append: p50 %.0f us, p99 %.0f us\n",
                lat[lat.size() / 2], lat[lat.size() * 99 / 100]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Opts o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records")
      o.records = std::stoull(argv[i + 1]);
    else if (a == "--clients")
      o.clients = std::stoi(argv[i + 1]);
    else if (a == "--seconds")
      o.seconds = std::stod(argv[i + 1]);
    else if (a == "--dir")
      o.dir = argv[i + 1];
    else {
      std::fprintf(stderr,
                   "usage: audit_bench [--records N] [--clients C] [--seconds S] [--dir DIR]\n");
      return 2;
    }
  }
  SigningKey key = SigningKey::generate();
  std::printf("audit bench: %llu records, %d clients, %.1f s, dir %s, %u cores\n",
              static_cast<unsigned long long>(o.records), o.clients, o.seconds, o.dir.c_str(),
              std::thread::hardware_concurrency());
  baseline(o, key);
  fs::path group_dir, off_dir;
  throughput(o, FsyncMode::Group, key, group_dir);
  throughput(o, FsyncMode::Off, key, off_dir);
  auto v2 = verification(group_dir, key, "v2 (sealed)");
  std::uint64_t n = 0;
  for (const auto& f : log_files_in(group_dir)) {
    std::FILE* in = std::fopen(f.c_str(), "rb");
    for (int c; (c = std::fgetc(in)) != EOF;)
      n += c == '\n';
    std::fclose(in);
  }
  auto v1 = verification(v1_log_like(o, n, key), key, "v1 (signed)");
  std::printf("verify v2 / v1 on logs of %llu records: %.2fx (one thread), %.2fx (all)\n",
              static_cast<unsigned long long>(n), v2.first / v1.first, v2.second / v1.second);
  latency(o, FsyncMode::Group, key);
  latency(o, FsyncMode::Off, key);
  fs::remove_all(group_dir);
  fs::remove_all(off_dir);
  return 0;
}
