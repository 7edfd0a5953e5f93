// CUDA zero padding (kernels/pad.h): NHWC (N, H, W, C) -> (N, H+t+b, W+l+r, C), zeros in the
// border; backward crops dy back to (N, H, W, C). One thread per output element, C fastest
// (coalesced). float and bf16 (a copy: bit-exact).
// Compared with the CPU reference by tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R ops_gpu
#include <algorithm>

#include "core/cuda/check.h"
#include "kernels/cuda/element_access.h"
#include "kernels/pad.h"

namespace alz::kernels {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t count) { return static_cast<int>(std::min<int64_t>((count + kThreads - 1) / kThreads, 8192)); }

// y (N, Hp, Wp, C) from x (N, H, W, C).
template <typename S>
__global__ void zero_pad_forward_kernel(const S* x, S* y, ImageShape s, ImageShape p, Padding2d pad) {
  const int64_t count = p.numel();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = i % p.c, j = (i / p.c) % p.w, r = (i / (p.c * p.w)) % p.h, n = i / (p.c * p.w * p.h);
    const int64_t h = r - pad.top, w = j - pad.left;
    const bool inside = h >= 0 && h < s.h && w >= 0 && w < s.w;
    y[i] = inside ? x[((n * s.h + h) * s.w + w) * s.c + c] : S{};  // S{} is +0 for float and bf16
  }
}

// dx (N, H, W, C) (+)= the interior of dy (N, Hp, Wp, C).
template <typename S>
__global__ void zero_pad_backward_kernel(const S* dy, S* dx, ImageShape s, ImageShape p, Padding2d pad,
                                         bool accumulate) {
  const int64_t count = s.numel();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = i % s.c, w = (i / s.c) % s.w, h = (i / (s.c * s.w)) % s.h, n = i / (s.c * s.w * s.h);
    const int64_t src = ((n * p.h + h + pad.top) * p.w + w + pad.left) * p.c + c;
    if (accumulate) {
      store(dx, i, load(dx, i) + load(dy, src));
    } else {
      dx[i] = dy[src];
    }
  }
}

template <typename S>
void launch_forward(const S* x, S* y, const ImageShape& s, const Padding2d& pad, cudaStream_t stream) {
  const ImageShape p = padded_shape(s, pad);
  if (p.numel() == 0) return;
  zero_pad_forward_kernel<<<blocks_for(p.numel()), kThreads, 0, stream>>>(x, y, s, p, pad);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_backward(const S* dy, S* dx, const ImageShape& s, const Padding2d& pad, bool accumulate,
                     cudaStream_t stream) {
  const ImageShape p = padded_shape(s, pad);
  if (s.numel() == 0) return;
  zero_pad_backward_kernel<<<blocks_for(s.numel()), kThreads, 0, stream>>>(dy, dx, s, p, pad, accumulate);
  ALZ_CUDA_CHECK_LAUNCH();
}

}  // namespace

void zero_pad_forward_cuda(const float* x, float* y, const ImageShape& s, const Padding2d& pad, cudaStream_t stream) {
  launch_forward(x, y, s, pad, stream);
}
void zero_pad_forward_cuda(const bf16* x, bf16* y, const ImageShape& s, const Padding2d& pad, cudaStream_t stream) {
  launch_forward(x, y, s, pad, stream);
}
void zero_pad_backward_cuda(const float* dy, float* dx, const ImageShape& s, const Padding2d& pad, bool accumulate,
                            cudaStream_t stream) {
  launch_backward(dy, dx, s, pad, accumulate, stream);
}
void zero_pad_backward_cuda(const bf16* dy, bf16* dx, const ImageShape& s, const Padding2d& pad, bool accumulate,
                            cudaStream_t stream) {
  launch_backward(dy, dx, s, pad, accumulate, stream);
}

}  // namespace alz::kernels
