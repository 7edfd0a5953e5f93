// Training augmentation on float (H, W, C) images, values 0..255: flip, rotation, zoom, shift
// (one affine warp, bilinear, nearest-edge fill), then brightness and contrast. Nothing is
// rounded: the pixels stay the floats the resize gave. See data/augment.h.
//
// The warp maps every output pixel centre p (pixel units, origin at the image centre) back to
// the source:  s = R(-angle) * (p - shift) / scale, then x_s -> -x_s when flipped.
//
// Tested in tests/test_augment.cpp:
//   cmake --build build --target test_augment && build/tests/test_augment
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/philox.h"

namespace alz::data {
namespace {

constexpr float kPi = 3.14159265358979f;

// Eight random words for (seed, epoch, index): two Philox blocks, counters (index, epoch*2+k).
struct Draws {
  uint32_t word[8];
  float unit(int k) const { return bits_to_unit_float(word[k]); }  // [0, 1)
  float symmetric(int k) const { return 2.0f * unit(k) - 1.0f; }   // [-1, 1)
};

Draws draw_words(uint64_t seed, int64_t epoch, int64_t index) {
  Draws d;
  for (int block = 0; block < 2; ++block) {
    PhiloxBlock b = philox4x32(static_cast<uint64_t>(index), static_cast<uint64_t>(epoch) * 2 + block,
                               seed ^ 0xA5A5A5A55A5A5A5AULL);
    for (int k = 0; k < 4; ++k) d.word[block * 4 + k] = b.word[k];
  }
  return d;
}

bool is_identity_geometry(const AugmentParams& p) {
  return p.angle_radians == 0.0f && p.scale == 1.0f && p.shift_x == 0.0f && p.shift_y == 0.0f;
}

FloatImage warp(const FloatImage& src, const AugmentParams& p) {
  const int H = src.height, W = src.width, C = src.channels;
  FloatImage dst(H, W, C);
  const float cx = 0.5f * W, cy = 0.5f * H;
  const float cos_a = std::cos(p.angle_radians), sin_a = std::sin(p.angle_radians);
  const float inv_scale = 1.0f / p.scale;
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      float px = (x + 0.5f - cx - p.shift_x) * inv_scale;
      float py = (y + 0.5f - cy - p.shift_y) * inv_scale;
      float sx = cos_a * px + sin_a * py;  // rotate by -angle
      float sy = -sin_a * px + cos_a * py;
      if (p.flip) sx = -sx;
      // Back to pixel indices (centre of pixel i is i + 0.5), clamped: nearest-edge fill.
      float fx = std::clamp(sx + cx - 0.5f, 0.0f, float(W - 1));
      float fy = std::clamp(sy + cy - 0.5f, 0.0f, float(H - 1));
      int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      int x1 = std::min(x0 + 1, W - 1), y1 = std::min(y0 + 1, H - 1);
      float ax = fx - x0, ay = fy - y0;
      const float* p00 = &src.pixels[(size_t(y0) * W + x0) * C];
      const float* p01 = &src.pixels[(size_t(y0) * W + x1) * C];
      const float* p10 = &src.pixels[(size_t(y1) * W + x0) * C];
      const float* p11 = &src.pixels[(size_t(y1) * W + x1) * C];
      float* out = &dst.pixels[(size_t(y) * W + x) * C];
      for (int c = 0; c < C; ++c) {
        float top = p00[c] + ax * (p01[c] - p00[c]);
        float bottom = p10[c] + ax * (p11[c] - p10[c]);
        out[c] = top + ay * (bottom - top);
      }
    }
  }
  return dst;
}

void adjust_photometry(FloatImage& image, float brightness, float contrast) {
  if (brightness == 0.0f && contrast == 1.0f) return;
  double total = 0.0;
  for (float v : image.pixels) total += v;
  const float mean = image.pixels.empty() ? 0.0f : static_cast<float>(total / image.pixels.size());
  // v' = contrast * (v - mean) + mean + brightness = contrast * v + offset
  const float offset = mean - contrast * mean + brightness;
  for (float& v : image.pixels) v = std::clamp(contrast * v + offset, 0.0f, 255.0f);
}

}  // namespace

AugmentOptions AugmentOptions::none() {
  AugmentOptions o;
  o.horizontal_flip = false;
  o.rotation_degrees = o.zoom = o.shift = o.brightness = o.contrast = 0.0f;
  return o;
}

std::string AugmentOptions::describe() const {
  std::ostringstream s;
  s << "flip " << (horizontal_flip ? "on" : "off") << ", rotation +-" << rotation_degrees << " deg, zoom +-" << zoom
    << ", shift +-" << shift << ", brightness +-" << brightness << ", contrast +-" << contrast;
  return s.str();
}

AugmentParams draw_augment_params(const AugmentOptions& o, uint64_t seed, int64_t epoch, int64_t sample_index,
                                  int height, int width) {
  ALZ_CHECK(o.rotation_degrees >= 0 && o.zoom >= 0 && o.zoom < 1 && o.shift >= 0 && o.brightness >= 0 &&
                o.contrast >= 0 && o.contrast < 1,
            "augment: options out of range (" << o.describe() << ")");
  Draws d = draw_words(seed, epoch, sample_index);
  AugmentParams p;
  p.flip = o.horizontal_flip && (d.word[0] & 1u);
  if (o.rotation_degrees > 0) p.angle_radians = d.symmetric(1) * o.rotation_degrees * kPi / 180.0f;
  if (o.zoom > 0) p.scale = 1.0f + d.symmetric(2) * o.zoom;
  if (o.shift > 0) {
    p.shift_x = d.symmetric(3) * o.shift * width;
    p.shift_y = d.symmetric(4) * o.shift * height;
  }
  if (o.brightness > 0) p.brightness = d.symmetric(5) * o.brightness * 255.0f;
  if (o.contrast > 0) p.contrast = 1.0f + d.symmetric(6) * o.contrast;
  return p;
}

void flip_horizontal(FloatImage& image) {
  const int W = image.width, C = image.channels;
  for (int y = 0; y < image.height; ++y) {
    float* row = image.pixels.data() + size_t(y) * W * C;
    for (int x = 0; x < W / 2; ++x)
      for (int c = 0; c < C; ++c) std::swap(row[size_t(x) * C + c], row[size_t(W - 1 - x) * C + c]);
  }
}

FloatImage augment_image(const FloatImage& image, const AugmentParams& params) {
  ALZ_CHECK(
      image.height >= 1 && image.width >= 1 &&
          image.pixels.size() == size_t(image.height) * image.width * image.channels,
      "augment_image: empty or inconsistent image " << image.height << "x" << image.width << "x" << image.channels);
  ALZ_CHECK(params.scale > 0.0f, "augment_image: zoom scale " << params.scale << " must be positive");
  FloatImage out;
  if (is_identity_geometry(params)) {
    out = image;
    if (params.flip) flip_horizontal(out);
  } else {
    out = warp(image, params);
  }
  adjust_photometry(out, params.brightness, params.contrast);
  return out;
}

}  // namespace alz::data
