// Resize (keras: TensorFlow's bilinear; area: box filter when shrinking) and the resnet_v2
// preprocessing. See data/resize.h for the formulas.
//
// keras: per axis, (lower, upper, lerp) for each output index, computed in float32 exactly as
// TensorFlow's ResizeBilinear with half_pixel_centers; per output row, the horizontal lerp of
// its two source rows (each computed once, kept while the next output rows need it), then the
// vertical lerp. Both use TensorFlow's form a + (b - a) * lerp, so the result matches it to
// float rounding.
// area: per axis, a list of taps (first source index, weights); a horizontal pass over every
// source row, then a vertical pass, both as weighted sums.
//
// Tested in tests/test_image.cpp and tests/test_image_keras.cpp:
//   cmake --build build --target test_image test_image_keras && build/tests/test_image_keras
#include "data/resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"

namespace alz::data {
namespace {

// ---- keras: TensorFlow's bilinear interpolation with half-pixel centres ----
struct LerpAxis {
  std::vector<int> lower, upper;  // (out) source indices, clamped to [0, in - 1]
  std::vector<float> lerp;        // (out) weight of `upper`
};

LerpAxis keras_axis(int in, int out) {
  LerpAxis axis;
  axis.lower.resize(out);
  axis.upper.resize(out);
  axis.lerp.resize(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int i = 0; i < out; ++i) {
    const float s = (static_cast<float>(i) + 0.5f) * scale - 0.5f;
    const float s_floor = std::floor(s);
    axis.lower[i] = std::max(static_cast<int>(s_floor), 0);
    axis.upper[i] = std::min(static_cast<int>(std::ceil(s)), in - 1);
    axis.lerp[i] = s - s_floor;
  }
  return axis;
}

FloatImage resize_keras(const Image& src, int height, int width) {
  const int C = src.channels;
  const LerpAxis ax = keras_axis(src.width, width), ay = keras_axis(src.height, height);
  const size_t row_len = size_t(width) * C;
  // Horizontal pass into two row buffers, (2, width, C): output rows read source rows in
  // non-decreasing order, so a row computed for one output row serves the next ones too. (No
  // whole (src.height, width, C) buffer: allocating one per image costs more than the lerps.)
  std::vector<float> rows(2 * row_len);
  int held[2] = {-1, -1};  // the source row in each buffer
  // Source row y, horizontally interpolated; `keep` is the other row the output row needs.
  auto horizontal = [&](int y, int keep) -> const float* {
    for (int k = 0; k < 2; ++k)
      if (held[k] == y) return rows.data() + k * row_len;
    // Overwrite the buffer not holding `keep`, else the one holding the lower row.
    const int k = held[0] == keep ? 1 : held[1] == keep ? 0 : (held[0] <= held[1] ? 0 : 1);
    const uint8_t* row = src.pixels.data() + size_t(y) * src.width * C;
    float* out = rows.data() + k * row_len;
    for (int x = 0; x < width; ++x) {
      const uint8_t* a = row + size_t(ax.lower[x]) * C;
      const uint8_t* b = row + size_t(ax.upper[x]) * C;
      const float lerp = ax.lerp[x];
      for (int c = 0; c < C; ++c) {
        const float left = a[c], right = b[c];
        out[size_t(x) * C + c] = left + (right - left) * lerp;
      }
    }
    held[k] = y;
    return out;
  };
  // Vertical pass.
  FloatImage dst(height, width, C);
  for (int y = 0; y < height; ++y) {
    const float* top = horizontal(ay.lower[y], ay.upper[y]);
    const float* bottom = horizontal(ay.upper[y], ay.lower[y]);
    const float lerp = ay.lerp[y];
    float* out = dst.pixels.data() + size_t(y) * row_len;
    for (size_t i = 0; i < row_len; ++i) out[i] = top[i] + (bottom[i] - top[i]) * lerp;
  }
  return dst;
}

// ---- area: box filter when shrinking, keras's bilinear weights when growing ----
struct Taps {
  std::vector<int> first;     // (out) first source index
  std::vector<int> count;     // (out) taps
  std::vector<float> weight;  // (out, max_taps), zero-padded
  int max_taps = 0;
};

Taps area_taps(int in, int out) {
  Taps taps;
  taps.first.resize(out);
  taps.count.resize(out);
  const double scale = double(in) / out;
  if (scale >= 1.0) {  // output i covers [i*scale, (i+1)*scale) of the source
    taps.max_taps = static_cast<int>(std::ceil(scale)) + 1;
    taps.weight.assign(size_t(out) * taps.max_taps, 0.0f);
    for (int i = 0; i < out; ++i) {
      const double lo = i * scale, hi = (i + 1) * scale;
      const int j0 = static_cast<int>(std::floor(lo));
      const int j1 = std::min(in, static_cast<int>(std::ceil(hi)));
      taps.first[i] = j0;
      taps.count[i] = j1 - j0;
      for (int j = j0; j < j1; ++j) {
        const double overlap = std::min(hi, double(j + 1)) - std::max(lo, double(j));
        taps.weight[size_t(i) * taps.max_taps + (j - j0)] = static_cast<float>(overlap / scale);
      }
    }
  } else {
    const LerpAxis axis = keras_axis(in, out);
    taps.max_taps = 2;
    taps.weight.assign(size_t(out) * 2, 0.0f);
    for (int i = 0; i < out; ++i) {
      taps.first[i] = axis.lower[i];
      taps.count[i] = axis.upper[i] > axis.lower[i] ? 2 : 1;
      taps.weight[size_t(i) * 2] = taps.count[i] == 2 ? 1.0f - axis.lerp[i] : 1.0f;
      taps.weight[size_t(i) * 2 + 1] = taps.count[i] == 2 ? axis.lerp[i] : 0.0f;
    }
  }
  return taps;
}

FloatImage resize_area(const Image& src, int height, int width) {
  const int C = src.channels;
  const Taps tx = area_taps(src.width, width), ty = area_taps(src.height, height);
  // Horizontal pass: (src.height, width, C), every value written. The buffer is kept per
  // thread: allocating it afresh for every image costs more than the filter itself.
  const size_t row_len = size_t(width) * C;
  thread_local std::vector<float> mid;
  mid.resize(size_t(src.height) * row_len);
  for (int y = 0; y < src.height; ++y) {
    const uint8_t* row = src.pixels.data() + size_t(y) * src.width * C;
    float* out = mid.data() + size_t(y) * row_len;
    for (int x = 0; x < width; ++x) {
      const float* w = tx.weight.data() + size_t(x) * tx.max_taps;
      const uint8_t* p = row + size_t(tx.first[x]) * C;
      for (int c = 0; c < C; ++c) {
        float sum = 0.0f;
        for (int t = 0; t < tx.count[x]; ++t) sum += w[t] * p[t * C + c];
        out[size_t(x) * C + c] = sum;
      }
    }
  }
  // Vertical pass.
  FloatImage dst(height, width, C);
  for (int y = 0; y < height; ++y) {
    float* out = dst.pixels.data() + size_t(y) * row_len;
    const float* w = ty.weight.data() + size_t(y) * ty.max_taps;
    for (int t = 0; t < ty.count[y]; ++t) {
      const float* in = mid.data() + size_t(ty.first[y] + t) * row_len;
      for (size_t i = 0; i < row_len; ++i) out[i] += w[t] * in[i];
    }
  }
  return dst;
}

template <typename Pixel, typename Out, typename Convert>
void preprocess(const BasicImage<Pixel>& image, Out* out, const char* what, Convert convert) {
  ALZ_CHECK(image.channels == 3, what << ": needs 3 channels, got " << image.channels);
  const size_t n = image.pixels.size();
  for (size_t i = 0; i < n; ++i) out[i] = convert(static_cast<float>(image.pixels[i]) / 127.5f - 1.0f);
}

constexpr auto kAsFloat = [](float v) { return v; };
constexpr auto kAsBf16 = [](float v) { return float_to_bf16(v); };

}  // namespace

ResizeMethod parse_resize_method(const std::string& name) {
  if (name == "keras") return ResizeMethod::Keras;
  if (name == "area") return ResizeMethod::Area;
  ALZ_FAIL("resize method must be keras or area; got '" << name << "'");
}

const char* resize_method_name(ResizeMethod method) { return method == ResizeMethod::Area ? "area" : "keras"; }

FloatImage to_float(const Image& image) {
  FloatImage out(image.height, image.width, image.channels);
  std::copy(image.pixels.begin(), image.pixels.end(), out.pixels.begin());
  return out;
}

FloatImage resize_image(const Image& src, int height, int width, ResizeMethod method) {
  ALZ_CHECK(height >= 1 && width >= 1, "resize: target size " << height << "x" << width << " must be positive");
  ALZ_CHECK(
      src.height >= 1 && src.width >= 1 && src.channels >= 1 &&
          src.pixels.size() == size_t(src.height) * src.width * src.channels,
      "resize: source image " << src.height << "x" << src.width << "x" << src.channels << " is empty or inconsistent");
  if (height == src.height && width == src.width) return to_float(src);
  return method == ResizeMethod::Area ? resize_area(src, height, width) : resize_keras(src, height, width);
}

void preprocess_to_float(const FloatImage& image, float* out) {
  preprocess(image, out, "preprocess_to_float", kAsFloat);
}
void preprocess_to_bf16(const FloatImage& image, bf16* out) { preprocess(image, out, "preprocess_to_bf16", kAsBf16); }
void preprocess_to_float(const Image& image, float* out) { preprocess(image, out, "preprocess_to_float", kAsFloat); }
void preprocess_to_bf16(const Image& image, bf16* out) { preprocess(image, out, "preprocess_to_bf16", kAsBf16); }

}  // namespace alz::data
