// Training-time augmentation, seeded per sample so that runs reproduce.
//
// Works on the resized float image (H, W, C), values 0..255 (data/resize.h), before
// preprocessing:
//   1. geometry, one inverse-mapped affine warp about the image centre: optional horizontal
//      flip, rotation by `angle`, zoom by `scale` (> 1 enlarges the content), shift by
//      (shift_x, shift_y) pixels; bilinear sampling; outside the source the nearest edge pixel
//      is used (Keras's fill_mode="nearest"). With no rotation, zoom or shift the flip is an
//      exact pixel reversal and no resampling happens.
//   2. photometry per pixel: v' = contrast * (v - mean) + mean + brightness, clamped to
//      [0, 255] (not rounded), where mean is the image's mean over all pixels and channels.
// The parameters of sample `index` in `epoch` come from Philox(seed; index, epoch) only, so
// they do not depend on the order or the thread in which samples are processed. Evaluation
// does not augment (the loader applies this only when asked).
//
// Tested in tests/test_augment.cpp:
//   cmake --build build --target test_augment && build/tests/test_augment
#pragma once
#include <cstdint>
#include <string>

#include "data/image.h"

namespace alz::data {

struct AugmentOptions {
  bool horizontal_flip = true;     // with probability 1/2
  float rotation_degrees = 10.0f;  // uniform in [-r, r]
  float zoom = 0.1f;               // scale uniform in [1 - z, 1 + z]
  float shift = 0.1f;              // per axis, uniform in [-s, s] times the side
  float brightness = 0.1f;         // additive, uniform in [-b, b] times 255
  float contrast = 0.1f;           // factor uniform in [1 - c, 1 + c]

  static AugmentOptions none();  // everything off
  std::string describe() const;
};

struct AugmentParams {
  bool flip = false;
  float angle_radians = 0.0f;
  float scale = 1.0f;
  float shift_x = 0.0f, shift_y = 0.0f;  // pixels
  float brightness = 0.0f;               // added to 0..255 values
  float contrast = 1.0f;
};

// The parameters for one sample of one epoch; `height`/`width` turn shift fractions into pixels.
AugmentParams draw_augment_params(const AugmentOptions& options, uint64_t seed, int64_t epoch, int64_t sample_index,
                                  int height, int width);

// Returns the augmented image (same size and channels).
FloatImage augment_image(const FloatImage& image, const AugmentParams& params);

// In place, exact.
void flip_horizontal(FloatImage& image);

}  // namespace alz::data
