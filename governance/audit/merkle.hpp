// RFC 6962 §2.1 Merkle Tree Hash over the log's records:
//   MTH({})        = SHA-256()
//   leaf hash      = SHA-256(0x00 || record line bytes)
//   node hash      = SHA-256(0x01 || left || right)
//   MTH(D[0:n])    = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n.
// CompactRange keeps only the roots of the perfect subtrees covering [0, n) (at most
// log2(n) hashes), so appending is O(1) amortised and the root O(log n).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "governance/audit/sha256.hpp"

namespace gt::gov::audit {

Digest merkle_leaf_hash(std::string_view leaf);
Digest merkle_node_hash(const Digest& left, const Digest& right);
Digest merkle_empty_root();
// Reference implementation straight from the RFC's recursive definition (for tests).
Digest merkle_root_of(const std::vector<Digest>& leaf_hashes);

class CompactRange {
 public:
  CompactRange() = default;
  // Resumes from a frontier written by frontier() at `size` leaves; false when the number
  // of hashes does not match popcount(size).
  bool restore(std::uint64_t size, std::vector<Digest> frontier);

  void append(const Digest& leaf_hash);
  Digest root() const;
  std::uint64_t size() const { return size_; }
  // Perfect-subtree roots, largest (leftmost) first.
  const std::vector<Digest>& frontier() const { return nodes_; }

 private:
  std::uint64_t size_ = 0;
  std::vector<Digest> nodes_;
};

}  // namespace gt::gov::audit
