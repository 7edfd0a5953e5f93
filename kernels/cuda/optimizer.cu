// CUDA optimizers (kernels/optimizer.h): fused multi-tensor SGD and Adam/AdamW, one launch per
// step for every tensor, and the deterministic global gradient norm for clipping.
//
// Work split: the host's chunk table gives each block one chunk of kMultiTensorChunk (64K)
// elements of one tensor (MultiTensorChunk: tensor index, chunk index). A block of kThreads
// threads walks its chunk kIlp elements per thread at a time (all loads of a group first, then
// the math, then the stores), coalesced: element base + k * kThreads.
// Scalars: lr and t are read from device memory (OptimizerScalars), written by the prepare
// kernel (t += 1, clip factor, the step's scalars) or the tiny set kernels; nothing here reads
// host memory or waits for the host, so a step can be captured in a CUDA graph.
// Norm: partial[c] = sum over chunk c of g^2 (per-thread float sums in a fixed order, then a
// fixed tree in double); the prepare kernel adds the partials in a fixed order (thread j takes
// j, j + 256, ..., then a fixed tree). Same inputs -> same bits, run after run.
//
// Compared with the CPU reference by tests/gpu/test_optimizer_gpu.cpp; timed by
// bench/bench_optimizer.cu:   ctest --test-dir build -L gpu -R Optimizer
#include <atomic>

#include "core/cuda/check.h"
#include "kernels/optimizer.h"

namespace alz::kernels {

namespace {

constexpr int kThreads = 512;         // threads per update block
constexpr int kIlp = 4;               // elements in flight per thread
constexpr int kPrepareThreads = 256;  // threads of the one-block prepare kernel

std::atomic<uint64_t> g_update_launches{0};

__global__ void set_scalars_kernel(OptimizerScalars* s, double lr, int64_t step, int set_step) {
  s->lr = lr;
  if (set_step) {
    s->step = step;
    s->grad_norm = -1.0;
    s->grad_scale = 1.0;
  }
}

// Sum of x over a block of kDim threads, in a fixed tree order; the result is valid in thread 0.
template <int kDim> __device__ double block_sum(double x, double* shared) {
  shared[threadIdx.x] = x;
  __syncthreads();
#pragma unroll
  for (int width = kDim / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) shared[threadIdx.x] += shared[threadIdx.x + width];
    __syncthreads();
  }
  return shared[0];
}

// partials[c] = sum of grad^2 over chunk c; one block per chunk.
__global__ void grad_sq_norm_partials_kernel(const MultiTensorEntry* entries, const MultiTensorChunk* chunks,
                                             double* partials) {
  __shared__ double shared[kThreads];
  const MultiTensorChunk c = chunks[blockIdx.x];
  const float* grad = entries[c.tensor].grad;
  const int64_t begin = int64_t{c.chunk} * kMultiTensorChunk;
  const int64_t end = min(begin + kMultiTensorChunk, entries[c.tensor].count);
  float sum = 0.0f;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) sum += grad[i] * grad[i];
  const double total = block_sum<kThreads>(static_cast<double>(sum), shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// t += 1; the clip factor from the partials (if max_norm > 0); grad_norm and grad_scale.
// Returns the factor in thread 0 (others: unspecified).
__device__ double prepare_common(OptimizerScalars* s, const double* partials, int32_t num_partials, double max_norm) {
  __shared__ double shared[kPrepareThreads];
  double scale = 1.0, norm = -1.0;
  if (max_norm > 0.0) {
    double sum = 0.0;
    for (int32_t i = threadIdx.x; i < num_partials; i += kPrepareThreads) sum += partials[i];
    norm = sqrt(block_sum<kPrepareThreads>(sum, shared));
    scale = clip_factor(norm, max_norm);
  }
  if (threadIdx.x == 0) {
    s->step += 1;
    s->grad_norm = norm;
    s->grad_scale = scale;
  }
  return scale;
}

__global__ void sgd_prepare_kernel(OptimizerScalars* s, SgdHyper hyper, const double* partials, int32_t num_partials,
                                   double max_norm) {
  const double scale = prepare_common(s, partials, num_partials, max_norm);
  if (threadIdx.x == 0) s->sgd = sgd_scalars<float>(s->lr, hyper, scale);
}

__global__ void adam_prepare_kernel(OptimizerScalars* s, AdamHyper hyper, const double* partials, int32_t num_partials,
                                    double max_norm) {
  const double scale = prepare_common(s, partials, num_partials, max_norm);
  if (threadIdx.x == 0) s->adam = adam_scalars<float>(s->lr, hyper, s->step, scale);
}

__global__ void __launch_bounds__(kThreads)
    sgd_multi_tensor_kernel(const MultiTensorEntry* entries, const MultiTensorChunk* chunks,
                            const OptimizerScalars* scalars) {
  const MultiTensorChunk c = chunks[blockIdx.x];
  const MultiTensorEntry e = entries[c.tensor];
  const SgdScalars<float> s = scalars->sgd;
  const bool has_velocity = s.momentum != 0.0f;
  const int64_t begin = int64_t{c.chunk} * kMultiTensorChunk;
  const int64_t end = min(begin + kMultiTensorChunk, e.count);
  for (int64_t base = begin + threadIdx.x; base < end; base += int64_t{kThreads} * kIlp) {
    float p[kIlp], g[kIlp], vel[kIlp];
#pragma unroll
    for (int k = 0; k < kIlp; ++k) {
      const int64_t i = base + k * kThreads;
      if (i < end) {
        p[k] = e.param[i];
        g[k] = e.grad[i];
        vel[k] = has_velocity ? e.state0[i] : 0.0f;
      }
    }
#pragma unroll
    for (int k = 0; k < kIlp; ++k) {
      const int64_t i = base + k * kThreads;
      if (i < end) {
        sgd_update(p[k], g[k], vel[k], s);
        e.param[i] = p[k];
        if (has_velocity) e.state0[i] = vel[k];
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    adam_multi_tensor_kernel(const MultiTensorEntry* entries, const MultiTensorChunk* chunks,
                             const OptimizerScalars* scalars) {
  const MultiTensorChunk c = chunks[blockIdx.x];
  const MultiTensorEntry e = entries[c.tensor];
  const AdamScalars<float> s = scalars->adam;
  const int64_t begin = int64_t{c.chunk} * kMultiTensorChunk;
  const int64_t end = min(begin + kMultiTensorChunk, e.count);
  for (int64_t base = begin + threadIdx.x; base < end; base += int64_t{kThreads} * kIlp) {
    float p[kIlp], g[kIlp], m[kIlp], v[kIlp];
#pragma unroll
    for (int k = 0; k < kIlp; ++k) {
      const int64_t i = base + k * kThreads;
      if (i < end) {
        p[k] = e.param[i];
        g[k] = e.grad[i];
        m[k] = e.state0[i];
        v[k] = e.state1[i];
      }
    }
#pragma unroll
    for (int k = 0; k < kIlp; ++k) {
      const int64_t i = base + k * kThreads;
      if (i < end) {
        adam_update(p[k], g[k], m[k], v[k], s);
        e.param[i] = p[k];
        e.state0[i] = m[k];
        e.state1[i] = v[k];
      }
    }
  }
}

}  // namespace

void optimizer_set_scalars_cuda(OptimizerScalars* scalars, double lr, int64_t step, cudaStream_t stream) {
  set_scalars_kernel<<<1, 1, 0, stream>>>(scalars, lr, step, 1);
  ALZ_CUDA_CHECK_LAUNCH();
}

void optimizer_set_learning_rate_cuda(OptimizerScalars* scalars, double lr, cudaStream_t stream) {
  set_scalars_kernel<<<1, 1, 0, stream>>>(scalars, lr, 0, 0);
  ALZ_CUDA_CHECK_LAUNCH();
}

void grad_sq_norm_partials_cuda(const MultiTensorEntry* entries, const MultiTensorChunk* chunks, int32_t num_chunks,
                                double* partials, cudaStream_t stream) {
  if (num_chunks <= 0) return;
  grad_sq_norm_partials_kernel<<<num_chunks, kThreads, 0, stream>>>(entries, chunks, partials);
  ALZ_CUDA_CHECK_LAUNCH();
}

void sgd_prepare_cuda(OptimizerScalars* scalars, const SgdHyper& hyper, const double* partials, int32_t num_partials,
                      double max_norm, cudaStream_t stream) {
  sgd_prepare_kernel<<<1, kPrepareThreads, 0, stream>>>(scalars, hyper, partials, num_partials, max_norm);
  ALZ_CUDA_CHECK_LAUNCH();
}

void adam_prepare_cuda(OptimizerScalars* scalars, const AdamHyper& hyper, const double* partials, int32_t num_partials,
                       double max_norm, cudaStream_t stream) {
  adam_prepare_kernel<<<1, kPrepareThreads, 0, stream>>>(scalars, hyper, partials, num_partials, max_norm);
  ALZ_CUDA_CHECK_LAUNCH();
}

void sgd_multi_tensor_cuda(const MultiTensorEntry* entries, const MultiTensorChunk* chunks, int32_t num_chunks,
                           const OptimizerScalars* scalars, cudaStream_t stream) {
  if (num_chunks <= 0) return;
  sgd_multi_tensor_kernel<<<num_chunks, kThreads, 0, stream>>>(entries, chunks, scalars);
  ALZ_CUDA_CHECK_LAUNCH();
  g_update_launches.fetch_add(1, std::memory_order_relaxed);
}

void adam_multi_tensor_cuda(const MultiTensorEntry* entries, const MultiTensorChunk* chunks, int32_t num_chunks,
                            const OptimizerScalars* scalars, cudaStream_t stream) {
  if (num_chunks <= 0) return;
  adam_multi_tensor_kernel<<<num_chunks, kThreads, 0, stream>>>(entries, chunks, scalars);
  ALZ_CUDA_CHECK_LAUNCH();
  g_update_launches.fetch_add(1, std::memory_order_relaxed);
}

uint64_t multi_tensor_update_launches() { return g_update_launches.load(std::memory_order_relaxed); }

}  // namespace alz::kernels
