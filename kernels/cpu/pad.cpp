// CPU reference of zero padding (kernels/pad.h): NHWC (N, H, W, C) -> (N, H+t+b, W+l+r, C) with
// zeros in the border, and the backward crop.
// Tested by tests/test_pad.cpp:  ctest --test-dir build -R test_pad
#include "kernels/pad.h"

#include "core/error.h"

namespace alz::kernels {

ImageShape padded_shape(const ImageShape& x, const Padding2d& pad) {
  ALZ_CHECK(x.n >= 0 && x.h >= 0 && x.w >= 0 && x.c >= 0,
            "zero padding: negative image shape (" << x.n << ", " << x.h << ", " << x.w << ", " << x.c << ")");
  ALZ_CHECK(pad.top >= 0 && pad.bottom >= 0 && pad.left >= 0 && pad.right >= 0,
            "zero padding: negative padding (top " << pad.top << ", bottom " << pad.bottom << ", left " << pad.left
                                                   << ", right " << pad.right << ")");
  return ImageShape{x.n, x.h + pad.top + pad.bottom, x.w + pad.left + pad.right, x.c};
}

template <typename T> void zero_pad_forward_cpu(const T* x, T* y, const ImageShape& s, const Padding2d& pad) {
  const ImageShape p = padded_shape(s, pad);
  for (int64_t n = 0; n < p.n; ++n) {
    for (int64_t i = 0; i < p.h; ++i) {
      for (int64_t j = 0; j < p.w; ++j) {
        const int64_t h = i - pad.top, w = j - pad.left;
        const bool inside = h >= 0 && h < s.h && w >= 0 && w < s.w;
        T* out = y + ((n * p.h + i) * p.w + j) * p.c;
        const T* in = inside ? x + ((n * s.h + h) * s.w + w) * s.c : nullptr;
        for (int64_t c = 0; c < p.c; ++c) out[c] = inside ? in[c] : T(0);
      }
    }
  }
}

template <typename T>
void zero_pad_backward_cpu(const T* dy, T* dx, const ImageShape& s, const Padding2d& pad, bool accumulate) {
  const ImageShape p = padded_shape(s, pad);
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t h = 0; h < s.h; ++h) {
      for (int64_t w = 0; w < s.w; ++w) {
        const T* g = dy + ((n * p.h + h + pad.top) * p.w + w + pad.left) * p.c;
        T* out = dx + ((n * s.h + h) * s.w + w) * s.c;
        for (int64_t c = 0; c < s.c; ++c) out[c] = accumulate ? out[c] + g[c] : g[c];
      }
    }
  }
}

template void zero_pad_forward_cpu<float>(const float*, float*, const ImageShape&, const Padding2d&);
template void zero_pad_forward_cpu<double>(const double*, double*, const ImageShape&, const Padding2d&);
template void zero_pad_backward_cpu<float>(const float*, float*, const ImageShape&, const Padding2d&, bool);
template void zero_pad_backward_cpu<double>(const double*, double*, const ImageShape&, const Padding2d&, bool);

}  // namespace alz::kernels
