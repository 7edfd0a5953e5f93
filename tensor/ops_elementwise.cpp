// Elementwise ops and views on the tape: add, sub, mul, scale, relu, per-channel bias add,
// reshape, and accumulate_into (the gradient accumulation autograd uses).
// Kernels: kernels/elementwise.h. Tests: tests/test_ops.cpp, tests/gpu/test_autograd_ops_gpu.cpp.
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "tensor/ops.h"
#include "tensor/ops_common.h"
#include "tensor/profiler.h"

namespace alz {

using namespace ops::detail;

void accumulate_into(Tensor& dst, const Tensor& src) {
  profiler::Range range("accumulate_grad", dst);
  check_binary(dst, src, "accumulate gradient");
  if (cpu_bf16(dst)) {  // summed in f32, rounded to bf16 once per addition, as the GPU's bf16 add
    bf16* d = dst.data<bf16>();
    const bf16* s = src.data<bf16>();
    for (int64_t i = 0; i < dst.numel(); ++i) d[i] = float_to_bf16(bf16_to_float(d[i]) + bf16_to_float(s[i]));
    return;
  }
  dispatch(
      dst, "accumulate",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::add_forward_cpu(dst.data<T>(), src.data<T>(), dst.data<T>(), dst.numel());
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t stream) {
        using T = decltype(tag);
        kernels::add_forward_cuda(dst.data<T>(), src.data<T>(), dst.data<T>(), dst.numel(), stream);
      }));
}

namespace ops {

Tensor cast(const Tensor& x, DType dtype) {
  ALZ_CHECK(x.defined(), "cast: undefined operand");
  if (x.dtype() == dtype) return x;
  profiler::Range range("cast", x);
  Tensor y = x.to(dtype);
  if (needs_record({&x})) {
    const DType from = x.dtype();
    record("cast", y, {&x}, [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  }
  return y;
}

namespace detail {
Tensor as_f32(const Tensor& t) { return t.defined() && t.dtype() == DType::BF16 ? cast(t, DType::F32) : t; }
Tensor to_bf16(const Tensor& t) { return cast(t, DType::BF16); }
}  // namespace detail

namespace {

// y = a (op) b for add, sub, mul; one kernel family each.
enum class Binary { Add, Sub, Mul };

Tensor binary_forward(const Tensor& a, const Tensor& b, Binary kind, const char* name) {
  check_binary(a, b, name);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  int64_t n = a.numel();
  dispatch(
      a, name,
      [&](auto tag) {
        using T = decltype(tag);
        if (kind == Binary::Add) kernels::add_forward_cpu(a.data<T>(), b.data<T>(), y.data<T>(), n);
        if (kind == Binary::Sub) kernels::sub_forward_cpu(a.data<T>(), b.data<T>(), y.data<T>(), n);
        if (kind == Binary::Mul) kernels::mul_forward_cpu(a.data<T>(), b.data<T>(), y.data<T>(), n);
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        if (kind == Binary::Add) kernels::add_forward_cuda(a.data<T>(), b.data<T>(), y.data<T>(), n, s);
        if (kind == Binary::Sub) kernels::sub_forward_cuda(a.data<T>(), b.data<T>(), y.data<T>(), n, s);
        if (kind == Binary::Mul) kernels::mul_forward_cuda(a.data<T>(), b.data<T>(), y.data<T>(), n, s);
      }));
  return y;
}

// dx = alpha * dy into a fresh tensor.
Tensor scaled(const Tensor& dy, double alpha) {
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  dispatch(
      dy, "scale",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::scaled_grad_cpu(dy.data<T>(), static_cast<T>(alpha), dx.data<T>(), dy.numel(), false);
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        kernels::scaled_grad_cuda(dy.data<T>(), static_cast<float>(alpha), dx.data<T>(), dy.numel(), false, s);
      }));
  return dx;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  if (cpu_bf16(a)) return check_binary(a, b, "add"), to_bf16(add(as_f32(a), as_f32(b)));
  profiler::Range range("add", a);
  Tensor y = binary_forward(a, b, Binary::Add, "add");
  if (needs_record({&a, &b}))
    record("add", y, {&a, &b}, [](const Tensor& g) { return std::vector<Tensor>{g, g}; });  // no copy
  return y;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  if (cpu_bf16(a)) return check_binary(a, b, "sub"), to_bf16(sub(as_f32(a), as_f32(b)));
  profiler::Range range("sub", a);
  Tensor y = binary_forward(a, b, Binary::Sub, "sub");
  if (needs_record({&a, &b}))
    record("sub", y, {&a, &b}, [](const Tensor& g) { return std::vector<Tensor>{g, scaled(g, -1.0)}; });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  if (cpu_bf16(a)) return check_binary(a, b, "mul"), to_bf16(mul(as_f32(a), as_f32(b)));
  profiler::Range range("mul", a);
  Tensor y = binary_forward(a, b, Binary::Mul, "mul");
  if (needs_record({&a, &b})) {
    bool want_a = a.requires_grad(), want_b = b.requires_grad();
    record("mul", y, {&a, &b}, [a, b, want_a, want_b](const Tensor& g) {
      Tensor da = want_a ? Tensor::empty(a.shape(), a.dtype(), a.device()) : Tensor();
      Tensor db = want_b ? Tensor::empty(b.shape(), b.dtype(), b.device()) : Tensor();
      dispatch(
          g, "mul backward",
          [&](auto tag) {
            using T = decltype(tag);
            kernels::mul_backward_cpu(g.data<T>(), a.data<T>(), b.data<T>(), want_a ? da.data<T>() : nullptr,
                                      want_b ? db.data<T>() : nullptr, g.numel(), false);
          },
          ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
            using T = decltype(tag);
            kernels::mul_backward_cuda(g.data<T>(), a.data<T>(), b.data<T>(), want_a ? da.data<T>() : nullptr,
                                       want_b ? db.data<T>() : nullptr, g.numel(), false, s);
          }));
      return std::vector<Tensor>{da, db};
    });
  }
  return y;
}

Tensor scale(const Tensor& x, double alpha) {
  if (cpu_bf16(x)) return to_bf16(scale(as_f32(x), alpha));
  profiler::Range range("scale", x);
  ALZ_CHECK(x.defined(), "scale: undefined operand");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch(
      x, "scale",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::scale_forward_cpu(x.data<T>(), static_cast<T>(alpha), y.data<T>(), x.numel());
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        kernels::scale_forward_cuda(x.data<T>(), static_cast<float>(alpha), y.data<T>(), x.numel(), s);
      }));
  if (needs_record({&x}))
    record("scale", y, {&x}, [alpha](const Tensor& g) { return std::vector<Tensor>{scaled(g, alpha)}; });
  return y;
}

Tensor relu(const Tensor& x) {
  if (cpu_bf16(x)) return to_bf16(relu(as_f32(x)));
  profiler::Range range("relu", x);
  ALZ_CHECK(x.defined(), "relu: undefined operand");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch(
      x, "relu",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::relu_forward_cpu(x.data<T>(), y.data<T>(), x.numel());
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        kernels::relu_forward_cuda(x.data<T>(), y.data<T>(), x.numel(), s);
      }));
  if (needs_record({&x})) {
    Tensor saved_output = y;  // the mask is y > 0; saving y (not x) lets x be freed
    record("relu", y, {&x}, [saved_output](const Tensor& g) {
      Tensor dx = Tensor::empty(g.shape(), g.dtype(), g.device());
      dispatch(
          g, "relu backward",
          [&](auto tag) {
            using T = decltype(tag);
            kernels::relu_backward_cpu(g.data<T>(), saved_output.data<T>(), dx.data<T>(), g.numel(), false);
          },
          ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
            using T = decltype(tag);
            kernels::relu_backward_cuda(g.data<T>(), saved_output.data<T>(), dx.data<T>(), g.numel(), false, s);
          }));
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor add_channel(const Tensor& x, const Tensor& bias) {
  if (cpu_bf16(x)) return check_same_dtype(x, bias, "add_channel"), to_bf16(add_channel(as_f32(x), as_f32(bias)));
  profiler::Range range("add_channel", x);
  ALZ_CHECK(x.defined() && bias.defined() && x.ndim() >= 1 && bias.ndim() == 1 && bias.dim(0) == x.dim(-1),
            "add_channel: bias must be (C) for x (..., C); got " << x.summary() << " and " << bias.summary());
  check_same_device(x, bias, "add_channel");
  check_same_dtype(x, bias, "add_channel");
  int64_t channels = x.dim(-1), rows = x.numel() / (channels ? channels : 1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch(
      x, "add_channel",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::bias_add_forward_cpu(x.data<T>(), bias.data<T>(), y.data<T>(), rows, channels);
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        kernels::bias_add_forward_cuda(x.data<T>(), bias.data<T>(), y.data<T>(), rows, channels, s);
      }));
  if (needs_record({&x, &bias})) {
    bool want_x = x.requires_grad(), want_bias = bias.requires_grad();
    record("add_channel", y, {&x, &bias}, [=](const Tensor& g) {
      Tensor dbias = want_bias ? Tensor::empty({channels}, g.dtype(), g.device()) : Tensor();
      if (want_bias) {
        dispatch(
            g, "add_channel backward",
            [&](auto tag) {
              using T = decltype(tag);
              kernels::bias_add_backward_cpu(g.data<T>(), static_cast<T*>(nullptr), dbias.data<T>(), rows, channels,
                                             false, false);
            },
            ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
              Tensor workspace = scratch_floats(kernels::channel_sum_workspace_elements(rows, channels), g);
              using T = decltype(tag);
              kernels::bias_add_backward_cuda(g.data<T>(), static_cast<T*>(nullptr), dbias.data<T>(), rows, channels,
                                              false, false, workspace.data<float>(), s);
            }));
      }
      return std::vector<Tensor>{want_x ? g : Tensor(), dbias};
    });
  }
  return y;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.reshape(shape);
  if (needs_record({&x})) {
    Shape original = x.shape();
    record("reshape", y, {&x}, [original](const Tensor& g) { return std::vector<Tensor>{g.reshape(original)}; });
  }
  return y;
}

Tensor flatten(const Tensor& x) {
  ALZ_CHECK(x.ndim() >= 1, "flatten: " << x.summary());
  return reshape(x, {x.dim(0), -1});
}

}  // namespace ops
}  // namespace alz
