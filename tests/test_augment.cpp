// Tests of data/augment.h: exact flips, the geometry of rotation/shift/zoom, photometry, and
// per-sample reproducibility of the seeded parameters.
//   cmake --build build --target test_augment && build/tests/test_augment
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "data/augment.h"
#include "support/compare.h"
#include "core/error.h"

namespace alz::data {
namespace {

Image random_image(int h, int w, int c, uint32_t seed) {
  std::mt19937 rng(seed);
  Image image(h, w, c);
  for (auto& v : image.pixels) v = static_cast<uint8_t>(rng() & 0xFF);
  return image;
}

TEST(Augment, FlipIsExactAndAnInvolution) {
  for (auto [h, w, c] : {std::tuple{5, 7, 3}, std::tuple{1, 1, 3}, std::tuple{4, 6, 1}, std::tuple{3, 2, 3}}) {
    Image image = random_image(h, w, c, 1);
    Image flipped = image;
    flip_horizontal(flipped);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < c; ++k) ASSERT_EQ(flipped.at(y, x, k), image.at(y, w - 1 - x, k));
    flip_horizontal(flipped);
    EXPECT_EQ(flipped.pixels, image.pixels);
    // Through augment_image: the flip-only fast path, and the general warp with a zero angle
    // that is not exactly zero in its inputs: both exact.
    AugmentParams p;
    p.flip = true;
    Image via = augment_image(image, p);
    flip_horizontal(via);
    EXPECT_EQ(via.pixels, image.pixels);
  }
}

TEST(Augment, IdentityParamsChangeNothing) {
  Image image = random_image(9, 11, 3, 2);
  EXPECT_EQ(augment_image(image, AugmentParams{}).pixels, image.pixels);
}

TEST(Augment, QuarterTurnMovesPixelsWhereExpected) {
  const int n = 7;
  Image image = random_image(n, n, 3, 3);
  AugmentParams p;
  p.angle_radians = static_cast<float>(M_PI / 2);
  Image turned = augment_image(image, p);
  // out(y, x) = in(n-1-x, y): the content turns by +90 degrees in (x right, y down) pixels.
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_NEAR(turned.at(y, x, c), image.at(n - 1 - x, y, c), 1) << "cos(pi/2) is 4e-8 in float: y " << y;
  Image back = turned;
  for (int k = 0; k < 3; ++k) back = augment_image(back, p);
  for (size_t i = 0; i < image.pixels.size(); ++i) ASSERT_NEAR(back.pixels[i], image.pixels[i], 1) << i;
}

TEST(Augment, ShiftMovesByWholePixelsWithNearestFill) {
  Image image = random_image(6, 9, 1, 4);
  AugmentParams p;
  p.shift_x = 3.0f;
  p.shift_y = -1.0f;
  Image shifted = augment_image(image, p);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 9; ++x) {
      int sy = std::clamp(y + 1, 0, 5), sx = std::clamp(x - 3, 0, 8);
      ASSERT_EQ(shifted.at(y, x, 0), image.at(sy, sx, 0)) << "y " << y << " x " << x;
    }
}

TEST(Augment, ZoomKeepsTheCentreAndEnlargesContent) {
  Image image(9, 9, 1);
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 9; ++x) image.at(y, x, 0) = static_cast<uint8_t>(20 * x + y);
  AugmentParams p;
  p.scale = 2.0f;
  Image zoomed = augment_image(image, p);
  EXPECT_EQ(zoomed.at(4, 4, 0), image.at(4, 4, 0));
  // Output column 6 samples source column 4 + (6 - 4) / 2 = 5 along the centre row.
  EXPECT_EQ(zoomed.at(4, 6, 0), image.at(4, 5, 0));
  EXPECT_EQ(zoomed.at(4, 2, 0), image.at(4, 3, 0));
}

TEST(Augment, BrightnessAndContrast) {
  Image image = random_image(5, 5, 3, 5);
  AugmentParams p;
  p.brightness = 10.0f;
  Image brighter = augment_image(image, p);
  for (size_t i = 0; i < image.pixels.size(); ++i)
    ASSERT_EQ(brighter.pixels[i], std::min(255, image.pixels[i] + 10));
  p = AugmentParams{};
  p.contrast = 0.5f;
  Image flat = augment_image(image, p);
  double mean = 0.0;
  for (uint8_t v : image.pixels) mean += v;
  mean /= image.pixels.size();
  for (size_t i = 0; i < image.pixels.size(); ++i)
    ASSERT_NEAR(flat.pixels[i], 0.5 * (image.pixels[i] - mean) + mean, 0.5 + 1e-4) << "rounded to nearest";
}

TEST(Augment, ParamsAreSeededPerSampleAndInRange) {
  AugmentOptions o;
  AugmentParams a = draw_augment_params(o, 42, 3, 17, 224, 224);
  AugmentParams b = draw_augment_params(o, 42, 3, 17, 224, 224);
  EXPECT_EQ(a.flip, b.flip);
  EXPECT_EQ(a.angle_radians, b.angle_radians);
  EXPECT_EQ(a.shift_x, b.shift_x);
  EXPECT_EQ(a.contrast, b.contrast);
  EXPECT_NE(draw_augment_params(o, 42, 4, 17, 224, 224).angle_radians, a.angle_radians) << "another epoch";
  EXPECT_NE(draw_augment_params(o, 42, 3, 18, 224, 224).angle_radians, a.angle_radians) << "another sample";
  EXPECT_NE(draw_augment_params(o, 43, 3, 17, 224, 224).angle_radians, a.angle_radians) << "another seed";

  int flips = 0;
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) {
    AugmentParams p = draw_augment_params(o, 7, 0, i, 100, 200);
    flips += p.flip;
    ASSERT_LE(std::abs(p.angle_radians), o.rotation_degrees * M_PI / 180 + 1e-6);
    ASSERT_GE(p.scale, 1 - o.zoom - 1e-6);
    ASSERT_LE(p.scale, 1 + o.zoom + 1e-6);
    ASSERT_LE(std::abs(p.shift_x), o.shift * 200 + 1e-4);
    ASSERT_LE(std::abs(p.shift_y), o.shift * 100 + 1e-4);
    ASSERT_LE(std::abs(p.brightness), o.brightness * 255 + 1e-3);
    ASSERT_LE(std::abs(p.contrast - 1), o.contrast + 1e-6);
  }
  EXPECT_NEAR(flips, draws / 2, 200) << "binomial(4000, 1/2): sd 32";

  AugmentParams none = draw_augment_params(AugmentOptions::none(), 7, 0, 1, 10, 10);
  EXPECT_FALSE(none.flip);
  EXPECT_EQ(none.angle_radians, 0.0f);
  EXPECT_EQ(none.scale, 1.0f);
  EXPECT_EQ(none.brightness, 0.0f);

  AugmentOptions bad;
  bad.zoom = -0.1f;
  EXPECT_THROW(draw_augment_params(bad, 1, 0, 0, 8, 8), Error);
}

TEST(Augment, SameSampleSameResult) {
  Image image = random_image(32, 30, 3, 6);
  AugmentOptions o;
  Image a = augment_image(image, draw_augment_params(o, 9, 2, 5, 32, 30));
  Image b = augment_image(image, draw_augment_params(o, 9, 2, 5, 32, 30));
  EXPECT_EQ(a.pixels, b.pixels);
  Image c = augment_image(image, draw_augment_params(o, 9, 3, 5, 32, 30));
  EXPECT_NE(a.pixels, c.pixels);
}

}  // namespace
}  // namespace alz::data
