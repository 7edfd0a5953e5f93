// OpenBLAS GEMM through kernels::matmul_cpu (kernels/gemm.h): C (M, N) = op(A) · op(B), row-major.
// FLOPs = 2 M N K per call; the counter GFLOP/s = 2 M N K / seconds per call.
// Shapes: square 512 / 1024 / 2048 (the BLAS ceiling), the im2col GEMM of a 3x3 conv with 64
// channels on one 56x56 image (3136 x 64 x 576), and the ResNet152V2 head, Dense 2048 -> 4 on a
// batch of 64: forward y = x·W (64 x 4 x 2048) and dW = xᵀ·dy (2048 x 4 x 64).
// Runs in well under a minute on 2 cores:
//   build/bench/bench_gemm_cpu --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/gemm.h"

namespace {

template <typename T> std::vector<T> random_matrix(int64_t count, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> values(count);
  for (T& v : values) v = static_cast<T>(dist(engine));
  return values;
}

// Args: M, N, K, trans_a.
template <typename T> void BM_matmul_cpu(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const bool trans_a = state.range(3) != 0;
  const std::vector<T> a = random_matrix<T>(m * k, 1), b = random_matrix<T>(k * n, 2);
  std::vector<T> c(m * n);
  for (auto _ : state) {
    alz::kernels::matmul_cpu(a.data(), b.data(), c.data(), m, n, k, trans_a, false);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(m) * n * k;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.counters["MFLOP/call"] = flops / 1e6;
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "tA"});
  for (int64_t s : {512, 1024, 2048}) b->Args({s, s, s, 0});
  b->Args({3136, 64, 576, 0});  // conv 3x3, 64 -> 64 channels, 56x56, as im2col
  b->Args({64, 4, 2048, 0});    // head forward
  b->Args({2048, 4, 64, 1});    // head dW = xᵀ · dy
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_matmul_cpu<float>)->Apply(shapes);
BENCHMARK(BM_matmul_cpu<double>)
    ->Args({1024, 1024, 1024, 0})
    ->ArgNames({"M", "N", "K", "tA"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
