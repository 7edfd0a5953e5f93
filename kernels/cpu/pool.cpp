// CPU reference of Keras max pooling (kernels/pool.h) on NHWC (N, H, W, C): zero padding
// (value 0, not -inf) then valid pooling; backward to the first arg-max in row-major window
// order, nowhere when the arg-max is a padding zero.
// Tested by tests/test_pool.cpp:  ctest --test-dir build -R test_pool
#include "kernels/pool.h"

#include "tensor/error.h"

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

namespace {

// The arg-max of one window for channel c: returns the max value and sets (arg_h, arg_w) to the
// input coordinates of the first maximal tap, or to -1 when that tap is a padding zero.
template <typename T>
T window_argmax(const T* x, const MaxPool2dParams& p, int64_t n, int64_t oh, int64_t ow, int64_t c,
                int64_t& arg_h, int64_t& arg_w) {
  const ImageShape& s = p.input;
  T best = T(0);
  arg_h = arg_w = -1;
  bool first = true;
  for (int64_t i = 0; i < p.kernel_h; ++i) {
    for (int64_t j = 0; j < p.kernel_w; ++j) {
      const int64_t h = oh * p.stride_h + i - p.pad.top, w = ow * p.stride_w + j - p.pad.left;
      const bool inside = h >= 0 && h < s.h && w >= 0 && w < s.w;
      const T v = inside ? x[((n * s.h + h) * s.w + w) * s.c + c] : T(0);
      if (first || v > best) {  // strict: the first maximum wins ties
        best = v;
        arg_h = inside ? h : -1;
        arg_w = inside ? w : -1;
        first = false;
      }
    }
  }
  return best;
}

}  // namespace

template <typename T> void max_pool_forward_cpu(const T* x, T* y, const MaxPool2dParams& p) {
  const ImageShape o = max_pool_output_shape(p);
  for (int64_t n = 0; n < o.n; ++n) {
    for (int64_t oh = 0; oh < o.h; ++oh) {
      for (int64_t ow = 0; ow < o.w; ++ow) {
        for (int64_t c = 0; c < o.c; ++c) {
          int64_t arg_h, arg_w;
          y[((n * o.h + oh) * o.w + ow) * o.c + c] = window_argmax(x, p, n, oh, ow, c, arg_h, arg_w);
        }
      }
    }
  }
}

template <typename T>
void max_pool_backward_cpu(const T* x, const T* dy, T* dx, const MaxPool2dParams& p, bool accumulate) {
  const ImageShape o = max_pool_output_shape(p);
  const ImageShape& s = p.input;
  if (!accumulate) {
    for (int64_t i = 0; i < s.numel(); ++i) dx[i] = T(0);
  }
  for (int64_t n = 0; n < o.n; ++n) {
    for (int64_t oh = 0; oh < o.h; ++oh) {
      for (int64_t ow = 0; ow < o.w; ++ow) {
        for (int64_t c = 0; c < o.c; ++c) {
          int64_t arg_h, arg_w;
          window_argmax(x, p, n, oh, ow, c, arg_h, arg_w);
          if (arg_h < 0) continue;  // the max is a padding zero: this gradient goes nowhere
          dx[((n * s.h + arg_h) * s.w + arg_w) * s.c + c] += dy[((n * o.h + oh) * o.w + ow) * o.c + c];
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
