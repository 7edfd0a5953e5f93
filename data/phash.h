// Perceptual and byte hashes for finding duplicate images.
//
// phash: the image in grey (BT.601 luma), shrunk to 32x32 by area averaging (each output pixel
// is the mean of the input pixels its cell covers, fractional pixels weighted), a 2-D DCT-II
//   F(u, v) = sum_y sum_x g(y, x) cos(pi (2y + 1) u / 64) cos(pi (2x + 1) v / 64),
// and bit 8u + v (u, v < 8) set when F(u, v) is above the median of those 64 coefficients.
// A brightness offset moves only F(0, 0), a contrast gain scales all of them, and JPEG
// re-encoding barely touches the lowest frequencies: such copies land within a few bits.
// hamming_distance counts differing bits.
//
// detail hash: the same with the 16x16 lowest frequencies (256 bits, bit 16u + v). Brain slices
// share their low-frequency outline, so distinct slices can sit within a few bits in the 64-bit
// hash; the detail hash also sees ventricles and sulci. On phantoms, JPEG re-encoding plus a
// brightness shift moves it by <= ~6 bits, while distinct slices differ by >= ~50.
//
// find_near_pairs finds every pair within Hamming distance T without comparing all pairs
// (multi-index hashing): the 64 bits are cut into 4 chunks of 16; two hashes within T differ by
// at most floor(T / 4) bits in at least one chunk, so each hash is looked up in 4 bucket tables
// under every chunk value within floor(T / 4) bits of its own. T is limited to 0..15.
//
// fnv1a64: the FNV-1a 64-bit hash of a byte string, for exact duplicate files.
//
// Tested in tests/test_phash.cpp:
//   cmake --build build --target test_phash && build/tests/test_phash
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/image.h"

namespace alz::data {

using DetailHash = std::array<uint64_t, 4>;

struct PerceptualHashes {
  uint64_t phash = 0;   // 8x8 frequencies
  DetailHash detail{};  // 16x16 frequencies
};

PerceptualHashes perceptual_hashes(const Image& image);  // both from one thumbnail and DCT
uint64_t phash(const Image& image);
int hamming_distance(uint64_t a, uint64_t b);
int hamming_distance(const DetailHash& a, const DetailHash& b);

uint64_t fnv1a64(const uint8_t* bytes, size_t size, uint64_t hash = 0xCBF29CE484222325ull);
// FNV-1a 64 of a file's contents; throws alz::Error "<path>: <reason>" when it cannot be read.
uint64_t fnv1a64_file(const std::string& path);

constexpr int kMaxNearThreshold = 15;

struct NearPair {
  int64_t a, b;  // indices into the hash list, a < b
  int distance;
};

// All pairs (a < b) with hamming_distance(hashes[a], hashes[b]) <= threshold, sorted by (a, b).
// Throws alz::Error when threshold is outside 0..kMaxNearThreshold.
std::vector<NearPair> find_near_pairs(const std::vector<uint64_t>& hashes, int threshold);

}  // namespace alz::data
