#include "governance/audit/merkle.hpp"

#include <bit>

namespace gt::gov::audit {

Digest merkle_leaf_hash(std::string_view leaf) {
  return sha256_prefixed(0x00, leaf);
}
Digest merkle_node_hash(const Digest& l, const Digest& r) {
  return sha256_prefixed(0x01, l, r);
}
Digest merkle_empty_root() {
  return sha256("");
}

namespace {
Digest mth(const std::vector<Digest>& leaves, std::size_t lo, std::size_t n) {
  if (n == 1) return leaves[lo];
  std::size_t k = 1;
  while (k * 2 < n)
    k *= 2;
  return merkle_node_hash(mth(leaves, lo, k), mth(leaves, lo + k, n - k));
}
}  // namespace

Digest merkle_root_of(const std::vector<Digest>& leaves) {
  if (leaves.empty()) return merkle_empty_root();
  return mth(leaves, 0, leaves.size());
}

bool CompactRange::restore(std::uint64_t size, std::vector<Digest> frontier) {
  if (static_cast<std::size_t>(std::popcount(size)) != frontier.size()) return false;
  size_ = size;
  nodes_ = std::move(frontier);
  return true;
}

void CompactRange::append(const Digest& leaf) {
  // Merge equal-sized subtrees, like carrying in binary addition: one merge per trailing
  // 1-bit of the old size.
  Digest cur = leaf;
  for (std::uint64_t s = size_; s & 1; s >>= 1) {
    cur = merkle_node_hash(nodes_.back(), cur);
    nodes_.pop_back();
  }
  nodes_.push_back(cur);
  ++size_;
}

Digest CompactRange::root() const {
  if (nodes_.empty()) return merkle_empty_root();
  // The subtrees shrink left to right, so folding from the right reproduces the RFC's
  // split at the largest power of two.
  Digest r = nodes_.back();
  for (std::size_t i = nodes_.size() - 1; i-- > 0;)
    r = merkle_node_hash(nodes_[i], r);
  return r;
}

}  // namespace gt::gov::audit
