// CUDA Keras max pooling (kernels/pool.h) on NHWC (N, H, W, C): taps outside the image read 0
// (explicit zero padding), valid windows (kh, kw) with stride (sh, sw).
// Thread mapping: a block is (channel lanes, pixel lanes); a thread decodes its pixel's
// (n, h, w) once, in 32-bit arithmetic, then walks the pixel's channels with the channel lanes
// (C fastest: coalesced), so index arithmetic is paid per pixel, not per value.
//   forward:  one pixel lane per OUTPUT pixel (n, oh, ow).
//   backward: one pixel lane per INPUT pixel (n, h, w): it visits every window that covers it,
//             recomputes that window's first arg-max, and sums dy of the windows it won. A
//             gather: deterministic, no atomics, no saved indices. Windows won by a padding
//             zero give their gradient to nobody.
// float and bf16 storage (compared in float; bf16 -> float is exact, so ties match the CPU).
// Compared with the CPU reference by tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R ops_gpu
// Timed inside the training step by bench/bench_train_step (--profile: max_pool2d rows).
#include <algorithm>
#include <climits>

#include "core/cuda/check.h"
#include "kernels/cuda/element_access.h"
#include "kernels/pool.h"

namespace alz::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 8192;

// The plain-value parameters a kernel needs (MaxPool2dParams plus the output shape), in 32-bit
// integers: one image of the input and of the output holds fewer than 2^31 values (checked).
struct PoolGeometry {
  int n, in_h, in_w, c, out_h, out_w;
  int kh, kw, sh, sw, pad_top, pad_left;
};

// Max of window (oh, ow) of one image (x points at the image) for channel c; arg = h * W + w of
// the first maximal tap, or -1 when that tap is a padding zero.
template <typename S>
__device__ float window_argmax(const S* image, const PoolGeometry& g, int oh, int ow, int c, int& arg) {
  float best = 0.0f;
  bool first = true;
  arg = -1;
  for (int i = 0; i < g.kh; ++i) {
    const int h = oh * g.sh + i - g.pad_top;
    for (int j = 0; j < g.kw; ++j) {
      const int w = ow * g.sw + j - g.pad_left;
      const bool inside = h >= 0 && h < g.in_h && w >= 0 && w < g.in_w;
      const float v = inside ? load(image, (h * g.in_w + w) * g.c + c) : 0.0f;
      if (first || v > best) {  // strict: the first maximum wins ties
        best = v;
        arg = inside ? h * g.in_w + w : -1;
        first = false;
      }
    }
  }
  return best;
}

template <typename S> __global__ void max_pool_forward_kernel(const S* x, S* y, PoolGeometry g) {
  const int64_t pixels = int64_t{g.n} * g.out_h * g.out_w;
  const int64_t in_image = int64_t{g.in_h} * g.in_w * g.c;
  for (int64_t p = blockIdx.x * int64_t{blockDim.y} + threadIdx.y; p < pixels; p += int64_t{gridDim.x} * blockDim.y) {
    const int per_image = g.out_h * g.out_w;
    const int n = static_cast<int>(p / per_image), q = static_cast<int>(p - int64_t{n} * per_image);
    const int oh = q / g.out_w, ow = q - oh * g.out_w;
    const S* image = x + n * in_image;
    for (int c = threadIdx.x; c < g.c; c += blockDim.x) {
      int arg;
      store(y, p * g.c + c, window_argmax(image, g, oh, ow, c, arg));
    }
  }
}

// First window index o with o * stride + kernel > position (0 if position < kernel).
__device__ __forceinline__ int first_window(int position, int kernel, int stride) {
  const int reach = position - kernel + 1;
  return reach <= 0 ? 0 : (reach + stride - 1) / stride;
}

template <typename S>
__global__ void max_pool_backward_kernel(const S* x, const S* dy, S* dx, PoolGeometry g, bool accumulate) {
  const int64_t pixels = int64_t{g.n} * g.in_h * g.in_w;
  const int64_t in_image = int64_t{g.in_h} * g.in_w * g.c, out_image = int64_t{g.out_h} * g.out_w * g.c;
  for (int64_t p = blockIdx.x * int64_t{blockDim.y} + threadIdx.y; p < pixels; p += int64_t{gridDim.x} * blockDim.y) {
    const int per_image = g.in_h * g.in_w;
    const int n = static_cast<int>(p / per_image), q = static_cast<int>(p - int64_t{n} * per_image);
    const int h = q / g.in_w, w = q - h * g.in_w;
    const int ph = h + g.pad_top, pw = w + g.pad_left;  // position in the padded image
    const int oh_begin = first_window(ph, g.kh, g.sh), oh_end = min(g.out_h - 1, ph / g.sh);
    const int ow_begin = first_window(pw, g.kw, g.sw), ow_end = min(g.out_w - 1, pw / g.sw);
    const S* image = x + n * in_image;
    const S* dy_image = dy + n * out_image;
    for (int c = threadIdx.x; c < g.c; c += blockDim.x) {
      float sum = 0.0f;
      for (int oh = oh_begin; oh <= oh_end; ++oh) {
        for (int ow = ow_begin; ow <= ow_end; ++ow) {
          int arg;
          window_argmax(image, g, oh, ow, c, arg);
          if (arg == q) sum += load(dy_image, (oh * g.out_w + ow) * g.c + c);
        }
      }
      const int64_t i = p * g.c + c;
      store(dx, i, accumulate ? load(dx, i) + sum : sum);
    }
  }
}

// Block (channel lanes, pixel lanes): lanes cover C up to a warp, the rest of the 256 threads
// take pixels.
dim3 block_for(int64_t channels) {
  const int lanes = channels >= 32 ? 32 : static_cast<int>(channels);
  return dim3(static_cast<unsigned>(lanes), static_cast<unsigned>(kThreads / lanes));
}
unsigned blocks_for(int64_t pixels, const dim3& block) {
  return static_cast<unsigned>(std::min<int64_t>((pixels + block.y - 1) / block.y, kMaxBlocks));
}

PoolGeometry geometry(const MaxPool2dParams& p) {
  const ImageShape out = max_pool_output_shape(p);
  ALZ_CHECK(p.input.h * p.input.w * p.input.c < INT_MAX && out.h * out.w * out.c < INT_MAX && p.input.n < INT_MAX,
            "max_pool2d (CUDA): one image must hold fewer than 2^31 values, got " << p.input.h << "x" << p.input.w
                                                                                  << "x" << p.input.c);
  auto i32 = [](int64_t v) { return static_cast<int>(v); };
  return PoolGeometry{i32(p.input.n),  i32(p.input.h),  i32(p.input.w),  i32(p.input.c),
                      i32(out.h),      i32(out.w),      i32(p.kernel_h), i32(p.kernel_w),
                      i32(p.stride_h), i32(p.stride_w), i32(p.pad.top),  i32(p.pad.left)};
}

template <typename S> void launch_forward(const S* x, S* y, const MaxPool2dParams& p, cudaStream_t stream) {
  const ImageShape out = max_pool_output_shape(p);
  if (out.numel() == 0) return;
  const PoolGeometry g = geometry(p);
  const dim3 block = block_for(g.c);
  max_pool_forward_kernel<<<blocks_for(out.n * out.h * out.w, block), block, 0, stream>>>(x, y, g);
  ALZ_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_backward(const S* x, const S* dy, S* dx, const MaxPool2dParams& p, bool accumulate, cudaStream_t stream) {
  if (p.input.numel() == 0) return;
  const PoolGeometry g = geometry(p);
  const dim3 block = block_for(g.c);
  max_pool_backward_kernel<<<blocks_for(p.input.n * p.input.h * p.input.w, block), block, 0, stream>>>(x, dy, dx, g,
                                                                                                       accumulate);
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
