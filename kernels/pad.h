// Zero padding of NHWC images (Keras ZeroPadding2D) and its backward (a crop).
//
//   forward:  y (N, H + top + bottom, W + left + right, C):
//             y[n, i, j, c] = x[n, i - top, j - left, c] inside, 0 in the border.
//   backward: dx[n, h, w, c] (+)= dy[n, h + top, w + left, c]  (the border's gradient is dropped).
// Layout NHWC: (N, H, W, C), C fastest. `accumulate` false overwrites dx, true adds into it
// (the gradient rule: tensor/autograd.h).
// CPU: float and double. CUDA: float and bf16 (a copy, so bf16 is exact).
// Tested by tests/test_pad.cpp and tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R "ZeroPad|OpsGpu"
#pragma once
#include <cstdint>

#include "core/bf16.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

// Rows/columns added on each side of the image; all >= 0.
struct Padding2d {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};

// An NHWC image batch shape.
struct ImageShape {
  int64_t n = 0, h = 0, w = 0, c = 0;
  constexpr int64_t numel() const { return n * h * w * c; }
};

// The padded shape; throws alz::Error on negative sizes or padding.
ImageShape padded_shape(const ImageShape& x, const Padding2d& pad);

// ---------------------------------------------------------------- CPU (T = float, double)
template <typename T> void zero_pad_forward_cpu(const T* x, T* y, const ImageShape& x_shape, const Padding2d& pad);
template <typename T>
void zero_pad_backward_cpu(const T* dy, T* dx, const ImageShape& x_shape, const Padding2d& pad, bool accumulate);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (float, bf16)
void zero_pad_forward_cuda(const float* x, float* y, const ImageShape& x_shape, const Padding2d& pad,
                           cudaStream_t stream);
void zero_pad_forward_cuda(const bf16* x, bf16* y, const ImageShape& x_shape, const Padding2d& pad,
                           cudaStream_t stream);
void zero_pad_backward_cuda(const float* dy, float* dx, const ImageShape& x_shape, const Padding2d& pad,
                            bool accumulate, cudaStream_t stream);
void zero_pad_backward_cuda(const bf16* dy, bf16* dx, const ImageShape& x_shape, const Padding2d& pad, bool accumulate,
                            cudaStream_t stream);
#endif

}  // namespace alz::kernels
