#include "governance/audit/nonce_pool.hpp"

#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "governance/audit/encoding.hpp"

namespace gt::gov::audit {

namespace {

constexpr char kDomain[] = "glasstape ed25519 nonce v1";

struct ProcessSecret {
  std::uint8_t bytes[32];
  ProcessSecret() {
    ensure_sodium();
    randombytes_buf(bytes, sizeof bytes);
  }
};

const ProcessSecret& process_secret() {
  static const ProcessSecret s;
  return s;
}

std::atomic<std::uint64_t> g_counter{0};

}  // namespace

Nonce make_nonce() {
  const ProcessSecret& secret = process_secret();
  Nonce n;
  for (;;) {
    std::uint8_t fresh[32], h[64], ctr[8];
    randombytes_buf(fresh, sizeof fresh);
    std::uint64_t c = g_counter.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < 8; ++i)
      ctr[i] = static_cast<std::uint8_t>(c >> (8 * i));
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(kDomain),
                              sizeof kDomain - 1);
    crypto_hash_sha512_update(&st, secret.bytes, sizeof secret.bytes);
    crypto_hash_sha512_update(&st, fresh, sizeof fresh);
    crypto_hash_sha512_update(&st, ctr, sizeof ctr);
    crypto_hash_sha512_final(&st, h);
    crypto_core_ed25519_scalar_reduce(n.r.data(), h);
    sodium_memzero(h, sizeof h);
    sodium_memzero(fresh, sizeof fresh);
    sodium_memzero(&st, sizeof st);
    // Fails only for r = 0 mod L (probability about 2^-252): draw again.
    if (crypto_scalarmult_ed25519_base_noclamp(n.R_point.data(), n.r.data()) == 0) return n;
  }
}

NoncePool::NoncePool(std::size_t capacity) : capacity_(capacity) {
  if (capacity_ == 0) return;
  ensure_sodium();
  ready_.reserve(capacity_);
  filler_ = std::thread([this] { fill_loop(); });
}

NoncePool::~NoncePool() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (filler_.joinable()) filler_.join();
  if (!ready_.empty()) sodium_memzero(ready_.data(), ready_.size() * sizeof(Nonce));
}

bool NoncePool::take(Nonce& out) {
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    if (ready_.empty()) {
      ++stats_.empty;
      return false;
    }
    out = ready_.back();
    sodium_memzero(&ready_.back(), sizeof(Nonce));
    ready_.pop_back();
    ++stats_.taken;
    // The filler sleeps from full until the pool is down to three quarters: one wake-up per
    // refill, not one per nonce.
    wake = ready_.size() == low_water();
  }
  if (wake) cv_.notify_one();
  return true;
}

NoncePool::Stats NoncePool::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void NoncePool::fill_loop() {
  // SCHED_IDLE: this thread runs only on a core that nothing else wants, and any thread that
  // serves a call preempts it at once. (A positive nice value is not enough: the kernel still
  // gives a niced thread its share, and a refill burst then sits between a call and its
  // reply.) Under sustained CPU contention the pool runs dry and the signer computes rB
  // itself, which costs no more than before.
  sched_param idle{};
  if (::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &idle) != 0)
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
  std::unique_lock lk(mu_);
  for (;;) {
    while (ready_.size() < capacity_) {
      lk.unlock();
      Nonce n = make_nonce();
      lk.lock();
      if (stop_) {
        sodium_memzero(&n, sizeof n);
        return;
      }
      ready_.push_back(n);
      ++stats_.made;
      sodium_memzero(&n, sizeof n);
    }
    cv_.wait(lk, [&] { return stop_ || ready_.size() <= low_water(); });
    if (stop_) return;
  }
}

}  // namespace gt::gov::audit
