// Copies with known transforms (geometry via data/augment.h, resize, photometry) and the
// seeded transforms of each planted kind. See data/copy_plant.h; tests in
// tests/test_copy_match.cpp.
#include "data/copy_plant.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/augment.h"
#include "data/resize.h"

namespace alz::data {

namespace {

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// splitmix64 draws in [low, high).
struct Draw {
  uint64_t state;
  float uniform(float low, float high) {
    state += 0x9E3779B97F4A7C15ull;
    return low + (high - low) * float(mix64(state) >> 40) * (1.0f / 16777216.0f);
  }
  float sign() { return uniform(0, 1) < 0.5f ? -1.0f : 1.0f; }
};

}  // namespace

Image apply_copy_transform(const Image& image, const CopyTransform& t) {
  ALZ_CHECK(!image.empty(), "apply_copy_transform: empty image");
  ALZ_CHECK(t.zoom > 0, "apply_copy_transform: zoom " << t.zoom << " must be positive");
  ALZ_CHECK(t.brightness > -1 && t.contrast > -1,
            "apply_copy_transform: brightness and contrast changes must be above -100 %");
  const int height = t.height > 0 ? t.height : image.height, width = t.width > 0 ? t.width : image.width;
  ALZ_CHECK(height <= 8192 && width <= 8192 && t.height >= 0 && t.width >= 0,
            "apply_copy_transform: output size " << height << "x" << width << " out of range (1..8192)");
  AugmentParams geometry;
  geometry.flip = t.mirror;
  geometry.angle_radians = t.rotation_degrees * 3.14159265358979f / 180.0f;
  geometry.scale = t.zoom;
  geometry.shift_x = t.shift_x * float(image.width);
  geometry.shift_y = t.shift_y * float(image.height);
  // Geometry on floats, rounded once before the resize and once at the end, as a pipeline that
  // saves each step would.
  FloatImage warped = augment_image(to_float(image), geometry);
  Image rounded(warped.height, warped.width, warped.channels);
  for (size_t i = 0; i < warped.pixels.size(); ++i)
    rounded.pixels[i] = uint8_t(std::lround(std::clamp(warped.pixels[i], 0.0f, 255.0f)));
  FloatImage sized =
      height != rounded.height || width != rounded.width ? resize_image(rounded, height, width) : to_float(rounded);
  double total = 0;
  for (float v : sized.pixels) total += v;
  const float mean = float(total / double(sized.pixels.size()));
  Image out(sized.height, sized.width, sized.channels);
  for (size_t i = 0; i < sized.pixels.size(); ++i) {
    float value = (1.0f + t.brightness) * (mean + (1.0f + t.contrast) * (sized.pixels[i] - mean));
    out.pixels[i] = uint8_t(std::lround(std::clamp(value, 0.0f, 255.0f)));
  }
  return out;
}

const std::vector<std::string>& copy_kinds() {
  static const std::vector<std::string> kinds = {"mirror", "rotate5", "rotate10",   "rotate15", "zoom",
                                                 "resize", "shift",   "brightness", "contrast", "combined"};
  return kinds;
}

CopyTransform copy_kind_transform(const std::string& kind, uint64_t seed) {
  Draw draw{mix64(seed ^ 0xC0917ull)};
  CopyTransform t;
  auto other_size = [&] {
    if (draw.uniform(0, 1) < 0.5f)
      t.height = 180, t.width = 180;
    else
      t.height = 200, t.width = 190;
  };
  if (kind == "mirror") {
    t.mirror = true;
  } else if (kind == "rotate5" || kind == "rotate10" || kind == "rotate15") {
    float top = kind == "rotate5" ? 5.0f : kind == "rotate10" ? 10.0f : 15.0f;
    float bottom = kind == "rotate5" ? 1.0f : top - 5.0f;
    t.rotation_degrees = draw.sign() * draw.uniform(bottom, top);
  } else if (kind == "zoom") {
    t.zoom = draw.uniform(1.05f, 1.25f);
  } else if (kind == "resize") {
    other_size();
  } else if (kind == "shift") {
    t.shift_x = draw.sign() * draw.uniform(0.03f, 0.10f);
    t.shift_y = draw.sign() * draw.uniform(0.03f, 0.10f);
  } else if (kind == "brightness") {
    t.brightness = draw.sign() * draw.uniform(0.05f, 0.25f);
  } else if (kind == "contrast") {
    t.contrast = draw.sign() * draw.uniform(0.05f, 0.25f);
  } else if (kind == "combined") {
    t.mirror = draw.uniform(0, 1) < 0.5f;
    t.rotation_degrees = draw.uniform(-15.0f, 15.0f);
    t.zoom = draw.uniform(1.0f, 1.25f);
    t.shift_x = draw.uniform(-0.06f, 0.06f);
    t.shift_y = draw.uniform(-0.06f, 0.06f);
    other_size();
    t.brightness = draw.uniform(-0.25f, 0.25f);
    t.contrast = draw.uniform(-0.25f, 0.25f);
  } else {
    ALZ_FAIL("copy_kind_transform: unknown kind '" << kind << "'");
  }
  return t;
}

}  // namespace alz::data
