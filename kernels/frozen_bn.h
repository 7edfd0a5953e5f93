// Backward of a BatchNorm(+ReLU) in INFERENCE mode: the frozen BatchNorm of transfer learning
// (Keras runs a non-trainable BatchNormalization with its moving statistics). The statistics
// are constants here, so the backward is elementwise plus two per-channel sums:
//
//   invstd[c] = 1 / sqrt(moving_variance[c] + epsilon),  xhat = (x - moving_mean) * invstd
//   pre = gamma * xhat + beta;  g = relu ? dy * [pre > 0] : dy
//   dx = g * gamma * invstd                     (overwritten)
//   dgamma[c] (+)= sum_r g * xhat,  dbeta[c] (+)= sum_r g   (either may be nullptr)
// dgamma and dbeta are overwritten, or added into with accumulate_params (the gradient rule:
// tensor/autograd.h).
//
// Layout (rows = N*H*W, C), C fastest; gamma, beta and the statistics are float (C).
// CPU: float and double; CUDA: float and bf16 activations, one thread per channel for the
// sums (fixed order: deterministic), a grid-stride loop for dx.
// Tested by tests/test_ops.cpp (finite differences through ops::batch_norm in inference mode),
// tests/gpu/test_autograd_ops_gpu.cpp, and for the gradient rule tests/test_bn_relu.cpp and
// tests/gpu/test_bn_relu_gpu.cpp:  ctest --test-dir build -R "^Ops\.|AutogradOpsGpu|BnRelu"
#pragma once
#include <cstdint>

#include "core/bf16.h"
#include "kernels/batch_norm.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

// T: activation storage (float, double on the CPU; float, bf16 on the GPU); P =
// BatchNormParam<T> (kernels/batch_norm.h). x: the forward's input; dy, dx: (rows, channels),
// dx may alias dy; the others (channels).
template <typename T> struct FrozenBnBackwardArgs {
  using P = BatchNormParam<T>;
  const T* x = nullptr;
  const T* dy = nullptr;
  T* dx = nullptr;  // overwritten
  int64_t rows = 0, channels = 0;
  const P* gamma = nullptr;
  const P* beta = nullptr;
  const P* moving_mean = nullptr;
  const P* moving_variance = nullptr;
  double epsilon = kBatchNormEpsilon;
  bool relu = true;
  P* dgamma = nullptr;             // nullptr when not wanted
  P* dbeta = nullptr;              // nullptr when not wanted
  bool accumulate_params = false;  // false: dgamma, dbeta overwritten; true: added into
};

template <typename T> void frozen_bn_backward_cpu(const FrozenBnBackwardArgs<T>& a);

#if ALZ_HAS_CUDA
// epsilon is rounded to float.
void frozen_bn_backward_cuda(const FrozenBnBackwardArgs<float>& a, cudaStream_t stream);
void frozen_bn_backward_cuda(const FrozenBnBackwardArgs<bf16>& a, cudaStream_t stream);
#endif

}  // namespace alz::kernels
