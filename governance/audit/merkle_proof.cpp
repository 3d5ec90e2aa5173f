#include "governance/audit/merkle_proof.hpp"

#include <algorithm>
#include <bit>

namespace gt::gov::audit {

namespace {
// RFC 6962's split point: the largest power of two smaller than `n` (n >= 2).
std::uint64_t split(std::uint64_t n) {
  return std::bit_floor(n - 1);
}
}  // namespace

std::optional<ProofBuilder> ProofBuilder::inclusion(std::uint64_t index, std::uint64_t size) {
  if (index >= size) return std::nullopt;
  // PATH(m, D[lo:hi]) walked from the root down: at each split the sibling of the half that
  // holds the leaf is a proof hash. They are found root first; the proof lists them leaf first.
  std::vector<Run> runs;
  std::uint64_t lo = 0, hi = size;
  while (hi - lo > 1) {
    std::uint64_t k = split(hi - lo);
    if (index - lo < k) {
      runs.push_back({lo + k, hi, {}});
      hi = lo + k;
    } else {
      runs.push_back({lo, lo + k, {}});
      lo += k;
    }
  }
  std::reverse(runs.begin(), runs.end());
  return ProofBuilder(size, std::move(runs));
}

std::optional<ProofBuilder> ProofBuilder::consistency(std::uint64_t m, std::uint64_t n) {
  if (m == 0 || m > n) return std::nullopt;
  // SUBPROOF(m, D[lo:hi], b) unrolled; `whole` is b: true while D[lo:hi] is the old tree's
  // own root path, whose hash the verifier already has.
  std::vector<Run> runs;
  std::uint64_t lo = 0, hi = n;
  bool whole = true;
  while (m != hi - lo) {
    std::uint64_t k = split(hi - lo);
    if (m <= k) {
      runs.push_back({lo + k, hi, {}});
      hi = lo + k;
    } else {
      runs.push_back({lo, lo + k, {}});
      m -= k;
      lo += k;
      whole = false;
    }
  }
  if (!whole) runs.push_back({lo, hi, {}});
  std::reverse(runs.begin(), runs.end());
  return ProofBuilder(n, std::move(runs));
}

ProofBuilder::ProofBuilder(std::uint64_t size, std::vector<Run> runs)
    : size_(size), runs_(std::move(runs)) {
  by_lo_.resize(runs_.size());
  for (std::size_t i = 0; i < by_lo_.size(); ++i)
    by_lo_[i] = i;
  std::sort(by_lo_.begin(), by_lo_.end(),
            [&](std::size_t a, std::size_t b) { return runs_[a].lo < runs_[b].lo; });
}

void ProofBuilder::add(const Digest& leaf_hash) {
  if (seen_ >= size_) return;
  std::uint64_t i = seen_++;
  // The runs do not overlap, so a leaf belongs to at most one: the next one by position.
  if (next_ >= by_lo_.size()) return;
  Run& r = runs_[by_lo_[next_]];
  if (i < r.lo) return;
  current_.append(leaf_hash);
  if (i + 1 == r.hi) {
    r.hash = current_.root();
    current_ = CompactRange();
    ++next_;
  }
}

std::vector<Digest> ProofBuilder::proof() const {
  if (!done()) return {};
  std::vector<Digest> out;
  out.reserve(runs_.size());
  for (const auto& r : runs_)
    out.push_back(r.hash);
  return out;
}

bool verify_inclusion(std::uint64_t index, std::uint64_t size, const Digest& leaf_hash,
                      const std::vector<Digest>& proof, const Digest& root) {
  if (index >= size) return false;
  std::uint64_t fn = index, sn = size - 1;
  Digest r = leaf_hash;
  for (const Digest& p : proof) {
    if (sn == 0) return false;  // more hashes than the tree has levels
    if ((fn & 1) || fn == sn) {
      r = merkle_node_hash(p, r);
      // On the right edge of an unbalanced tree a node has no sibling at some levels: skip
      // them.
      if (!(fn & 1)) {
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = merkle_node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool verify_consistency(std::uint64_t m, std::uint64_t n, const Digest& old_root,
                        const Digest& new_root, const std::vector<Digest>& proof) {
  if (m == 0 || m > n) return false;
  if (m == n) return proof.empty() && old_root == new_root;
  if (proof.empty()) return false;
  // When the old tree is a perfect subtree of the new one its root is the first node of the
  // path, and the proof leaves it out.
  std::size_t next = 0;
  Digest fr, sr;
  if (std::has_single_bit(m)) {
    fr = sr = old_root;
  } else {
    fr = sr = proof[next++];
  }
  std::uint64_t fn = m - 1, sn = n - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; next < proof.size(); ++next) {
    const Digest& c = proof[next];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = merkle_node_hash(c, fr);
      sr = merkle_node_hash(c, sr);
      if (!(fn & 1)) {
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = merkle_node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

}  // namespace gt::gov::audit
