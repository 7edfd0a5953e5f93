// Convolution (and conv2d_add: a residual added in the bias's pass), max pooling and zero
// padding on the tape (NHWC, filters KRSC). Kernels: kernels/conv2d.h (im2col + OpenBLAS; cuDNN
// with cached algorithms), kernels/elementwise.h (bias, bias + residual), kernels/pool.h,
// kernels/pad.h. Tests: tests/test_ops.cpp, tests/gpu/test_autograd_ops_gpu.cpp.
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/pad.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "tensor/ops.h"
#include "tensor/ops_common.h"
#include "tensor/profiler.h"

namespace alz::ops {

using namespace detail;

namespace {

kernels::ImageShape image_shape(const Tensor& x) { return {x.dim(0), x.dim(1), x.dim(2), x.dim(3)}; }

#if ALZ_HAS_CUDA
// The shared workspace of the device context, sized for this call's algorithm.
void* conv_workspace(const Tensor& like, const Conv2dParams& p, ConvDirection direction, size_t& bytes) {
  bytes = conv2d_workspace_bytes_cudnn(cudnn_of(like), p, like.dtype(), direction);
  return bytes ? cuda::context(like.device().index).workspace(bytes) : nullptr;
}
#endif

// The profiler's and the tape's name for a convolution: its filter and stride, so a profile
// separates the pointwise GEMMs from the 3x3 and strided ones.
const char* conv_label(int64_t r, int64_t s, int stride) {
  if (r == 1 && s == 1) return stride == 1 ? "conv2d 1x1" : "conv2d 1x1 strided";
  if (r == 3 && s == 3) return stride == 1 ? "conv2d 3x3" : "conv2d 3x3 strided";
  if (r == 7 && s == 7) return stride == 1 ? "conv2d 7x7" : "conv2d 7x7 strided";
  return "conv2d";
}

}  // namespace

namespace {

// conv2d, and conv2d_add when `residual` is defined.
Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& residual,
                   const Conv2dOptions& options) {
  if (cpu_bf16(x)) {
    check_same_dtype(x, w, "conv2d");
    if (bias.defined()) check_same_dtype(x, bias, "conv2d");
    // bf16 rounds the convolution's output before the residual is added, as the GPU does.
    Tensor y = to_bf16(conv2d(as_f32(x), as_f32(w), as_f32(bias), options));
    return residual.defined() ? add(residual, y) : y;
  }
  const char* label = w.defined() && w.ndim() == 4 ? conv_label(w.dim(1), w.dim(2), options.stride_h) : "conv2d";
  profiler::Range range(label, x);
  check_image(x, "conv2d");
  ALZ_CHECK(w.defined() && w.ndim() == 4 && w.dim(3) == x.dim(3),
            "conv2d: filters must be (K, R, S, C) with C = " << x.dim(3) << "; got " << w.summary() << " for "
                                                             << x.summary());
  check_same_device(x, w, "conv2d");
  check_same_dtype(x, w, "conv2d");
  Conv2dParams p;
  p.N = static_cast<int>(x.dim(0));
  p.H = static_cast<int>(x.dim(1));
  p.W = static_cast<int>(x.dim(2));
  p.C = static_cast<int>(x.dim(3));
  p.K = static_cast<int>(w.dim(0));
  p.R = static_cast<int>(w.dim(1));
  p.S = static_cast<int>(w.dim(2));
  p.stride_h = options.stride_h;
  p.stride_w = options.stride_w;
  p.pad_top = static_cast<int>(options.pad.top);
  p.pad_bottom = static_cast<int>(options.pad.bottom);
  p.pad_left = static_cast<int>(options.pad.left);
  p.pad_right = static_cast<int>(options.pad.right);
  p.validate("conv2d");
  if (bias.defined()) {
    ALZ_CHECK(bias.ndim() == 1 && bias.dim(0) == p.K, "conv2d: bias must be (" << p.K << "); got " << bias.summary());
    check_same_device(x, bias, "conv2d");
    check_same_dtype(x, bias, "conv2d");
  }
  Tensor y = Tensor::empty({p.N, p.P(), p.Q(), p.K}, x.dtype(), x.device());
  if (residual.defined()) {
    check_same_device(x, residual, "conv2d_add");
    check_same_dtype(x, residual, "conv2d_add");
    check_same_shape(y, residual, "conv2d_add: the residual against the convolution's output");
  }
  dispatch(
      x, "conv2d",
      [&](auto tag) {
        using T = decltype(tag);
        conv2d_forward_cpu(p, x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr, y.data<T>());
        if (residual.defined()) kernels::add_forward_cpu(residual.data<T>(), y.data<T>(), y.data<T>(), y.numel());
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        size_t bytes = 0;
        void* workspace = conv_workspace(x, p, ConvDirection::Forward, bytes);
        conv2d_forward_cudnn(cudnn_of(x), p, x.dtype(), x.raw_data(), w.raw_data(), y.raw_data(), workspace, bytes);
        // The bias (and the residual) with our NHWC kernels (why not cuDNN's: kernels/conv2d.h).
        const int64_t rows = y.numel() / p.K;
        if (bias.defined() && residual.defined())
          kernels::bias_add_residual_forward_cuda(y.data<T>(), bias.data<T>(), residual.data<T>(), y.data<T>(), rows,
                                                  p.K, s);
        else if (bias.defined())
          kernels::bias_add_forward_cuda(y.data<T>(), bias.data<T>(), y.data<T>(), rows, p.K, s);
        else if (residual.defined())
          kernels::add_forward_cuda(residual.data<T>(), y.data<T>(), y.data<T>(), y.numel(), s);
      }));
  if (needs_record({&x, &w, &bias, &residual})) {
    bool want_x = x.requires_grad(), want_w = w.requires_grad(), want_b = bias.defined() && bias.requires_grad();
    bool want_residual = residual.defined() && residual.requires_grad();
    // Saved for backward: the input (for dW) and the filters (for dX), only when needed.
    Tensor saved_x = want_w ? x : Tensor(), saved_w = want_x ? w : Tensor();
    Shape x_shape = x.shape(), w_shape = w.shape();
    record(label, y, {&x, &w, &bias, &residual}, [=](const Tensor& g) {
      Tensor dx = want_x ? Tensor::empty(x_shape, g.dtype(), g.device()) : Tensor();
      Tensor dw = want_w ? Tensor::empty(w_shape, g.dtype(), g.device()) : Tensor();
      Tensor db = want_b ? Tensor::empty({p.K}, g.dtype(), g.device()) : Tensor();
      dispatch(
          g, "conv2d backward",
          [&](auto tag) {
            using T = decltype(tag);
            if (want_x) conv2d_backward_data_cpu(p, g.data<T>(), saved_w.data<T>(), dx.data<T>());
            if (want_w) conv2d_backward_filter_cpu(p, saved_x.data<T>(), g.data<T>(), dw.data<T>(), false);
            if (want_b) conv2d_backward_bias_cpu(p, g.data<T>(), db.data<T>(), false);
          },
          ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
            using T = decltype(tag);
            size_t bytes = 0;
            if (want_x) {
              void* workspace = conv_workspace(g, p, ConvDirection::BackwardData, bytes);
              conv2d_backward_data_cudnn(cudnn_of(g), p, g.dtype(), g.raw_data(), saved_w.raw_data(), dx.raw_data(),
                                         workspace, bytes);
            }
            if (want_w) {
              void* workspace = conv_workspace(g, p, ConvDirection::BackwardFilter, bytes);
              conv2d_backward_filter_cudnn(cudnn_of(g), p, g.dtype(), saved_x.raw_data(), g.raw_data(), dw.raw_data(),
                                           false, workspace, bytes);
            }
            if (want_b) {  // db = per-channel sum of dy, deterministic (see the forward)
              int64_t rows = g.numel() / p.K;
              Tensor scratch = scratch_floats(kernels::channel_sum_workspace_elements(rows, p.K), g);
              kernels::channel_sum_cuda(g.data<T>(), db.data<T>(), rows, p.K, false, scratch.data<float>(), s);
            }
          }));
      return std::vector<Tensor>{dx, dw, db, want_residual ? g : Tensor()};
    });
  }
  return y;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& options) {
  return convolution(x, w, bias, Tensor(), options);
}

Tensor conv2d_add(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& residual,
                  const Conv2dOptions& options) {
  ALZ_CHECK(residual.defined(), "conv2d_add: the residual is undefined");
  return convolution(x, w, bias, residual, options);
}

Tensor max_pool2d(const Tensor& x, const MaxPoolOptions& options) {
  if (cpu_bf16(x)) return to_bf16(max_pool2d(as_f32(x), options));
  profiler::Range range("max_pool2d", x);
  check_image(x, "max_pool2d");
  kernels::MaxPool2dParams params;
  params.input = image_shape(x);
  params.kernel_h = options.kernel_h;
  params.kernel_w = options.kernel_w;
  params.stride_h = options.stride_h;
  params.stride_w = options.stride_w;
  params.pad = options.pad;
  kernels::ImageShape out = kernels::max_pool_output_shape(params);
  Tensor y = Tensor::empty({out.n, out.h, out.w, out.c}, x.dtype(), x.device());
  dispatch(
      x, "max_pool2d",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::max_pool_forward_cpu(x.data<T>(), y.data<T>(), params);
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        kernels::max_pool_forward_cuda(x.data<T>(), y.data<T>(), params, s);
      }));
  if (needs_record({&x})) {
    Tensor saved_x = x;  // backward recomputes the arg-max from the input
    record("max_pool2d", y, {&x}, [saved_x, params](const Tensor& g) {
      Tensor dx = Tensor::empty(saved_x.shape(), g.dtype(), g.device());
      dispatch(
          g, "max_pool2d backward",
          [&](auto tag) {
            using T = decltype(tag);
            kernels::max_pool_backward_cpu(saved_x.data<T>(), g.data<T>(), dx.data<T>(), params, false);
          },
          ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
            using T = decltype(tag);
            kernels::max_pool_backward_cuda(saved_x.data<T>(), g.data<T>(), dx.data<T>(), params, false, s);
          }));
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor zero_pad2d(const Tensor& x, const Padding2d& pad) {
  if (cpu_bf16(x)) return to_bf16(zero_pad2d(as_f32(x), pad));
  profiler::Range range("zero_pad2d", x);
  check_image(x, "zero_pad2d");
  kernels::ImageShape in = image_shape(x), out = kernels::padded_shape(in, pad);
  Tensor y = Tensor::empty({out.n, out.h, out.w, out.c}, x.dtype(), x.device());
  dispatch(
      x, "zero_pad2d",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::zero_pad_forward_cpu(x.data<T>(), y.data<T>(), in, pad);
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        kernels::zero_pad_forward_cuda(x.data<T>(), y.data<T>(), in, pad, s);
      }));
  if (needs_record({&x})) {
    Shape shape = x.shape();
    record("zero_pad2d", y, {&x}, [shape, in, pad](const Tensor& g) {
      Tensor dx = Tensor::empty(shape, g.dtype(), g.device());
      dispatch(
          g, "zero_pad2d backward",
          [&](auto tag) {
            using T = decltype(tag);
            kernels::zero_pad_backward_cpu(g.data<T>(), dx.data<T>(), in, pad, false);
          },
          ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
            using T = decltype(tag);
            kernels::zero_pad_backward_cuda(g.data<T>(), dx.data<T>(), in, pad, false, s);
          }));
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

}  // namespace alz::ops
