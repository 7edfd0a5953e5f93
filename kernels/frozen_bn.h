// Backward of a BatchNorm(+ReLU) in INFERENCE mode: the frozen BatchNorm of transfer learning
// (Keras runs a non-trainable BatchNormalization with its moving statistics). The statistics
// are constants here, so the backward is elementwise plus two per-channel sums:
//
//   invstd[c] = 1 / sqrt(moving_variance[c] + epsilon),  xhat = (x - moving_mean) * invstd
//   pre = gamma * xhat + beta;  g = relu ? dy * [pre > 0] : dy
//   dx = g * gamma * invstd                     (overwritten)
//   dgamma[c] += sum_r g * xhat,  dbeta[c] += sum_r g   (accumulated; either may be nullptr)
//
// Layout (rows = N*H*W, C), C fastest; gamma, beta and the statistics are float (C).
// CPU: float and double; CUDA: float and bf16 activations, one thread per channel for the
// sums (fixed order: deterministic), a grid-stride loop for dx.
// Tested by tests/test_ops.cpp (finite differences through ops::batch_norm in inference mode)
// and tests/gpu/test_autograd_ops_gpu.cpp.
#pragma once
#include <cstdint>

#include "core/bf16.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

template <typename T>
void frozen_bn_backward_cpu(const T* x, const T* dy, T* dx, int64_t rows, int64_t channels, const T* gamma,
                            const T* beta, const T* moving_mean, const T* moving_variance, double epsilon, bool relu,
                            T* dgamma, T* dbeta);

#if ALZ_HAS_CUDA
void frozen_bn_backward_cuda(const float* x, const float* dy, float* dx, int64_t rows, int64_t channels,
                             const float* gamma, const float* beta, const float* moving_mean,
                             const float* moving_variance, float epsilon, bool relu, float* dgamma, float* dbeta,
                             cudaStream_t stream);
void frozen_bn_backward_cuda(const bf16* x, const bf16* dy, bf16* dx, int64_t rows, int64_t channels,
                             const float* gamma, const float* beta, const float* moving_mean,
                             const float* moving_variance, float epsilon, bool relu, float* dgamma, float* dbeta,
                             cudaStream_t stream);
#endif

}  // namespace alz::kernels
