// Batch normalisation, plain and unfused: the reference that the fused BatchNorm(+ReLU)
// kernels (kernels/bn_relu.h) are checked against. No activation here.
//
// Layout: an NHWC tensor (N, H, W, C), C fastest, viewed as a matrix (rows, C) with
// rows = N*H*W. Statistics are per channel c over all rows.
//
//   training:  mean[c] = sum_r x[r,c] / rows
//              var[c]  = sum_r (x[r,c] - mean[c])^2 / rows          (biased)
//              invstd[c] = 1 / sqrt(var[c] + epsilon)
//              y[r,c]  = gamma[c] * (x[r,c] - mean[c]) * invstd[c] + beta[c]
//              moving_mean = momentum * moving_mean + (1 - momentum) * mean
//              moving_var  = momentum * moving_var  + (1 - momentum) * var
//   inference: y = gamma * (x - moving_mean) / sqrt(moving_var + epsilon) + beta
//   backward:  xhat = (x - mean) * invstd
//              dbeta[c]  (+)= sum_r dy[r,c]
//              dgamma[c] (+)= sum_r dy[r,c] * xhat[r,c]
//              dx = gamma * invstd * (dy - sum_r dy / rows - xhat * sum_r (dy * xhat) / rows)
//   dx is overwritten; dgamma and dbeta too, or added into with accumulate_params (the
//   gradient rule: tensor/autograd.h).
//
// Keras semantics: epsilon 1.001e-5 (ResNetV2's layers), momentum 0.99, and the moving
// variance takes the BIASED batch variance (Keras computes the moments with a 1/n variance;
// its fused path removes the Bessel correction that the fused TF op applies before the moving
// update). PyTorch, by contrast, feeds the unbiased variance into its running variance.
//
// CPU: plain loops with double accumulators, templated on float and double; the source of
// truth. CUDA: float only, training forward and backward (ops::batch_norm with fused = false;
// inference always takes the fused kernels), a handful of simple kernels (column partial sums
// in double, a finalize kernel, an elementwise kernel); deterministic, no atomics.
//
// Tested by tests/test_batch_norm.cpp (CPU, central finite differences in f64) and
// tests/gpu/test_bn_relu_gpu.cpp (CUDA vs CPU):
//   ctest --test-dir build -R "BatchNorm"      (BatchNorm.* on the CPU, BatchNormGpu.* on the GPU)
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/bf16.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

inline constexpr double kBatchNormEpsilon = 1.001e-5;
inline constexpr double kBatchNormMomentum = 0.99;

// The type of gamma, beta and the statistics that go with activations stored as T: T itself
// (float or double), except bf16 activations, whose parameters and statistics stay float.
template <typename T> struct BatchNormParamOf { using type = T; };
template <> struct BatchNormParamOf<bf16> { using type = float; };
template <typename T> using BatchNormParam = typename BatchNormParamOf<T>::type;

// What a training forward saves for the backward: two (C) buffers owned by the caller. The
// forward writes them (P = float or double); the backward reads them (P = const float, ...).
template <typename P> struct BatchNormSaved {
  P* mean = nullptr;    // batch mean
  P* invstd = nullptr;  // 1 / sqrt(biased batch variance + epsilon)
};

// Arguments of the forward passes, training and inference. x, y: (rows, channels); the
// others (channels).
template <typename T> struct BatchNormForwardArgs {
  const T* x = nullptr;
  T* y = nullptr;  // may alias x
  int64_t rows = 0, channels = 0;
  const T* gamma = nullptr;
  const T* beta = nullptr;
  T* moving_mean = nullptr;              // training: updated in place (both or neither may be nullptr);
  T* moving_variance = nullptr;          // inference: read, required
  BatchNormSaved<T> saved = {};          // training: receives the batch mean and invstd; inference: unused
  double momentum = kBatchNormMomentum;  // training only
  double epsilon = kBatchNormEpsilon;
};

// Arguments of the backward. x: the forward's input; dy, dx: (rows, channels); dx may alias dy.
template <typename T> struct BatchNormBackwardArgs {
  const T* x = nullptr;
  const T* dy = nullptr;
  T* dx = nullptr;  // overwritten
  int64_t rows = 0, channels = 0;
  const T* gamma = nullptr;
  BatchNormSaved<const T> saved = {};  // what the training forward saved
  T* dgamma = nullptr;                 // (required)
  T* dbeta = nullptr;                  // (required)
  bool accumulate_params = false;      // false: dgamma, dbeta overwritten; true: added into
};

// ---------------------------------------------------------------- CPU (T = float, double)
template <typename T> void batch_norm_forward_training_cpu(const BatchNormForwardArgs<T>& a);
template <typename T> void batch_norm_forward_inference_cpu(const BatchNormForwardArgs<T>& a);
template <typename T> void batch_norm_backward_cpu(const BatchNormBackwardArgs<T>& a);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (float)
// Same contracts as the CPU functions (momentum and epsilon are rounded to float). `workspace`
// is device memory of at least batch_norm_workspace_bytes(rows, channels) bytes, 16-byte
// aligned, with no required contents; it is free again when the launch sequence on `stream`
// has run. Nothing here synchronises the host.
size_t batch_norm_workspace_bytes(int64_t rows, int64_t channels);

void batch_norm_forward_training_cuda(const BatchNormForwardArgs<float>& a, void* workspace, size_t workspace_bytes,
                                      cudaStream_t stream);
void batch_norm_backward_cuda(const BatchNormBackwardArgs<float>& a, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream);
#endif

}  // namespace alz::kernels
