// Perceptual hashes, byte hashes and near-pair search (data/phash.h): stable under JPEG
// re-encoding and brightness/contrast changes, far apart for different phantom slices, and
// find_near_pairs equal to the all-pairs answer.
//   cmake --build build --target test_phash && build/tests/test_phash
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "data/image.h"
#include "data/phantom.h"
#include "data/phash.h"
#include "support/compare.h"

namespace alz::data {
namespace {

Image phantom(int64_t subject, int label, int slice = 0) {
  return render_phantom_slice(draw_phantom_subject(21, subject, label), slice, 208, 176);
}

// Writes as JPEG at `quality` and decodes again (3 channels).
Image jpeg_round_trip(const Image& image, int quality, const std::string& name) {
  std::string path = test::fresh_temp_dir("phash") + "/" + name + ".jpg";
  write_jpeg(path, image, quality);
  return decode_image_file(path);
}

Image adjust(const Image& image, float gain, int offset) {
  Image out = image;
  for (uint8_t& p : out.pixels) p = uint8_t(std::clamp(int(std::lround(p * gain)) + offset, 0, 255));
  return out;
}

TEST(PHash, SameImageSameHashAndGreyEqualsReplicatedRgb) {
  Image grey = phantom(1, 2);
  EXPECT_EQ(phash(grey), phash(grey));
  Image rgb(grey.height, grey.width, 3);
  for (size_t i = 0; i < grey.pixels.size(); ++i)
    for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + size_t(c)] = grey.pixels[i];
  EXPECT_EQ(phash(rgb), phash(grey));
  EXPECT_EQ(perceptual_hashes(rgb).detail, perceptual_hashes(grey).detail);
  // About half the bits are set (median threshold).
  int ones = std::popcount(phash(grey));
  EXPECT_GT(ones, 20);
  EXPECT_LT(ones, 44);
}

TEST(PHash, RobustToJpegReencodingAndBrightness) {
  for (int i = 0; i < 6; ++i) {
    Image original = phantom(i, i % 4, i % 3);
    PerceptualHashes base = perceptual_hashes(original);
    Image reencoded = jpeg_round_trip(original, 70, "q70");
    Image brighter = jpeg_round_trip(adjust(original, 1.08f, 6), 85, "bright");
    // Bounds: measured <= 2 (64-bit) and <= 6 (256-bit) on phantoms; twice that for margin.
    for (const Image* copy : {&reencoded, &brighter}) {
      PerceptualHashes h = perceptual_hashes(*copy);
      EXPECT_LE(hamming_distance(base.phash, h.phash), 4) << "phantom " << i;
      EXPECT_LE(hamming_distance(base.detail, h.detail), 12) << "phantom " << i;
    }
  }
}

TEST(PHash, DifferentPhantomsAreFarApartInTheDetailHash) {
  std::vector<PerceptualHashes> hashes;
  for (int i = 0; i < 24; ++i) hashes.push_back(perceptual_hashes(phantom(100 + i, i % 4)));
  int min_detail = 256, sum_phash = 0, pairs = 0;
  for (size_t a = 0; a < hashes.size(); ++a)
    for (size_t b = a + 1; b < hashes.size(); ++b) {
      min_detail = std::min(min_detail, hamming_distance(hashes[a].detail, hashes[b].detail));
      sum_phash += hamming_distance(hashes[a].phash, hashes[b].phash);
      ++pairs;
    }
  EXPECT_GE(min_detail, 36) << "distinct slices must be far beyond the copy distances (<= 12)";
  EXPECT_GE(double(sum_phash) / pairs, 12.0) << "typical 64-bit distance between distinct slices";
}

TEST(PHash, SmallAndOddImagesHash) {
  Image tiny(5, 3, 1);
  for (size_t i = 0; i < tiny.pixels.size(); ++i) tiny.pixels[i] = uint8_t(17 * i);
  EXPECT_EQ(phash(tiny), phash(tiny));
  EXPECT_NE(phash(tiny), 0u);
  Image one(1, 1, 3);
  EXPECT_NO_THROW(phash(one));
  EXPECT_THROW(phash(Image{}), Error);
}

TEST(PHash, Fnv1a64KnownAnswersAndFiles) {
  // Reference values of FNV-1a 64.
  EXPECT_EQ(fnv1a64(nullptr, 0), 0xCBF29CE484222325ull);
  EXPECT_EQ(fnv1a64(reinterpret_cast<const uint8_t*>("a"), 1), 0xAF63DC4C8601EC8Cull);
  EXPECT_EQ(fnv1a64(reinterpret_cast<const uint8_t*>("foobar"), 6), 0x85944171F73967E8ull);
  std::string path = test::fresh_temp_dir("fnv") + "/file.bin";
  std::string text(200000, 'x');  // longer than one read buffer
  text[123456] = 'y';
  std::ofstream(path, std::ios::binary) << text;
  EXPECT_EQ(fnv1a64_file(path), fnv1a64(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  EXPECT_THROW(fnv1a64_file(path + ".missing"), Error);
}

TEST(PHash, NearPairsMatchAllPairsSearch) {
  // Seeded random hashes with planted near copies at distances 0..9.
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state ^ (state >> 29);
  };
  std::vector<uint64_t> hashes;
  for (int i = 0; i < 300; ++i) hashes.push_back(next());
  for (int i = 0; i < 120; ++i) {
    uint64_t h = hashes[size_t(next() % 300)];
    int flips = int(next() % 10);
    for (int f = 0; f < flips; ++f) h ^= uint64_t{1} << (next() % 64);
    hashes.push_back(h);
  }
  for (int threshold : {0, 3, 6, 7, 11}) {
    std::vector<NearPair> expected;
    for (size_t a = 0; a < hashes.size(); ++a)
      for (size_t b = a + 1; b < hashes.size(); ++b) {
        int d = hamming_distance(hashes[a], hashes[b]);
        if (d <= threshold) expected.push_back({int64_t(a), int64_t(b), d});
      }
    std::vector<NearPair> found = find_near_pairs(hashes, threshold);
    ASSERT_EQ(found.size(), expected.size()) << "threshold " << threshold;
    for (size_t i = 0; i < found.size(); ++i) {
      EXPECT_EQ(found[i].a, expected[i].a);
      EXPECT_EQ(found[i].b, expected[i].b);
      EXPECT_EQ(found[i].distance, expected[i].distance);
    }
    if (threshold >= 3) {
      EXPECT_GT(expected.size(), 20u) << "planted copies at threshold " << threshold;
    }
  }
  EXPECT_TRUE(find_near_pairs({}, 6).empty());
  EXPECT_THROW(find_near_pairs(hashes, 16), Error);
  EXPECT_THROW(find_near_pairs(hashes, -1), Error);
}

}  // namespace
}  // namespace alz::data
