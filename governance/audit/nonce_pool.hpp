// Ed25519 signing nonces made ahead of time, so that the expensive half of a signature is
// off the path of the call that waits for it.
//
// An Ed25519 signature (RFC 8032 5.1.6) is R = rB and S = r + H(R || A || M)·s mod L. The
// verifier checks SB = R + H(R || A || M)·A and never learns how r was chosen: RFC 8032
// derives it from the message (r = H(prefix || M)), which forces the fixed-base scalar
// multiplication rB, about three quarters of the signing time, to happen after the message
// is known. Any r that is secret, uniformly distributed and never used twice gives the same
// security (it is the Schnorr signature Ed25519 is built on), so the pool derives each r from
// fresh randomness and computes R = rB in advance on its own thread. The signer then only
// hashes R || A || M and does two scalar operations.
//
//   r = SHA-512("glasstape ed25519 nonce v1" || process secret (32) || fresh random (32) ||
//               counter (8, little endian)) mod L
//
// The process secret and the fresh bytes come from libsodium's CSPRNG; the counter makes the
// inputs distinct within a process even if the generator repeated itself. A nonce is handed
// out exactly once (take() removes it) and wiped after use; nonces are independent of the key,
// so one pool serves every agent key of a log. Signatures made this way are ordinary Ed25519
// signatures: libsodium, OpenSSL and Node verify them unchanged. Only the byte-for-byte
// determinism of RFC 8032 signing is given up (re-signing the same bytes gives another valid
// signature), which nothing in the log format relies on.
//
// The filler thread is owned by the pool: it sleeps while the pool is full and refills it as
// nonces are taken. When the pool is empty, take() fails and the caller signs the RFC 8032 way.
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace gt::gov::audit {

struct Nonce {
  std::array<std::uint8_t, 32> r{};        // secret scalar, reduced mod L
  std::array<std::uint8_t, 32> R_point{};  // rB, compressed
};

// One fresh nonce (r, rB). Thread-safe.
Nonce make_nonce();

class NoncePool {
 public:
  // capacity 0: no thread; take() always fails.
  explicit NoncePool(std::size_t capacity);
  ~NoncePool();
  NoncePool(const NoncePool&) = delete;
  NoncePool& operator=(const NoncePool&) = delete;

  // Moves one nonce into `out`; false when none is ready.
  bool take(Nonce& out);

  struct Stats {
    std::uint64_t made = 0;
    std::uint64_t taken = 0;
    std::uint64_t empty = 0;  // take() calls that found the pool empty
  };
  Stats stats() const;

 private:
  void fill_loop();
  std::size_t low_water() const { return capacity_ - (capacity_ + 3) / 4; }

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Nonce> ready_;
  bool stop_ = false;
  Stats stats_;
  std::thread filler_;
};

}  // namespace gt::gov::audit
