// cuBLAS GEMM through kernels::matmul_cuda (kernels/gemm.h): C (M, N) = A (M, K) · B (K, N),
// row-major, in three modes: strict fp32 (SGEMM, CUBLAS_DEFAULT_MATH), TF32 tensor cores
// (SGEMM, CUBLAS_TF32_TENSOR_OP_MATH) and bf16 storage with f32 accumulation (GemmEx).
// FLOPs = 2 M N K per call; TFLOP/s = 2 M N K / (cudaEvent time per call). Each timed iteration
// queues kCallsPerIteration GEMMs between two events, so small shapes are not pure launch noise.
// Shapes: 8192^3 (the tensor-core ceiling; H100 SXM datasheet: ~67 fp32, ~495 TF32, ~990 bf16
// dense TFLOP/s) and the ResNet152V2 head, Dense 2048 -> 4 on a batch of 64 (64 x 4 x 2048).
// Runs in well under a minute on an H100:
//   build/bench/bench_gemm --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/bf16.h"
#include "core/cuda/check.h"
#include "kernels/gemm.h"

namespace {

constexpr int kCallsPerIteration = 5;

enum class Mode { Fp32 = 0, Tf32 = 1, Bf16 = 2 };

// Deterministic values in [-1, 1) from a hash of the index (no host copy of 8192^2 values).
template <typename S> __global__ void fill_kernel(S* data, int64_t count, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 16;
    h *= 2246822519u;
    h ^= h >> 13;
    const float v = static_cast<float>(h) / 4294967296.0f * 2.0f - 1.0f;
    if constexpr (sizeof(S) == 4) {
      data[i] = v;
    } else {
      data[i] = alz::float_to_bf16(v);
    }
  }
}

template <typename S> S* device_matrix(int64_t count, uint32_t seed) {
  S* data = nullptr;
  ALZ_CUDA_CHECK(cudaMalloc(&data, count * sizeof(S)));
  fill_kernel<<<1024, 256>>>(data, count, seed);
  ALZ_CUDA_CHECK_LAUNCH();
  return data;
}

template <typename S>
void run(benchmark::State& state, cublasHandle_t handle, cudaStream_t stream, int64_t m, int64_t n, int64_t k) {
  S* a = device_matrix<S>(m * k, 1);
  S* b = device_matrix<S>(k * n, 2);
  S* c = device_matrix<S>(m * n, 3);
  ALZ_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  ALZ_CUDA_CHECK(cudaEventCreate(&start));
  ALZ_CUDA_CHECK(cudaEventCreate(&stop));
  alz::kernels::matmul_cuda(handle, a, b, c, m, n, k, false, false);  // warm-up: heuristics, clocks
  double seconds = 0.0;
  for (auto _ : state) {
    ALZ_CUDA_CHECK(cudaEventRecord(start, stream));
    for (int i = 0; i < kCallsPerIteration; ++i) alz::kernels::matmul_cuda(handle, a, b, c, m, n, k, false, false);
    ALZ_CUDA_CHECK(cudaEventRecord(stop, stream));
    ALZ_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    ALZ_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    const double per_call = ms / 1e3 / kCallsPerIteration;
    state.SetIterationTime(per_call);
    seconds += per_call;
  }
  const double flops = 2.0 * static_cast<double>(m) * n * k;
  state.counters["TFLOP/s"] = flops * state.iterations() / seconds / 1e12;
  state.counters["GFLOP/call"] = flops / 1e9;
  ALZ_CUDA_CHECK(cudaEventDestroy(start));
  ALZ_CUDA_CHECK(cudaEventDestroy(stop));
  ALZ_CUDA_CHECK(cudaFree(a));
  ALZ_CUDA_CHECK(cudaFree(b));
  ALZ_CUDA_CHECK(cudaFree(c));
}

// Args: M, N, K, mode.
void BM_matmul_cuda(benchmark::State& state) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  static cublasHandle_t handle = nullptr;
  static cudaStream_t stream = nullptr;
  if (handle == nullptr) {
    ALZ_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    ALZ_CUBLAS_CHECK(cublasCreate(&handle));
    ALZ_CUBLAS_CHECK(cublasSetStream(handle, stream));
  }
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto mode = static_cast<Mode>(state.range(3));
  const bool saved = alz::kernels::gemm_allow_tf32();
  alz::kernels::set_gemm_allow_tf32(mode == Mode::Tf32);
  if (mode == Mode::Bf16) {
    run<alz::bf16>(state, handle, stream, m, n, k);
  } else {
    run<float>(state, handle, stream, m, n, k);
  }
  alz::kernels::set_gemm_allow_tf32(saved);
  state.SetLabel(mode == Mode::Fp32 ? "fp32" : mode == Mode::Tf32 ? "tf32" : "bf16");
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "mode"});
  for (int64_t mode : {0, 1, 2}) {
    b->Args({8192, 8192, 8192, mode});
    b->Args({64, 4, 2048, mode});  // ResNet152V2 head: Dense 2048 -> 4, batch 64
  }
  b->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.3);
}

BENCHMARK(BM_matmul_cuda)->Apply(shapes);

}  // namespace

BENCHMARK_MAIN();
