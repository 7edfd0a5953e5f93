// CUDA reductions (kernels/reduce.h): whole-tensor sum/mean to a device scalar, per-channel
// sum/mean over the rows N*H*W of NHWC (N, H, W, C), global average pooling (N, H, W, C) -> (N, C),
// and their backward. Deterministic: two fixed stages (per-block partials into the workspace,
// then a fixed-order final sum), no float atomics; the grid depends only on the sizes.
// Compared with the CPU reference by tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R ops_gpu
#include <algorithm>

#include "core/cuda/check.h"
#include "kernels/cuda/element_access.h"
#include "kernels/reduce.h"

namespace alz::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kSumItemsPerThread = 4;  // stage-1 blocks are sized so each thread reads ~4+ items
constexpr int64_t kSumMaxBlocks = 1024;    // = the most partials stage 2 sums
constexpr int kChannelTile = 32;           // channels per block (one warp wide)
constexpr int kRowLanes = 8;               // rows read in parallel per block
constexpr int64_t kRowsPerChunk = 128;
constexpr int64_t kMaxChunks = 256;

int64_t sum_blocks(int64_t count) {
  return std::clamp<int64_t>((count + kThreads * kSumItemsPerThread - 1) / (kThreads * kSumItemsPerThread), 1,
                             kSumMaxBlocks);
}

int64_t channel_chunks(int64_t rows) {
  return std::clamp<int64_t>((rows + kRowsPerChunk - 1) / kRowsPerChunk, 1, kMaxChunks);
}

int blocks_for(int64_t count) { return static_cast<int>(std::min<int64_t>((count + kThreads - 1) / kThreads, 8192)); }

// Sum of v over the block (blockDim.x == kThreads) in a fixed order; the result is valid in thread 0.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = 0.0f;
  if (warp == 0) {
    v = lane < kThreads / 32 ? warp_sums[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  return v;
}

// Stage 1: partials[block] = sum of the block's grid-stride share of x.
__global__ void sum_partial_kernel(const float* x, int64_t count, float* partials) {
  float v = 0.0f;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < count; i += int64_t{gridDim.x} * kThreads)
    v += x[i];
  v = block_sum(v);
  if (threadIdx.x == 0) partials[blockIdx.x] = v;
}

// Stage 2 (one block): out = sum(partials) / divisor.
__global__ void sum_final_kernel(const float* partials, int64_t blocks, float divisor, float* out) {
  float v = 0.0f;
  for (int64_t i = threadIdx.x; i < blocks; i += kThreads) v += partials[i];
  v = block_sum(v);
  if (threadIdx.x == 0) *out = v / divisor;
}

// dx[i] (+)= *dscalar * scale
__global__ void broadcast_scalar_grad_kernel(const float* dscalar, float scale, float* dx, int64_t count,
                                             bool accumulate) {
  const float g = *dscalar * scale;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
    dx[i] = accumulate ? dx[i] + g : g;
}

// Stage 1 per channel: block (kChannelTile, kRowLanes) at (channel tile, chunk) writes
// partials[chunk * channels + c] = sum of x[r, c] over the chunk's rows.
template <typename S>
__global__ void channel_partial_kernel(const S* x, int64_t rows, int64_t channels, int64_t rows_per_chunk,
                                       float* partials) {
  __shared__ float tile[kRowLanes][kChannelTile + 1];
  const int64_t c = blockIdx.x * int64_t{kChannelTile} + threadIdx.x;
  const int64_t begin = blockIdx.y * rows_per_chunk, end = std::min(rows, begin + rows_per_chunk);
  float v = 0.0f;
  if (c < channels) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowLanes) v += load(x, r * channels + c);
  }
  tile[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    for (int lane = 1; lane < kRowLanes; ++lane) v += tile[lane][threadIdx.x];
    partials[blockIdx.y * channels + c] = v;
  }
}

// Stage 2 per channel: out[c] (+)= sum over chunks of partials[chunk, c] / divisor.
template <typename S>
__global__ void channel_final_kernel(const float* partials, int64_t chunks, int64_t channels, float divisor,
                                     bool accumulate, S* out) {
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (c >= channels) return;
  float v = 0.0f;
  for (int64_t k = 0; k < chunks; ++k) v += partials[k * channels + c];
  v /= divisor;
  store(out, c, accumulate ? load(out, c) + v : v);
}

// dx[r, c] (+)= dout[c] * scale
__global__ void channel_broadcast_grad_kernel(const float* dout, float scale, float* dx, int64_t count,
                                              int64_t channels, bool accumulate) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const float g = dout[i % channels] * scale;
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

// y[n, c] = mean over p of x[n, p, c]; one thread per (n, c), reading down its column.
template <typename S>
__global__ void global_avg_pool_forward_kernel(const S* x, S* y, int64_t n, int64_t spatial, int64_t channels) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= n * channels) return;
  const int64_t b = i / channels, c = i % channels;
  const S* column = x + b * spatial * channels + c;
  float v = 0.0f;
  for (int64_t p = 0; p < spatial; ++p) v += load(column, p * channels);
  store(y, i, v / static_cast<float>(spatial));
}

// dx[n, p, c] (+)= dy[n, c] / spatial
template <typename S>
__global__ void global_avg_pool_backward_kernel(const S* dy, S* dx, int64_t n, int64_t spatial, int64_t channels,
                                                bool accumulate) {
  const float inv = 1.0f / static_cast<float>(spatial);
  const int64_t count = n * spatial * channels;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = i / (spatial * channels), c = i % channels;
    const float g = load(dy, b * channels + c) * inv;
    store(dx, i, accumulate ? load(dx, i) + g : g);
  }
}

void launch_sum(const float* x, float* out, int64_t count, float divisor, float* workspace, cudaStream_t stream) {
  ALZ_CHECK(count >= 0, "sum: negative element count " << count);
  const int64_t blocks = sum_blocks(count);
  sum_partial_kernel<<<static_cast<int>(blocks), kThreads, 0, stream>>>(x, count, workspace);
  ALZ_CUDA_CHECK_LAUNCH();
  sum_final_kernel<<<1, kThreads, 0, stream>>>(workspace, blocks, divisor, out);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_channel_sum(const S* x, S* out, int64_t rows, int64_t channels, float divisor, bool accumulate,
                        float* workspace, cudaStream_t stream) {
  ALZ_CHECK(rows >= 0 && channels >= 0, "channel sum: negative shape (" << rows << ", " << channels << ")");
  if (channels == 0) return;
  const int64_t chunks = channel_chunks(rows), rows_per_chunk = std::max<int64_t>(1, (rows + chunks - 1) / chunks);
  const dim3 grid(static_cast<unsigned>((channels + kChannelTile - 1) / kChannelTile), static_cast<unsigned>(chunks));
  channel_partial_kernel<<<grid, dim3(kChannelTile, kRowLanes), 0, stream>>>(x, rows, channels, rows_per_chunk,
                                                                             workspace);
  ALZ_CUDA_CHECK_LAUNCH();
  channel_final_kernel<<<static_cast<int>((channels + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      workspace, chunks, channels, divisor, accumulate, out);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_gap_forward(const S* x, S* y, int64_t n, int64_t spatial, int64_t channels, cudaStream_t stream) {
  ALZ_CHECK(spatial > 0, "global average pooling: the image has no pixels");
  const int64_t count = n * channels;
  if (count <= 0) return;
  global_avg_pool_forward_kernel<<<static_cast<int>((count + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      x, y, n, spatial, channels);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_gap_backward(const S* dy, S* dx, int64_t n, int64_t spatial, int64_t channels, bool accumulate,
                         cudaStream_t stream) {
  const int64_t count = n * spatial * channels;
  if (count <= 0) return;
  global_avg_pool_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, dx, n, spatial, channels, accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

void launch_channel_broadcast(const float* dout, float scale, float* dx, int64_t rows, int64_t channels,
                              bool accumulate, cudaStream_t stream) {
  const int64_t count = rows * channels;
  if (count <= 0) return;
  channel_broadcast_grad_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dout, scale, dx, count, channels,
                                                                            accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

void launch_scalar_grad(const float* dscalar, float scale, float* dx, int64_t count, bool accumulate,
                        cudaStream_t stream) {
  if (count <= 0) return;
  broadcast_scalar_grad_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dscalar, scale, dx, count, accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

}  // namespace

int64_t sum_workspace_elements(int64_t count) { return sum_blocks(count); }
int64_t channel_sum_workspace_elements(int64_t rows, int64_t channels) { return channel_chunks(rows) * channels; }

void sum_cuda(const float* x, float* out, int64_t count, float* workspace, cudaStream_t stream) {
  launch_sum(x, out, count, 1.0f, workspace, stream);
}

void mean_cuda(const float* x, float* out, int64_t count, float* workspace, cudaStream_t stream) {
  ALZ_CHECK(count > 0, "mean: the tensor is empty");
  launch_sum(x, out, count, static_cast<float>(count), workspace, stream);
}

void sum_backward_cuda(const float* dsum, float* dx, int64_t count, bool accumulate, cudaStream_t stream) {
  launch_scalar_grad(dsum, 1.0f, dx, count, accumulate, stream);
}

void mean_backward_cuda(const float* dmean, float* dx, int64_t count, bool accumulate, cudaStream_t stream) {
  ALZ_CHECK(count > 0, "mean backward: the tensor is empty");
  launch_scalar_grad(dmean, 1.0f / static_cast<float>(count), dx, count, accumulate, stream);
}

void channel_sum_cuda(const float* x, float* out, int64_t rows, int64_t channels, bool accumulate, float* workspace,
                      cudaStream_t stream) {
  launch_channel_sum(x, out, rows, channels, 1.0f, accumulate, workspace, stream);
}

void channel_sum_cuda(const bf16* x, bf16* out, int64_t rows, int64_t channels, bool accumulate, float* workspace,
                      cudaStream_t stream) {
  launch_channel_sum(x, out, rows, channels, 1.0f, accumulate, workspace, stream);
}

void channel_mean_cuda(const float* x, float* out, int64_t rows, int64_t channels, float* workspace,
                       cudaStream_t stream) {
  ALZ_CHECK(rows > 0, "channel mean: no rows to average over");
  launch_channel_sum(x, out, rows, channels, static_cast<float>(rows), false, workspace, stream);
}

void channel_sum_backward_cuda(const float* dout, float* dx, int64_t rows, int64_t channels, bool accumulate,
                               cudaStream_t stream) {
  launch_channel_broadcast(dout, 1.0f, dx, rows, channels, accumulate, stream);
}

void channel_mean_backward_cuda(const float* dout, float* dx, int64_t rows, int64_t channels, bool accumulate,
                                cudaStream_t stream) {
  ALZ_CHECK(rows > 0, "channel mean backward: no rows");
  launch_channel_broadcast(dout, 1.0f / static_cast<float>(rows), dx, rows, channels, accumulate, stream);
}

void global_avg_pool_forward_cuda(const float* x, float* y, int64_t n, int64_t spatial, int64_t channels,
                                  cudaStream_t stream) {
  launch_gap_forward(x, y, n, spatial, channels, stream);
}
void global_avg_pool_forward_cuda(const bf16* x, bf16* y, int64_t n, int64_t spatial, int64_t channels,
                                  cudaStream_t stream) {
  launch_gap_forward(x, y, n, spatial, channels, stream);
}
void global_avg_pool_backward_cuda(const float* dy, float* dx, int64_t n, int64_t spatial, int64_t channels,
                                   bool accumulate, cudaStream_t stream) {
  launch_gap_backward(dy, dx, n, spatial, channels, accumulate, stream);
}
void global_avg_pool_backward_cuda(const bf16* dy, bf16* dx, int64_t n, int64_t spatial, int64_t channels,
                                   bool accumulate, cudaStream_t stream) {
  launch_gap_backward(dy, dx, n, spatial, channels, accumulate, stream);
}

}  // namespace alz::kernels
