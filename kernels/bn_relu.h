// Fused BatchNorm(+ReLU): training forward, inference forward and backward in few passes.
//
// Layout: an NHWC tensor (N, H, W, C), C fastest, viewed as (rows = N*H*W, C). gamma, beta,
// the moving and saved statistics are (C) float; activations are float or bf16 (storage only:
// every statistic and every arithmetic step is float on the GPU, double on the CPU reference).
//
//   training:  mean, var = per-channel batch moments (var biased); invstd = 1/sqrt(var + eps)
//              pre = gamma * (x - mean) * invstd + beta;   y = relu ? max(pre, 0) : pre
//              moving_mean = momentum * moving_mean + (1 - momentum) * mean
//              moving_var  = momentum * moving_var  + (1 - momentum) * var   (biased, as Keras)
//              saved.mean, saved.invstd <- mean, invstd  (what the backward takes)
//   inference: pre = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta; y as above
//   backward:  g = relu ? dy * [pre > 0] : dy   (pre recomputed from x and the saved statistics,
//              bit-identical to the forward's: no mask tensor)
//              xhat = (x - mean) * invstd
//              dbeta[c]  (+)= sum_r g          dgamma[c] (+)= sum_r g * xhat
//              dx = gamma * invstd * (g - sum_r g / rows - xhat * sum_r (g * xhat) / rows)
//              dx overwritten, or added into with accumulate_dx (autograd's fused epilogue:
//              a residual block's input, whose shortcut gradient is already there); dgamma and
//              dbeta overwritten, or added into with accumulate_params (the gradient rule:
//              tensor/autograd.h)
// Defaults follow Keras ResNetV2: epsilon 1.001e-5, momentum 0.99 (kernels/batch_norm.h).
// The unfused reference is kernels/batch_norm.h; this op equals it followed by a ReLU.
//
// GPU design (kernels/cuda/bn_relu.cu). A block is (lanes x row_lanes) = 256 threads; a lane
// owns one 16-byte vector of channels (4 f32 or 8 bf16; 1 channel on the scalar path used
// when C is not a multiple of the vector or a pointer is not 16-byte aligned). The grid is
// (channel tiles, 128 bytes of each row by default) x (row splits), about two resident blocks
// per SM, every block streaming a contiguous slice of rows.
//   forward:  kernel 1 reads x once: per-thread shifted sums (x - first row of the thread)
//             turned into (mean, M2), Chan merge across row lanes, one
//             (mean, M2) partial per block and channel; the last block of each channel tile
//             (counter + __threadfence) merges the partials in split order and writes
//             saved.mean/invstd and the moving statistics.
//             kernel 2 reads x, writes y; it walks each slice backwards, so the rows kernel 1
//             read last are still in L2.
//   backward: kernel 1 reads x and dy: sums of g and g*xhat per block; the last block per tile
//             adds the partials in split order, adds them into dgamma/dbeta (which the launcher
//             zeroes first unless accumulate_params), stores dx coefficients.
//             kernel 2 reads x and dy (backwards again), writes dx (accumulate_dx: reads dx
//             too and writes the sum, in f32 then rounded once to the storage).
//   inference: one kernel, reads x, writes y (may be in place).
// Bytes moved (E = rows * C * sizeof(storage)): forward 3E (stats read, apply read + write),
// backward 5E (two reads for the sums, two reads and a write for dx): 8E for a training step,
// the "8-pass" count the benchmark divides by. Inference 2E. Statistics traffic is O(C * splits).
// Deterministic: fixed reduction order, no floating-point atomics; two runs are bit-identical.
//
// Tested by tests/test_bn_relu.cpp (CPU: vs the unfused reference + ReLU, finite differences in
// f64) and tests/gpu/test_bn_relu_gpu.cpp (CUDA vs CPU, f32 and bf16, every ResNet152V2 shape):
//   ctest --test-dir build -R BnRelu           (BnRelu.* on the CPU, *BnReluGpu* on the GPU)
// Benchmarked against cuDNN and the unfused kernels by bench/bench_bn_relu.cu:
//   tools/bench-bn.sh OUTDIR      (or build/bench/bench_bn_relu)
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/bf16.h"
#include "kernels/batch_norm.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

// Arguments of the forward passes, training and inference, on every path (CPU reference,
// fast CPU, CUDA). T is the activation storage: float or double on the CPU, float or bf16 on
// the GPU; P = BatchNormParam<T> (kernels/batch_norm.h) is the type of the per-channel
// tensors: T, or float for bf16. x, y: (rows, channels); the others (channels).
template <typename T> struct BnReluForwardArgs {
  using P = BatchNormParam<T>;
  const T* x = nullptr;
  T* y = nullptr;  // may alias x when no backward follows (the backward needs the original x)
  int64_t rows = 0, channels = 0;
  const P* gamma = nullptr;
  const P* beta = nullptr;
  P* moving_mean = nullptr;              // training: updated in place (both or neither may be nullptr);
  P* moving_variance = nullptr;          // inference: read, required
  BatchNormSaved<P> saved = {};          // training: receives the batch mean and invstd; inference: unused
  double momentum = kBatchNormMomentum;  // training only
  double epsilon = kBatchNormEpsilon;
  bool relu = true;  // false: a plain BatchNorm
};

// Arguments of the backward of the training forward. x: the forward's input; dy, dx:
// (rows, channels), dx may alias dy unless accumulate_dx; the others (channels).
template <typename T> struct BnReluBackwardArgs {
  using P = BatchNormParam<T>;
  const T* x = nullptr;
  const T* dy = nullptr;
  T* dx = nullptr;  // overwritten (accumulate_dx: added into)
  int64_t rows = 0, channels = 0;
  const P* gamma = nullptr;
  const P* beta = nullptr;             // with gamma, recomputes the ReLU mask
  BatchNormSaved<const P> saved = {};  // what the training forward saved
  bool relu = true;
  P* dgamma = nullptr;             // (required)
  P* dbeta = nullptr;              // (required)
  bool accumulate_params = false;  // false: dgamma, dbeta overwritten; true: added into
  bool accumulate_dx = false;      // false: dx overwritten; true: dx += the gradient (dx must not alias dy)
};

// ---------------------------------------------------------------- CPU (T = float, double)
// Plain loops with double accumulators (OpenMP over channel blocks and rows); the reference.
template <typename T> void bn_relu_forward_training_cpu(const BnReluForwardArgs<T>& a);
template <typename T> void bn_relu_forward_inference_cpu(const BnReluForwardArgs<T>& a);
template <typename T> void bn_relu_backward_cpu(const BnReluBackwardArgs<T>& a);

// ---------------------------------------------------------------- CPU, fast (float)
// The same three ops in f32 arithmetic with vectorisable loops, one read of memory per pass
// (statistics merged in double with Chan's formula over fixed chunks: deterministic with any
// thread count). tensor/ops uses these for f32 tensors on the CPU; the double loops above are
// the reference they are tested against (kernels/cpu/bn_relu_fast.cpp).
void bn_relu_forward_training_cpu_fast(const BnReluForwardArgs<float>& a);
void bn_relu_forward_inference_cpu_fast(const BnReluForwardArgs<float>& a);
void bn_relu_backward_cpu_fast(const BnReluBackwardArgs<float>& a);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (float or bf16 storage)
// Workspace: device memory of at least bn_relu_workspace_bytes(rows, channels) bytes, 256-byte
// aligned, DEDICATED to these launchers: its first bytes hold the "last block" counters, which
// must be zero before the first launch (bn_relu_workspace_init_cuda, or any zeroing memset) and
// which every launch leaves at zero again. The rest is scratch whose contents need not
// survive between launches. One workspace serves any number of BatchNorm layers as long as
// their launches are ordered (one stream); concurrent streams need one workspace each.
// Launchers never synchronise the host and are CUDA-graph capturable.
size_t bn_relu_workspace_bytes(int64_t rows, int64_t channels);
void bn_relu_workspace_init_cuda(void* workspace, size_t workspace_bytes, cudaStream_t stream);

// Tuning: the width of a block's channel tile, in bytes of each row (a power of two from 4 to
// 1024; 0 restores the default, 128). Wider tiles read longer contiguous runs per row; narrower
// ones give more tiles, fewer row splits per tile and so a shorter merge at the end of each
// reduction. Results are correct and deterministic at any width (not bit-identical across
// widths: the reduction order changes). Process-wide; set it between launches, not during.
// bench_bn_relu sweeps it; tests/gpu/test_bn_relu_gpu.cpp checks every width against the CPU.
void bn_relu_set_tile_bytes(int bytes);
int bn_relu_tile_bytes();

// Sets the tile width for one scope and puts the previous one back at its end.
class BnReluTileBytesScope {
 public:
  explicit BnReluTileBytesScope(int bytes) : previous_(bn_relu_tile_bytes()) { bn_relu_set_tile_bytes(bytes); }
  ~BnReluTileBytesScope() { bn_relu_set_tile_bytes(previous_); }
  BnReluTileBytesScope(const BnReluTileBytesScope&) = delete;
  BnReluTileBytesScope& operator=(const BnReluTileBytesScope&) = delete;

 private:
  int previous_;
};

// T = float or bf16; momentum and epsilon are rounded to float. Training forward and backward:
// two kernels each; inference: one kernel.
void bn_relu_forward_training_cuda(const BnReluForwardArgs<float>& a, void* workspace, size_t workspace_bytes,
                                   cudaStream_t stream);
void bn_relu_forward_training_cuda(const BnReluForwardArgs<bf16>& a, void* workspace, size_t workspace_bytes,
                                   cudaStream_t stream);
void bn_relu_forward_inference_cuda(const BnReluForwardArgs<float>& a, cudaStream_t stream);
void bn_relu_forward_inference_cuda(const BnReluForwardArgs<bf16>& a, cudaStream_t stream);
void bn_relu_backward_cuda(const BnReluBackwardArgs<float>& a, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream);
void bn_relu_backward_cuda(const BnReluBackwardArgs<bf16>& a, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream);
#endif

}  // namespace alz::kernels
