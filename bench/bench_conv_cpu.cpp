// CPU convolution (im2col + OpenBLAS GEMM, f32) on every distinct ResNet152V2 convolution
// shape at batch 2 and 64x64 input (or --batch, --size): forward, backward data, backward
// filter. GFLOP/s counts 2*N*P*Q*K*R*S*C per call, over wall-clock time (OpenBLAS and OpenMP
// use every core).
//
//   build/bench/bench_conv_cpu                    (under a minute on 2 cores)
//   build/bench/bench_conv_cpu --batch=16 --size=64   (the CPU training step's shapes; default 2, 64)
//   build/bench/bench_conv_cpu --benchmark_filter=forward
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "bench/resnet152v2_conv_shapes.h"
#include "kernels/conv2d.h"

namespace {

using alz::Conv2dParams;

using Shape = alz::bench::ConvShape;
using alz::bench::resnet152v2_shapes;

std::vector<float> random_vector(int64_t count, uint64_t seed) {
  std::mt19937 engine(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (auto& e : v) e = dist(engine);
  return v;
}

enum class Direction { Forward, BackwardData, BackwardFilter };

void bench_conv_cpu(benchmark::State& state, Shape shape, Direction direction) {
  const Conv2dParams& p = shape.p;
  std::vector<float> x = random_vector(p.x_count(), 1), w = random_vector(p.w_count(), 2);
  std::vector<float> y = random_vector(p.y_count(), 3);
  for (auto _ : state) {
    switch (direction) {
      case Direction::Forward: alz::conv2d_forward_cpu<float>(p, x.data(), w.data(), nullptr, y.data()); break;
      case Direction::BackwardData: alz::conv2d_backward_data_cpu<float>(p, y.data(), w.data(), x.data()); break;
      case Direction::BackwardFilter:
        alz::conv2d_backward_filter_cpu<float>(p, x.data(), y.data(), w.data(), false);
        break;
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(p.flops() / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["count"] = shape.count;
  state.SetLabel(p.pointwise() ? (p.stride_h == 1 ? "1x1 GEMM" : "1x1 gather+GEMM") : "im2col+GEMM");
}

}  // namespace

// Our own two flags, taken out of argv before Google Benchmark sees it.
int take_int_flag(int& argc, char** argv, const std::string& name, int fallback) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(name + "=", 0) != 0) continue;
    const int value = std::stoi(arg.substr(name.size() + 1));
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
    return value;
  }
  return fallback;
}

int main(int argc, char** argv) {
  const int batch = take_int_flag(argc, argv, "--batch", 2), size = take_int_flag(argc, argv, "--size", 64);
  const char* names[] = {"forward", "backward_data", "backward_filter"};
  for (const Shape& shape : resnet152v2_shapes(batch, size))
    for (int d = 0; d < 3; ++d)
      benchmark::RegisterBenchmark((std::string(names[d]) + "/" + shape.name + "/" + shape.p.str()).c_str(),
                                   bench_conv_cpu, shape, Direction(d))
          ->UseRealTime()
          ->MinTime(0.05)
          ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
