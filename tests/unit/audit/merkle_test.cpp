// RFC 6962 Merkle tree hashes: the incremental CompactRange against the RFC's recursive
// definition, and the well-known test vectors over the eight reference leaves.
#include <catch2/catch.hpp>

#include "governance/audit/encoding.hpp"
#include "governance/audit/merkle.hpp"

using namespace gt::gov::audit;

TEST_CASE("merkle: reference vectors", "[merkle]") {
  CHECK(to_hex(merkle_empty_root()) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string leaves[] = {
      "",
      std::string("\x00", 1),
      "\x10",
      "\x20\x21",
      "\x30\x31",
      "\x40\x41\x42\x43",
      "\x50\x51\x52\x53\x54\x55\x56\x57",
      "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
  };
  const char* roots[] = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  };
  CompactRange r;
  std::vector<Digest> hashes;
  for (int i = 0; i < 8; ++i) {
    r.append(merkle_leaf_hash(leaves[i]));
    hashes.push_back(merkle_leaf_hash(leaves[i]));
    INFO("size " << i + 1);
    CHECK(to_hex(r.root()) == roots[i]);
    CHECK(to_hex(merkle_root_of(hashes)) == roots[i]);
  }
}

TEST_CASE("merkle: compact range equals the recursive definition for every size", "[merkle]") {
  CompactRange r;
  std::vector<Digest> hashes;
  CHECK(r.root() == merkle_root_of(hashes));
  for (int i = 0; i < 300; ++i) {
    Digest leaf = merkle_leaf_hash("leaf " + std::to_string(i));
    r.append(leaf);
    hashes.push_back(leaf);
    REQUIRE(r.root() == merkle_root_of(hashes));
    REQUIRE(r.frontier().size() == static_cast<std::size_t>(__builtin_popcountll(r.size())));
  }
  // Resuming from a frontier continues the same tree.
  CompactRange resumed;
  REQUIRE(resumed.restore(r.size(), r.frontier()));
  for (int i = 300; i < 333; ++i) {
    Digest leaf = merkle_leaf_hash("leaf " + std::to_string(i));
    r.append(leaf);
    resumed.append(leaf);
    hashes.push_back(leaf);
  }
  CHECK(resumed.root() == merkle_root_of(hashes));
  CHECK(resumed.root() == r.root());
  CompactRange bad;
  CHECK_FALSE(bad.restore(5, {merkle_empty_root()}));  // 5 = 4 + 1 needs two hashes
}
