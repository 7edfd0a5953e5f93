// CPU reference of Keras max pooling (kernels/pool.h) on NHWC (N, H, W, C): zero padding
// (value 0, not -inf) then valid pooling; backward to the first arg-max in row-major window
// order, nowhere when the arg-max is a padding zero.
// Tested by tests/test_pool.cpp:  ctest --test-dir build -R test_pool
#include "kernels/pool.h"

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace alz::kernels {

ImageShape max_pool_output_shape(const MaxPool2dParams& p) {
  const ImageShape padded = padded_shape(p.input, p.pad);
  ALZ_CHECK(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
            "max pooling: kernel (" << p.kernel_h << ", " << p.kernel_w << ") and stride (" << p.stride_h << ", "
                                    << p.stride_w << ") must be positive");
  ALZ_CHECK(padded.h >= p.kernel_h && padded.w >= p.kernel_w,
            "max pooling: window (" << p.kernel_h << ", " << p.kernel_w << ") larger than the padded image ("
                                    << padded.h << ", " << padded.w << ")");
  return ImageShape{p.input.n, (padded.h - p.kernel_h) / p.stride_h + 1, (padded.w - p.kernel_w) / p.stride_w + 1,
                    p.input.c};
}

// Both directions walk one output pixel at a time with all its channels in a row, so the
// inner loops run over contiguous channels (and vectorise). OpenMP over images (the backward
// scatters inside one image only, so no two threads write the same dx).
namespace {

// For output pixel (n, oh, ow): best[c] = the window maximum, tap[c] = index (i * kernel_w + j)
// of its first maximal tap, with taps in the padding counting as 0.
template <typename T>
void pixel_argmax(const T* x, const MaxPool2dParams& p, int64_t n, int64_t oh, int64_t ow, T* best, int32_t* tap) {
  const ImageShape& s = p.input;
  bool first = true;
  for (int64_t i = 0; i < p.kernel_h; ++i) {
    for (int64_t j = 0; j < p.kernel_w; ++j) {
      const int64_t h = oh * p.stride_h + i - p.pad.top, w = ow * p.stride_w + j - p.pad.left;
      const bool inside = h >= 0 && h < s.h && w >= 0 && w < s.w;
      const int32_t t = static_cast<int32_t>(i * p.kernel_w + j);
      const T* row = inside ? x + ((n * s.h + h) * s.w + w) * s.c : nullptr;
      if (first) {
        for (int64_t c = 0; c < s.c; ++c) {
          best[c] = inside ? row[c] : T(0);
          tap[c] = t;
        }
        first = false;
      } else if (inside) {
        for (int64_t c = 0; c < s.c; ++c) {
          const bool better = row[c] > best[c];  // strict: the first maximum wins ties
          best[c] = better ? row[c] : best[c];
          tap[c] = better ? t : tap[c];
        }
      } else {
        for (int64_t c = 0; c < s.c; ++c) {
          const bool better = T(0) > best[c];
          best[c] = better ? T(0) : best[c];
          tap[c] = better ? t : tap[c];
        }
      }
    }
  }
}

}  // namespace

template <typename T> void max_pool_forward_cpu(const T* x, T* y, const MaxPool2dParams& p) {
  const ImageShape o = max_pool_output_shape(p);
#pragma omp parallel for schedule(static) if (o.numel() >= (1 << 15))
  for (int64_t nh = 0; nh < o.n * o.h; ++nh) {
    const int64_t n = nh / o.h, oh = nh % o.h;
    std::vector<int32_t> tap(static_cast<size_t>(o.c));
    for (int64_t ow = 0; ow < o.w; ++ow)
      pixel_argmax(x, p, n, oh, ow, y + ((n * o.h + oh) * o.w + ow) * o.c, tap.data());
  }
}

template <typename T>
void max_pool_backward_cpu(const T* x, const T* dy, T* dx, const MaxPool2dParams& p, bool accumulate) {
  const ImageShape o = max_pool_output_shape(p);
  const ImageShape& s = p.input;
  const int64_t image = s.h * s.w * s.c;
#pragma omp parallel for schedule(static) if (s.numel() >= (1 << 15))
  for (int64_t n = 0; n < o.n; ++n) {
    if (!accumulate) std::fill(dx + n * image, dx + (n + 1) * image, T(0));
    std::vector<T> best(static_cast<size_t>(o.c));
    std::vector<int32_t> tap(static_cast<size_t>(o.c));
    for (int64_t oh = 0; oh < o.h; ++oh) {
      for (int64_t ow = 0; ow < o.w; ++ow) {
        pixel_argmax(x, p, n, oh, ow, best.data(), tap.data());
        const T* g = dy + ((n * o.h + oh) * o.w + ow) * o.c;
        for (int64_t c = 0; c < o.c; ++c) {
          const int64_t h = oh * p.stride_h + tap[c] / p.kernel_w - p.pad.top;
          const int64_t w = ow * p.stride_w + tap[c] % p.kernel_w - p.pad.left;
          if (h < 0 || h >= s.h || w < 0 || w >= s.w) continue;  // the max is a padding zero: nowhere
          dx[((n * s.h + h) * s.w + w) * s.c + c] += g[c];
        }
      }
    }
  }
}

template void max_pool_forward_cpu<float>(const float*, float*, const MaxPool2dParams&);
template void max_pool_forward_cpu<double>(const double*, double*, const MaxPool2dParams&);
template void max_pool_backward_cpu<float>(const float*, const float*, float*, const MaxPool2dParams&, bool);
template void max_pool_backward_cpu<double>(const double*, const double*, double*, const MaxPool2dParams&, bool);

}  // namespace alz::kernels
