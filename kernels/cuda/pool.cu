// CUDA Keras max pooling (kernels/pool.h) on NHWC (N, H, W, C): taps outside the image read 0
// (explicit zero padding), valid windows (kh, kw) with stride (sh, sw).
//   forward:  one thread per output (n, oh, ow, c), C fastest (coalesced).
//   backward: one thread per INPUT (n, h, w, c): it visits every window that covers it,
//             recomputes that window's first arg-max, and sums dy of the windows it won. A
//             gather: deterministic, no atomics, no saved indices. Windows won by a padding
//             zero give their gradient to nobody.
// float and bf16 storage (compared in float; bf16 -> float is exact, so ties match the CPU).
// Compared with the CPU reference by tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R ops_gpu
#include <algorithm>

#include "kernels/cuda/check.h"
#include "kernels/pool.h"

namespace alz::kernels {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t count) { return static_cast<int>(std::min<int64_t>((count + kThreads - 1) / kThreads, 8192)); }

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const bf16* p, int64_t i) { return bf16_to_float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(bf16* p, int64_t i, float v) { p[i] = float_to_bf16(v); }

// The plain-value parameters a kernel needs (MaxPool2dParams plus the output shape).
struct PoolGeometry {
  ImageShape in, out;
  int64_t kh, kw, sh, sw, pad_top, pad_left;
};

// Max of window (n, oh, ow) for channel c; arg_index = h * W + w of the first maximal tap, or -1
// when that tap is a padding zero.
template <typename S>
__device__ float window_argmax(const S* x, const PoolGeometry& g, int64_t n, int64_t oh, int64_t ow, int64_t c,
                               int64_t& arg_index) {
  float best = 0.0f;
  bool first = true;
  arg_index = -1;
  for (int64_t i = 0; i < g.kh; ++i) {
    const int64_t h = oh * g.sh + i - g.pad_top;
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t w = ow * g.sw + j - g.pad_left;
      const bool inside = h >= 0 && h < g.in.h && w >= 0 && w < g.in.w;
      const float v = inside ? load(x, ((n * g.in.h + h) * g.in.w + w) * g.in.c + c) : 0.0f;
      if (first || v > best) {  // strict: the first maximum wins ties
        best = v;
        arg_index = inside ? h * g.in.w + w : -1;
        first = false;
      }
    }
  }
  return best;
}

template <typename S> __global__ void max_pool_forward_kernel(const S* x, S* y, PoolGeometry g) {
  const int64_t count = g.out.numel();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = i % g.out.c, ow = (i / g.out.c) % g.out.w, oh = (i / (g.out.c * g.out.w)) % g.out.h,
                  n = i / (g.out.c * g.out.w * g.out.h);
    int64_t arg_index;
    store(y, i, window_argmax(x, g, n, oh, ow, c, arg_index));
  }
}

// First window index o with o * stride + kernel > position (0 if position < kernel).
__device__ __forceinline__ int64_t first_window(int64_t position, int64_t kernel, int64_t stride) {
  const int64_t reach = position - kernel + 1;
  return reach <= 0 ? 0 : (reach + stride - 1) / stride;
}

template <typename S> __global__ void max_pool_backward_kernel(const S* x, const S* dy, S* dx, PoolGeometry g, bool accumulate) {
  const int64_t count = g.in.numel();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = i % g.in.c, w = (i / g.in.c) % g.in.w, h = (i / (g.in.c * g.in.w)) % g.in.h,
                  n = i / (g.in.c * g.in.w * g.in.h);
    const int64_t ph = h + g.pad_top, pw = w + g.pad_left;  // position in the padded image
    const int64_t oh_end = min(g.out.h - 1, ph / g.sh), ow_end = min(g.out.w - 1, pw / g.sw);
    float sum = 0.0f;
    for (int64_t oh = first_window(ph, g.kh, g.sh); oh <= oh_end; ++oh) {
      for (int64_t ow = first_window(pw, g.kw, g.sw); ow <= ow_end; ++ow) {
        int64_t arg_index;
        window_argmax(x, g, n, oh, ow, c, arg_index);
        if (arg_index == h * g.in.w + w) sum += load(dy, ((n * g.out.h + oh) * g.out.w + ow) * g.out.c + c);
      }
    }
    store(dx, i, accumulate ? load(dx, i) + sum : sum);
  }
}

PoolGeometry geometry(const MaxPool2dParams& p) {
  return PoolGeometry{p.input, max_pool_output_shape(p), p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,
                      p.pad.top, p.pad.left};
}

template <typename S> void launch_forward(const S* x, S* y, const MaxPool2dParams& p, cudaStream_t stream) {
  const PoolGeometry g = geometry(p);
  if (g.out.numel() == 0) return;
  max_pool_forward_kernel<<<blocks_for(g.out.numel()), kThreads, 0, stream>>>(x, y, g);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_backward(const S* x, const S* dy, S* dx, const MaxPool2dParams& p, bool accumulate, cudaStream_t stream) {
  const PoolGeometry g = geometry(p);
  if (g.in.numel() == 0) return;
  max_pool_backward_kernel<<<blocks_for(g.in.numel()), kThreads, 0, stream>>>(x, dy, dx, g, accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

}  // namespace

void max_pool_forward_cuda(const float* x, float* y, const MaxPool2dParams& p, cudaStream_t stream) {
  launch_forward(x, y, p, stream);
}
void max_pool_forward_cuda(const bf16* x, bf16* y, const MaxPool2dParams& p, cudaStream_t stream) {
  launch_forward(x, y, p, stream);
}
void max_pool_backward_cuda(const float* x, const float* dy, float* dx, const MaxPool2dParams& p, bool accumulate,
                            cudaStream_t stream) {
  launch_backward(x, dy, dx, p, accumulate, stream);
}
void max_pool_backward_cuda(const bf16* x, const bf16* dy, bf16* dx, const MaxPool2dParams& p, bool accumulate,
                            cudaStream_t stream) {
  launch_backward(x, dy, dx, p, accumulate, stream);
}

}  // namespace alz::kernels
