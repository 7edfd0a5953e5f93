// Perceptual hashes (32x32 area-averaged grey, DCT-II, the 8x8 and 16x16 lowest frequencies
// against their medians), FNV-1a 64 byte hashes, and near-duplicate pairs by multi-index hashing.
// See data/phash.h; tests in tests/test_phash.cpp.
#include "data/phash.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <fstream>

#include "core/error.h"

namespace alz::data {

namespace {

constexpr int kSide = 32;    // the grey thumbnail is kSide x kSide
constexpr int kLow = 8;      // the 64-bit hash keeps the kLow x kLow lowest frequencies
constexpr int kDetail = 16;  // the 256-bit hash keeps kDetail x kDetail

// Output cell o of n pixels shrunk (or stretched) to kSide cells averages input pixels
// first[o] .. first[o] + weight[o].size() - 1 with those weights (they sum to 1).
struct AreaWeights {
  std::array<int, kSide> first{};
  std::array<std::vector<double>, kSide> weight;
};

AreaWeights area_weights(int n) {
  AreaWeights a;
  const double cell = double(n) / kSide;
  for (int o = 0; o < kSide; ++o) {
    double begin = o * cell, end = (o + 1) * cell;
    a.first[size_t(o)] = int(std::floor(begin));
    for (int i = a.first[size_t(o)]; i < n && i < end; ++i)
      a.weight[size_t(o)].push_back((std::min(end, double(i + 1)) - std::max(begin, double(i))) / cell);
  }
  return a;
}

}  // namespace

PerceptualHashes perceptual_hashes(const Image& image) {
  ALZ_CHECK(!image.empty() && image.height > 0 && image.width > 0, "phash: empty image");
  const int h = image.height, w = image.width, c = image.channels;
  ALZ_CHECK(c == 1 || c == 3 || c == 4, "phash: " << c << " channels (need 1, 3 or 4)");
  // Grey, then shrink rows (W -> 32) and columns (H -> 32).
  const AreaWeights wx = area_weights(w), wy = area_weights(h);
  std::vector<double> rows(size_t(h) * kSide, 0.0);  // (H, 32)
  std::vector<double> grey(static_cast<size_t>(w));
  for (int y = 0; y < h; ++y) {
    const uint8_t* p = &image.pixels[size_t(y) * w * c];
    for (int x = 0; x < w; ++x)
      grey[size_t(x)] = c == 1 ? p[x] : 0.299 * p[x * c] + 0.587 * p[x * c + 1] + 0.114 * p[x * c + 2];
    for (int o = 0; o < kSide; ++o) {
      double sum = 0;
      const std::vector<double>& weight = wx.weight[size_t(o)];
      for (size_t k = 0; k < weight.size(); ++k) sum += weight[k] * grey[size_t(wx.first[size_t(o)]) + k];
      rows[size_t(y) * kSide + o] = sum;
    }
  }
  std::array<double, kSide * kSide> small{};  // (32, 32)
  for (int o = 0; o < kSide; ++o) {
    const std::vector<double>& weight = wy.weight[size_t(o)];
    for (size_t k = 0; k < weight.size(); ++k) {
      const double* row = &rows[(size_t(wy.first[size_t(o)]) + k) * kSide];
      for (int x = 0; x < kSide; ++x) small[size_t(o) * kSide + x] += weight[k] * row[x];
    }
  }
  // DCT-II of the lowest kDetail frequencies: F = C G C^T with C(u, y) = cos(pi (2y + 1) u / 64).
  std::array<double, kDetail * kSide> basis{};
  for (int u = 0; u < kDetail; ++u)
    for (int y = 0; y < kSide; ++y)
      basis[size_t(u) * kSide + y] = std::cos(3.14159265358979323846 * (2 * y + 1) * u / (2.0 * kSide));
  std::array<double, kSide * kDetail> half{};  // (32, 16): G C^T
  for (int y = 0; y < kSide; ++y)
    for (int v = 0; v < kDetail; ++v) {
      double sum = 0;
      for (int x = 0; x < kSide; ++x) sum += small[size_t(y) * kSide + x] * basis[size_t(v) * kSide + x];
      half[size_t(y) * kDetail + v] = sum;
    }
  std::array<double, kDetail * kDetail> freq{};  // (16, 16)
  for (int u = 0; u < kDetail; ++u)
    for (int v = 0; v < kDetail; ++v) {
      double sum = 0;
      for (int y = 0; y < kSide; ++y) sum += basis[size_t(u) * kSide + y] * half[size_t(y) * kDetail + v];
      freq[size_t(u) * kDetail + v] = sum;
    }
  auto median = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return 0.5 * (values[values.size() / 2 - 1] + values[values.size() / 2]);
  };
  PerceptualHashes out;
  std::vector<double> low;
  for (int u = 0; u < kLow; ++u)
    for (int v = 0; v < kLow; ++v) low.push_back(freq[size_t(u) * kDetail + v]);
  const double low_median = median(low);
  for (size_t i = 0; i < low.size(); ++i)
    if (low[i] > low_median) out.phash |= uint64_t{1} << i;
  const double detail_median = median(std::vector<double>(freq.begin(), freq.end()));
  for (size_t i = 0; i < freq.size(); ++i)
    if (freq[i] > detail_median) out.detail[i / 64] |= uint64_t{1} << (i % 64);
  return out;
}

uint64_t phash(const Image& image) { return perceptual_hashes(image).phash; }

int hamming_distance(uint64_t a, uint64_t b) { return std::popcount(a ^ b); }

int hamming_distance(const DetailHash& a, const DetailHash& b) {
  int sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::popcount(a[i] ^ b[i]);
  return sum;
}

uint64_t fnv1a64(const uint8_t* bytes, size_t size, uint64_t hash) {
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001B3ull;
  }
  return hash;
}

uint64_t fnv1a64_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ALZ_CHECK(in, path << ": cannot open for reading");
  uint64_t hash = 0xCBF29CE484222325ull;
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    hash = fnv1a64(reinterpret_cast<const uint8_t*>(buffer.data()), size_t(in.gcount()), hash);
  }
  ALZ_CHECK(in.eof(), path << ": read error");
  return hash;
}

std::vector<NearPair> find_near_pairs(const std::vector<uint64_t>& hashes, int threshold) {
  ALZ_CHECK(threshold >= 0 && threshold <= kMaxNearThreshold,
            "near-duplicate threshold " << threshold << " is outside 0.." << kMaxNearThreshold);
  constexpr int kChunks = 4, kBuckets = 1 << 16;
  const int64_t n = int64_t(hashes.size());
  const int radius = threshold / kChunks;  // pigeonhole: some chunk differs by <= radius bits
  std::vector<uint16_t> flips;             // every 16-bit mask with <= radius bits set
  for (int mask = 0; mask < kBuckets; ++mask)
    if (std::popcount(unsigned(mask)) <= radius) flips.push_back(uint16_t(mask));
  std::vector<NearPair> pairs;
  std::vector<int64_t> start(kBuckets + 1), members(static_cast<size_t>(n));
  for (int chunk = 0; chunk < kChunks; ++chunk) {
    auto key = [&](int64_t i) { return int((hashes[size_t(i)] >> (16 * chunk)) & 0xFFFF); };
    // Bucket table for this chunk (counting sort): members[start[k] .. start[k+1]) hold chunk value k.
    std::fill(start.begin(), start.end(), 0);
    for (int64_t i = 0; i < n; ++i) ++start[size_t(key(i)) + 1];
    for (int k = 0; k < kBuckets; ++k) start[size_t(k) + 1] += start[size_t(k)];
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i) members[size_t(fill[size_t(key(i))]++)] = i;
    for (int64_t i = 0; i < n; ++i)
      for (uint16_t flip : flips) {
        int bucket = key(i) ^ flip;
        for (int64_t m = start[size_t(bucket)]; m < start[size_t(bucket) + 1]; ++m) {
          int64_t j = members[size_t(m)];
          if (j <= i) continue;
          int distance = hamming_distance(hashes[size_t(i)], hashes[size_t(j)]);
          if (distance <= threshold) pairs.push_back(NearPair{i, j, distance});
        }
      }
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const NearPair& x, const NearPair& y) { return x.a != y.a ? x.a < y.a : x.b < y.b; });
  pairs.erase(std::unique(pairs.begin(), pairs.end(),
                          [](const NearPair& x, const NearPair& y) { return x.a == y.a && x.b == y.b; }),
              pairs.end());
  return pairs;
}

}  // namespace alz::data
