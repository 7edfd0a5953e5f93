// Reductions, forward and backward.
//
//   sum:            s = sum_i x[i]                        dx[i] (+)= ds
//   mean:           m = sum_i x[i] / count                dx[i] (+)= dm / count
//   channel sum:    s[c] = sum_r x[r, c]                  dx[r, c] (+)= ds[c]
//   channel mean:   m[c] = sum_r x[r, c] / rows           dx[r, c] (+)= dm[c] / rows
//   global average pooling (N, H, W, C) -> (N, C):
//                   y[n, c] = sum_p x[n, p, c] / (H*W)    dx[n, p, c] (+)= dy[n, c] / (H*W)
// Channel reductions see an NHWC tensor (N, H, W, C), C fastest, as (rows = N*H*W, channels = C).
//
// CPU: float and double, accumulated in double. CUDA: deterministic — a fixed two-stage
// reduction (per-block partial sums into `workspace`, then one block sums the partials in a
// fixed order), no float atomics, so the same input gives the same bits on every run. The
// whole-tensor results are written to a device scalar, never read back to the host.
// Workspaces are device memory of at least the stated number of floats; they may be reused as
// soon as the launch has been queued on the same stream.
// Backward functions overwrite (`accumulate` false) or add into (`true`) the gradient (the
// gradient rule: tensor/autograd.h).
// Tested by tests/test_reduce.cpp and tests/gpu/test_ops_gpu.cpp:
//   ctest --test-dir build -R "Reduce|OpsGpu"
#pragma once
#include <cstdint>

#include "core/bf16.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

// ---------------------------------------------------------------- CPU (T = float, double)
template <typename T> T sum_cpu(const T* x, int64_t count);
template <typename T> T mean_cpu(const T* x, int64_t count);  // count > 0
template <typename T> void sum_backward_cpu(T dsum, T* dx, int64_t count, bool accumulate);
template <typename T> void mean_backward_cpu(T dmean, T* dx, int64_t count, bool accumulate);

// x: (rows, channels); out: (channels).
template <typename T> void channel_sum_cpu(const T* x, T* out, int64_t rows, int64_t channels);
template <typename T> void channel_mean_cpu(const T* x, T* out, int64_t rows, int64_t channels);
// dout: (channels); dx: (rows, channels).
template <typename T>
void channel_sum_backward_cpu(const T* dout, T* dx, int64_t rows, int64_t channels, bool accumulate);
template <typename T>
void channel_mean_backward_cpu(const T* dout, T* dx, int64_t rows, int64_t channels, bool accumulate);

// x: (n, spatial = H*W, channels); y: (n, channels).
template <typename T> void global_avg_pool_forward_cpu(const T* x, T* y, int64_t n, int64_t spatial, int64_t channels);
template <typename T>
void global_avg_pool_backward_cpu(const T* dy, T* dx, int64_t n, int64_t spatial, int64_t channels, bool accumulate);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA
// Floats of workspace the whole-tensor and per-channel reductions need.
int64_t sum_workspace_elements(int64_t count);
int64_t channel_sum_workspace_elements(int64_t rows, int64_t channels);

// out: one float in device memory.
void sum_cuda(const float* x, float* out, int64_t count, float* workspace, cudaStream_t stream);
void mean_cuda(const float* x, float* out, int64_t count, float* workspace, cudaStream_t stream);
// dsum / dmean: one float in device memory (the upstream gradient).
void sum_backward_cuda(const float* dsum, float* dx, int64_t count, bool accumulate, cudaStream_t stream);
void mean_backward_cuda(const float* dmean, float* dx, int64_t count, bool accumulate, cudaStream_t stream);

// Per-channel: sums in float whatever the storage type; out has the storage type. With
// `accumulate` the result is added to out. The bias gradients of conv2d and Dense use it.
void channel_sum_cuda(const float* x, float* out, int64_t rows, int64_t channels, bool accumulate, float* workspace,
                      cudaStream_t stream);
void channel_sum_cuda(const bf16* x, bf16* out, int64_t rows, int64_t channels, bool accumulate, float* workspace,
                      cudaStream_t stream);
void channel_mean_cuda(const float* x, float* out, int64_t rows, int64_t channels, float* workspace,
                       cudaStream_t stream);
void channel_sum_backward_cuda(const float* dout, float* dx, int64_t rows, int64_t channels, bool accumulate,
                               cudaStream_t stream);
void channel_mean_backward_cuda(const float* dout, float* dx, int64_t rows, int64_t channels, bool accumulate,
                                cudaStream_t stream);

// No workspace: one thread per (n, c) sums its H*W column in a fixed order.
void global_avg_pool_forward_cuda(const float* x, float* y, int64_t n, int64_t spatial, int64_t channels,
                                  cudaStream_t stream);
void global_avg_pool_forward_cuda(const bf16* x, bf16* y, int64_t n, int64_t spatial, int64_t channels,
                                  cudaStream_t stream);
void global_avg_pool_backward_cuda(const float* dy, float* dx, int64_t n, int64_t spatial, int64_t channels,
                                   bool accumulate, cudaStream_t stream);
void global_avg_pool_backward_cuda(const bf16* dy, bf16* dx, int64_t n, int64_t spatial, int64_t channels,
                                   bool accumulate, cudaStream_t stream);
#endif

}  // namespace alz::kernels
