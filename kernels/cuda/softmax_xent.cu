// CUDA softmax cross-entropy from logits (kernels/softmax_xent.h), float:
//   loss_i = log sum_j exp(z_ij - m_i) + sum_j t_ij (m_i - z_ij),  m_i = max_j z_ij,
//   t = (1-eps) onehot(y) + eps/K,  L = sum_i w[y_i] loss_i / sum_i w[y_i]  (a device scalar),
//   dz_ij = dL * w[y_i] / sum w * (p_ij - t_ij)  with dL read from device memory.
// One warp per row (lanes stride over the K classes, shuffles reduce); the batch sums run in
// one block in a fixed order (deterministic, no atomics, no host synchronisation).
// An out-of-range label makes that row's loss and weight NaN, so L is NaN.
// Compared with the CPU reference by tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R ops_gpu
#include <cmath>

#include "core/cuda/check.h"
#include "kernels/softmax_xent.h"

namespace alz::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over a block of kThreads in a fixed order; valid in thread 0. Safe to call repeatedly.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[kThreads / 32];
  v = warp_sum(v);
  __syncthreads();  // a previous call may still be reading warp_sums
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.0f;
  if (threadIdx.x == 0) {
    for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  }
  return total;
}

// A row's max m and log sum_j exp(z_j - m), identical in every lane of the warp.
struct RowStats {
  float max, log_sum;
};

__device__ RowStats row_stats(const float* z, int64_t k, int lane) {
  float m = -INFINITY;
  for (int64_t j = lane; j < k; j += 32) m = fmaxf(m, z[j]);
  m = warp_max(m);
  float s = 0.0f;
  for (int64_t j = lane; j < k; j += 32) s += expf(z[j] - m);
  return RowStats{m, logf(warp_sum(s))};
}

__device__ __forceinline__ float row_weight(const float* class_weights, int32_t label) {
  return class_weights ? class_weights[label] : 1.0f;
}

// Per row: weighted[i] = w_i * loss_i, weights[i] = w_i; probs (optional) = softmax.
__global__ void softmax_xent_rows_kernel(const float* logits, const int32_t* labels, const float* class_weights,
                                         float eps, int64_t n, int64_t k, float* weighted, float* weights,
                                         float* probs) {
  const int lane = threadIdx.x % 32;
  const int64_t row = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / 32;
  if (row >= n) return;  // the whole warp leaves together
  const float* z = logits + row * k;
  const int32_t label = labels[row];
  const RowStats st = row_stats(z, k, lane);
  if (label < 0 || label >= k) {
    if (lane == 0) weighted[row] = weights[row] = NAN;
  } else {
    float spread = 0.0f;  // sum_j (m - z_j)
    for (int64_t j = lane; j < k; j += 32) spread += st.max - z[j];
    spread = warp_sum(spread);
    const float loss = st.log_sum + (1.0f - eps) * (st.max - z[label]) + eps / static_cast<float>(k) * spread;
    const float w = row_weight(class_weights, label);
    if (lane == 0) {
      weighted[row] = w * loss;
      weights[row] = w;
    }
  }
  if (probs) {
    const float lse = st.max + st.log_sum;
    for (int64_t j = lane; j < k; j += 32) probs[row * k + j] = expf(z[j] - lse);
  }
}

// One block: *loss = sum(weighted) / sum(weights).
__global__ void softmax_xent_total_kernel(const float* weighted, const float* weights, int64_t n, float* loss) {
  float num = 0.0f, den = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    num += weighted[i];
    den += weights[i];
  }
  num = block_sum(num);
  den = block_sum(den);
  if (threadIdx.x == 0) *loss = num / den;
}

// One block: *total = sum_i w[y_i] (NaN on a bad label).
__global__ void softmax_xent_weight_total_kernel(const int32_t* labels, const float* class_weights, int64_t n,
                                                 int64_t k, float* total) {
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const int32_t label = labels[i];
    sum += (label < 0 || label >= k) ? NAN : row_weight(class_weights, label);
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) *total = sum;
}

// dz_ij (+)= *dloss * w_i / *total * (p_ij - t_ij).
__global__ void softmax_xent_backward_kernel(const float* logits, const int32_t* labels, const float* class_weights,
                                             float eps, int64_t n, int64_t k, const float* dloss, const float* total,
                                             float* dlogits, bool accumulate) {
  const int lane = threadIdx.x % 32;
  const int64_t row = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / 32;
  if (row >= n) return;
  const float* z = logits + row * k;
  const int32_t label = labels[row];
  const bool bad = label < 0 || label >= k;
  const RowStats st = row_stats(z, k, lane);
  const float lse = st.max + st.log_sum;
  const float scale = bad ? NAN : *dloss * row_weight(class_weights, label) / *total;
  const float smooth = eps / static_cast<float>(k);
  for (int64_t j = lane; j < k; j += 32) {
    const float t = (j == label ? 1.0f - eps : 0.0f) + smooth;
    const float g = scale * (expf(z[j] - lse) - t);
    float& out = dlogits[row * k + j];
    out = accumulate ? out + g : g;
  }
}

void check_args(const SoftmaxXentArgs<float>& a) {
  ALZ_CHECK(a.n > 0 && a.k > 0, "softmax cross-entropy: empty logits (N " << a.n << ", K " << a.k << ")");
  ALZ_CHECK(a.labels != nullptr, "softmax cross-entropy: labels are required");
  ALZ_CHECK(a.label_smoothing >= 0.0f && a.label_smoothing < 1.0f,
            "softmax cross-entropy: label smoothing " << a.label_smoothing << " outside [0, 1)");
}

unsigned row_blocks(int64_t n) { return static_cast<unsigned>((n + kRowsPerBlock - 1) / kRowsPerBlock); }

}  // namespace

int64_t softmax_xent_workspace_elements(int64_t n) { return 2 * n; }

void softmax_xent_forward_cuda(const float* logits, const SoftmaxXentArgs<float>& a, float* loss, float* probs,
                               float* workspace, cudaStream_t stream) {
  check_args(a);
  float* weighted = workspace;
  float* weights = workspace + a.n;
  softmax_xent_rows_kernel<<<row_blocks(a.n), kThreads, 0, stream>>>(
      logits, a.labels, a.class_weights, a.label_smoothing, a.n, a.k, weighted, weights, probs);
  ALZ_CUDA_CHECK_LAUNCH();
  softmax_xent_total_kernel<<<1, kThreads, 0, stream>>>(weighted, weights, a.n, loss);
  ALZ_CUDA_CHECK_LAUNCH();
}

void softmax_xent_backward_cuda(const float* logits, const SoftmaxXentArgs<float>& a, const float* dloss,
                                float* dlogits, bool accumulate, float* workspace, cudaStream_t stream) {
  check_args(a);
  // The denominator sum_i w[y_i] (N without class weights; NaN when a label is out of range).
  softmax_xent_weight_total_kernel<<<1, kThreads, 0, stream>>>(a.labels, a.class_weights, a.n, a.k, workspace);
  ALZ_CUDA_CHECK_LAUNCH();
  softmax_xent_backward_kernel<<<row_blocks(a.n), kThreads, 0, stream>>>(
      logits, a.labels, a.class_weights, a.label_smoothing, a.n, a.k, dloss, workspace, dlogits, accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

}  // namespace alz::kernels
