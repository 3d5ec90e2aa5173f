// RFC 9162 §2.1.3 inclusion and §2.1.4 consistency proofs (the same proofs as RFC 6962
// §2.1.1/§2.1.2) over the leaf hashes of merkle.hpp.
//
// Making a proof: every hash in one is the Merkle Tree Hash of a run of consecutive leaves
// (a node of the tree), and the runs of one proof do not overlap. So ProofBuilder computes
// those runs from (index, size) or (m, n) up front and hashes each with its own CompactRange
// while the caller feeds leaf hashes 0, 1, 2, ... in order. Memory stays O(log n) however big
// the log is: no leaf hash is kept once it has been added.
//
// Checking a proof: the bit-walking algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2. Malformed
// input (index >= size, m > n, m == 0, a proof of the wrong length) is a false result, never
// an exception.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "governance/audit/merkle.hpp"
#include "governance/audit/sha256.hpp"

namespace gt::gov::audit {

class ProofBuilder {
 public:
  // The proof that leaf `index` is in the tree of `size` leaves (RFC 6962 PATH). nullopt
  // when index >= size.
  static std::optional<ProofBuilder> inclusion(std::uint64_t index, std::uint64_t size);
  // The proof that the tree of `m` leaves is a prefix of the tree of `n` (RFC 6962 PROOF).
  // nullopt unless 0 < m <= n. m == n gives the empty proof.
  static std::optional<ProofBuilder> consistency(std::uint64_t m, std::uint64_t n);

  // Feeds the next leaf hash (index leaves_seen()). Leaves past the tree size are ignored,
  // so a caller may stream a whole log through several builders.
  void add(const Digest& leaf_hash);
  std::uint64_t leaves_seen() const { return seen_; }
  // The tree size the proof is for; the proof is ready once that many leaves were added.
  std::uint64_t tree_size() const { return size_; }
  bool done() const { return seen_ >= size_; }
  // The proof hashes in RFC order (nearest the leaf first). Empty until done().
  std::vector<Digest> proof() const;

 private:
  struct Run {
    std::uint64_t lo = 0, hi = 0;  // leaves [lo, hi)
    Digest hash{};
  };
  ProofBuilder(std::uint64_t size, std::vector<Run> runs);

  std::uint64_t size_ = 0;
  std::uint64_t seen_ = 0;
  std::vector<Run> runs_;           // in proof order
  std::vector<std::size_t> by_lo_;  // indexes into runs_, ascending by lo
  std::size_t next_ = 0;            // the run in by_lo_ that is being hashed or comes next
  CompactRange current_;            // the leaves of that run seen so far
};

// RFC 9162 §2.1.3.2: true when `proof` shows that `leaf_hash` is leaf `index` of the tree of
// `size` leaves whose root is `root`.
bool verify_inclusion(std::uint64_t index, std::uint64_t size, const Digest& leaf_hash,
                      const std::vector<Digest>& proof, const Digest& root);

// RFC 9162 §2.1.4.2: true when `proof` shows that the tree of `m` leaves with root
// `old_root` is a prefix of the tree of `n` leaves with root `new_root`. For m == n the proof
// must be empty and the roots equal; m == 0 and m > n are refused.
bool verify_consistency(std::uint64_t m, std::uint64_t n, const Digest& old_root,
                        const Digest& new_root, const std::vector<Digest>& proof);

}  // namespace gt::gov::audit
