// Fuzzes the RFC 9162 proof verifiers with proofs made up by the fuzzer. Input layout:
//   byte 0        bit 0: inclusion (0) or consistency (1)
//   bytes 1..8    index / old size (little-endian)
//   bytes 9..16   tree size / new size (little-endian)
//   the rest      32-byte proof hashes (a short tail is dropped)
// First the raw numbers and hashes go to the verifiers as they are (arbitrary sizes up to
// 2^64-1, nothing may crash). Then the numbers are folded into a real tree of at most 300
// leaves: a made-up proof that verifies against that tree's true leaf and root must be the
// one ProofBuilder makes, else the verifier accepted a forgery.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "governance/audit/merkle.hpp"
#include "governance/audit/merkle_proof.hpp"

using namespace gt::gov::audit;

namespace {

std::uint64_t le64(const uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

Digest leaf(std::uint64_t i) {
  Digest d{};
  for (int b = 0; b < 8; ++b)
    d[b] = static_cast<std::uint8_t>(i >> (8 * b));
  return merkle_leaf_hash(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 17 || size > 17 + 32 * 100) return 0;
  const bool consistency = data[0] & 1;
  const std::uint64_t a = le64(data + 1), b = le64(data + 9);
  std::vector<Digest> proof;
  for (size_t off = 17; off + 32 <= size; off += 32) {
    Digest d;
    std::memcpy(d.data(), data + off, 32);
    proof.push_back(d);
  }
  const Digest first = proof.empty() ? Digest{} : proof.front();
  const Digest last = proof.empty() ? Digest{} : proof.back();
  if (consistency) {
    (void)verify_consistency(a, b, first, last, proof);
  } else {
    (void)verify_inclusion(a, b, first, proof, last);
  }

  const std::uint64_t n = 1 + b % 300;
  CompactRange tree;
  Digest old_root{};
  const std::uint64_t m = consistency ? 1 + a % n : a % n;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (i == m) old_root = tree.root();
    tree.append(leaf(i));
  }
  if (m == n) old_root = tree.root();
  if (consistency) {
    auto real = ProofBuilder::consistency(m, n);
    if (!real) std::abort();
    for (std::uint64_t i = 0; i < n; ++i)
      real->add(leaf(i));
    if (!verify_consistency(m, n, old_root, tree.root(), real->proof())) std::abort();
    if (verify_consistency(m, n, old_root, tree.root(), proof) && proof != real->proof())
      std::abort();
  } else {
    auto real = ProofBuilder::inclusion(m, n);
    if (!real) std::abort();
    for (std::uint64_t i = 0; i < n; ++i)
      real->add(leaf(i));
    if (!verify_inclusion(m, n, leaf(m), real->proof(), tree.root())) std::abort();
    if (verify_inclusion(m, n, leaf(m), proof, tree.root()) && proof != real->proof()) std::abort();
  }
  return 0;
}
