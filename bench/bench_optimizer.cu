// Optimizer step over a parameter set shaped like ResNet152V2's trainable weights (4 classes:
// 514 tensors, 58,196,100 elements; conv kernels up to 3x3x512x512 = 2,359,296 elements, 359
// tensors of <= 4096 elements: BatchNorm gammas/betas and biases), f32:
//   fused   kernels/optimizer.h: one prepare kernel + ONE multi-tensor update launch per step
//           (+ one norm-partials launch with clipping), table uploaded once before timing
//   naive   one launch per tensor (514 launches), same element formula, scalars by value
// Bytes per element: Adam reads p, g, m, v and writes p, m, v = 7 x 4 = 28 B (clipping reads g
// once more: 32 B); SGD with momentum reads p, g, vel and writes p, vel = 5 x 4 = 20 B.
// GB/s = bytes x elements / time of one step (cudaEvent; each iteration times kStepsPerIteration
// steps). The H100 SXM's HBM3 peaks near 3350 GB/s. Runs in well under 30 s:
//   build/bench/bench_optimizer --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/cuda/check.h"
#include "kernels/optimizer.h"

namespace {

using namespace alz::kernels;

constexpr int kStepsPerIteration = 5;
constexpr int64_t kAlign = 128;  // elements: tensors start on 512-byte boundaries, as from the allocator

// Element counts of ResNet152V2's trainable weights (Keras order), with a 4-class head.
std::vector<int64_t> resnet152v2_sizes() {
  std::vector<int64_t> sizes = {7 * 7 * 3 * 64, 64};  // conv1_conv kernel, bias
  int64_t cin = 64;
  const int64_t filters[] = {64, 128, 256, 512};
  const int blocks[] = {3, 8, 36, 3};
  for (int stack = 0; stack < 4; ++stack) {
    const int64_t f = filters[stack];
    for (int b = 0; b < blocks[stack]; ++b) {
      sizes.insert(sizes.end(), {cin, cin});                        // preact_bn gamma, beta
      if (b == 0) sizes.insert(sizes.end(), {cin * 4 * f, 4 * f});  // 0_conv kernel, bias
      sizes.insert(sizes.end(),
                   {cin * f, f, f, 9 * f * f, f, f, f * 4 * f, 4 * f});  // 1_conv, 1_bn, 2_conv, 2_bn, 3_conv
      cin = 4 * f;
    }
  }
  sizes.insert(sizes.end(), {cin, cin, cin * 4, 4});  // post_bn, predictions
  return sizes;
}

__global__ void fill_kernel(float* data, int64_t count, uint32_t seed, float low, float high) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 16;
    h *= 2246822519u;
    h ^= h >> 13;
    data[i] = low + (high - low) * (static_cast<float>(h) / 4294967296.0f);
  }
}

// The naive variants: one launch per tensor, scalars by value.
__global__ void naive_adam_kernel(float* p, const float* g, float* m, float* v, int64_t count, AdamScalars<float> s) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
    adam_update(p[i], g[i], m[i], v[i], s);
}
__global__ void naive_sgd_kernel(float* p, const float* g, float* vel, int64_t count, SgdScalars<float> s) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
    sgd_update(p[i], g[i], vel[i], s);
}

struct Setup {
  std::vector<MultiTensorEntry> entries;
  int64_t elements = 0;
  float* pool = nullptr;  // p, g, m, v back to back
  MultiTensorEntry* device_entries = nullptr;
  MultiTensorChunk* device_chunks = nullptr;
  int32_t num_chunks = 0;
  OptimizerScalars* scalars = nullptr;
  double* partials = nullptr;
  cudaStream_t stream = nullptr;
};

Setup& setup() {
  static Setup s = [] {
    Setup made;
    const std::vector<int64_t> sizes = resnet152v2_sizes();
    std::vector<int64_t> offsets;
    int64_t padded = 0;
    for (int64_t n : sizes) {
      offsets.push_back(padded);
      padded += (n + kAlign - 1) / kAlign * kAlign;
      made.elements += n;
    }
    ALZ_CUDA_CHECK(cudaStreamCreateWithFlags(&made.stream, cudaStreamNonBlocking));
    ALZ_CUDA_CHECK(cudaMalloc(&made.pool, 4 * padded * sizeof(float)));
    float* p = made.pool;
    float* g = p + padded;
    float* m = g + padded;
    float* v = m + padded;
    fill_kernel<<<1024, 256, 0, made.stream>>>(p, padded, 1, -0.1f, 0.1f);
    fill_kernel<<<1024, 256, 0, made.stream>>>(g, padded, 2, -1e-2f, 1e-2f);
    fill_kernel<<<1024, 256, 0, made.stream>>>(m, padded, 3, -1e-3f, 1e-3f);
    fill_kernel<<<1024, 256, 0, made.stream>>>(v, padded, 4, 0.0f, 1e-4f);
    ALZ_CUDA_CHECK_LAUNCH();
    for (size_t t = 0; t < sizes.size(); ++t)
      made.entries.push_back({p + offsets[t], g + offsets[t], m + offsets[t], v + offsets[t], sizes[t]});
    const std::vector<MultiTensorChunk> chunks = multi_tensor_chunks(made.entries);
    made.num_chunks = static_cast<int32_t>(chunks.size());
    ALZ_CUDA_CHECK(cudaMalloc(&made.device_entries, made.entries.size() * sizeof(MultiTensorEntry)));
    ALZ_CUDA_CHECK(cudaMalloc(&made.device_chunks, chunks.size() * sizeof(MultiTensorChunk)));
    ALZ_CUDA_CHECK(cudaMalloc(&made.scalars, sizeof(OptimizerScalars)));
    ALZ_CUDA_CHECK(cudaMalloc(&made.partials, chunks.size() * sizeof(double)));
    ALZ_CUDA_CHECK(cudaMemcpy(made.device_entries, made.entries.data(), made.entries.size() * sizeof(MultiTensorEntry),
                              cudaMemcpyHostToDevice));
    ALZ_CUDA_CHECK(cudaMemcpy(made.device_chunks, chunks.data(), chunks.size() * sizeof(MultiTensorChunk),
                              cudaMemcpyHostToDevice));
    optimizer_set_scalars_cuda(made.scalars, 1e-4, 0, made.stream);
    ALZ_CUDA_CHECK(cudaStreamSynchronize(made.stream));
    return made;
  }();
  return s;
}

enum class Variant { FusedAdam, FusedAdamClip, NaiveAdam, FusedSgd, NaiveSgd };
const char* const kVariantNames[] = {"fused adam (1 update launch)", "fused adam + clip (norm + update)",
                                     "naive adam (514 launches)", "fused sgd momentum (1 update launch)",
                                     "naive sgd momentum (514 launches)"};

void one_step(Setup& s, Variant variant, int64_t step) {
  const AdamHyper adam{};  // Keras defaults, no weight decay
  const SgdHyper sgd{.momentum = 0.9};
  switch (variant) {
    case Variant::FusedAdam:
      adam_prepare_cuda(s.scalars, adam, nullptr, 0, 0.0, s.stream);
      adam_multi_tensor_cuda(s.device_entries, s.device_chunks, s.num_chunks, s.scalars, s.stream);
      break;
    case Variant::FusedAdamClip:
      grad_sq_norm_partials_cuda(s.device_entries, s.device_chunks, s.num_chunks, s.partials, s.stream);
      adam_prepare_cuda(s.scalars, adam, s.partials, s.num_chunks, 1.0, s.stream);
      adam_multi_tensor_cuda(s.device_entries, s.device_chunks, s.num_chunks, s.scalars, s.stream);
      break;
    case Variant::FusedSgd:
      sgd_prepare_cuda(s.scalars, sgd, nullptr, 0, 0.0, s.stream);
      sgd_multi_tensor_cuda(s.device_entries, s.device_chunks, s.num_chunks, s.scalars, s.stream);
      break;
    case Variant::NaiveAdam: {
      const AdamScalars<float> scalars = adam_scalars<float>(1e-4, adam, step, 1.0);
      for (const MultiTensorEntry& e : s.entries) {
        const int blocks = static_cast<int>(std::min<int64_t>((e.count + 255) / 256, 4096));
        naive_adam_kernel<<<blocks, 256, 0, s.stream>>>(e.param, e.grad, e.state0, e.state1, e.count, scalars);
      }
      ALZ_CUDA_CHECK_LAUNCH();
      break;
    }
    case Variant::NaiveSgd: {
      const SgdScalars<float> scalars = sgd_scalars<float>(1e-4, sgd, 1.0);
      for (const MultiTensorEntry& e : s.entries) {
        const int blocks = static_cast<int>(std::min<int64_t>((e.count + 255) / 256, 4096));
        naive_sgd_kernel<<<blocks, 256, 0, s.stream>>>(e.param, e.grad, e.state0, e.count, scalars);
      }
      ALZ_CUDA_CHECK_LAUNCH();
      break;
    }
  }
}

void BM_optimizer_step(benchmark::State& state) {
  const auto variant = static_cast<Variant>(state.range(0));
  Setup& s = setup();
  cudaEvent_t start, stop;
  ALZ_CUDA_CHECK(cudaEventCreate(&start));
  ALZ_CUDA_CHECK(cudaEventCreate(&stop));
  int64_t step = 1;
  one_step(s, variant, step++);  // warm-up
  double seconds = 0.0;
  for (auto _ : state) {
    ALZ_CUDA_CHECK(cudaEventRecord(start, s.stream));
    for (int i = 0; i < kStepsPerIteration; ++i) one_step(s, variant, step++);
    ALZ_CUDA_CHECK(cudaEventRecord(stop, s.stream));
    ALZ_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    ALZ_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    const double per_step = ms / 1e3 / kStepsPerIteration;
    state.SetIterationTime(per_step);
    seconds += per_step;
  }
  const bool adam = variant == Variant::FusedAdam || variant == Variant::NaiveAdam;
  const double bytes_per_element = variant == Variant::FusedAdamClip ? 32.0 : adam ? 28.0 : 20.0;
  const double bytes = bytes_per_element * static_cast<double>(s.elements);
  state.counters["GB/s"] = bytes * state.iterations() / seconds / 1e9;
  state.counters["ms/step"] = seconds / state.iterations() * 1e3;
  state.SetLabel(kVariantNames[state.range(0)]);
  state.counters["tensors"] = static_cast<double>(s.entries.size());
  state.counters["Melements"] = static_cast<double>(s.elements) / 1e6;
  ALZ_CUDA_CHECK(cudaEventDestroy(start));
  ALZ_CUDA_CHECK(cudaEventDestroy(stop));
}

void variants(benchmark::internal::Benchmark* b) {
  b->ArgName("variant");
  for (Variant v :
       {Variant::FusedAdam, Variant::NaiveAdam, Variant::FusedAdamClip, Variant::FusedSgd, Variant::NaiveSgd})
    b->Arg(static_cast<int>(v));
  b->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.5);
}

}  // namespace

BENCHMARK(BM_optimizer_step)->Apply(variants);

BENCHMARK_MAIN();
