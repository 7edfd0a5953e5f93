// Elementwise ops on flat buffers, forward and backward.
//
//   add:        y = a + b                 da = dy,           db = dy      (no kernel: dy itself)
//   sub:        y = a - b                 da = dy,           db = -dy     (scaled_grad, alpha -1)
//   mul:        y = a * b                 da (+)= dy * b,    db (+)= dy * a
//   scale:      y = alpha * x             dx (+)= alpha * dy (scaled_grad)
//   bias add:   y[r, c] = x[r, c] + bias[c] over rows r = N*H*W of an NHWC tensor (N, H, W, C),
//               C fastest;                dx (+)= dy,        dbias[c] (+)= sum_r dy[r, c]
//   bias fill:  y[r, c] = bias[c] (CUDA only; the Dense layer's first step)
//   relu:       y = max(x, 0)             dx (+)= dy * [v > 0]
//
// Backward functions: `accumulate` false overwrites the gradient buffer, true adds into it
// (the gradient rule: tensor/autograd.h). A gradient pointer may be nullptr when that
// gradient is not needed. Output buffers may alias an input of the same size (in place).
//
// ReLU backward takes `v`, either the forward OUTPUT y or the forward INPUT x: the mask is
// v > 0 and y > 0 exactly when x > 0, so both give the same result (0 at x == 0). Saving the
// output lets an in-place ReLU drop its input.
//
// CPU: templates for float and double (plain loops, the reference). CUDA: float, and bf16
// storage with float arithmetic; launchers take a cudaStream_t and never synchronise.
// Tested by tests/test_elementwise.cpp (CPU, finite differences) and
// tests/gpu/test_ops_gpu.cpp (CUDA vs CPU):  ctest --test-dir build -R "Elementwise|OpsGpu"
#pragma once
#include <cstdint>

#include "core/bf16.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

// ---------------------------------------------------------------- CPU (T = float, double)
template <typename T> void add_forward_cpu(const T* a, const T* b, T* y, int64_t count);
template <typename T> void sub_forward_cpu(const T* a, const T* b, T* y, int64_t count);
template <typename T> void mul_forward_cpu(const T* a, const T* b, T* y, int64_t count);
template <typename T> void scale_forward_cpu(const T* x, T alpha, T* y, int64_t count);

// dx (+)= alpha * dy: the backward of scale, and of sub's second operand (alpha -1).
template <typename T> void scaled_grad_cpu(const T* dy, T alpha, T* dx, int64_t count, bool accumulate);
// da (+)= dy * b, db (+)= dy * a.
template <typename T>
void mul_backward_cpu(const T* dy, const T* a, const T* b, T* da, T* db, int64_t count, bool accumulate);

// x, y: (rows, channels) with rows = N*H*W; bias: (channels).
template <typename T> void bias_add_forward_cpu(const T* x, const T* bias, T* y, int64_t rows, int64_t channels);
// dx (+)= dy (nullptr to skip); dbias (+)= per-channel sum of dy (nullptr to skip).
template <typename T>
void bias_add_backward_cpu(const T* dy, T* dx, T* dbias, int64_t rows, int64_t channels, bool accumulate_dx,
                           bool accumulate_dbias);

template <typename T> void relu_forward_cpu(const T* x, T* y, int64_t count);
// v: the forward output y or input x (see above).
template <typename T> void relu_backward_cpu(const T* dy, const T* v, T* dx, int64_t count, bool accumulate);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (float; bf16 storage)
// Same contracts as the CPU functions. `workspace` (bias_add_backward only) is device memory
// of at least channel_sum_workspace_elements(rows, channels) floats (kernels/reduce.h).
void add_forward_cuda(const float* a, const float* b, float* y, int64_t count, cudaStream_t stream);
void add_forward_cuda(const bf16* a, const bf16* b, bf16* y, int64_t count, cudaStream_t stream);
void sub_forward_cuda(const float* a, const float* b, float* y, int64_t count, cudaStream_t stream);
void sub_forward_cuda(const bf16* a, const bf16* b, bf16* y, int64_t count, cudaStream_t stream);
void mul_forward_cuda(const float* a, const float* b, float* y, int64_t count, cudaStream_t stream);
void mul_forward_cuda(const bf16* a, const bf16* b, bf16* y, int64_t count, cudaStream_t stream);
void scale_forward_cuda(const float* x, float alpha, float* y, int64_t count, cudaStream_t stream);
void scale_forward_cuda(const bf16* x, float alpha, bf16* y, int64_t count, cudaStream_t stream);

void scaled_grad_cuda(const float* dy, float alpha, float* dx, int64_t count, bool accumulate, cudaStream_t stream);
void scaled_grad_cuda(const bf16* dy, float alpha, bf16* dx, int64_t count, bool accumulate, cudaStream_t stream);
void mul_backward_cuda(const float* dy, const float* a, const float* b, float* da, float* db, int64_t count,
                       bool accumulate, cudaStream_t stream);
void mul_backward_cuda(const bf16* dy, const bf16* a, const bf16* b, bf16* da, bf16* db, int64_t count, bool accumulate,
                       cudaStream_t stream);

void bias_add_forward_cuda(const float* x, const float* bias, float* y, int64_t rows, int64_t channels,
                           cudaStream_t stream);
void bias_add_forward_cuda(const bf16* x, const bf16* bias, bf16* y, int64_t rows, int64_t channels,
                           cudaStream_t stream);
// y = (x + bias) + residual, rounded to the storage after each addition: what bias_add_forward
// followed by add_forward(residual, y) gives, in one pass (a convolution's bias and a residual
// block's shortcut, ops::conv2d_add). y may alias x.
void bias_add_residual_forward_cuda(const float* x, const float* bias, const float* residual, float* y, int64_t rows,
                                    int64_t channels, cudaStream_t stream);
void bias_add_residual_forward_cuda(const bf16* x, const bf16* bias, const bf16* residual, bf16* y, int64_t rows,
                                    int64_t channels, cudaStream_t stream);
// y[r, c] = bias[c]: fills every row with the bias (the Dense layer then adds x·W into y with a
// beta = 1 GEMM, so bf16 output is rounded once, after the bias is in).
void bias_fill_cuda(const float* bias, float* y, int64_t rows, int64_t channels, cudaStream_t stream);
void bias_fill_cuda(const bf16* bias, bf16* y, int64_t rows, int64_t channels, cudaStream_t stream);
void bias_add_backward_cuda(const float* dy, float* dx, float* dbias, int64_t rows, int64_t channels,
                            bool accumulate_dx, bool accumulate_dbias, float* workspace, cudaStream_t stream);
void bias_add_backward_cuda(const bf16* dy, bf16* dx, bf16* dbias, int64_t rows, int64_t channels, bool accumulate_dx,
                            bool accumulate_dbias, float* workspace, cudaStream_t stream);

void relu_forward_cuda(const float* x, float* y, int64_t count, cudaStream_t stream);
void relu_forward_cuda(const bf16* x, bf16* y, int64_t count, cudaStream_t stream);
void relu_backward_cuda(const float* dy, const float* v, float* dx, int64_t count, bool accumulate,
                        cudaStream_t stream);
void relu_backward_cuda(const bf16* dy, const bf16* v, bf16* dx, int64_t count, bool accumulate, cudaStream_t stream);
#endif

}  // namespace alz::kernels
