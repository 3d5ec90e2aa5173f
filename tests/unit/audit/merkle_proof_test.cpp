// Inclusion and consistency proofs against a reference written straight from RFC 6962
// §2.1.1 (PATH) and §2.1.2 (PROOF, SUBPROOF), for every tree size 1..70.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "governance/audit/merkle.hpp"
#include "governance/audit/merkle_proof.hpp"

using namespace gt::gov::audit;

namespace {

using Hashes = std::vector<Digest>;

Hashes leaves_of(std::size_t n) {
  Hashes out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(merkle_leaf_hash("leaf " + std::to_string(i)));
  return out;
}

Hashes slice(const Hashes& d, std::size_t lo, std::size_t hi) {
  return Hashes(d.begin() + static_cast<std::ptrdiff_t>(lo),
                d.begin() + static_cast<std::ptrdiff_t>(hi));
}

std::size_t k_of(std::size_t n) {
  std::size_t k = 1;
  while (k * 2 < n)
    k *= 2;
  return k;
}

// PATH(m, D[n]) of RFC 6962 §2.1.1.
Hashes ref_path(std::size_t m, const Hashes& d) {
  if (d.size() <= 1) return {};
  std::size_t k = k_of(d.size());
  Hashes out;
  if (m < k) {
    out = ref_path(m, slice(d, 0, k));
    out.push_back(merkle_root_of(slice(d, k, d.size())));
  } else {
    out = ref_path(m - k, slice(d, k, d.size()));
    out.push_back(merkle_root_of(slice(d, 0, k)));
  }
  return out;
}

// SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2.
Hashes ref_subproof(std::size_t m, const Hashes& d, bool b) {
  std::size_t n = d.size();
  if (m == n) return b ? Hashes{} : Hashes{merkle_root_of(d)};
  std::size_t k = k_of(n);
  Hashes out;
  if (m <= k) {
    out = ref_subproof(m, slice(d, 0, k), b);
    out.push_back(merkle_root_of(slice(d, k, n)));
  } else {
    out = ref_subproof(m - k, slice(d, k, n), false);
    out.push_back(merkle_root_of(slice(d, 0, k)));
  }
  return out;
}

Hashes ref_proof(std::size_t m, const Hashes& d) {
  return ref_subproof(m, d, true);
}

// Every bit is flipped in trees of up to 32 leaves (every shape of up to five levels); in
// bigger ones every 7th bit (7 is coprime to 8, so every bit position of a byte is covered),
// which keeps the run to a few seconds.
std::size_t flip_stride(std::size_t n) {
  return n <= 32 ? 1 : 7;
}

Hashes built(std::optional<ProofBuilder> b, const Hashes& leaves) {
  REQUIRE(b);
  // A whole log streams through: leaves past the tree size are ignored.
  for (const auto& l : leaves)
    b->add(l);
  REQUIRE(b->done());
  return b->proof();
}

}  // namespace

TEST_CASE("merkle_proof: inclusion proofs equal RFC 6962 PATH and verify", "[merkle_proof]") {
  const Hashes all = leaves_of(75);
  for (std::size_t n = 1; n <= 70; ++n) {
    Hashes d = slice(all, 0, n);
    Digest root = merkle_root_of(d);
    for (std::size_t m = 0; m < n; ++m) {
      Hashes p = built(ProofBuilder::inclusion(m, n), all);
      INFO("n=" << n << " m=" << m);
      REQUIRE(p == ref_path(m, d));
      REQUIRE(verify_inclusion(m, n, d[m], p, root));
    }
  }
}

TEST_CASE("merkle_proof: consistency proofs equal RFC 6962 PROOF and verify", "[merkle_proof]") {
  const Hashes all = leaves_of(75);
  for (std::size_t n = 1; n <= 70; ++n) {
    Hashes d = slice(all, 0, n);
    Digest root = merkle_root_of(d);
    for (std::size_t m = 1; m <= n; ++m) {
      Hashes p = built(ProofBuilder::consistency(m, n), all);
      INFO("n=" << n << " m=" << m);
      REQUIRE(p == ref_proof(m, d));
      REQUIRE(verify_consistency(m, n, merkle_root_of(slice(d, 0, m)), root, p));
    }
  }
}

TEST_CASE("merkle_proof: every altered inclusion proof fails", "[merkle_proof]") {
  const Hashes all = leaves_of(70);
  for (std::size_t n = 1; n <= 70; ++n) {
    Hashes d = slice(all, 0, n);
    Digest root = merkle_root_of(d);
    for (std::size_t m = 0; m < n; ++m) {
      INFO("n=" << n << " m=" << m);
      Hashes p = ref_path(m, d);
      // Every single bit of every proof hash, of the leaf and of the root. (Counted, not
      // asserted one by one: Catch2's bookkeeping would dominate the run time.)
      int forged = 0;
      const std::size_t stride = flip_stride(n);
      for (std::size_t i = 0; i < p.size(); ++i) {
        for (std::size_t bit = 0; bit < 256; bit += stride) {
          Hashes q = p;
          q[i][bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
          forged += verify_inclusion(m, n, d[m], q, root) ? 1 : 0;
        }
      }
      for (std::size_t bit = 0; bit < 256; bit += stride) {
        Digest leaf = d[m], r = root;
        leaf[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        r[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        forged += verify_inclusion(m, n, leaf, p, root) ? 1 : 0;
        forged += verify_inclusion(m, n, d[m], p, r) ? 1 : 0;
      }
      REQUIRE(forged == 0);
      // Another index (with this leaf or that index's own). Another size, checked against
      // that size's true root: the size is not hashed into the root (PATH(0, 3) also walks
      // like a proof in a tree of 4), which is why the checkpoint signs the size with the root.
      for (std::size_t other = 0; other < n + 2; ++other) {
        if (other == m) continue;
        REQUIRE_FALSE(verify_inclusion(other, n, d[m], p, root));
        if (other < n) REQUIRE_FALSE(verify_inclusion(other, n, d[other], p, root));
      }
      for (std::size_t size = 0; size < n + 3 && size <= 70; ++size) {
        if (size == n) continue;
        Digest size_root = merkle_root_of(slice(all, 0, size));
        REQUIRE_FALSE(verify_inclusion(m, size, d[m], p, size_root));
      }
      // Truncated and extended.
      if (!p.empty()) {
        Hashes q(p.begin(), p.end() - 1);
        REQUIRE_FALSE(verify_inclusion(m, n, d[m], q, root));
        q = Hashes(p.begin() + 1, p.end());
        REQUIRE_FALSE(verify_inclusion(m, n, d[m], q, root));
      }
      Hashes longer = p;
      longer.push_back(root);
      REQUIRE_FALSE(verify_inclusion(m, n, d[m], longer, root));
      longer = p;
      longer.insert(longer.begin(), d[m]);
      REQUIRE_FALSE(verify_inclusion(m, n, d[m], longer, root));
    }
  }
}

TEST_CASE("merkle_proof: every altered consistency proof fails", "[merkle_proof]") {
  const Hashes all = leaves_of(70);
  for (std::size_t n = 1; n <= 70; ++n) {
    Hashes d = slice(all, 0, n);
    Digest root = merkle_root_of(d);
    for (std::size_t m = 1; m <= n; ++m) {
      INFO("n=" << n << " m=" << m);
      Digest old_root = merkle_root_of(slice(d, 0, m));
      Hashes p = ref_proof(m, d);
      int forged = 0;  // bit flips that still verify
      const std::size_t stride = flip_stride(n);
      for (std::size_t i = 0; i < p.size(); ++i) {
        for (std::size_t bit = 0; bit < 256; bit += stride) {
          Hashes q = p;
          q[i][bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
          forged += verify_consistency(m, n, old_root, root, q) ? 1 : 0;
        }
      }
      for (std::size_t bit = 0; bit < 256; bit += stride) {
        Digest o = old_root, r = root;
        o[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        r[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        forged += verify_consistency(m, n, o, root, p) ? 1 : 0;
        forged += verify_consistency(m, n, old_root, r, p) ? 1 : 0;
      }
      REQUIRE(forged == 0);
      // Another old size or new size, each checked against that size's true root.
      for (std::size_t other = 0; other < n + 2; ++other) {
        if (other == m) continue;
        Digest other_root = merkle_root_of(slice(all, 0, std::min<std::size_t>(other, 70)));
        REQUIRE_FALSE(verify_consistency(other, n, other_root, root, p));
      }
      for (std::size_t size = 0; size < n + 3 && size <= 70; ++size) {
        if (size == n) continue;
        Digest size_root = merkle_root_of(slice(all, 0, size));
        REQUIRE_FALSE(verify_consistency(m, size, old_root, size_root, p));
      }
      if (!p.empty()) {
        Hashes q(p.begin(), p.end() - 1);
        REQUIRE_FALSE(verify_consistency(m, n, old_root, root, q));
        q = Hashes(p.begin() + 1, p.end());
        REQUIRE_FALSE(verify_consistency(m, n, old_root, root, q));
      }
      Hashes longer = p;
      longer.push_back(root);
      REQUIRE_FALSE(verify_consistency(m, n, old_root, root, longer));
      longer = p;
      longer.insert(longer.begin(), old_root);
      REQUIRE_FALSE(verify_consistency(m, n, old_root, root, longer));
    }
  }
}

TEST_CASE("merkle_proof: malformed requests are refused, not crashed on", "[merkle_proof]") {
  Digest z{};
  CHECK_FALSE(ProofBuilder::inclusion(0, 0));
  CHECK_FALSE(ProofBuilder::inclusion(5, 5));
  CHECK_FALSE(ProofBuilder::consistency(0, 5));
  CHECK_FALSE(ProofBuilder::consistency(6, 5));
  CHECK_FALSE(verify_inclusion(0, 0, z, {}, z));
  CHECK_FALSE(verify_inclusion(UINT64_MAX, UINT64_MAX, z, {}, z));
  CHECK_FALSE(verify_inclusion(0, UINT64_MAX, z, Hashes(80, z), z));
  CHECK_FALSE(verify_consistency(0, 0, z, z, {}));
  CHECK_FALSE(verify_consistency(0, 1, z, z, {}));
  CHECK_FALSE(verify_consistency(2, 1, z, z, {}));
  CHECK_FALSE(verify_consistency(1, 2, z, z, {}));
  CHECK_FALSE(verify_consistency(1, UINT64_MAX, z, z, Hashes(80, z)));
  CHECK_FALSE(verify_consistency(UINT64_MAX - 1, UINT64_MAX, z, z, Hashes(80, z)));
  // A one-leaf tree: the leaf hash is the root and the proof is empty.
  Digest leaf = merkle_leaf_hash("x");
  CHECK(verify_inclusion(0, 1, leaf, {}, leaf));
  CHECK(verify_consistency(3, 3, leaf, leaf, {}));
  CHECK_FALSE(verify_consistency(3, 3, leaf, leaf, {leaf}));
}

TEST_CASE("merkle_proof: a builder keeps O(log n) state for a big tree", "[merkle_proof]") {
  // 2^20 + 3 leaves stream through two builders; the result checks against CompactRange.
  const std::uint64_t n = (1u << 20) + 3, m = 777'777;
  auto inc = ProofBuilder::inclusion(m, n);
  auto con = ProofBuilder::consistency(m, n);
  REQUIRE(inc);
  REQUIRE(con);
  CompactRange tree;
  Digest leaf_m{}, root_m{};
  for (std::uint64_t i = 0; i < n; ++i) {
    Digest l{};
    for (int b = 0; b < 8; ++b)
      l[b] = static_cast<std::uint8_t>(i >> (8 * b));
    if (i == m) {
      leaf_m = l;
      root_m = tree.root();
    }
    tree.append(l);
    inc->add(l);
    con->add(l);
  }
  CHECK(inc->proof().size() == 21);
  CHECK(verify_inclusion(m, n, leaf_m, inc->proof(), tree.root()));
  CHECK(verify_consistency(m, n, root_m, tree.root(), con->proof()));
}
