// Tests of data/augment.h: exact flips, the geometry of rotation/shift/zoom, photometry on
// float pixels (clamped, never rounded), and per-sample reproducibility of the seeded parameters.
//   cmake --build build --target test_augment && build/tests/test_augment
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "data/augment.h"
#include "support/compare.h"

namespace alz::data {
namespace {

// Fractional values in [0, 255], as a resize gives them.
FloatImage random_image(int h, int w, int c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(0.0f, 255.0f);
  FloatImage image(h, w, c);
  for (auto& v : image.pixels) v = value(rng);
  return image;
}

TEST(Augment, FlipIsExactAndAnInvolution) {
  for (auto [h, w, c] : {std::tuple{5, 7, 3}, std::tuple{1, 1, 3}, std::tuple{4, 6, 1}, std::tuple{3, 2, 3}}) {
    FloatImage image = random_image(h, w, c, 1);
    FloatImage flipped = image;
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
    FloatImage via = augment_image(image, p);
    flip_horizontal(via);
    EXPECT_EQ(via.pixels, image.pixels);
  }
}

TEST(Augment, IdentityParamsChangeNothing) {
  FloatImage image = random_image(9, 11, 3, 2);
  EXPECT_EQ(augment_image(image, AugmentParams{}).pixels, image.pixels);
}

TEST(Augment, QuarterTurnMovesPixelsWhereExpected) {
  const int n = 7;
  FloatImage image = random_image(n, n, 3, 3);
  AugmentParams p;
  p.angle_radians = static_cast<float>(M_PI / 2);
  FloatImage turned = augment_image(image, p);
  // out(y, x) = in(n-1-x, y): the content turns by +90 degrees in (x right, y down) pixels.
  // cos(pi/2) is -4e-8 in float: sample positions move by ~1e-6 pixel, values by ~1e-3 at most.
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_NEAR(turned.at(y, x, c), image.at(n - 1 - x, y, c), 1e-3) << "y " << y;
  FloatImage back = turned;
  for (int k = 0; k < 3; ++k) back = augment_image(back, p);
  for (size_t i = 0; i < image.pixels.size(); ++i) ASSERT_NEAR(back.pixels[i], image.pixels[i], 4e-3) << i;
}

TEST(Augment, ShiftMovesByWholePixelsWithNearestFill) {
  FloatImage image = random_image(6, 9, 1, 4);
  AugmentParams p;
  p.shift_x = 3.0f;
  p.shift_y = -1.0f;
  FloatImage shifted = augment_image(image, p);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 9; ++x) {
      int sy = std::clamp(y + 1, 0, 5), sx = std::clamp(x - 3, 0, 8);
      ASSERT_EQ(shifted.at(y, x, 0), image.at(sy, sx, 0)) << "y " << y << " x " << x;
    }
}

TEST(Augment, ZoomKeepsTheCentreAndEnlargesContent) {
  FloatImage image(9, 9, 1);
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 9; ++x) image.at(y, x, 0) = 20.25f * x + y;
  AugmentParams p;
  p.scale = 2.0f;
  FloatImage zoomed = augment_image(image, p);
  EXPECT_EQ(zoomed.at(4, 4, 0), image.at(4, 4, 0));
  // Output column 6 samples source column 4 + (6 - 4) / 2 = 5 along the centre row.
  EXPECT_EQ(zoomed.at(4, 6, 0), image.at(4, 5, 0));
  EXPECT_EQ(zoomed.at(4, 2, 0), image.at(4, 3, 0));
}

TEST(Augment, BrightnessAndContrast) {
  FloatImage image = random_image(5, 5, 3, 5);
  AugmentParams p;
  p.brightness = 10.0f;
  FloatImage brighter = augment_image(image, p);
  for (size_t i = 0; i < image.pixels.size(); ++i)
    ASSERT_EQ(brighter.pixels[i], std::min(255.0f, image.pixels[i] + 10.0f)) << "clamped at 255, not rounded";
  p.brightness = -30.0f;
  FloatImage darker = augment_image(image, p);
  for (size_t i = 0; i < image.pixels.size(); ++i)
    ASSERT_EQ(darker.pixels[i], std::max(0.0f, image.pixels[i] - 30.0f)) << "clamped at 0";
  p = AugmentParams{};
  p.contrast = 0.5f;
  FloatImage flat = augment_image(image, p);
  double mean = 0.0;
  for (float v : image.pixels) mean += v;
  mean /= image.pixels.size();
  for (size_t i = 0; i < image.pixels.size(); ++i)
    ASSERT_NEAR(flat.pixels[i], 0.5 * (image.pixels[i] - mean) + mean, 1e-4) << "float arithmetic, no rounding";
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
  FloatImage image = random_image(32, 30, 3, 6);
  AugmentOptions o;
  FloatImage a = augment_image(image, draw_augment_params(o, 9, 2, 5, 32, 30));
  FloatImage b = augment_image(image, draw_augment_params(o, 9, 2, 5, 32, 30));
  EXPECT_EQ(a.pixels, b.pixels);
  FloatImage c = augment_image(image, draw_augment_params(o, 9, 3, 5, 32, 30));
  EXPECT_NE(a.pixels, c.pixels);
}

}  // namespace
}  // namespace alz::data
