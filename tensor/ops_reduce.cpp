// Reductions on the tape: sum, mean (to a 0-d tensor), per-channel sum and mean, global
// average pooling. Kernels: kernels/reduce.h (deterministic on the GPU, results stay on the
// device). Tests: tests/test_ops.cpp, tests/gpu/test_autograd_ops_gpu.cpp.
#include "kernels/reduce.h"
#include "tensor/ops.h"
#include "tensor/ops_common.h"
#include "tensor/profiler.h"

namespace alz::ops {

using namespace detail;

namespace {

// Whole-tensor sum or mean into a 0-d tensor.
Tensor reduce_all(const Tensor& x, bool is_mean) {
  const char* name = is_mean ? "mean" : "sum";
  profiler::Range range(name, x);
  ALZ_CHECK(x.defined() && x.numel() > 0, name << ": needs a non-empty tensor; got " << x.summary());
  Tensor y = Tensor::empty({}, x.dtype(), x.device());
  dispatch(
      x, name,
      [&](auto tag) {
        using T = decltype(tag);
        y.data<T>()[0] = is_mean ? kernels::mean_cpu(x.data<T>(), x.numel()) : kernels::sum_cpu(x.data<T>(), x.numel());
      },
      ALZ_ON_CUDA([&](auto, cudaStream_t s) {
        Tensor workspace = scratch_floats(kernels::sum_workspace_elements(x.numel()), x);
        if (is_mean)
          kernels::mean_cuda(x.data<float>(), y.data<float>(), x.numel(), workspace.data<float>(), s);
        else
          kernels::sum_cuda(x.data<float>(), y.data<float>(), x.numel(), workspace.data<float>(), s);
      }),
      CudaTypes::F32Only);
  if (needs_record({&x})) {
    Shape shape = x.shape();
    record(name, y, {&x}, [shape, is_mean](const Tensor& g) {
      Tensor dx = Tensor::empty(shape, g.dtype(), g.device());
      dispatch(
          g, "reduce backward",
          [&](auto tag) {
            using T = decltype(tag);
            if (is_mean)
              kernels::mean_backward_cpu(g.data<T>()[0], dx.data<T>(), dx.numel(), false);
            else
              kernels::sum_backward_cpu(g.data<T>()[0], dx.data<T>(), dx.numel(), false);
          },
          ALZ_ON_CUDA([&](auto, cudaStream_t s) {
            if (is_mean)
              kernels::mean_backward_cuda(g.data<float>(), dx.data<float>(), dx.numel(), false, s);
            else
              kernels::sum_backward_cuda(g.data<float>(), dx.data<float>(), dx.numel(), false, s);
          }),
          CudaTypes::F32Only);
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor reduce_channels(const Tensor& x, bool is_mean) {
  const char* name = is_mean ? "channel_mean" : "channel_sum";
  profiler::Range range(name, x);
  ALZ_CHECK(x.defined() && x.ndim() >= 1 && x.numel() > 0, name << ": " << x.summary());
  int64_t channels = x.dim(-1), rows = x.numel() / channels;
  Tensor y = Tensor::empty({channels}, x.dtype(), x.device());
  dispatch(
      x, name,
      [&](auto tag) {
        using T = decltype(tag);
        if (is_mean)
          kernels::channel_mean_cpu(x.data<T>(), y.data<T>(), rows, channels);
        else
          kernels::channel_sum_cpu(x.data<T>(), y.data<T>(), rows, channels);
      },
      ALZ_ON_CUDA([&](auto, cudaStream_t s) {
        Tensor workspace = scratch_floats(kernels::channel_sum_workspace_elements(rows, channels), x);
        if (is_mean)
          kernels::channel_mean_cuda(x.data<float>(), y.data<float>(), rows, channels, workspace.data<float>(), s);
        else
          kernels::channel_sum_cuda(x.data<float>(), y.data<float>(), rows, channels, false, workspace.data<float>(),
                                    s);
      }),
      CudaTypes::F32Only);
  if (needs_record({&x})) {
    Shape shape = x.shape();
    record(name, y, {&x}, [=](const Tensor& g) {
      Tensor dx = Tensor::empty(shape, g.dtype(), g.device());
      dispatch(
          g, "channel reduce backward",
          [&](auto tag) {
            using T = decltype(tag);
            if (is_mean)
              kernels::channel_mean_backward_cpu(g.data<T>(), dx.data<T>(), rows, channels, false);
            else
              kernels::channel_sum_backward_cpu(g.data<T>(), dx.data<T>(), rows, channels, false);
          },
          ALZ_ON_CUDA([&](auto, cudaStream_t s) {
            if (is_mean)
              kernels::channel_mean_backward_cuda(g.data<float>(), dx.data<float>(), rows, channels, false, s);
            else
              kernels::channel_sum_backward_cuda(g.data<float>(), dx.data<float>(), rows, channels, false, s);
          }),
          CudaTypes::F32Only);
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_all(x, false); }
Tensor mean(const Tensor& x) { return reduce_all(x, true); }
Tensor channel_sum(const Tensor& x) { return reduce_channels(x, false); }
Tensor channel_mean(const Tensor& x) { return reduce_channels(x, true); }

Tensor global_avg_pool(const Tensor& x) {
  if (cpu_bf16(x)) return to_bf16(global_avg_pool(as_f32(x)));
  profiler::Range range("global_avg_pool", x);
  check_image(x, "global_avg_pool");
  int64_t n = x.dim(0), spatial = x.dim(1) * x.dim(2), channels = x.dim(3);
  ALZ_CHECK(spatial > 0, "global_avg_pool: empty image " << x.summary());
  Tensor y = Tensor::empty({n, channels}, x.dtype(), x.device());
  dispatch(
      x, "global_avg_pool",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::global_avg_pool_forward_cpu(x.data<T>(), y.data<T>(), n, spatial, channels);
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        kernels::global_avg_pool_forward_cuda(x.data<T>(), y.data<T>(), n, spatial, channels, s);
      }));
  if (needs_record({&x})) {
    Shape shape = x.shape();
    record("global_avg_pool", y, {&x}, [=](const Tensor& g) {
      Tensor dx = Tensor::empty(shape, g.dtype(), g.device());
      dispatch(
          g, "global_avg_pool backward",
          [&](auto tag) {
            using T = decltype(tag);
            kernels::global_avg_pool_backward_cpu(g.data<T>(), dx.data<T>(), n, spatial, channels, false);
          },
          ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
            using T = decltype(tag);
            kernels::global_avg_pool_backward_cuda(g.data<T>(), dx.data<T>(), n, spatial, channels, false, s);
          }));
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

}  // namespace alz::ops
