// Max pooling with Keras semantics on NHWC images (N, H, W, C), C fastest.
//
// Keras pads explicitly with zeros (ZeroPadding2D) and then pools "valid"; this op does both:
// taps outside the image read the value 0 (NOT -inf), so a window over an all-negative border
// outputs 0. With padded sizes Hp = H + top + bottom, Wp = W + left + right:
//   OH = (Hp - kh) / sh + 1,  OW = (Wp - kw) / sw + 1
//   y[n, oh, ow, c] = max over (i, j) in [0, kh) x [0, kw) of xp[n, oh*sh + i, ow*sw + j, c]
// where xp is x padded with zeros. ResNetV2 uses it as pool1 (3x3, stride 2, padding 1 on each
// side) and as the 1x1 stride-2 subsample of the strided blocks' shortcut.
//
// Backward: dy[n, oh, ow, c] goes to the arg-max tap of its window, the FIRST maximum in
// row-major window order (i, then j) on ties. When that tap is a padding zero the gradient of
// that window goes nowhere (padding has no input to receive it). Windows overlap when
// stride < kernel, so an input can receive from several windows; the contributions are summed.
// Backward recomputes the arg-max from x, so nothing is saved between forward and backward.
// `accumulate` false overwrites dx, true adds into it (the gradient rule: tensor/autograd.h).
//
// CPU: float and double. CUDA: float and bf16 (compares in float; bf16 -> float is exact, so
// ties and arg-max match the CPU on the same values); the backward is a gather over the
// windows that cover each input, deterministic and without atomics.
// Tested by tests/test_pool.cpp and tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R "MaxPool|OpsGpu"
#pragma once
#include <cstdint>

#include "core/bf16.h"
#include "kernels/pad.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

struct MaxPool2dParams {
  ImageShape input;  // (N, H, W, C)
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  Padding2d pad;  // zeros, as Keras ZeroPadding2D
};

// The output shape (N, OH, OW, C); throws alz::Error when the window does not fit the padded
// image, or on non-positive kernel/stride sizes.
ImageShape max_pool_output_shape(const MaxPool2dParams& params);

// ---------------------------------------------------------------- CPU (T = float, double)
// x: input shape; y: output shape.
template <typename T> void max_pool_forward_cpu(const T* x, T* y, const MaxPool2dParams& params);
// dy: output shape; dx: input shape.
template <typename T>
void max_pool_backward_cpu(const T* x, const T* dy, T* dx, const MaxPool2dParams& params, bool accumulate);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (float, bf16)
void max_pool_forward_cuda(const float* x, float* y, const MaxPool2dParams& params, cudaStream_t stream);
void max_pool_forward_cuda(const bf16* x, bf16* y, const MaxPool2dParams& params, cudaStream_t stream);
void max_pool_backward_cuda(const float* x, const float* dy, float* dx, const MaxPool2dParams& params, bool accumulate,
                            cudaStream_t stream);
void max_pool_backward_cuda(const bf16* x, const bf16* dy, bf16* dx, const MaxPool2dParams& params, bool accumulate,
                            cudaStream_t stream);
#endif

}  // namespace alz::kernels
