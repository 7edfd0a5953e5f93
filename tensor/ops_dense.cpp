// Dense ops on the tape: matmul and linear (Keras Dense: W stored (in, out)).
// Kernels: kernels/gemm.h (OpenBLAS on the CPU, cuBLAS on the GPU).
// Tests: tests/test_ops.cpp, tests/gpu/test_autograd_ops_gpu.cpp.
#include "kernels/gemm.h"
#include "tensor/ops.h"
#include "tensor/ops_common.h"
#include "tensor/profiler.h"

namespace alz::ops {

using namespace detail;

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (cpu_bf16(a)) return check_same_dtype(a, b, "matmul"), to_bf16(matmul(as_f32(a), as_f32(b)));
  profiler::Range range("matmul", a);
  ALZ_CHECK(a.defined() && b.defined() && a.ndim() == 2 && b.ndim() == 2 && a.dim(1) == b.dim(0),
            "matmul: needs (M, K) x (K, N); got " << a.summary() << " and " << b.summary());
  check_same_device(a, b, "matmul");
  check_same_dtype(a, b, "matmul");
  int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
  Tensor c = Tensor::empty({m, n}, a.dtype(), a.device());
  // C (M, N) = op(A) op(B) with the given transposes; used by forward and backward.
  auto gemm = [](const Tensor& x, const Tensor& y, Tensor& out, int64_t rows, int64_t cols, int64_t inner, bool tx,
                 bool ty) {
    dispatch(
        x, "matmul",
        [&](auto tag) {
          using T = decltype(tag);
          kernels::matmul_cpu(x.data<T>(), y.data<T>(), out.data<T>(), rows, cols, inner, tx, ty);
        },
        ALZ_ON_CUDA([&](auto tag, cudaStream_t) {
          using T = decltype(tag);
          kernels::matmul_cuda(cublas_of(x), x.data<T>(), y.data<T>(), out.data<T>(), rows, cols, inner, tx, ty);
        }));
  };
  gemm(a, b, c, m, n, k, false, false);
  if (needs_record({&a, &b})) {
    bool want_a = a.requires_grad(), want_b = b.requires_grad();
    record("matmul", c, {&a, &b}, [=](const Tensor& g) {
      Tensor da, db;
      if (want_a) {  // dA (M, K) = dC (M, N) · Bᵀ
        da = Tensor::empty({m, k}, g.dtype(), g.device());
        gemm(g, b, da, m, k, n, false, true);
      }
      if (want_b) {  // dB (K, N) = Aᵀ · dC
        db = Tensor::empty({k, n}, g.dtype(), g.device());
        gemm(a, g, db, k, n, m, true, false);
      }
      return std::vector<Tensor>{da, db};
    });
  }
  return c;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (cpu_bf16(x)) {
    check_same_dtype(x, w, "linear");
    if (bias.defined()) check_same_dtype(x, bias, "linear");
    return to_bf16(linear(as_f32(x), as_f32(w), as_f32(bias)));
  }
  profiler::Range range("linear", x);
  ALZ_CHECK(x.defined() && w.defined() && x.ndim() == 2 && w.ndim() == 2 && x.dim(1) == w.dim(0),
            "linear: needs x (B, in) and W (in, out); got " << x.summary() << " and " << w.summary());
  check_same_device(x, w, "linear");
  check_same_dtype(x, w, "linear");
  int64_t batch = x.dim(0), in = x.dim(1), out = w.dim(1);
  if (bias.defined()) {
    ALZ_CHECK(bias.ndim() == 1 && bias.dim(0) == out, "linear: bias must be (" << out << "); got " << bias.summary());
    check_same_device(x, bias, "linear");
    check_same_dtype(x, bias, "linear");
  }
  Tensor y = Tensor::empty({batch, out}, x.dtype(), x.device());
  dispatch(
      x, "linear",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::linear_forward_cpu(x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr, y.data<T>(),
                                    batch, in, out);
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t) {
        using T = decltype(tag);
        kernels::linear_forward_cuda(cublas_of(x), x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                                     y.data<T>(), batch, in, out);
      }));
  if (needs_record({&x, &w, &bias})) {
    bool want_x = x.requires_grad(), want_w = w.requires_grad(), want_b = bias.defined() && bias.requires_grad();
    record("linear", y, {&x, &w, &bias}, [=](const Tensor& g) {
      Tensor dx = want_x ? Tensor::empty({batch, in}, g.dtype(), g.device()) : Tensor();
      Tensor dw = want_w ? Tensor::empty({in, out}, g.dtype(), g.device()) : Tensor();
      Tensor db = want_b ? Tensor::empty({out}, g.dtype(), g.device()) : Tensor();
      auto args = [&](auto tag) {
        using T = decltype(tag);
        kernels::LinearBackwardArgs<T> a;
        a.dy = g.data<T>();
        a.x = x.data<T>();
        a.w = w.data<T>();
        a.dx = want_x ? dx.data<T>() : nullptr;
        a.dw = want_w ? dw.data<T>() : nullptr;
        a.db = want_b ? db.data<T>() : nullptr;
        a.batch = batch;
        a.in = in;
        a.out = out;
        return a;  // dx, dw, db overwritten
      };
      dispatch(
          g, "linear backward", [&](auto tag) { kernels::linear_backward_cpu(args(tag)); },
          ALZ_ON_CUDA([&](auto tag, cudaStream_t) {
            Tensor workspace = scratch_floats(kernels::linear_backward_workspace_elements(batch, out), g);
            kernels::linear_backward_cuda(cublas_of(g), args(tag), workspace.data<float>());
          }));
      return std::vector<Tensor>{dx, dw, db};
    });
  }
  return y;
}

}  // namespace alz::ops
