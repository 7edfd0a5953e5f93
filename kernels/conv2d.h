// 2-D convolution (cross-correlation, as Keras and cuDNN compute it), NHWC activations and
// KRSC filters, on the CPU (im2col + OpenBLAS GEMM) and through cuDNN.
//
//   y[n,p,q,k] = b[k] + sum_{r,s,c} x[n, p*sh - pt + r, q*sw - pl + s, c] * w[k,r,s,c]
//   (x is zero outside 0 <= h < H, 0 <= w < W: explicit zero padding, possibly asymmetric)
//
// Layouts: x (N, H, W, C), y (N, P, Q, K), w (K, R, S, C), b (K); C and K fastest.
//   P = (H + pt + pb - R) / sh + 1,  Q = (W + pl + pr - S) / sw + 1   (floor division)
//
// Backward: dx = conv_transpose(dy, w) (overwritten), dw = sum_{n,p,q} dy * x and
// db = sum_{n,p,q} dy (overwritten, or added into with `accumulate`: the gradient rule,
// tensor/autograd.h).
//
// Tests:  ctest --test-dir build -R Conv2d   (tests/test_conv2d.cpp, tests/gpu/test_conv2d_gpu.cpp)
// Bench:  build/bench/bench_conv_cpu ; build/bench/bench_conv   (cuDNN, ResNet152V2 shapes)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"

#if ALZ_HAS_CUDA
#include <cudnn.h>
#endif

namespace alz {

struct Conv2dParams {
  int N = 1, H = 1, W = 1, C = 1;  // input (N, H, W, C)
  int K = 1, R = 1, S = 1;         // filter (K, R, S, C)
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  // explicit zero padding

  // Square kernel, equal strides and symmetric padding: the common case.
  static Conv2dParams make(int n, int h, int w, int c, int k, int kernel, int stride = 1, int pad = 0);

  int P() const { return (H + pad_top + pad_bottom - R) / stride_h + 1; }  // output height
  int Q() const { return (W + pad_left + pad_right - S) / stride_w + 1; }  // output width
  int64_t x_count() const { return int64_t(N) * H * W * C; }
  int64_t y_count() const { return int64_t(N) * P() * Q() * K; }
  int64_t w_count() const { return int64_t(K) * R * S * C; }
  double flops() const { return 2.0 * N * P() * Q() * double(K) * R * S * C; }  // one direction
  bool symmetric_padding() const { return pad_top == pad_bottom && pad_left == pad_right; }
  // 1x1 filter without padding: a GEMM over pixels (after a gather when strided).
  bool pointwise() const {
    return R == 1 && S == 1 && pad_top == 0 && pad_bottom == 0 && pad_left == 0 && pad_right == 0;
  }
  // Throws alz::Error naming `what` and the reason when the shape makes no sense.
  void validate(const char* what) const;
  std::string str() const;  // "N2 7x9x5 -> K7 3x3 s2x2 pad(t1,b1,l0,r1) -> 4x4"
  bool operator==(const Conv2dParams& o) const {
    return N == o.N && H == o.H && W == o.W && C == o.C && K == o.K && R == o.R && S == o.S && stride_h == o.stride_h &&
           stride_w == o.stride_w && pad_top == o.pad_top && pad_bottom == o.pad_bottom && pad_left == o.pad_left &&
           pad_right == o.pad_right;
  }
};

// ---------------------------------------------------------------- CPU (f32, f64) ----
// im2col + GEMM through OpenBLAS; 1x1 convolutions skip im2col (stride 1: a GEMM straight on
// x; strided: a gather then a GEMM). im2col runs over chunks of whole images whose column
// buffer stays under a budget (a per-thread scratch kept between calls), so memory is bounded
// whatever the batch. The GEMMs use OpenBLAS's threads; im2col/col2im stay serial (an OpenMP
// region between OpenBLAS calls fights OpenBLAS's spinning workers: 50x slower on 2 cores).
template <typename T>
void conv2d_forward_cpu(const Conv2dParams& p, const T* x, const T* w, const T* bias /*nullable*/, T* y);
template <typename T>
void conv2d_backward_data_cpu(const Conv2dParams& p, const T* dy, const T* w, T* dx);  // dx overwritten
template <typename T>
void conv2d_backward_filter_cpu(const Conv2dParams& p, const T* x, const T* dy, T* dw, bool accumulate);
template <typename T> void conv2d_backward_bias_cpu(const Conv2dParams& p, const T* dy, T* db, bool accumulate);

// The column buffer budget in elements (default 8 Mi); tests lower it to exercise chunking.
void set_conv2d_cpu_column_budget(int64_t elements);
int64_t conv2d_cpu_column_budget();

// Direct nested loops straight from the formulas above, accumulating in double: the test
// oracle only (slow). kernels/cpu/conv2d_reference.cpp.
template <typename T> void conv2d_forward_reference(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* y);
template <typename T> void conv2d_backward_data_reference(const Conv2dParams& p, const T* dy, const T* w, T* dx);
template <typename T>
void conv2d_backward_filter_reference(const Conv2dParams& p, const T* x, const T* dy, T* dw, bool accumulate);
template <typename T> void conv2d_backward_bias_reference(const Conv2dParams& p, const T* dy, T* db, bool accumulate);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- cuDNN (f32, bf16) ----
// dtype F32 (f32 storage; TF32 tensor cores unless strict fp32 is asked for) or BF16 (bf16
// storage, f32 accumulation). No bias here: cuDNN's legacy bias calls see (N*P*Q, K) as a batch
// of 1x1 images and reduce over it serially, slow for large activations, so tensor/ops_conv.cpp
// adds the bias with bias_add_forward_cuda (kernels/elementwise.h) and sums db with
// channel_sum_cuda (kernels/reduce.h).
// The handle must already be bound to the caller's stream (cudnnSetStream); every launcher
// only enqueues work on that stream (no host synchronisation once the algorithm is chosen).
//
// Algorithms are chosen once per key (device, shape, strides, padding, dtype, direction,
// mode, math, workspace cap) and kept, with their descriptors, in a process-wide
// thread-safe cache: a warm call creates nothing and allocates nothing.
//   Heuristic      cudnnGet*Algorithm_v7 order, the first whose workspace fits the cap.
//   Benchmark      cudnnFind*AlgorithmEx times every candidate once (like cudnn.benchmark) on
//                  scratch buffers it allocates for that one selection; fastest that fits.
//   Deterministic  heuristic order restricted to CUDNN_DETERMINISTIC algorithms.
// Measured on an H100 (cuDNN 9.14, bench_conv): the legacy API costs 25-250 us of host time per
// call, most for tensor-core engines, and cuDNN's Find timings include it, so Benchmark mode
// picks non-tensor-core kernels for small bf16 1x1 convs (up to 10x slower on the device). For a
// step replayed as a CUDA graph, Heuristic gives less device time (bf16 11.9 vs 13.8 ms per
// ResNet152V2 step's convolutions at batch 64); for eager back-to-back calls Benchmark wins.
// Strict fp32 (set_conv_allow_tf32(false)) uses CUDNN_FMA_MATH and rejects tensor-op
// algorithms for f32. A candidate needing more workspace than the cap is skipped for the
// next one. Asymmetric padding, which the cuDNN legacy API cannot express, is done by copying x
// into a zero-padded scratch region at the start of the workspace (included in the size).
//
// Workspace: the caller provides it (e.g. alz::cuda::Context::workspace(bytes)):
//   size_t bytes = conv2d_workspace_bytes_cudnn(ctx.cudnn, p, dtype, ConvDirection::Forward);
//   conv2d_forward_cudnn(ctx.cudnn, p, dtype, x, w, y, ctx.workspace(bytes), bytes);
// A launcher given less than the chosen algorithm needs throws alz::Error.
enum class ConvAlgoMode : uint8_t { Heuristic, Benchmark, Deterministic };
enum class ConvDirection : uint8_t { Forward, BackwardData, BackwardFilter };
const char* conv_algo_mode_name(ConvAlgoMode mode);        // "heuristic", "benchmark", "deterministic"
const char* conv_direction_name(ConvDirection direction);  // "forward", "backward_data", "backward_filter"

// Process-wide settings; they are part of the cache key, so changing them never reuses a
// choice made under other settings.
void set_conv_algo_mode(ConvAlgoMode mode);  // default Heuristic
ConvAlgoMode conv_algo_mode();
void set_conv_allow_tf32(bool allow);  // default true; false = strict fp32 (FMA only)
bool conv_allow_tf32();
void set_conv_workspace_limit(size_t bytes);  // default 256 MiB
size_t conv_workspace_limit();

struct ConvAlgoInfo {
  std::string name;            // e.g. "IMPLICIT_PRECOMP_GEMM+TC" (+TC: tensor-op math)
  int algo = -1;               // the cuDNN enum value for the direction
  size_t algo_workspace = 0;   // bytes the algorithm asks for
  size_t workspace_bytes = 0;  // bytes the launcher needs (algorithm + padding scratch)
  bool tensor_ops = false;
  bool deterministic = false;
  float time_ms = -1.0f;  // cuDNN's own timing in Benchmark mode, else -1
};
// Chooses (first call for the key) or looks up the algorithm under the current settings.
ConvAlgoInfo conv2d_algo_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, ConvDirection direction);
size_t conv2d_workspace_bytes_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, ConvDirection direction);

struct ConvAlgoCacheStats {
  size_t entries = 0;       // keys in the cache
  uint64_t selections = 0;  // algorithm selections run since start (or the last clear)
  uint64_t hits = 0;        // lookups answered from the cache
};
ConvAlgoCacheStats conv_algo_cache_stats();
void conv_algo_cache_clear();  // destroys the cached descriptors; not while launches are being enqueued

void conv2d_forward_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, const void* x, const void* w,
                          void* y, void* workspace, size_t workspace_bytes);
void conv2d_backward_data_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, const void* dy, const void* w,
                                void* dx, void* workspace, size_t workspace_bytes);
void conv2d_backward_filter_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, const void* x,
                                  const void* dy, void* dw, bool accumulate, void* workspace, size_t workspace_bytes);
#endif

}  // namespace alz
