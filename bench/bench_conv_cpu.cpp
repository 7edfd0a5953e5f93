// CPU convolution (im2col + OpenBLAS GEMM, f32) on every distinct ResNet152V2 convolution
// shape at batch 2 and 64x64 input: forward, backward data, backward filter. GFLOP/s counts
// 2*N*P*Q*K*R*S*C per call, over wall-clock time (OpenBLAS and OpenMP use every core).
//
//   build/bench/bench_conv_cpu                    (under a minute on 2 cores)
//   build/bench/bench_conv_cpu --benchmark_filter=forward
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d.h"

namespace {

using alz::Conv2dParams;

struct Shape {
  std::string name;  // the first Keras layer with this shape
  Conv2dParams p;
  int count;  // layers with this shape in the network
};

// ResNet152V2 (Keras): stem 7x7/2 on the input zero-padded by 3, 3x3/2 max pool (pad 1), then
// stacks of bottleneck blocks (64, 128, 256, 512 filters; 3, 8, 36, 3 blocks), the stride in
// the last block of the first three stacks; block 1 of each stack has a 1x1 shortcut conv.
std::vector<Shape> resnet152v2_shapes(int batch, int resolution) {
  std::vector<Shape> shapes;
  auto add = [&](const std::string& name, const Conv2dParams& p) {
    for (Shape& s : shapes)
      if (s.p == p) {
        ++s.count;
        return;
      }
    shapes.push_back({name, p, 1});
  };
  add("conv1_conv", Conv2dParams::make(batch, resolution + 6, resolution + 6, 3, 64, 7, 2, 0));
  int size = ((resolution + 6 - 7) / 2 + 1 + 2 - 3) / 2 + 1;  // after the stem and the pool
  const int depths[4] = {3, 8, 36, 3};
  int cin = 64;
  for (int stack = 0; stack < 4; ++stack) {
    const int f = 64 << stack;
    for (int block = 0; block < depths[stack]; ++block) {
      const int stride = (block == depths[stack] - 1 && stack < 3) ? 2 : 1;
      const std::string prefix = "conv" + std::to_string(stack + 2) + "_block" + std::to_string(block + 1) + "_";
      if (block == 0) add(prefix + "0_conv", Conv2dParams::make(batch, size, size, cin, 4 * f, 1, stride, 0));
      add(prefix + "1_conv", Conv2dParams::make(batch, size, size, cin, f, 1, 1, 0));
      add(prefix + "2_conv", Conv2dParams::make(batch, size, size, f, f, 3, stride, 1));
      size = (size + 2 - 3) / stride + 1;
      add(prefix + "3_conv", Conv2dParams::make(batch, size, size, f, 4 * f, 1, 1, 0));
      cin = 4 * f;
    }
  }
  return shapes;
}

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

int main(int argc, char** argv) {
  const char* names[] = {"forward", "backward_data", "backward_filter"};
  for (const Shape& shape : resnet152v2_shapes(2, 64))
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
