// The Grad-CAM overlay (train/gradcam.h): a grey slice with the map in a jet-like colour map
// blended over it, and a vertical colour bar marked 0 (bottom) and 1 (top), as an 8-bit RGB
// image of a given size. Tested in tests/test_gradcam.cpp (size, colours, bar).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "train/gradcam.h"

namespace alz::train {

namespace {

// 3x5 glyphs of the two marks, one row per entry, the high bit on the left.
constexpr uint8_t kGlyphZero[5] = {0b111, 0b101, 0b101, 0b101, 0b111};
constexpr uint8_t kGlyphOne[5] = {0b010, 0b110, 0b010, 0b010, 0b111};
constexpr uint8_t kBarBackground = 40;  // dark grey behind the bar and its marks
constexpr uint8_t kMarkColour = 255;    // white ticks and digits

void put(data::Image& image, int y, int x, uint8_t r, uint8_t g, uint8_t b) {
  if (y < 0 || y >= image.height || x < 0 || x >= image.width) return;
  image.at(y, x, 0) = r, image.at(y, x, 1) = g, image.at(y, x, 2) = b;
}

// A glyph scaled by `scale`, its top-left corner at (top, left).
void draw_glyph(data::Image& image, const uint8_t (&glyph)[5], int top, int left, int scale) {
  for (int row = 0; row < 5; ++row)
    for (int col = 0; col < 3; ++col) {
      if (!(glyph[row] & (0b100 >> col))) continue;
      for (int dy = 0; dy < scale; ++dy)
        for (int dx = 0; dx < scale; ++dx)
          put(image, top + row * scale + dy, left + col * scale + dx, kMarkColour, kMarkColour, kMarkColour);
    }
}

// The bar in columns [left, image.width): the gradient, a tick and a digit at 1 and at 0.
void draw_colour_bar(data::Image& image, int left) {
  const int width = image.width - left, height = image.height, margin = 2;
  for (int y = 0; y < height; ++y)
    for (int x = left; x < image.width; ++x) put(image, y, x, kBarBackground, kBarBackground, kBarBackground);
  const int strip = std::max(4, width / 3);
  const int scale = std::max(1, std::min((width - strip - 4 * margin) / 3, height / 20));
  const int half_glyph = (5 * scale + 1) / 2;
  const int top = margin + half_glyph, bottom = height - 1 - margin - half_glyph;  // rows of 1 and 0
  const int strip_left = left + margin;
  for (int y = top; y <= bottom; ++y) {
    uint8_t rgb[3];
    jet_colour(double(bottom - y) / std::max(1, bottom - top), rgb);
    for (int x = strip_left; x < strip_left + strip; ++x) put(image, y, x, rgb[0], rgb[1], rgb[2]);
  }
  const int tick_left = strip_left + strip, digit_left = tick_left + margin + 1;
  for (int x = tick_left; x < digit_left - 1; ++x) {
    put(image, top, x, kMarkColour, kMarkColour, kMarkColour);
    put(image, bottom, x, kMarkColour, kMarkColour, kMarkColour);
  }
  draw_glyph(image, kGlyphOne, top - half_glyph + 1, digit_left, scale);
  draw_glyph(image, kGlyphZero, bottom - half_glyph + 1, digit_left, scale);
}

}  // namespace

void jet_colour(double t, uint8_t rgb[3]) {
  t = std::clamp(t, 0.0, 1.0);
  // Piecewise linear: dark blue at 0, blue, cyan, green at 0.5, yellow, red, dark red at 1.
  auto channel = [t](double centre) { return std::clamp(1.5 - std::abs(4.0 * t - centre), 0.0, 1.0); };
  rgb[0] = static_cast<uint8_t>(std::lround(255.0 * channel(3.0)));
  rgb[1] = static_cast<uint8_t>(std::lround(255.0 * channel(2.0)));
  rgb[2] = static_cast<uint8_t>(std::lround(255.0 * channel(1.0)));
}

data::Image render_overlay(const float* image, int height, int width, const std::vector<float>& map, int out_height,
                           int out_width) {
  ALZ_CHECK(out_height >= 16 && out_width >= 32,
            "Grad-CAM overlay: " << out_height << "x" << out_width << " is too small (at least 16x32)");
  ALZ_CHECK(height >= 1 && width >= 1 && map.size() == size_t(height) * width,
            "Grad-CAM overlay: a " << map.size() << "-value map for a " << height << "x" << width << " slice");
  const int bar_width = std::clamp(out_width / 6, 14, 48);
  const int panel_width = out_width - bar_width;
  // The slice in grey: BT.601 luma of (x + 1) * 127.5, the pixels before preprocessing.
  std::vector<float> grey(size_t(height) * width);
  for (size_t p = 0; p < grey.size(); ++p) {
    const float* px = image + 3 * p;
    grey[p] = static_cast<float>(127.5 * (0.299 * (px[0] + 1.0) + 0.587 * (px[1] + 1.0) + 0.114 * (px[2] + 1.0)));
  }
  std::vector<float> grey_out = upsample_bilinear(grey, height, width, out_height, panel_width);
  std::vector<float> map_out = upsample_bilinear(map, height, width, out_height, panel_width);
  data::Image out(out_height, out_width, 3);
  for (int y = 0; y < out_height; ++y)
    for (int x = 0; x < panel_width; ++x) {
      size_t p = size_t(y) * panel_width + x;
      uint8_t colour[3];
      jet_colour(map_out[p], colour);
      double g = std::clamp(double(grey_out[p]), 0.0, 255.0);
      for (int c = 0; c < 3; ++c)
        out.at(y, x, c) = static_cast<uint8_t>(std::lround((1.0 - kOverlayAlpha) * g + kOverlayAlpha * colour[c]));
    }
  draw_colour_bar(out, panel_width);
  return out;
}

data::Image render_gradcam_overlay(ResNetV2& model, const Tensor& image, int out_height, int out_width, int class_index,
                                   CamMethod method) {
  ALZ_CHECK(image.defined() && (image.ndim() == 3 || (image.ndim() == 4 && image.dim(0) == 1)),
            "Grad-CAM overlay: expects one preprocessed slice (H, W, 3) or (1, H, W, 3); got "
                << (image.defined() ? image.summary() : "nothing"));
  const Tensor& weights = model.head().kernel_;
  Tensor batch = image.ndim() == 3 ? image.reshape({1, image.dim(0), image.dim(1), image.dim(2)}) : image;
  batch = batch.to(weights.dtype()).to(weights.device());
  std::vector<int> classes{class_index};
  GradCamResult result = compute_gradcam(model, batch, classes)[0];
  Tensor pixels = image.to(Device::cpu()).to(DType::F32);
  return render_overlay(pixels.data<float>(), result.height, result.width, result.map(method).full, out_height,
                        out_width);
}

}  // namespace alz::train
