// Fused BatchNorm(+ReLU) kernels: training forward (2 kernels), inference (1), backward (2).
// Formulas, byte accounting and the workspace contract: kernels/bn_relu.h.
// Layout: NHWC viewed as (rows = N*H*W, C), C fastest; storage float or bf16, arithmetic float.
//
// Thread mapping. A block is (lanes, row_lanes) with lanes * row_lanes <= 256. Lane tx owns
// one vector of VW channels (VW = 4 floats or 8 bf16 = 16 bytes; VW = 1 on the scalar path),
// vector index v = blockIdx.x * lanes + tx, so a warp reads whole 16-byte vectors of
// consecutive channels. A block's channel tile is lanes * VW channels: by default 128 bytes of
// each row (8 lanes of vectors, 32 scalar floats), one full cache line per row; the width can
// be changed for tuning (bn_relu_set_tile_bytes). Narrow tiles mean more tiles, so fewer row
// splits per tile and more row lanes per block: the last block's merge of the partials (the
// serial tail of the reductions) gets short, which is what small shapes are bound by. Row
// lane ty walks rows begin+ty, begin+ty+row_lanes, ... of its block's row split
// s = blockIdx.y, U rows per step with all U loads issued first.
// The grid is about kBlocksPerSm resident blocks per SM, so every kernel is a single wave.
//
// Reductions are deterministic: a thread folds its rows in order; row lanes merge in a fixed
// tree through shared memory; each block writes one partial per channel; the last block of a
// channel tile to finish (atomic counter after __threadfence) merges the partials, row lane ty
// taking splits ty, ty+row_lanes, ... in order, then the same tree. Floating-point values are
// never combined atomically. The last block resets its counter to zero.
//
// Tested by tests/gpu/test_bn_relu_gpu.cpp (ctest --test-dir build -R BnReluGpu); benchmarked by
// bench/bench_bn_relu.cu (tools/bench-bn.sh OUTDIR).
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "core/cuda/check.h"
#include "kernels/bn_relu.h"
#include "kernels/cuda/element_access.h"

namespace alz::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxLanes = 32;  // vectors per channel tile
constexpr int kDefaultTileBytes = 128;
std::atomic<int> g_tile_bytes{kDefaultTileBytes};
constexpr int kBlocksPerSm = 2;
constexpr int64_t kMaxRowSplits = 512;
constexpr int64_t kMinRowsPerSplit = 16;
constexpr size_t kAlignment = 256;

template <typename T> constexpr int kVectorWidth = static_cast<int>(16 / sizeof(T));  // 4 floats, 8 bf16

// Rows in flight per thread, per kernel: 128 bytes of loads per thread in every kernel and
// dtype (8 rows of one tensor, or 4 rows of two), enough to cover memory latency at two blocks
// per SM. Rows are held packed until used (Packed below), so bf16 costs no more registers
// than f32 for the same bytes.
template <int VW> constexpr int kStatsUnroll = 8;
template <int VW> constexpr int kApplyUnroll = 8;
template <int VW> constexpr int kReduceUnroll = 4;
template <int VW> constexpr int kDxUnroll = 4;
template <int VW> constexpr int kMergeBatch = VW == 1 ? 8 : 16 / VW;  // partials loaded per step

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
size_t round_up(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

// ---------------------------------------------------------------- element access

// What one lane loads from one row, as it is in memory: a 16-byte vector, or one scalar on the
// scalar path. Loads are issued for several rows first and unpacked to floats one row at a
// time, so a bf16 row in flight holds 4 registers, not 8.
template <typename T, int VW> struct Packed { uint4 bits; };
template <typename T> struct Packed<T, 1> { T value; };

template <int VW, typename T> __device__ __forceinline__ Packed<T, VW> load_packed(const T* p) {
  if constexpr (VW == 1) {
    return Packed<T, 1>{*p};
  } else {
    static_assert(VW * sizeof(T) == 16, "vectors are 16 bytes: 4 floats or 8 bf16");
    return Packed<T, VW>{*reinterpret_cast<const uint4*>(p)};
  }
}

// Issues the loads of one lane's vector (channels c0...) in rows r0, r0 + row_lanes, ... (U rows,
// those before `end`), all before any is used, so that U rows are in flight per thread.
template <int U, int VW, typename T>
__device__ __forceinline__ void load_rows(const T* data, int channels, int c0, int64_t r0, int64_t end,
                                          Packed<T, VW> (&raw)[U]) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int64_t r = r0 + static_cast<int64_t>(u) * blockDim.y;
    if (r < end) raw[u] = load_packed<VW>(data + r * channels + c0);
  }
}

// The same for two tensors of one shape (x and dy), row by row.
template <int U, int VW, typename T>
__device__ __forceinline__ void load_row_pairs(const T* a, const T* b, int channels, int c0, int64_t r0, int64_t end,
                                               Packed<T, VW> (&raw_a)[U], Packed<T, VW> (&raw_b)[U]) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int64_t r = r0 + static_cast<int64_t>(u) * blockDim.y;
    if (r < end) {
      raw_a[u] = load_packed<VW>(a + r * channels + c0);
      raw_b[u] = load_packed<VW>(b + r * channels + c0);
    }
  }
}

template <int VW, typename T> __device__ __forceinline__ void unpack(const Packed<T, VW>& q, float (&v)[VW]) {
  if constexpr (VW == 1) {
    v[0] = load(&q.value, 0);
  } else {
    const unsigned words[4] = {q.bits.x, q.bits.y, q.bits.z, q.bits.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if constexpr (std::is_same_v<T, float>) {
        v[i] = __uint_as_float(words[i]);
      } else {  // little endian: the lower address is the low half
        v[2 * i] = __uint_as_float(words[i] << 16);
        v[2 * i + 1] = __uint_as_float(words[i] & 0xFFFF0000u);
      }
    }
  }
}

template <int VW, typename T> __device__ __forceinline__ void store_vector(T* p, const float (&v)[VW]) {
  if constexpr (VW == 1) {
    store(p, 0, v[0]);
  } else if constexpr (std::is_same_v<T, float>) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
    unsigned words[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) words[i] = pack_bf16x2(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<uint4*>(p) = make_uint4(words[0], words[1], words[2], words[3]);
  }
}

// Partials written by other blocks: read through L2 (.cg), never a stale L1 line.
template <int VW> __device__ __forceinline__ void load_partial(const float* p, float (&v)[VW]) {
  if constexpr (VW == 1) {
    v[0] = __ldcg(p);
  } else {
#pragma unroll
    for (int i = 0; i < VW / 4; ++i) {
      const float4 q = __ldcg(reinterpret_cast<const float4*>(p) + i);
      v[4 * i] = q.x, v[4 * i + 1] = q.y, v[4 * i + 2] = q.z, v[4 * i + 3] = q.w;
    }
  }
}

// pre-activation and normalised value: the same float expressions in every kernel, so the
// backward's recomputed ReLU mask is bit-identical to the forward's.
__device__ __forceinline__ float normalized(float x, float mean, float invstd) { return (x - mean) * invstd; }
__device__ __forceinline__ float pre_activation(float xhat, float gamma, float beta) {
  return __fmaf_rn(gamma, xhat, beta);
}

// ---------------------------------------------------------------- block-level merges
template <int VW> struct Moments {  // count, mean and sum of squared deviations (Welford / Chan)
  float n = 0.0f;
  float mean[VW] = {};
  float m2[VW] = {};
};

template <int VW>
__device__ __forceinline__ void merge(Moments<VW>& a, float nb, const float (&mean_b)[VW], const float (&m2_b)[VW]) {
  const float n = a.n + nb;
  const float f = n > 0.0f ? nb / n : 0.0f;  // weight of b; nb == 0 leaves a unchanged
  const float w = a.n * f;                   // na * nb / n
#pragma unroll
  for (int j = 0; j < VW; ++j) {
    const float d = mean_b[j] - a.mean[j];
    a.mean[j] = __fmaf_rn(d, f, a.mean[j]);
    a.m2[j] = a.m2[j] + __fmaf_rn(d * d, w, m2_b[j]);
  }
  a.n = n;
}

template <int VW> struct Sums {  // sum of g and of g * xhat
  float g[VW] = {};
  float gx[VW] = {};
};

__device__ __forceinline__ int pow2_ceil(int n) { return n <= 1 ? 1 : 1 << (32 - __clz(n - 1)); }

// Shared memory is component-major: component k of slot t at smem[k * kThreads + t].
template <int VW> __device__ void store_shared(float* smem, int slot, const Moments<VW>& a) {
  smem[slot] = a.n;
#pragma unroll
  for (int j = 0; j < VW; ++j) {
    smem[(1 + j) * kThreads + slot] = a.mean[j];
    smem[(1 + VW + j) * kThreads + slot] = a.m2[j];
  }
}
template <int VW> __device__ void combine_shared(Moments<VW>& a, const float* smem, int slot) {
  float mean_b[VW], m2_b[VW];
#pragma unroll
  for (int j = 0; j < VW; ++j) {
    mean_b[j] = smem[(1 + j) * kThreads + slot];
    m2_b[j] = smem[(1 + VW + j) * kThreads + slot];
  }
  merge(a, smem[slot], mean_b, m2_b);
}
template <int VW> __device__ void store_shared(float* smem, int slot, const Sums<VW>& a) {
#pragma unroll
  for (int j = 0; j < VW; ++j) {
    smem[j * kThreads + slot] = a.g[j];
    smem[(VW + j) * kThreads + slot] = a.gx[j];
  }
}
template <int VW> __device__ void combine_shared(Sums<VW>& a, const float* smem, int slot) {
#pragma unroll
  for (int j = 0; j < VW; ++j) {
    a.g[j] += smem[j * kThreads + slot];
    a.gx[j] += smem[(VW + j) * kThreads + slot];
  }
}

// Merges the accumulators of the row lanes of each channel lane into row lane 0, in a fixed
// tree (lane ty takes lane ty + step). Every thread of the block must call it.
template <typename Acc> __device__ void merge_row_lanes(Acc& acc, float* smem) {
  const int slot = threadIdx.y * blockDim.x + threadIdx.x;
  store_shared(smem, slot, acc);
  __syncthreads();
  for (int step = pow2_ceil(blockDim.y) / 2; step > 0; step /= 2) {
    if (threadIdx.y < step && threadIdx.y + step < blockDim.y) {
      combine_shared(acc, smem, slot + step * blockDim.x);
      store_shared(smem, slot, acc);
    }
    __syncthreads();
  }
}

// After a block wrote its partials: true in exactly one block per channel tile, the last.
__device__ bool arrive_last(unsigned* counters) {
  __shared__ bool is_last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0 && threadIdx.y == 0) is_last = atomicAdd(&counters[blockIdx.x], 1u) == gridDim.y - 1;
  __syncthreads();
  if (is_last) __threadfence();
  return is_last;
}

struct Split {  // the rows of split s: [begin, end)
  int64_t begin, end;
  __device__ Split(int64_t rows, int64_t rows_per_split, int s)
      : begin(s * rows_per_split), end(begin + rows_per_split < rows ? begin + rows_per_split : rows) {}
};

// ---------------------------------------------------------------- kernels
template <typename T, int VW, int U>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    bn_stats_kernel(const T* __restrict__ x, int64_t rows, int channels, int64_t rows_per_split, float* partial_mean,
                    float* partial_m2, unsigned* counters, float* save_mean, float* save_invstd, float* moving_mean,
                    float* moving_variance, float momentum, float epsilon) {
  __shared__ float smem[(2 * VW + 1) * kThreads];
  const int v = blockIdx.x * blockDim.x + threadIdx.x;
  const bool active = v < channels / VW;
  const int c0 = v * VW;
  const Split split(rows, rows_per_split, blockIdx.y);
  Moments<VW> acc;
  const int64_t first = split.begin + threadIdx.y;
  if (active && first < split.end) {
    // Shifted sums: d = x - K with K this thread's first row, so sum(d) and sum(d^2) stay of
    // the order of the spread, not of the mean (never E[x^2] - E[x]^2 on raw values). No
    // division and no chain from row to row, unlike a per-row Welford update.
    float shift[VW], s1[VW] = {}, s2[VW] = {};
    unpack(load_packed<VW>(x + first * channels + c0), shift);
    const int64_t stride = static_cast<int64_t>(blockDim.y) * U;
    for (int64_t r0 = first; r0 < split.end; r0 += stride) {
      Packed<T, VW> raw[U];
      load_rows(x, channels, c0, r0, split.end, raw);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (r0 + static_cast<int64_t>(u) * blockDim.y >= split.end) break;
        float vals[VW];
        unpack(raw[u], vals);
        acc.n += 1.0f;
#pragma unroll
        for (int j = 0; j < VW; ++j) {
          const float d = vals[j] - shift[j];
          s1[j] += d;
          s2[j] = __fmaf_rn(d, d, s2[j]);
        }
      }
    }
    // To (n, mean, M2): mean = K + s1 / n, M2 = s2 - s1^2 / n (>= 0 up to rounding).
    const float rn = 1.0f / acc.n;
#pragma unroll
    for (int j = 0; j < VW; ++j) {
      const float d_mean = s1[j] * rn;
      acc.mean[j] = shift[j] + d_mean;
      acc.m2[j] = fmaxf(__fmaf_rn(-s1[j], d_mean, s2[j]), 0.0f);
    }
  }
  merge_row_lanes(acc, smem);
  const int64_t base = static_cast<int64_t>(blockIdx.y) * channels + c0;
  if (threadIdx.y == 0 && active) {
#pragma unroll
    for (int j = 0; j < VW; ++j) partial_mean[base + j] = acc.mean[j], partial_m2[base + j] = acc.m2[j];
  }
  if (!arrive_last(counters)) return;

  Moments<VW> total;
  if (active) {
    constexpr int B = kMergeBatch<VW>;
    for (int s0 = threadIdx.y; s0 < static_cast<int>(gridDim.y); s0 += B * blockDim.y) {
      float n[B], mean_b[B][VW], m2_b[B][VW];
#pragma unroll
      for (int b = 0; b < B; ++b) {
        const int s = s0 + b * blockDim.y;
        if (s < static_cast<int>(gridDim.y)) {
          const Split other(rows, rows_per_split, s);
          n[b] = static_cast<float>(other.end - other.begin);
          load_partial<VW>(partial_mean + static_cast<int64_t>(s) * channels + c0, mean_b[b]);
          load_partial<VW>(partial_m2 + static_cast<int64_t>(s) * channels + c0, m2_b[b]);
        } else {
          n[b] = 0.0f;
#pragma unroll
          for (int j = 0; j < VW; ++j) mean_b[b][j] = 0.0f, m2_b[b][j] = 0.0f;
        }
      }
#pragma unroll
      for (int b = 0; b < B; ++b) merge(total, n[b], mean_b[b], m2_b[b]);
    }
  }
  merge_row_lanes(total, smem);
  if (threadIdx.y == 0 && active) {
#pragma unroll
    for (int j = 0; j < VW; ++j) {
      const int c = c0 + j;
      const float mean = total.mean[j];
      const float var = fmaxf(total.m2[j] / static_cast<float>(rows), 0.0f);  // biased
      save_mean[c] = mean;
      save_invstd[c] = 1.0f / sqrtf(var + epsilon);
      if (moving_mean != nullptr) {
        moving_mean[c] = __fmaf_rn(momentum, moving_mean[c], (1.0f - momentum) * mean);
        moving_variance[c] = __fmaf_rn(momentum, moving_variance[c], (1.0f - momentum) * var);
      }
    }
  }
  if (threadIdx.x == 0 && threadIdx.y == 0) counters[blockIdx.x] = 0u;
}

// y = [relu](gamma * (x - mean) * invstd + beta). Training: invstd given (saved); inference:
// computed from the moving variance. `reverse` walks the split from its end (L2 reuse).
template <typename T, int VW, int U>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    bn_apply_kernel(const T* x, T* y, int64_t rows, int channels, int64_t rows_per_split, const float* mean,
                    const float* invstd_or_variance, bool from_variance, float epsilon, const float* gamma,
                    const float* beta, bool relu, bool reverse) {
  const int v = blockIdx.x * blockDim.x + threadIdx.x;
  if (v >= channels / VW) return;
  const int c0 = v * VW;
  float m[VW], s[VW], g[VW], b[VW];
#pragma unroll
  for (int j = 0; j < VW; ++j) {
    m[j] = mean[c0 + j];
    s[j] = from_variance ? 1.0f / sqrtf(invstd_or_variance[c0 + j] + epsilon) : invstd_or_variance[c0 + j];
    g[j] = gamma[c0 + j];
    b[j] = beta[c0 + j];
  }
  const Split split(rows, rows_per_split, blockIdx.y);
  const int64_t first = split.begin + threadIdx.y, stride = static_cast<int64_t>(blockDim.y) * U;
  if (first >= split.end) return;
  const int64_t steps = ceil_div(split.end - first, stride);
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t r0 = first + (reverse ? steps - 1 - k : k) * stride;
    Packed<T, VW> raw[U];
    load_rows(x, channels, c0, r0, split.end, raw);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t r = r0 + static_cast<int64_t>(u) * blockDim.y;
      if (r >= split.end) break;
      float vals[VW];
      unpack(raw[u], vals);
#pragma unroll
      for (int j = 0; j < VW; ++j) {
        const float pre = pre_activation(normalized(vals[j], m[j], s[j]), g[j], b[j]);
        vals[j] = relu ? fmaxf(pre, 0.0f) : pre;
      }
      store_vector<VW>(y + r * channels + c0, vals);
    }
  }
}

// Sums of g and g * xhat per channel (g = dy masked by the recomputed ReLU); the last block
// per tile accumulates dgamma, dbeta and stores the dx coefficients
// coef_a = gamma * invstd * sum(g) / rows, coef_b = gamma * invstd * sum(g * xhat) / rows.
template <typename T, int VW, int U>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    bn_backward_reduce_kernel(const T* __restrict__ x, const T* __restrict__ dy, int64_t rows, int channels,
                              int64_t rows_per_split, const float* gamma, const float* beta, const float* mean,
                              const float* invstd, bool relu, float* partial_g, float* partial_gx, unsigned* counters,
                              float* dgamma, float* dbeta, float* coef_a, float* coef_b) {
  __shared__ float smem[2 * VW * kThreads];
  const int v = blockIdx.x * blockDim.x + threadIdx.x;
  const bool active = v < channels / VW;
  const int c0 = v * VW;
  float m[VW], s[VW], ga[VW], be[VW];
#pragma unroll
  for (int j = 0; j < VW; ++j) {
    m[j] = active ? mean[c0 + j] : 0.0f;
    s[j] = active ? invstd[c0 + j] : 0.0f;
    ga[j] = active ? gamma[c0 + j] : 0.0f;
    be[j] = active ? beta[c0 + j] : 0.0f;
  }
  const Split split(rows, rows_per_split, blockIdx.y);
  Sums<VW> acc;
  if (active) {
    const int64_t stride = static_cast<int64_t>(blockDim.y) * U;
    for (int64_t r0 = split.begin + threadIdx.y; r0 < split.end; r0 += stride) {
      Packed<T, VW> x_raw[U], dy_raw[U];
      load_row_pairs(x, dy, channels, c0, r0, split.end, x_raw, dy_raw);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (r0 + static_cast<int64_t>(u) * blockDim.y >= split.end) break;
        float xs[VW], gs[VW];
        unpack(x_raw[u], xs);
        unpack(dy_raw[u], gs);
#pragma unroll
        for (int j = 0; j < VW; ++j) {
          const float xhat = normalized(xs[j], m[j], s[j]);
          const float g = relu && !(pre_activation(xhat, ga[j], be[j]) > 0.0f) ? 0.0f : gs[j];
          acc.g[j] += g;
          acc.gx[j] = __fmaf_rn(g, xhat, acc.gx[j]);
        }
      }
    }
  }
  merge_row_lanes(acc, smem);
  const int64_t base = static_cast<int64_t>(blockIdx.y) * channels + c0;
  if (threadIdx.y == 0 && active) {
#pragma unroll
    for (int j = 0; j < VW; ++j) partial_g[base + j] = acc.g[j], partial_gx[base + j] = acc.gx[j];
  }
  if (!arrive_last(counters)) return;

  Sums<VW> total;
  if (active) {
    constexpr int B = kMergeBatch<VW>;
    for (int s0 = threadIdx.y; s0 < static_cast<int>(gridDim.y); s0 += B * blockDim.y) {
      float g_b[B][VW], gx_b[B][VW];
#pragma unroll
      for (int b = 0; b < B; ++b) {
        const int sp = s0 + b * blockDim.y;
        if (sp < static_cast<int>(gridDim.y)) {
          load_partial<VW>(partial_g + static_cast<int64_t>(sp) * channels + c0, g_b[b]);
          load_partial<VW>(partial_gx + static_cast<int64_t>(sp) * channels + c0, gx_b[b]);
        } else {
#pragma unroll
          for (int j = 0; j < VW; ++j) g_b[b][j] = 0.0f, gx_b[b][j] = 0.0f;
        }
      }
#pragma unroll
      for (int b = 0; b < B; ++b) {
#pragma unroll
        for (int j = 0; j < VW; ++j) total.g[j] += g_b[b][j], total.gx[j] += gx_b[b][j];
      }
    }
  }
  merge_row_lanes(total, smem);
  if (threadIdx.y == 0 && active) {
    const float inv_rows = 1.0f / static_cast<float>(rows);
#pragma unroll
    for (int j = 0; j < VW; ++j) {
      const int c = c0 + j;
      dbeta[c] += total.g[j];
      dgamma[c] += total.gx[j];
      const float k = ga[j] * s[j];
      coef_a[c] = k * total.g[j] * inv_rows;
      coef_b[c] = k * total.gx[j] * inv_rows;
    }
  }
  if (threadIdx.x == 0 && threadIdx.y == 0) counters[blockIdx.x] = 0u;
}

// dx = gamma * invstd * g - coef_a - xhat * coef_b, walking each split from its end; with
// Accumulate, dx += that (the sum in f32, rounded once to T).
template <typename T, int VW, int U, bool Accumulate>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    bn_backward_dx_kernel(const T* x, const T* dy, T* dx, int64_t rows, int channels, int64_t rows_per_split,
                          const float* gamma, const float* beta, const float* mean, const float* invstd,
                          const float* coef_a, const float* coef_b, bool relu) {
  const int v = blockIdx.x * blockDim.x + threadIdx.x;
  if (v >= channels / VW) return;
  const int c0 = v * VW;
  float m[VW], s[VW], ga[VW], be[VW], k[VW], a[VW], b[VW];
#pragma unroll
  for (int j = 0; j < VW; ++j) {
    m[j] = mean[c0 + j];
    s[j] = invstd[c0 + j];
    ga[j] = gamma[c0 + j];
    be[j] = beta[c0 + j];
    k[j] = ga[j] * s[j];
    a[j] = coef_a[c0 + j];
    b[j] = coef_b[c0 + j];
  }
  const Split split(rows, rows_per_split, blockIdx.y);
  const int64_t first = split.begin + threadIdx.y, stride = static_cast<int64_t>(blockDim.y) * U;
  if (first >= split.end) return;
  const int64_t steps = ceil_div(split.end - first, stride);
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t r0 = first + (steps - 1 - step) * stride;
    Packed<T, VW> x_raw[U], dy_raw[U];
    load_row_pairs(x, dy, channels, c0, r0, split.end, x_raw, dy_raw);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t r = r0 + static_cast<int64_t>(u) * blockDim.y;
      if (r >= split.end) break;
      float xs[VW], gs[VW];
      unpack(x_raw[u], xs);
      unpack(dy_raw[u], gs);
#pragma unroll
      for (int j = 0; j < VW; ++j) {
        const float xhat = normalized(xs[j], m[j], s[j]);
        const float g = relu && !(pre_activation(xhat, ga[j], be[j]) > 0.0f) ? 0.0f : gs[j];
        gs[j] = __fmaf_rn(k[j], g, -__fmaf_rn(xhat, b[j], a[j]));
      }
      if constexpr (Accumulate) {
        float before[VW];
        unpack(load_packed<VW>(dx + r * channels + c0), before);
#pragma unroll
        for (int j = 0; j < VW; ++j) gs[j] += before[j];
      }
      store_vector<VW>(dx + r * channels + c0, gs);
    }
  }
}

// ---------------------------------------------------------------- host side
int multiprocessor_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices];  // 0: not asked yet
  int device = 0;
  ALZ_CUDA_CHECK(cudaGetDevice(&device));
  if (device >= 0 && device < kMaxDevices) {
    const int cached = cache[device].load(std::memory_order_relaxed);
    if (cached > 0) return cached;
  }
  int count = 0;
  ALZ_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  if (device >= 0 && device < kMaxDevices) cache[device].store(count, std::memory_order_relaxed);
  return std::max(count, 1);
}

int64_t max_row_splits(int64_t rows) { return std::min(kMaxRowSplits, ceil_div(rows, kMinRowsPerSplit)); }

struct Plan {
  dim3 grid, block;  // grid (channel tiles, row splits); block (lanes, row_lanes)
  int64_t rows_per_split;
};

// Lanes per block: the tile width in bytes over the bytes one lane loads, within [1, 32].
int tile_lanes(int vector_bytes) {
  const int wanted = g_tile_bytes.load(std::memory_order_relaxed) / vector_bytes;
  return std::clamp(wanted, 1, kMaxLanes);
}

template <typename T> Plan make_plan(int64_t rows, int64_t channels, int vector_width) {
  const int64_t vectors = channels / vector_width;
  const int lanes = static_cast<int>(std::min<int64_t>(vectors, tile_lanes(vector_width * sizeof(T))));
  const int64_t tiles = ceil_div(vectors, lanes);
  const int64_t wanted = std::max<int64_t>(1, int64_t{multiprocessor_count()} * kBlocksPerSm / tiles);
  const int64_t splits = std::min(wanted, max_row_splits(rows));
  const int64_t rows_per_split = ceil_div(rows, splits);
  return Plan{dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(ceil_div(rows, rows_per_split))),
              dim3(static_cast<unsigned>(lanes), static_cast<unsigned>(kThreads / lanes)), rows_per_split};
}

struct Layout {  // byte offsets inside the caller's workspace; counters first
  size_t partial_a, partial_b, coef_a, coef_b, total;
};

Layout workspace_layout(int64_t rows, int64_t channels) {
  // One counter per channel tile; tiles can be as narrow as one channel.
  const size_t counter_bytes = round_up(sizeof(unsigned) * static_cast<size_t>(channels));
  const size_t partial_bytes = round_up(sizeof(float) * static_cast<size_t>(max_row_splits(rows) * channels));
  const size_t coef_bytes = round_up(sizeof(float) * static_cast<size_t>(channels));
  Layout l;
  l.partial_a = counter_bytes;
  l.partial_b = l.partial_a + partial_bytes;
  l.coef_a = l.partial_b + partial_bytes;
  l.coef_b = l.coef_a + coef_bytes;
  l.total = l.coef_b + coef_bytes;
  return l;
}

struct Workspace {
  unsigned* counters;
  float *partial_a, *partial_b, *coef_a, *coef_b;
};

Workspace carve(void* base, int64_t rows, int64_t channels) {
  const Layout l = workspace_layout(rows, channels);
  auto* bytes = static_cast<char*>(base);
  return Workspace{reinterpret_cast<unsigned*>(bytes), reinterpret_cast<float*>(bytes + l.partial_a),
                   reinterpret_cast<float*>(bytes + l.partial_b), reinterpret_cast<float*>(bytes + l.coef_a),
                   reinterpret_cast<float*>(bytes + l.coef_b)};
}

void check_shape(const char* op, int64_t rows, int64_t channels) {
  ALZ_CHECK(rows > 0 && channels > 0 && channels <= INT_MAX / 16,
            op << ": needs rows > 0 and 0 < channels < 2^27, got rows " << rows << ", channels " << channels);
}

// dgamma = dbeta = 0 (C floats each), stream-ordered.
void zero_params(float* dgamma, float* dbeta, int64_t channels, cudaStream_t stream) {
  ALZ_CUDA_CHECK(cudaMemsetAsync(dgamma, 0, sizeof(float) * static_cast<size_t>(channels), stream));
  ALZ_CUDA_CHECK(cudaMemsetAsync(dbeta, 0, sizeof(float) * static_cast<size_t>(channels), stream));
}

void check_workspace(const char* op, int64_t rows, int64_t channels, const void* workspace, size_t bytes) {
  const size_t needed = bn_relu_workspace_bytes(rows, channels);
  ALZ_CHECK(workspace != nullptr && bytes >= needed, op << ": workspace of " << bytes << " bytes is smaller than the "
                                                        << needed << " that (rows " << rows << ", channels " << channels
                                                        << ") needs (bn_relu_workspace_bytes)");
  ALZ_CHECK(reinterpret_cast<uintptr_t>(workspace) % 16 == 0, op << ": workspace must be 16-byte aligned");
}

template <typename T> bool use_vectors(int64_t channels, std::initializer_list<const void*> pointers) {
  if (channels % kVectorWidth<T> != 0) return false;
  for (const void* p : pointers)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

template <typename T, int VW>
void launch_forward_training(const T* x, T* y, int64_t rows, int64_t channels, const float* gamma, const float* beta,
                             float* moving_mean, float* moving_variance, BatchNormSaved<float> saved, float momentum,
                             float epsilon, bool relu, const Workspace& w, cudaStream_t stream) {
  const Plan p = make_plan<T>(rows, channels, VW);
  const int c = static_cast<int>(channels);
  bn_stats_kernel<T, VW, kStatsUnroll<VW>>
      <<<p.grid, p.block, 0, stream>>>(x, rows, c, p.rows_per_split, w.partial_a, w.partial_b, w.counters, saved.mean,
                                       saved.invstd, moving_mean, moving_variance, momentum, epsilon);
  ALZ_CUDA_CHECK_LAUNCH();
  bn_apply_kernel<T, VW, kApplyUnroll<VW>><<<p.grid, p.block, 0, stream>>>(
      x, y, rows, c, p.rows_per_split, saved.mean, saved.invstd, false, epsilon, gamma, beta, relu, true);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename T>
void forward_training(const BnReluForwardArgs<T>& a, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const T* x = a.x;
  T* y = a.y;
  const int64_t rows = a.rows, channels = a.channels;
  const float *gamma = a.gamma, *beta = a.beta;
  float *moving_mean = a.moving_mean, *moving_variance = a.moving_variance;
  const BatchNormSaved<float> saved = a.saved;
  const float momentum = static_cast<float>(a.momentum), epsilon = static_cast<float>(a.epsilon);
  const bool relu = a.relu;
  const char* op = "bn_relu_forward_training_cuda";
  check_shape(op, rows, channels);
  check_workspace(op, rows, channels, workspace, workspace_bytes);
  ALZ_CHECK(x && y && gamma && beta && saved.mean && saved.invstd,
            op << ": x, y, gamma, beta and the saved mean/invstd buffers are required");
  ALZ_CHECK((moving_mean == nullptr) == (moving_variance == nullptr),
            op << ": moving_mean and moving_variance must both be given or both be null");
  const Workspace w = carve(workspace, rows, channels);
  if (use_vectors<T>(channels, {x, y}))
    launch_forward_training<T, kVectorWidth<T>>(x, y, rows, channels, gamma, beta, moving_mean, moving_variance, saved,
                                                momentum, epsilon, relu, w, stream);
  else
    launch_forward_training<T, 1>(x, y, rows, channels, gamma, beta, moving_mean, moving_variance, saved, momentum,
                                  epsilon, relu, w, stream);
}

template <typename T> void forward_inference(const BnReluForwardArgs<T>& a, cudaStream_t stream) {
  const T* x = a.x;
  T* y = a.y;
  const int64_t rows = a.rows, channels = a.channels;
  const float *gamma = a.gamma, *beta = a.beta, *moving_mean = a.moving_mean, *moving_variance = a.moving_variance;
  const float epsilon = static_cast<float>(a.epsilon);
  const bool relu = a.relu;
  const char* op = "bn_relu_forward_inference_cuda";
  check_shape(op, rows, channels);
  ALZ_CHECK(x && y && gamma && beta && moving_mean && moving_variance,
            op << ": x, y, gamma, beta and the moving statistics are required");
  const int c = static_cast<int>(channels);
  if (use_vectors<T>(channels, {x, y})) {
    constexpr int VW = kVectorWidth<T>;
    const Plan p = make_plan<T>(rows, channels, VW);
    bn_apply_kernel<T, VW, kApplyUnroll<VW>><<<p.grid, p.block, 0, stream>>>(
        x, y, rows, c, p.rows_per_split, moving_mean, moving_variance, true, epsilon, gamma, beta, relu, false);
  } else {
    const Plan p = make_plan<T>(rows, channels, 1);
    bn_apply_kernel<T, 1, kApplyUnroll<1>><<<p.grid, p.block, 0, stream>>>(
        x, y, rows, c, p.rows_per_split, moving_mean, moving_variance, true, epsilon, gamma, beta, relu, false);
  }
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename T, int VW>
void launch_backward(const T* x, const T* dy, T* dx, int64_t rows, int64_t channels, const float* gamma,
                     const float* beta, BatchNormSaved<const float> saved, bool relu, float* dgamma, float* dbeta,
                     bool accumulate_dx, const Workspace& w, cudaStream_t stream) {
  const Plan p = make_plan<T>(rows, channels, VW);
  const int c = static_cast<int>(channels);
  bn_backward_reduce_kernel<T, VW, kReduceUnroll<VW>>
      <<<p.grid, p.block, 0, stream>>>(x, dy, rows, c, p.rows_per_split, gamma, beta, saved.mean, saved.invstd, relu,
                                       w.partial_a, w.partial_b, w.counters, dgamma, dbeta, w.coef_a, w.coef_b);
  ALZ_CUDA_CHECK_LAUNCH();
  if (accumulate_dx)
    bn_backward_dx_kernel<T, VW, kDxUnroll<VW>, true><<<p.grid, p.block, 0, stream>>>(
        x, dy, dx, rows, c, p.rows_per_split, gamma, beta, saved.mean, saved.invstd, w.coef_a, w.coef_b, relu);
  else
    bn_backward_dx_kernel<T, VW, kDxUnroll<VW>, false><<<p.grid, p.block, 0, stream>>>(
        x, dy, dx, rows, c, p.rows_per_split, gamma, beta, saved.mean, saved.invstd, w.coef_a, w.coef_b, relu);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename T>
void backward(const BnReluBackwardArgs<T>& a, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const T *x = a.x, *dy = a.dy;
  T* dx = a.dx;
  const int64_t rows = a.rows, channels = a.channels;
  const float *gamma = a.gamma, *beta = a.beta;
  const BatchNormSaved<const float> saved = a.saved;
  const bool relu = a.relu;
  float *dgamma = a.dgamma, *dbeta = a.dbeta;
  const char* op = "bn_relu_backward_cuda";
  check_shape(op, rows, channels);
  check_workspace(op, rows, channels, workspace, workspace_bytes);
  ALZ_CHECK(x && dy && dx && gamma && beta && saved.mean && saved.invstd && dgamma && dbeta,
            op << ": x, dy, dx, gamma, beta, the saved statistics, dgamma and dbeta are required");
  ALZ_CHECK(!(a.accumulate_dx && static_cast<const void*>(dx) == static_cast<const void*>(dy)),
            op << ": accumulate_dx needs dx apart from dy");
  const Workspace w = carve(workspace, rows, channels);
  // The kernels add the sums into dgamma and dbeta; overwriting them means zeroing them first.
  if (!a.accumulate_params) zero_params(dgamma, dbeta, channels, stream);
  if (use_vectors<T>(channels, {x, dy, dx}))
    launch_backward<T, kVectorWidth<T>>(x, dy, dx, rows, channels, gamma, beta, saved, relu, dgamma, dbeta,
                                        a.accumulate_dx, w, stream);
  else
    launch_backward<T, 1>(x, dy, dx, rows, channels, gamma, beta, saved, relu, dgamma, dbeta, a.accumulate_dx, w,
                          stream);
}

}  // namespace

void bn_relu_set_tile_bytes(int bytes) {
  ALZ_CHECK(
      bytes == 0 || (bytes >= 4 && bytes <= 1024 && (bytes & (bytes - 1)) == 0),
      "bn_relu_set_tile_bytes: the tile width must be 0 (the default) or a power of two from 4 to 1024 bytes, got "
          << bytes);
  g_tile_bytes.store(bytes == 0 ? kDefaultTileBytes : bytes, std::memory_order_relaxed);
}

int bn_relu_tile_bytes() { return g_tile_bytes.load(std::memory_order_relaxed); }

size_t bn_relu_workspace_bytes(int64_t rows, int64_t channels) {
  if (rows <= 0 || channels <= 0) return 0;
  return workspace_layout(rows, channels).total;
}

void bn_relu_workspace_init_cuda(void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  ALZ_CHECK(workspace != nullptr || workspace_bytes == 0, "bn_relu_workspace_init_cuda: null workspace");
  if (workspace_bytes > 0) ALZ_CUDA_CHECK(cudaMemsetAsync(workspace, 0, workspace_bytes, stream));
}

void bn_relu_forward_training_cuda(const BnReluForwardArgs<float>& a, void* workspace, size_t workspace_bytes,
                                   cudaStream_t stream) {
  forward_training(a, workspace, workspace_bytes, stream);
}
void bn_relu_forward_training_cuda(const BnReluForwardArgs<bf16>& a, void* workspace, size_t workspace_bytes,
                                   cudaStream_t stream) {
  forward_training(a, workspace, workspace_bytes, stream);
}

void bn_relu_forward_inference_cuda(const BnReluForwardArgs<float>& a, cudaStream_t stream) {
  forward_inference(a, stream);
}
void bn_relu_forward_inference_cuda(const BnReluForwardArgs<bf16>& a, cudaStream_t stream) {
  forward_inference(a, stream);
}

void bn_relu_backward_cuda(const BnReluBackwardArgs<float>& a, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream) {
  backward(a, workspace, workspace_bytes, stream);
}
void bn_relu_backward_cuda(const BnReluBackwardArgs<bf16>& a, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream) {
  backward(a, workspace, workspace_bytes, stream);
}

}  // namespace alz::kernels
