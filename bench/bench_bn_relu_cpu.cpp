// CPU BatchNorm+ReLU (f32), training forward and backward: the fast kernels of
// kernels/cpu/bn_relu_fast.cpp beside the double-arithmetic reference of kernels/cpu/bn_relu.cpp,
// on ResNetV2 shapes at the CPU demo's scale (batch 32, 64x64 input). GB/s counts the 3-pass
// forward and 5-pass backward (kernels/bn_relu.h) over wall-clock time on every core.
//
//   build/bench/bench_bn_relu_cpu                  (about half a minute on 2 cores)
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/bn_relu.h"

namespace {

struct BnShape {
  const char* name;
  int64_t rows, channels;
};

// (N*H*W, C) of ResNetV2's BatchNorms at batch 32, 64x64 input: the four stacks, narrow and wide.
const BnShape kShapes[] = {
    {"32x16x16x64", 32 * 16 * 16, 64}, {"32x16x16x256", 32 * 16 * 16, 256}, {"32x8x8x128", 32 * 8 * 8, 128},
    {"32x8x8x512", 32 * 8 * 8, 512},   {"32x4x4x1024", 32 * 4 * 4, 1024},   {"32x2x2x2048", 32 * 2 * 2, 2048},
};

std::vector<float> random_vector(int64_t count, uint32_t seed, float low, float high) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> v(static_cast<size_t>(count));
  for (auto& e : v) e = dist(engine);
  return v;
}

struct Buffers {
  std::vector<float> x, y, dy, dx, gamma, beta, mm, mv, mean, invstd, dgamma, dbeta;
  explicit Buffers(const BnShape& s)
      : x(random_vector(s.rows * s.channels, 1, -2.0f, 3.0f)),
        y(x.size()),
        dy(random_vector(s.rows * s.channels, 2, -1.0f, 1.0f)),
        dx(x.size()),
        gamma(random_vector(s.channels, 3, 0.5f, 1.5f)),
        beta(random_vector(s.channels, 4, -0.5f, 0.5f)),
        mm(size_t(s.channels), 0.0f),
        mv(size_t(s.channels), 1.0f),
        mean(size_t(s.channels)),
        invstd(size_t(s.channels)),
        dgamma(size_t(s.channels)),
        dbeta(size_t(s.channels)) {}
  alz::kernels::BnReluForwardArgs<float> forward_args(const BnShape& s) {
    return {.x = x.data(),
            .y = y.data(),
            .rows = s.rows,
            .channels = s.channels,
            .gamma = gamma.data(),
            .beta = beta.data(),
            .moving_mean = mm.data(),
            .moving_variance = mv.data(),
            .saved = {mean.data(), invstd.data()},
            .momentum = 0.9,
            .epsilon = 1.001e-5};
  }
  // dgamma and dbeta are added into (accumulate_params), as in every recorded run.
  alz::kernels::BnReluBackwardArgs<float> backward_args(const BnShape& s) {
    return {.x = x.data(),
            .dy = dy.data(),
            .dx = dx.data(),
            .rows = s.rows,
            .channels = s.channels,
            .gamma = gamma.data(),
            .beta = beta.data(),
            .saved = {mean.data(), invstd.data()},
            .dgamma = dgamma.data(),
            .dbeta = dbeta.data(),
            .accumulate_params = true};
  }
};

void forward(benchmark::State& state, BnShape s, bool fast) {
  Buffers b(s);
  const alz::kernels::BnReluForwardArgs<float> args = b.forward_args(s);
  for (auto _ : state) {
    if (fast)
      alz::kernels::bn_relu_forward_training_cpu_fast(args);
    else
      alz::kernels::bn_relu_forward_training_cpu(args);
    benchmark::DoNotOptimize(b.y.data());
  }
  state.SetBytesProcessed(state.iterations() * 3 * s.rows * s.channels * int64_t(sizeof(float)));
}

void backward(benchmark::State& state, BnShape s, bool fast) {
  Buffers b(s);
  alz::kernels::BnReluForwardArgs<float> forward_args = b.forward_args(s);
  forward_args.moving_mean = forward_args.moving_variance = nullptr;
  alz::kernels::bn_relu_forward_training_cpu(forward_args);
  const alz::kernels::BnReluBackwardArgs<float> args = b.backward_args(s);
  for (auto _ : state) {
    if (fast)
      alz::kernels::bn_relu_backward_cpu_fast(args);
    else
      alz::kernels::bn_relu_backward_cpu(args);
    benchmark::DoNotOptimize(b.dx.data());
  }
  state.SetBytesProcessed(state.iterations() * 5 * s.rows * s.channels * int64_t(sizeof(float)));
}

int register_all() {
  for (const BnShape& s : kShapes) {
    for (bool fast : {true, false}) {
      const std::string kind = fast ? "fast" : "reference";
      benchmark::RegisterBenchmark(("bn_relu_cpu/forward/" + kind + "/" + s.name).c_str(), forward, s, fast)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("bn_relu_cpu/backward/" + kind + "/" + s.name).c_str(), backward, s, fast)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
