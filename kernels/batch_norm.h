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
//              dbeta[c]  += sum_r dy[r,c]                   (accumulated into the buffer)
//              dgamma[c] += sum_r dy[r,c] * xhat[r,c]       (accumulated into the buffer)
//              dx = gamma * invstd * (dy - sum_r dy / rows - xhat * sum_r (dy * xhat) / rows)
//                                                            (overwritten)
//
// Keras semantics: epsilon 1.001e-5 (ResNetV2's layers), momentum 0.99, and the moving
// variance takes the BIASED batch variance (Keras computes the moments with a 1/n variance;
// its fused path removes the Bessel correction that the fused TF op applies before the moving
// update). PyTorch, by contrast, feeds the unbiased variance into its running variance.
//
// CPU: plain loops with double accumulators, templated on float and double; the source of
// truth. CUDA: float only, a handful of simple kernels (column partial sums in double, a
// finalize kernel, an elementwise kernel); deterministic, no atomics.
//
// Tested by tests/test_batch_norm.cpp (CPU, central finite differences in f64) and
// tests/gpu/test_bn_relu_gpu.cpp (CUDA vs CPU):
//   ctest --test-dir build -R "BatchNorm"      (BatchNorm.* on the CPU, BatchNormGpu.* on the GPU)
#pragma once
#include <cstddef>
#include <cstdint>

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

inline constexpr double kBatchNormEpsilon = 1.001e-5;
inline constexpr double kBatchNormMomentum = 0.99;

// ---------------------------------------------------------------- CPU (T = float, double)
// x, y: (rows, channels); gamma, beta, moving_*, save_*: (channels).
// save_mean / save_invstd receive the batch mean and 1/sqrt(biased var + epsilon) that the
// backward takes. moving_mean and moving_variance are updated in place (both or neither may
// be nullptr). y may alias x.
template <typename T>
void batch_norm_forward_training_cpu(const T* x, T* y, int64_t rows, int64_t channels, const T* gamma,
                                     const T* beta, T* moving_mean, T* moving_variance, T* save_mean,
                                     T* save_invstd, double momentum = kBatchNormMomentum,
                                     double epsilon = kBatchNormEpsilon);

// y may alias x.
template <typename T>
void batch_norm_forward_inference_cpu(const T* x, T* y, int64_t rows, int64_t channels, const T* gamma,
                                      const T* beta, const T* moving_mean, const T* moving_variance,
                                      double epsilon = kBatchNormEpsilon);

// dx overwritten (may alias dy); dgamma and dbeta accumulated.
template <typename T>
void batch_norm_backward_cpu(const T* x, const T* dy, T* dx, int64_t rows, int64_t channels, const T* gamma,
                             const T* save_mean, const T* save_invstd, T* dgamma, T* dbeta);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (float)
// Same contracts as the CPU functions. `workspace` is device memory of at least
// batch_norm_workspace_bytes(rows, channels) bytes, 16-byte aligned, with no required
// contents; it is free again when the launch sequence on `stream` has run. Nothing here
// synchronises the host.
size_t batch_norm_workspace_bytes(int64_t rows, int64_t channels);

void batch_norm_forward_training_cuda(const float* x, float* y, int64_t rows, int64_t channels,
                                      const float* gamma, const float* beta, float* moving_mean,
                                      float* moving_variance, float* save_mean, float* save_invstd,
                                      float momentum, float epsilon, void* workspace, size_t workspace_bytes,
                                      cudaStream_t stream);

void batch_norm_forward_inference_cuda(const float* x, float* y, int64_t rows, int64_t channels,
                                       const float* gamma, const float* beta, const float* moving_mean,
                                       const float* moving_variance, float epsilon, cudaStream_t stream);

void batch_norm_backward_cuda(const float* x, const float* dy, float* dx, int64_t rows, int64_t channels,
                              const float* gamma, const float* save_mean, const float* save_invstd,
                              float* dgamma, float* dbeta, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream);
#endif

}  // namespace alz::kernels
