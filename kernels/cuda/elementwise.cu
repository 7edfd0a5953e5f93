// CUDA elementwise ops (kernels/elementwise.h): add, sub, mul, scale, bias add over NHWC rows
// (N*H*W, C) and ReLU, forward and backward, for float and for bf16 storage
// (every value is widened to float, computed, and rounded back once).
// Grid-stride loops, 256 threads per block; no synchronisation with the host.
// Compared with the CPU reference by tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R OpsGpu
#include <algorithm>

#include "core/cuda/check.h"
#include "kernels/cuda/element_access.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace alz::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;  // grid-stride beyond this

int blocks_for(int64_t count) { return static_cast<int>(std::min((count + kThreads - 1) / kThreads, kMaxBlocks)); }

#define ALZ_GRID_STRIDE(i, count) \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (count); i += int64_t{gridDim.x} * blockDim.x)

struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct SubOp {
  __device__ float operator()(float a, float b) const { return a - b; }
};
struct MulOp {
  __device__ float operator()(float a, float b) const { return a * b; }
};

// y[i] = op(a[i], b[i])
template <typename S, typename Op> __global__ void binary_kernel(const S* a, const S* b, S* y, int64_t count, Op op) {
  ALZ_GRID_STRIDE(i, count) store(y, i, op(load(a, i), load(b, i)));
}

// y[i] = alpha * x[i]
template <typename S> __global__ void scale_kernel(const S* x, float alpha, S* y, int64_t count) {
  ALZ_GRID_STRIDE(i, count) store(y, i, alpha * load(x, i));
}

// dx[i] (+)= alpha * dy[i]
template <typename S>
__global__ void scaled_grad_kernel(const S* dy, float alpha, S* dx, int64_t count, bool accumulate) {
  ALZ_GRID_STRIDE(i, count) {
    float g = alpha * load(dy, i);
    store(dx, i, accumulate ? load(dx, i) + g : g);
  }
}

// da[i] (+)= dy[i] * b[i], db[i] (+)= dy[i] * a[i]; either output may be null.
template <typename S>
__global__ void mul_backward_kernel(const S* dy, const S* a, const S* b, S* da, S* db, int64_t count, bool accumulate) {
  ALZ_GRID_STRIDE(i, count) {
    float g = load(dy, i), ga = g * load(b, i), gb = g * load(a, i);
    if (da) store(da, i, accumulate ? load(da, i) + ga : ga);
    if (db) store(db, i, accumulate ? load(db, i) + gb : gb);
  }
}

// y[r, c] = x[r, c] + bias[c], flat index i = r * channels + c.
template <typename S>
__global__ void bias_add_kernel(const S* x, const S* bias, S* y, int64_t count, int64_t channels) {
  ALZ_GRID_STRIDE(i, count) store(y, i, load(x, i) + load(bias, i % channels));
}

// y[r, c] = (x[r, c] + bias[c]) + residual[r, c], rounded to S after each addition, as the bias
// add and then the residual add would round (float addition commutes: residual + t == t + residual).
template <typename S>
__global__ void bias_add_residual_kernel(const S* x, const S* bias, const S* residual, S* y, int64_t count,
                                         int64_t channels) {
  ALZ_GRID_STRIDE(i, count) {
    S biased[1];
    store(biased, 0, load(x, i) + load(bias, i % channels));
    store(y, i, load(residual, i) + load(biased, 0));
  }
}

// y[r, c] = bias[c]
template <typename S> __global__ void bias_fill_kernel(const S* bias, S* y, int64_t count, int64_t channels) {
  ALZ_GRID_STRIDE(i, count) y[i] = bias[i % channels];
}

template <typename S> __global__ void relu_forward_kernel(const S* x, S* y, int64_t count) {
  ALZ_GRID_STRIDE(i, count) store(y, i, fmaxf(load(x, i), 0.0f));
}

// dx (+)= dy * [v > 0], v the forward output or input.
template <typename S>
__global__ void relu_backward_kernel(const S* dy, const S* v, S* dx, int64_t count, bool accumulate) {
  ALZ_GRID_STRIDE(i, count) {
    float g = load(v, i) > 0.0f ? load(dy, i) : 0.0f;
    store(dx, i, accumulate ? load(dx, i) + g : g);
  }
}

template <typename S, typename Op>
void launch_binary(const S* a, const S* b, S* y, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  binary_kernel<<<blocks_for(count), kThreads, 0, stream>>>(a, b, y, count, Op{});
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_scaled_grad(const S* dy, float alpha, S* dx, int64_t count, bool accumulate, cudaStream_t stream) {
  if (dx == nullptr || count <= 0) return;
  scaled_grad_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, alpha, dx, count, accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S> void launch_scale(const S* x, float alpha, S* y, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  scale_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, alpha, y, count);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_mul_backward(const S* dy, const S* a, const S* b, S* da, S* db, int64_t count, bool accumulate,
                         cudaStream_t stream) {
  if (count <= 0 || (da == nullptr && db == nullptr)) return;
  mul_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, a, b, da, db, count, accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_bias_add(const S* x, const S* bias, S* y, int64_t rows, int64_t channels, cudaStream_t stream) {
  const int64_t count = rows * channels;
  if (count <= 0) return;
  bias_add_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, bias, y, count, channels);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_bias_add_residual(const S* x, const S* bias, const S* residual, S* y, int64_t rows, int64_t channels,
                              cudaStream_t stream) {
  const int64_t count = rows * channels;
  if (count <= 0) return;
  bias_add_residual_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, bias, residual, y, count, channels);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S> void launch_bias_fill(const S* bias, S* y, int64_t rows, int64_t channels, cudaStream_t stream) {
  const int64_t count = rows * channels;
  if (count <= 0) return;
  bias_fill_kernel<<<blocks_for(count), kThreads, 0, stream>>>(bias, y, count, channels);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S> void launch_relu_forward(const S* x, S* y, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  relu_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_relu_backward(const S* dy, const S* v, S* dx, int64_t count, bool accumulate, cudaStream_t stream) {
  if (count <= 0) return;
  relu_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, v, dx, count, accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

}  // namespace

// One pair of overloads (float, bf16) per public function; each forwards to the template.
#define ALZ_FOR_STORAGE(S)                                                                                           \
  void add_forward_cuda(const S* a, const S* b, S* y, int64_t count, cudaStream_t stream) {                          \
    launch_binary<S, AddOp>(a, b, y, count, stream);                                                                 \
  }                                                                                                                  \
  void sub_forward_cuda(const S* a, const S* b, S* y, int64_t count, cudaStream_t stream) {                          \
    launch_binary<S, SubOp>(a, b, y, count, stream);                                                                 \
  }                                                                                                                  \
  void mul_forward_cuda(const S* a, const S* b, S* y, int64_t count, cudaStream_t stream) {                          \
    launch_binary<S, MulOp>(a, b, y, count, stream);                                                                 \
  }                                                                                                                  \
  void scale_forward_cuda(const S* x, float alpha, S* y, int64_t count, cudaStream_t stream) {                       \
    launch_scale(x, alpha, y, count, stream);                                                                        \
  }                                                                                                                  \
  void scaled_grad_cuda(const S* dy, float alpha, S* dx, int64_t count, bool accumulate, cudaStream_t stream) {      \
    launch_scaled_grad(dy, alpha, dx, count, accumulate, stream);                                                    \
  }                                                                                                                  \
  void mul_backward_cuda(const S* dy, const S* a, const S* b, S* da, S* db, int64_t count, bool accumulate,          \
                         cudaStream_t stream) {                                                                      \
    launch_mul_backward(dy, a, b, da, db, count, accumulate, stream);                                                \
  }                                                                                                                  \
  void bias_add_forward_cuda(const S* x, const S* bias, S* y, int64_t rows, int64_t channels, cudaStream_t stream) { \
    launch_bias_add(x, bias, y, rows, channels, stream);                                                             \
  }                                                                                                                  \
  void bias_add_residual_forward_cuda(const S* x, const S* bias, const S* residual, S* y, int64_t rows,              \
                                      int64_t channels, cudaStream_t stream) {                                       \
    launch_bias_add_residual(x, bias, residual, y, rows, channels, stream);                                          \
  }                                                                                                                  \
  void bias_fill_cuda(const S* bias, S* y, int64_t rows, int64_t channels, cudaStream_t stream) {                    \
    launch_bias_fill(bias, y, rows, channels, stream);                                                               \
  }                                                                                                                  \
  void bias_add_backward_cuda(const S* dy, S* dx, S* dbias, int64_t rows, int64_t channels, bool accumulate_dx,      \
                              bool accumulate_dbias, float* workspace, cudaStream_t stream) {                        \
    if (dbias) channel_sum_cuda(dy, dbias, rows, channels, accumulate_dbias, workspace, stream);                     \
    launch_scaled_grad(dy, 1.0f, dx, rows* channels, accumulate_dx, stream);                                         \
  }                                                                                                                  \
  void relu_forward_cuda(const S* x, S* y, int64_t count, cudaStream_t stream) {                                     \
    launch_relu_forward(x, y, count, stream);                                                                        \
  }                                                                                                                  \
  void relu_backward_cuda(const S* dy, const S* v, S* dx, int64_t count, bool accumulate, cudaStream_t stream) {     \
    launch_relu_backward(dy, v, dx, count, accumulate, stream);                                                      \
  }

ALZ_FOR_STORAGE(float)
ALZ_FOR_STORAGE(bf16)
#undef ALZ_FOR_STORAGE

}  // namespace alz::kernels
