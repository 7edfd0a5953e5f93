// BatchNorm(training)+ReLU forward+backward on every BatchNorm shape of ResNet152V2 (batch 64,
// 224x224 input, NHWC), three ways, f32 and bf16 storage:
//   fused  kernels/bn_relu.h: 2 kernels forward, 2 backward
//   cudnn  cudnnBatchNormalizationForwardTraining + a ReLU kernel, then a ReLU-backward kernel +
//          cudnnBatchNormalizationBackward (what an unfused framework does); skipped with cuDNN's
//          message when it rejects a dtype
//   naive  the unfused reference kernels/batch_norm.h + the same ReLU kernels (f32 only)
// Bytes: the 8-pass count, 8 * N*H*W*C * sizeof(storage) per step (forward: stats read, apply
// read + write; backward: x, dy read for the sums, x, dy read + dx write); GB/s = bytes / time;
// of_copy = GB/s over the device-to-device copy bandwidth measured at start-up in this run
// (1 GiB cudaMemcpy, read + write counted; also the copy/d2d benchmark). Each timed iteration
// queues kStepsPerIteration steps back to back between two events.
// At the end: a per-shape table and the sums over all 151 layers (weighted by how many layers
// have each shape) next to the 8-pass floor. Then a sweep of the fused kernels' channel-tile
// width (bn_relu_set_tile_bytes: 64 to 512 bytes of each row; the default is 128), per shape and
// summed over the layers: bn_relu_tile/<bytes>/<dtype>/<shape>. Last, the backward whose dx
// joins a gradient already there (a residual block's input, tensor/autograd.h rule 2):
// bn_relu_into/fused/... adds dx in the dx kernel (accumulate_dx: 6 passes), bn_relu_into/add/...
// writes dx and then adds it with the elementwise add autograd would run (5 + 3 passes).
// Whole run well under 90 s on an H100:
//   build/bench/bench_bn_relu            or   tools/bench-bn.sh OUTDIR   (with PyTorch beside it)
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "core/bf16.h"
#include "core/cuda/check.h"
#include "kernels/batch_norm.h"
#include "kernels/bn_relu.h"
#include "kernels/elementwise.h"

namespace {

using alz::bf16;
namespace k = alz::kernels;

constexpr int kBatch = 64;
constexpr int kStepsPerIteration = 10;
constexpr float kEpsilon = 1.001e-5f;
constexpr float kMomentum = 0.99f;

struct BnShape {
  int hw;  // H = W
  int channels;
  int layers;  // how many of ResNet152V2's 151 BatchNorm layers have this shape
};
// conv2 (3 blocks), conv3 (8), conv4 (36), conv5 (3): preact_bn, 1_bn, 2_bn per block (2_bn after
// the strided conv of a stack's last block), plus post_bn.
constexpr BnShape kShapes[] = {{56, 64, 6},  {56, 256, 2}, {28, 64, 1},  {28, 256, 1},  {28, 128, 15},
                               {28, 512, 7}, {14, 128, 1}, {14, 512, 1}, {14, 256, 71}, {14, 1024, 35},
                               {7, 256, 1},  {7, 1024, 1}, {7, 512, 6},  {7, 2048, 3}};
constexpr int kShapeCount = sizeof(kShapes) / sizeof(kShapes[0]);
constexpr int total_layers() {
  int n = 0;
  for (const BnShape& s : kShapes) n += s.layers;
  return n;
}
static_assert(total_layers() == 151, "ResNet152V2 has 151 BatchNorm layers");

enum class Impl { Fused = 0, Cudnn = 1, Naive = 2 };
const char* impl_name(Impl impl) { return impl == Impl::Fused ? "fused" : impl == Impl::Cudnn ? "cudnn" : "naive"; }

int64_t elements(const BnShape& s) { return int64_t{kBatch} * s.hw * s.hw * s.channels; }

// (N, H, W, C) with a separator: "64x56x56x256" in benchmark names, "64,56,56,256" in tables.
std::string shape_label(const BnShape& s, char separator) {
  const std::string sep(1, separator);
  return std::to_string(kBatch) + sep + std::to_string(s.hw) + sep + std::to_string(s.hw) + sep +
         std::to_string(s.channels);
}

// ---------------------------------------------------------------- helper kernels
template <typename S> __global__ void fill_kernel(S* data, int64_t count, uint32_t seed, float offset, float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 16;
    h *= 2246822519u;
    h ^= h >> 13;
    const float v = offset + scale * (static_cast<float>(h) / 4294967296.0f * 2.0f - 1.0f);
    if constexpr (sizeof(S) == 4) {
      data[i] = v;
    } else {
      data[i] = alz::float_to_bf16(v);
    }
  }
}

// 16-byte vectors of 4 floats or 8 bf16 (every benchmark shape has C % 8 == 0).
template <typename S> __device__ __forceinline__ void unpack(const uint4& q, float (&v)[16 / sizeof(S)]) {
  const unsigned w[4] = {q.x, q.y, q.z, q.w};
  for (int i = 0; i < 4; ++i) {
    if constexpr (sizeof(S) == 4) {
      v[i] = __uint_as_float(w[i]);
    } else {
      v[2 * i] = __uint_as_float(w[i] << 16);
      v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
    }
  }
}
template <typename S> __device__ __forceinline__ uint4 pack(const float (&v)[16 / sizeof(S)]) {
  unsigned w[4];
  for (int i = 0; i < 4; ++i) {
    if constexpr (sizeof(S) == 4) {
      w[i] = __float_as_uint(v[i]);
    } else {
      w[i] = alz::float_to_bf16(v[2 * i]).bits | (static_cast<unsigned>(alz::float_to_bf16(v[2 * i + 1]).bits) << 16);
    }
  }
  return make_uint4(w[0], w[1], w[2], w[3]);
}

// y = max(y, 0) in place.
template <typename S> __global__ void relu_forward_kernel(uint4* y, int64_t vectors) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < vectors; i += int64_t{gridDim.x} * blockDim.x) {
    float v[16 / sizeof(S)];
    unpack<S>(y[i], v);
    for (float& e : v) e = fmaxf(e, 0.0f);
    y[i] = pack<S>(v);
  }
}

// g = y > 0 ? dy : 0.
template <typename S> __global__ void relu_backward_kernel(const uint4* y, const uint4* dy, uint4* g, int64_t vectors) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < vectors; i += int64_t{gridDim.x} * blockDim.x) {
    float a[16 / sizeof(S)], b[16 / sizeof(S)];
    unpack<S>(y[i], a);
    unpack<S>(dy[i], b);
    for (int j = 0; j < int(16 / sizeof(S)); ++j) b[j] = a[j] > 0.0f ? b[j] : 0.0f;
    g[i] = pack<S>(b);
  }
}

unsigned grid_for(int64_t count) { return static_cast<unsigned>(std::min<int64_t>((count + 255) / 256, 132 * 16)); }

// ---------------------------------------------------------------- buffers, shared by all runs
struct Buffers {
  void *x = nullptr, *y = nullptr, *dy = nullptr, *dx = nullptr, *masked = nullptr;
  float *gamma = nullptr, *beta = nullptr, *moving_mean = nullptr, *moving_var = nullptr;
  float *save_mean = nullptr, *save_invstd = nullptr, *dgamma = nullptr, *dbeta = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

cudaStream_t g_stream = nullptr;
cudnnHandle_t g_cudnn = nullptr;
double g_copy_bytes_per_second = 0.0;
Buffers g_buffers[2];                                        // [0] f32, [1] bf16
std::map<std::tuple<int, int, int>, double> g_seconds;       // (impl, is_bf16, shape) -> s per step
std::map<std::tuple<int, int, int>, double> g_tile_seconds;  // (tile bytes, is_bf16, shape) -> s per step
constexpr int kSweepTileBytes[] = {64, 128, 256, 512};

template <typename S> Buffers& buffers() {
  Buffers& b = g_buffers[sizeof(S) == 2];
  if (b.x != nullptr) return b;
  int64_t max_elements = 0, max_channels = 0;
  size_t max_workspace = 0;
  for (const BnShape& s : kShapes) {
    max_elements = std::max(max_elements, elements(s));
    max_channels = std::max<int64_t>(max_channels, s.channels);
    const int64_t rows = elements(s) / s.channels;
    max_workspace = std::max(
        {max_workspace, k::bn_relu_workspace_bytes(rows, s.channels), k::batch_norm_workspace_bytes(rows, s.channels)});
  }
  const size_t bytes = static_cast<size_t>(max_elements) * sizeof(S);
  for (void** p : {&b.x, &b.y, &b.dy, &b.dx, &b.masked}) ALZ_CUDA_CHECK(cudaMalloc(p, bytes));
  for (float** p :
       {&b.gamma, &b.beta, &b.moving_mean, &b.moving_var, &b.save_mean, &b.save_invstd, &b.dgamma, &b.dbeta})
    ALZ_CUDA_CHECK(cudaMalloc(p, max_channels * sizeof(float)));
  ALZ_CUDA_CHECK(cudaMalloc(&b.workspace, max_workspace));
  b.workspace_bytes = max_workspace;
  k::bn_relu_workspace_init_cuda(b.workspace, max_workspace, g_stream);
  fill_kernel<S><<<grid_for(max_elements), 256, 0, g_stream>>>(static_cast<S*>(b.x), max_elements, 1, 0.3f, 1.7f);
  fill_kernel<S><<<grid_for(max_elements), 256, 0, g_stream>>>(static_cast<S*>(b.dy), max_elements, 2, 0.0f, 1.0f);
  fill_kernel<float><<<1, 256, 0, g_stream>>>(b.gamma, max_channels, 3, 1.0f, 0.2f);
  fill_kernel<float><<<1, 256, 0, g_stream>>>(b.beta, max_channels, 4, 0.0f, 0.2f);
  fill_kernel<float><<<1, 256, 0, g_stream>>>(b.moving_mean, max_channels, 5, 0.0f, 0.1f);
  fill_kernel<float><<<1, 256, 0, g_stream>>>(b.moving_var, max_channels, 6, 1.0f, 0.1f);
  ALZ_CUDA_CHECK_LAUNCH();
  ALZ_CUDA_CHECK(cudaMemsetAsync(b.dgamma, 0, max_channels * sizeof(float), g_stream));
  ALZ_CUDA_CHECK(cudaMemsetAsync(b.dbeta, 0, max_channels * sizeof(float), g_stream));
  ALZ_CUDA_CHECK(cudaStreamSynchronize(g_stream));
  return b;
}

cudnnDataType_t cudnn_type(float*) { return CUDNN_DATA_FLOAT; }
cudnnDataType_t cudnn_type(bf16*) { return CUDNN_DATA_BFLOAT16; }

// cuDNN BatchNorm with the NHWC descriptors of one shape; persistent mode when cuDNN takes it.
template <typename S> struct CudnnBn {
  cudnnTensorDescriptor_t x_desc = nullptr, param_desc = nullptr;
  cudnnBatchNormMode_t mode = CUDNN_BATCHNORM_SPATIAL_PERSISTENT;
  explicit CudnnBn(const BnShape& s) {
    ALZ_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_desc));
    ALZ_CUDNN_CHECK(cudnnCreateTensorDescriptor(&param_desc));
    ALZ_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_desc, CUDNN_TENSOR_NHWC, cudnn_type(static_cast<S*>(nullptr)), kBatch,
                                               s.channels, s.hw, s.hw));
    ALZ_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(param_desc, x_desc, mode));
  }
  ~CudnnBn() {
    cudnnDestroyTensorDescriptor(x_desc);
    cudnnDestroyTensorDescriptor(param_desc);
  }
  cudnnStatus_t forward(const Buffers& b) const {
    const float one = 1.0f, zero = 0.0f;
    return cudnnBatchNormalizationForwardTraining(g_cudnn, mode, &one, &zero, x_desc, b.x, x_desc, b.y, param_desc,
                                                  b.gamma, b.beta, 1.0 - kMomentum, b.moving_mean, b.moving_var,
                                                  kEpsilon, b.save_mean, b.save_invstd);
  }
  cudnnStatus_t backward(const Buffers& b) const {  // dgamma, dbeta accumulated (beta = 1)
    const float one = 1.0f, zero = 0.0f;
    return cudnnBatchNormalizationBackward(g_cudnn, mode, &one, &zero, &one, &one, x_desc, b.x, x_desc, b.masked,
                                           x_desc, b.dx, param_desc, b.gamma, b.dgamma, b.dbeta, kEpsilon, b.save_mean,
                                           b.save_invstd);
  }
};

// ---------------------------------------------------------------- the benchmark
// The fused backward on one shape's buffers, dx into `dx` (added into with accumulate_dx).
// dgamma and dbeta are added into (accumulate_params): the kernels alone are timed, without the
// two zeroing memsets an overwriting call adds, as in every recorded run.
template <typename S>
k::BnReluBackwardArgs<S> fused_backward_args(const Buffers& b, const BnShape& shape, S* dx, bool accumulate_dx) {
  return {.x = static_cast<const S*>(b.x),
          .dy = static_cast<const S*>(b.dy),
          .dx = dx,
          .rows = elements(shape) / shape.channels,
          .channels = shape.channels,
          .gamma = b.gamma,
          .beta = b.beta,
          .saved = {b.save_mean, b.save_invstd},
          .dgamma = b.dgamma,
          .dbeta = b.dbeta,
          .accumulate_params = true,
          .accumulate_dx = accumulate_dx};
}

// Times `step` for the benchmark's iterations, kStepsPerIteration steps back to back between two
// events each; sets each iteration's time and returns the mean seconds per step.
template <typename Step> double timed_steps(benchmark::State& state, const Step& step) {
  cudaEvent_t start, stop;
  ALZ_CUDA_CHECK(cudaEventCreate(&start));
  ALZ_CUDA_CHECK(cudaEventCreate(&stop));
  double total_seconds = 0.0;
  for (auto _ : state) {
    ALZ_CUDA_CHECK(cudaEventRecord(start, g_stream));
    for (int i = 0; i < kStepsPerIteration; ++i) step();
    ALZ_CUDA_CHECK(cudaEventRecord(stop, g_stream));
    ALZ_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    ALZ_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    const double seconds = ms / 1e3 / kStepsPerIteration;
    state.SetIterationTime(seconds);
    total_seconds += seconds;
  }
  ALZ_CUDA_CHECK(cudaEventDestroy(start));
  ALZ_CUDA_CHECK(cudaEventDestroy(stop));
  return total_seconds / static_cast<double>(state.iterations());
}

// tile_bytes: 0 for the fused kernels' default channel-tile width, else the width to sweep.
template <typename S> void bn_relu_step(benchmark::State& state, Impl impl, int shape_index, int tile_bytes = 0) {
  const BnShape& shape = kShapes[shape_index];
  const int64_t count = elements(shape), rows = count / shape.channels, vectors = count * sizeof(S) / 16;
  if (impl == Impl::Naive && sizeof(S) == 2) {
    state.SkipWithError("the unfused reference (kernels/batch_norm.h) is f32 only");
    return;
  }
  const k::BnReluTileBytesScope tile_width(tile_bytes);  // the fused kernels' width for this benchmark only
  try {
    Buffers& b = buffers<S>();
    S* x = static_cast<S*>(b.x);
    S* y = static_cast<S*>(b.y);
    S* dx = static_cast<S*>(b.dx);
    const k::BnReluForwardArgs<S> fused_forward{.x = x,
                                                .y = y,
                                                .rows = rows,
                                                .channels = shape.channels,
                                                .gamma = b.gamma,
                                                .beta = b.beta,
                                                .moving_mean = b.moving_mean,
                                                .moving_variance = b.moving_var,
                                                .saved = {b.save_mean, b.save_invstd},
                                                .momentum = kMomentum,
                                                .epsilon = kEpsilon};
    const k::BnReluBackwardArgs<S> fused_backward = fused_backward_args<S>(b, shape, dx, /*accumulate_dx=*/false);
    std::unique_ptr<CudnnBn<S>> cudnn;
    if (impl == Impl::Cudnn) {
      cudnn = std::make_unique<CudnnBn<S>>(shape);
      if (cudnn->forward(b) != CUDNN_STATUS_SUCCESS) {  // persistent mode refused: plain spatial
        cudnn->mode = CUDNN_BATCHNORM_SPATIAL;
        ALZ_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(cudnn->param_desc, cudnn->x_desc, cudnn->mode));
        const cudnnStatus_t status = cudnn->forward(b);
        if (status != CUDNN_STATUS_SUCCESS) {
          state.SkipWithError(
              (std::string("cuDNN BatchNorm refuses this dtype/layout: ") + cudnnGetErrorString(status)).c_str());
          return;
        }
      }
      state.SetLabel(cudnn->mode == CUDNN_BATCHNORM_SPATIAL_PERSISTENT ? "persistent" : "spatial");
    }
    auto step = [&]() {
      switch (impl) {
        case Impl::Fused:
          k::bn_relu_forward_training_cuda(fused_forward, b.workspace, b.workspace_bytes, g_stream);
          k::bn_relu_backward_cuda(fused_backward, b.workspace, b.workspace_bytes, g_stream);
          break;
        case Impl::Cudnn:
          ALZ_CUDNN_CHECK(cudnn->forward(b));
          relu_forward_kernel<S><<<grid_for(vectors), 256, 0, g_stream>>>(static_cast<uint4*>(b.y), vectors);
          ALZ_CUDA_CHECK_LAUNCH();
          relu_backward_kernel<S><<<grid_for(vectors), 256, 0, g_stream>>>(
              static_cast<const uint4*>(b.y), static_cast<const uint4*>(b.dy), static_cast<uint4*>(b.masked), vectors);
          ALZ_CUDA_CHECK_LAUNCH();
          ALZ_CUDNN_CHECK(cudnn->backward(b));
          break;
        case Impl::Naive:
          if constexpr (sizeof(S) == 4) {
            k::batch_norm_forward_training_cuda({.x = x,
                                                 .y = y,
                                                 .rows = rows,
                                                 .channels = shape.channels,
                                                 .gamma = b.gamma,
                                                 .beta = b.beta,
                                                 .moving_mean = b.moving_mean,
                                                 .moving_variance = b.moving_var,
                                                 .saved = {b.save_mean, b.save_invstd},
                                                 .momentum = kMomentum,
                                                 .epsilon = kEpsilon},
                                                b.workspace, b.workspace_bytes, g_stream);
            relu_forward_kernel<S><<<grid_for(vectors), 256, 0, g_stream>>>(static_cast<uint4*>(b.y), vectors);
            ALZ_CUDA_CHECK_LAUNCH();
            relu_backward_kernel<S><<<grid_for(vectors), 256, 0, g_stream>>>(static_cast<const uint4*>(b.y),
                                                                             static_cast<const uint4*>(b.dy),
                                                                             static_cast<uint4*>(b.masked), vectors);
            ALZ_CUDA_CHECK_LAUNCH();
            k::batch_norm_backward_cuda({.x = x,
                                         .dy = static_cast<const float*>(b.masked),
                                         .dx = dx,
                                         .rows = rows,
                                         .channels = shape.channels,
                                         .gamma = b.gamma,
                                         .saved = {b.save_mean, b.save_invstd},
                                         .dgamma = b.dgamma,
                                         .dbeta = b.dbeta,
                                         .accumulate_params = true},
                                        b.workspace, b.workspace_bytes, g_stream);
          }
          break;
      }
    };
    if (impl == Impl::Naive) k::bn_relu_workspace_init_cuda(b.workspace, b.workspace_bytes, g_stream);
    for (int i = 0; i < 2; ++i) step();  // warm-up: module loading, cuDNN heuristics, caches
    // The naive reference scribbles over the shared workspace: zero the fused counters again.
    if (impl == Impl::Naive) k::bn_relu_workspace_init_cuda(b.workspace, b.workspace_bytes, g_stream);
    ALZ_CUDA_CHECK(cudaStreamSynchronize(g_stream));

    const double per_step = timed_steps(state, step);
    if (impl == Impl::Naive) k::bn_relu_workspace_init_cuda(b.workspace, b.workspace_bytes, g_stream);

    const double bytes = 8.0 * static_cast<double>(count) * sizeof(S);
    state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
    state.counters["MB"] = bytes / 1e6;
    state.counters["GB/s"] = bytes / per_step / 1e9;
    state.counters["of_copy"] = bytes / per_step / g_copy_bytes_per_second;
    state.counters["floor_us"] = bytes / g_copy_bytes_per_second * 1e6;
    if (tile_bytes == 0)
      g_seconds[{static_cast<int>(impl), sizeof(S) == 2, shape_index}] = per_step;
    else
      g_tile_seconds[{tile_bytes, sizeof(S) == 2, shape_index}] = per_step;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Device-to-device copy of 1 GiB; bytes counted read + write.
double copy_seconds(void* dst, const void* src, size_t bytes, int repeats) {
  cudaEvent_t start, stop;
  ALZ_CUDA_CHECK(cudaEventCreate(&start));
  ALZ_CUDA_CHECK(cudaEventCreate(&stop));
  ALZ_CUDA_CHECK(cudaEventRecord(start, g_stream));
  for (int i = 0; i < repeats; ++i)
    ALZ_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_stream));
  ALZ_CUDA_CHECK(cudaEventRecord(stop, g_stream));
  ALZ_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  ALZ_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  ALZ_CUDA_CHECK(cudaEventDestroy(start));
  ALZ_CUDA_CHECK(cudaEventDestroy(stop));
  return ms / 1e3 / repeats;
}

constexpr size_t kCopyBytes = size_t{1} << 30;

void copy_benchmark(benchmark::State& state) {
  void *a = nullptr, *b = nullptr;
  ALZ_CUDA_CHECK(cudaMalloc(&a, kCopyBytes));
  ALZ_CUDA_CHECK(cudaMalloc(&b, kCopyBytes));
  ALZ_CUDA_CHECK(cudaMemsetAsync(a, 1, kCopyBytes, g_stream));
  copy_seconds(b, a, kCopyBytes, 2);
  for (auto _ : state) state.SetIterationTime(copy_seconds(b, a, kCopyBytes, 5));
  state.SetBytesProcessed(static_cast<int64_t>(2 * kCopyBytes) * state.iterations());
  ALZ_CUDA_CHECK(cudaFree(a));
  ALZ_CUDA_CHECK(cudaFree(b));
}

double measure_copy_bandwidth() {
  void *a = nullptr, *b = nullptr;
  ALZ_CUDA_CHECK(cudaMalloc(&a, kCopyBytes));
  ALZ_CUDA_CHECK(cudaMalloc(&b, kCopyBytes));
  ALZ_CUDA_CHECK(cudaMemsetAsync(a, 1, kCopyBytes, g_stream));
  copy_seconds(b, a, kCopyBytes, 3);
  const double seconds = copy_seconds(b, a, kCopyBytes, 20);
  ALZ_CUDA_CHECK(cudaFree(a));
  ALZ_CUDA_CHECK(cudaFree(b));
  return 2.0 * static_cast<double>(kCopyBytes) / seconds;
}

std::string microseconds(double seconds) {  // "n/a" for a run that did not happen
  char text[32];
  if (seconds < 0) return "n/a";
  std::snprintf(text, sizeof text, "%.1f", seconds * 1e6);
  return text;
}
std::string ratio(double r) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", r);
  return text;
}

// Per shape: the fused step at each swept tile width; then the sums over the 151 layers.
void print_tile_sweep() {
  if (g_tile_seconds.empty()) return;
  const double copy = g_copy_bytes_per_second;
  std::printf("\nFused kernels by channel-tile width (bytes of each row per block; us per step):\n");
  std::printf("%-18s %6s %5s %10s", "shape (N,H,W,C)", "dtype", "layers", "floor");
  for (int bytes : kSweepTileBytes) std::printf(" %9dB", bytes);
  std::printf("\n");
  double sum[std::size(kSweepTileBytes)][2] = {}, floor_sum[2] = {};
  bool complete[std::size(kSweepTileBytes)][2];
  for (auto& row : complete) row[0] = row[1] = true;
  for (int is_bf16 = 0; is_bf16 < 2; ++is_bf16) {
    for (int i = 0; i < kShapeCount; ++i) {
      const BnShape& s = kShapes[i];
      const double floor = 8.0 * static_cast<double>(elements(s)) * (is_bf16 ? 2 : 4) / copy;
      floor_sum[is_bf16] += s.layers * floor;
      std::printf("%-18s %6s %5d %10.1f", shape_label(s, ',').c_str(), is_bf16 ? "bf16" : "f32", s.layers, floor * 1e6);
      for (size_t t = 0; t < std::size(kSweepTileBytes); ++t) {
        auto it = g_tile_seconds.find({kSweepTileBytes[t], is_bf16, i});
        const double seconds = it == g_tile_seconds.end() ? -1.0 : it->second;
        if (seconds < 0)
          complete[t][is_bf16] = false;
        else
          sum[t][is_bf16] += s.layers * seconds;
        std::printf(" %10s", microseconds(seconds).c_str());
      }
      std::printf("\n");
    }
  }
  std::printf("\nAll 151 layers by tile width (sum ms; floor/sum):\n");
  for (int is_bf16 = 0; is_bf16 < 2; ++is_bf16) {
    std::printf("%-6s floor %.3f ms:", is_bf16 ? "bf16" : "f32", floor_sum[is_bf16] * 1e3);
    for (size_t t = 0; t < std::size(kSweepTileBytes); ++t) {
      if (!complete[t][is_bf16])
        std::printf("   %dB (not run)", kSweepTileBytes[t]);
      else
        std::printf("   %dB %.3f ms (%.2f)", kSweepTileBytes[t], sum[t][is_bf16] * 1e3,
                    floor_sum[is_bf16] / sum[t][is_bf16]);
    }
    std::printf("\n");
  }
}

void print_summary() {
  const double copy = g_copy_bytes_per_second;
  std::printf("\nBatchNorm+ReLU forward+backward, batch 64, per shape (us per step; floor = 8 passes at %.2f TB/s):\n",
              copy / 1e12);
  std::printf("%-18s %6s %5s %10s %10s %10s %10s %9s\n", "shape (N,H,W,C)", "dtype", "layers", "floor", "fused",
              "cudnn", "naive", "cudnn/fused");
  double sum[3][2] = {}, floor_sum[2] = {};
  bool complete[3][2] = {{true, true}, {true, true}, {true, true}};
  for (int is_bf16 = 0; is_bf16 < 2; ++is_bf16) {
    for (int i = 0; i < kShapeCount; ++i) {
      const BnShape& s = kShapes[i];
      const double floor = 8.0 * static_cast<double>(elements(s)) * (is_bf16 ? 2 : 4) / copy;
      floor_sum[is_bf16] += s.layers * floor;
      double t[3];
      for (int impl = 0; impl < 3; ++impl) {
        auto it = g_seconds.find({impl, is_bf16, i});
        t[impl] = it == g_seconds.end() ? -1.0 : it->second;
        if (t[impl] < 0)
          complete[impl][is_bf16] = false;
        else
          sum[impl][is_bf16] += s.layers * t[impl];
      }
      std::printf("%-18s %6s %5d %10.1f %10s %10s %10s %9s\n", shape_label(s, ',').c_str(), is_bf16 ? "bf16" : "f32",
                  s.layers, floor * 1e6, microseconds(t[0]).c_str(), microseconds(t[1]).c_str(),
                  microseconds(t[2]).c_str(), t[0] > 0 && t[1] > 0 ? ratio(t[1] / t[0]).c_str() : "n/a");
    }
  }
  std::printf("\nAll 151 BatchNorm+ReLU layers of ResNet152V2 (sum of layers x time per step, ms):\n");
  std::printf("%-6s %6s %10s %10s %12s\n", "impl", "dtype", "sum ms", "floor ms", "floor/sum");
  for (int is_bf16 = 0; is_bf16 < 2; ++is_bf16) {
    for (int impl = 0; impl < 3; ++impl) {
      if (!complete[impl][is_bf16]) {
        std::printf("%-6s %6s %10s\n", impl_name(static_cast<Impl>(impl)), is_bf16 ? "bf16" : "f32", "(not run)");
        continue;
      }
      std::printf("%-6s %6s %10.3f %10.3f %12.2f\n", impl_name(static_cast<Impl>(impl)), is_bf16 ? "bf16" : "f32",
                  sum[impl][is_bf16] * 1e3, floor_sum[is_bf16] * 1e3, floor_sum[is_bf16] / sum[impl][is_bf16]);
    }
  }
}

template <typename S> void register_shapes(const char* dtype) {
  for (int i = 0; i < kShapeCount; ++i) {
    for (Impl impl : {Impl::Fused, Impl::Cudnn, Impl::Naive}) {
      const BnShape& s = kShapes[i];
      const std::string name = std::string("bn_relu/") + impl_name(impl) + "/" + dtype + "/" + shape_label(s, 'x');
      benchmark::RegisterBenchmark(name.c_str(),
                                   [impl, i](benchmark::State& state) { bn_relu_step<S>(state, impl, i); })
          ->UseManualTime()
          ->MinTime(0.05)
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

// The backward alone, its dx summed into the buffer `masked` (the gradient the shortcut brought):
// fused (accumulate_dx) or the dx kernel followed by the elementwise add. Bytes, in passes over
// N*H*W*C elements: fused 6 (the sums kernel reads x and dy; the dx kernel reads x, dy and the
// sum and writes the sum), unfused 8 (the sums kernel 2, the dx kernel 3 with dx written, the add
// reads dx and the sum and writes the sum); GB/s counts each with its own traffic.
template <typename S> void bn_relu_into(benchmark::State& state, bool fused, int shape_index) {
  const BnShape& shape = kShapes[shape_index];
  const int64_t count = elements(shape);
  try {
    Buffers& b = buffers<S>();
    S* sum = static_cast<S*>(b.masked);
    S* dx = static_cast<S*>(b.dx);
    ALZ_CUDA_CHECK(cudaMemsetAsync(sum, 0, static_cast<size_t>(count) * sizeof(S), g_stream));
    const k::BnReluBackwardArgs<S> args = fused_backward_args<S>(b, shape, fused ? sum : dx, fused);
    auto step = [&]() {
      k::bn_relu_backward_cuda(args, b.workspace, b.workspace_bytes, g_stream);
      if (!fused) k::add_forward_cuda(sum, dx, sum, count, g_stream);
    };
    for (int i = 0; i < 2; ++i) step();
    ALZ_CUDA_CHECK(cudaStreamSynchronize(g_stream));
    const double per_step = timed_steps(state, step);
    const double passes = fused ? 6.0 : 8.0;
    const double bytes = passes * static_cast<double>(count) * sizeof(S);
    state.counters["GB/s"] = bytes / per_step / 1e9;
    state.counters["of_copy"] = bytes / per_step / g_copy_bytes_per_second;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

template <typename S> void register_into(const char* dtype) {
  for (int i = 0; i < kShapeCount; ++i)
    for (bool fused : {true, false}) {
      const std::string name = std::string("bn_relu_into/") + (fused ? "fused/" : "add/") + dtype + "/" +
                               shape_label(kShapes[i], 'x');
      benchmark::RegisterBenchmark(name.c_str(),
                                   [fused, i](benchmark::State& state) { bn_relu_into<S>(state, fused, i); })
          ->UseManualTime()
          ->MinTime(0.05)
          ->Unit(benchmark::kMicrosecond);
    }
}

template <typename S> void register_tile_sweep(const char* dtype) {
  for (int bytes : kSweepTileBytes) {
    for (int i = 0; i < kShapeCount; ++i) {
      const BnShape& s = kShapes[i];
      const std::string name = "bn_relu_tile/" + std::to_string(bytes) + "/" + dtype + "/" + shape_label(s, 'x');
      benchmark::RegisterBenchmark(
          name.c_str(), [bytes, i](benchmark::State& state) { bn_relu_step<S>(state, Impl::Fused, i, bytes); })
          ->UseManualTime()
          ->MinTime(0.03)
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("bench_bn_relu: no CUDA device, nothing to measure\n");
    return 0;
  }
  try {
    ALZ_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    ALZ_CUDNN_CHECK(cudnnCreate(&g_cudnn));
    ALZ_CUDNN_CHECK(cudnnSetStream(g_cudnn, g_stream));
    cudaDeviceProp prop{};
    ALZ_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    g_copy_bytes_per_second = measure_copy_bandwidth();
    std::printf("device: %s, %d SMs, L2 %d MB; cuDNN %zu; d2d copy %.2f TB/s (read + write)\n", prop.name,
                prop.multiProcessorCount, prop.l2CacheSize >> 20, cudnnGetVersion(), g_copy_bytes_per_second / 1e12);
  } catch (const std::exception& e) {
    std::printf("bench_bn_relu: %s\n", e.what());
    return 1;
  }
  benchmark::RegisterBenchmark("copy/d2d_1GiB", copy_benchmark)
      ->UseManualTime()
      ->MinTime(0.05)
      ->Unit(benchmark::kMicrosecond);
  register_shapes<float>("f32");
  register_shapes<bf16>("bf16");
  register_tile_sweep<float>("f32");
  register_tile_sweep<bf16>("bf16");
  register_into<float>("f32");
  register_into<bf16>("bf16");
  benchmark::RunSpecifiedBenchmarks();
  print_summary();
  print_tile_sweep();
  benchmark::Shutdown();
  return 0;
}
