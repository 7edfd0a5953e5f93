// Batch normalisation (+ReLU) on the tape. Training mode: the fused kernels of
// kernels/bn_relu.h (or, with fused = false, the unfused reference of kernels/batch_norm.h
// followed by ops::relu); the node saves x and the per-channel mean and inverse std.
// Inference mode (a frozen BatchNorm): one pass with the moving statistics; its backward is
// kernels/frozen_bn.h. On the CPU, f32 runs the fast kernels (kernels/cpu/bn_relu_fast.cpp),
// f64 the reference. The training backward adds dx into the gradient its input already holds
// when autograd offers it (tensor/autograd.h, rule 2). The same kernels without the tape, for
// the cross-replica BatchNorm: tensor/bn_relu_raw.h, at the end of this file.
// Tests: tests/test_ops.cpp, tests/test_autograd.cpp, tests/gpu/test_autograd_ops_gpu.cpp.
#include <type_traits>
#include <vector>

#include "kernels/batch_norm.h"
#include "kernels/bn_relu.h"
#include "kernels/frozen_bn.h"
#include "tensor/bn_relu_raw.h"
#include "tensor/cross_replica_bn.h"
#include "tensor/ops.h"
#include "tensor/ops_common.h"
#include "tensor/profiler.h"

namespace alz::ops {

using namespace detail;

namespace {

void check_bn_arguments(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& moving_mean,
                        const Tensor& moving_variance) {
  ALZ_CHECK(x.defined() && x.ndim() >= 1 && x.numel() > 0, "batch_norm: input " << x.summary());
  int64_t channels = x.dim(-1);
  DType param_dtype = x.device().is_cpu() && x.dtype() != DType::BF16 ? x.dtype() : DType::F32;
  for (const Tensor* t : {&gamma, &beta, &moving_mean, &moving_variance}) {
    ALZ_CHECK(t->defined() && t->ndim() == 1 && t->dim(0) == channels && t->dtype() == param_dtype &&
                  t->device() == x.device(),
              "batch_norm: parameters and statistics must be " << dtype_name(param_dtype) << " (" << channels << ") on "
                                                               << x.device().str() << "; got " << t->summary()
                                                               << " for " << x.summary());
  }
}

#if ALZ_HAS_CUDA
// The fused kernels' workspace, kept by the device context (tensor/cuda/context.h) beside the
// cuDNN workspace; `bytes` receives its size.
void* bn_relu_workspace(const Tensor& like, int64_t rows, int64_t channels, size_t& bytes) {
  return cuda::context(like.device().index).bn_relu_workspace(kernels::bn_relu_workspace_bytes(rows, channels), bytes);
}
#endif

template <typename P> P* data_or_null(const Tensor& t) { return t.defined() ? t.data<P>() : nullptr; }

// The kernels' arguments for the tensors of one call. T: the activation type; the per-channel
// tensors have the type kernels::BatchNormParam<T> (T, or float for bf16 activations).
template <typename T>
kernels::BnReluForwardArgs<T> forward_args(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& beta,
                                           const Tensor& moving_mean, const Tensor& moving_variance,
                                           const Tensor& save_mean, const Tensor& save_invstd,
                                           const BatchNormOptions& o) {
  using P = kernels::BatchNormParam<T>;
  kernels::BnReluForwardArgs<T> a;
  a.x = x.data<T>();
  a.y = y.data<T>();
  a.channels = x.dim(-1);
  a.rows = x.numel() / a.channels;
  a.gamma = gamma.data<P>();
  a.beta = beta.data<P>();
  a.moving_mean = data_or_null<P>(moving_mean);
  a.moving_variance = data_or_null<P>(moving_variance);
  a.saved = {data_or_null<P>(save_mean), data_or_null<P>(save_invstd)};
  a.momentum = o.momentum;
  a.epsilon = o.epsilon;
  a.relu = o.relu;
  return a;
}

template <typename T>
kernels::BnReluBackwardArgs<T> training_backward_args(const Tensor& x, const Tensor& dy, const Tensor& dx,
                                                      const Tensor& gamma, const Tensor& beta, const Tensor& save_mean,
                                                      const Tensor& save_invstd, bool relu, const Tensor& dgamma,
                                                      const Tensor& dbeta) {
  using P = kernels::BatchNormParam<T>;
  kernels::BnReluBackwardArgs<T> a;
  a.x = x.data<T>();
  a.dy = dy.data<T>();
  a.dx = dx.data<T>();
  a.channels = x.dim(-1);
  a.rows = x.numel() / a.channels;
  a.gamma = gamma.data<P>();
  a.beta = beta.data<P>();
  a.saved = {save_mean.data<P>(), save_invstd.data<P>()};
  a.relu = relu;
  a.dgamma = dgamma.data<P>();
  a.dbeta = dbeta.data<P>();
  return a;
}

template <typename T>
kernels::FrozenBnBackwardArgs<T> frozen_backward_args(const Tensor& x, const Tensor& dy, const Tensor& dx,
                                                      const Tensor& gamma, const Tensor& beta,
                                                      const Tensor& moving_mean, const Tensor& moving_variance,
                                                      const BatchNormOptions& o, const Tensor& dgamma,
                                                      const Tensor& dbeta) {
  using P = kernels::BatchNormParam<T>;
  kernels::FrozenBnBackwardArgs<T> a;
  a.x = x.data<T>();
  a.dy = dy.data<T>();
  a.dx = dx.data<T>();
  a.channels = x.dim(-1);
  a.rows = x.numel() / a.channels;
  a.gamma = gamma.data<P>();
  a.beta = beta.data<P>();
  a.moving_mean = moving_mean.data<P>();
  a.moving_variance = moving_variance.data<P>();
  a.epsilon = o.epsilon;
  a.relu = o.relu;
  a.dgamma = data_or_null<P>(dgamma);
  a.dbeta = data_or_null<P>(dbeta);
  return a;
}

// The unfused reference: BatchNorm alone (the ReLU, if any, is ops::relu afterwards).
Tensor unfused_training(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& moving_mean,
                        Tensor& moving_variance, const BatchNormOptions& o, int64_t rows, int64_t channels) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({channels}, gamma.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({channels}, gamma.dtype(), x.device());
  auto args = [&](auto tag) {
    using T = decltype(tag);
    kernels::BatchNormForwardArgs<T> a;
    a.x = x.data<T>();
    a.y = y.data<T>();
    a.rows = rows;
    a.channels = channels;
    a.gamma = gamma.data<T>();
    a.beta = beta.data<T>();
    a.moving_mean = moving_mean.data<T>();
    a.moving_variance = moving_variance.data<T>();
    a.saved = {save_mean.data<T>(), save_invstd.data<T>()};
    a.momentum = o.momentum;
    a.epsilon = o.epsilon;
    return a;
  };
  dispatch(
      x, "batch_norm", [&](auto tag) { kernels::batch_norm_forward_training_cpu(args(tag)); },
      ALZ_ON_CUDA([&](auto, cudaStream_t s) {  // the unfused CUDA reference: f32 only
        size_t bytes = kernels::batch_norm_workspace_bytes(rows, channels);
        Tensor ws = Tensor::empty({static_cast<int64_t>(bytes / 4 + 4)}, DType::F32, x.device());
        kernels::batch_norm_forward_training_cuda(args(float{}), ws.raw_data(), ws.nbytes(), s);
      }),
      CudaTypes::F32Only);
  if (needs_record({&x, &gamma, &beta})) {
    record("batch_norm", y, {&x, &gamma, &beta}, [=](const Tensor& g) {
      Tensor dx = Tensor::empty(x.shape(), g.dtype(), g.device());
      Tensor dgamma = Tensor::empty({channels}, gamma.dtype(), g.device());  // overwritten by the kernel
      Tensor dbeta = Tensor::empty({channels}, gamma.dtype(), g.device());
      auto args = [&](auto tag) {
        using T = decltype(tag);
        kernels::BatchNormBackwardArgs<T> a;
        a.x = x.data<T>();
        a.dy = g.data<T>();
        a.dx = dx.data<T>();
        a.rows = rows;
        a.channels = channels;
        a.gamma = gamma.data<T>();
        a.saved = {save_mean.data<T>(), save_invstd.data<T>()};
        a.dgamma = dgamma.data<T>();
        a.dbeta = dbeta.data<T>();
        return a;
      };
      dispatch(
          g, "batch_norm backward", [&](auto tag) { kernels::batch_norm_backward_cpu(args(tag)); },
          ALZ_ON_CUDA([&](auto, cudaStream_t s) {
            size_t bytes = kernels::batch_norm_workspace_bytes(rows, channels);
            Tensor ws = Tensor::empty({static_cast<int64_t>(bytes / 4 + 4)}, DType::F32, g.device());
            kernels::batch_norm_backward_cuda(args(float{}), ws.raw_data(), ws.nbytes(), s);
          }),
          CudaTypes::F32Only);
      return std::vector<Tensor>{dx, dgamma, dbeta};
    });
  }
  return o.relu ? relu(y) : y;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& moving_mean,
                  Tensor& moving_variance, const BatchNormOptions& o) {
  if (cpu_bf16(x)) {
    check_bn_arguments(x, gamma, beta, moving_mean, moving_variance);
    return to_bf16(batch_norm(as_f32(x), gamma, beta, moving_mean, moving_variance, o));
  }
  profiler::Range range(o.relu ? "batch_norm_relu" : "batch_norm", x);
  check_bn_arguments(x, gamma, beta, moving_mean, moving_variance);
  if (o.training && active_replica_sum() != nullptr)  // --sync-bn (tensor/cross_replica_bn.h)
    return cross_replica_batch_norm(x, gamma, beta, moving_mean, moving_variance, o, *active_replica_sum());
  int64_t channels = x.dim(-1), rows = x.numel() / channels;
  if (o.training && !o.fused) return unfused_training(x, gamma, beta, moving_mean, moving_variance, o, rows, channels);

  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean, save_invstd;
  if (o.training) {
    save_mean = Tensor::empty({channels}, gamma.dtype(), x.device());
    save_invstd = Tensor::empty({channels}, gamma.dtype(), x.device());
  }
  // A frozen layer whose backward will recompute the mask takes the reference formula on the CPU.
  const bool frozen_backward = !o.training && needs_record({&x, &gamma, &beta});
  if (o.training)
    detail::bn_relu_training_forward(x, y, gamma, beta, moving_mean, moving_variance, save_mean, save_invstd, o);
  else
    detail::bn_relu_apply(x, y, gamma, beta, moving_mean, moving_variance, o.epsilon, o.relu, frozen_backward);
  if (!needs_record({&x, &gamma, &beta})) return y;

  bool want_params = gamma.requires_grad() || beta.requires_grad();
  // Saved state: x and the statistics the backward needs (batch mean/invstd in training, the
  // moving statistics, copied, in inference mode), plus gamma and beta for the ReLU mask.
  Tensor saved_x = x, saved_gamma = gamma, saved_beta = beta;
  Tensor stat_a = o.training ? save_mean : moving_mean.clone();
  Tensor stat_b = o.training ? save_invstd : moving_variance.clone();
  record(o.training ? "batch_norm_relu" : "batch_norm_relu_inference", y, {&x, &gamma, &beta}, [=](const Tensor& g) {
    // Training: add dx into the gradient x has already received, when autograd offers it (a
    // residual block's input, whose shortcut gradient came first): the fused epilogue of the
    // gradient rule (tensor/autograd.h), one pass and one buffer fewer than summing afterwards.
    Tensor dx = o.training ? pending_gradient_of_input(0, saved_x.shape(), g.dtype(), g.device()) : Tensor();
    const bool accumulate_dx = dx.defined();
    if (!accumulate_dx) dx = Tensor::empty(saved_x.shape(), g.dtype(), g.device());
    Tensor dgamma, dbeta;
    if (o.training || want_params) {
      dgamma = Tensor::empty({channels}, saved_gamma.dtype(), g.device());  // overwritten by the kernel
      dbeta = Tensor::empty({channels}, saved_gamma.dtype(), g.device());
    }
    if (o.training) {
      detail::bn_relu_training_backward(saved_x, g, dx, saved_gamma, saved_beta, stat_a, stat_b, o.relu, dgamma, dbeta,
                                        accumulate_dx);
    } else {
      auto frozen_args = [&](auto tag) {
        return frozen_backward_args<decltype(tag)>(saved_x, g, dx, saved_gamma, saved_beta, stat_a, stat_b, o, dgamma,
                                                   dbeta);
      };
      dispatch(
          g, "batch_norm backward", [&](auto tag) { kernels::frozen_bn_backward_cpu(frozen_args(tag)); },
          ALZ_ON_CUDA([&](auto tag, cudaStream_t s) { kernels::frozen_bn_backward_cuda(frozen_args(tag), s); }));
    }
    return std::vector<Tensor>{accumulate_dx ? Tensor() : dx, dgamma, dbeta};
  });
  return y;
}

// ---------------------------------------------------------------- tensor/bn_relu_raw.h
namespace detail {

void bn_relu_training_forward(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& beta,
                              const Tensor& moving_mean, const Tensor& moving_variance, const Tensor& save_mean,
                              const Tensor& save_invstd, const BatchNormOptions& o) {
  auto args = [&](auto tag) {
    return forward_args<decltype(tag)>(x, y, gamma, beta, moving_mean, moving_variance, save_mean, save_invstd, o);
  };
  dispatch(
      x, "batch_norm",
      [&](auto tag) {
        if constexpr (std::is_same_v<decltype(tag), float>) {
          kernels::bn_relu_forward_training_cpu_fast(args(tag));
        } else {
          kernels::bn_relu_forward_training_cpu(args(tag));
        }
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        size_t bytes = 0;
        void* ws = bn_relu_workspace(x, x.numel() / x.dim(-1), x.dim(-1), bytes);
        kernels::bn_relu_forward_training_cuda(args(tag), ws, bytes, s);
      }));
}

void bn_relu_apply(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                   const Tensor& variance, double epsilon, bool relu, bool reference_on_cpu) {
  BatchNormOptions o;
  o.training = false;
  o.epsilon = epsilon;
  o.relu = relu;
  auto args = [&](auto tag) {
    return forward_args<decltype(tag)>(x, y, gamma, beta, mean, variance, Tensor(), Tensor(), o);
  };
  dispatch(
      x, "batch_norm",
      [&](auto tag) {
        if constexpr (std::is_same_v<decltype(tag), float>) {
          if (!reference_on_cpu) {
            kernels::bn_relu_forward_inference_cpu_fast(args(tag));
            return;
          }
        }
        kernels::bn_relu_forward_inference_cpu(args(tag));
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) { kernels::bn_relu_forward_inference_cuda(args(tag), s); }));
}

void bn_relu_training_backward(const Tensor& x, const Tensor& dy, const Tensor& dx, const Tensor& gamma,
                               const Tensor& beta, const Tensor& mean, const Tensor& invstd, bool relu,
                               const Tensor& dgamma, const Tensor& dbeta, bool accumulate_dx) {
  auto args = [&](auto tag) {
    auto a = training_backward_args<decltype(tag)>(x, dy, dx, gamma, beta, mean, invstd, relu, dgamma, dbeta);
    a.accumulate_dx = accumulate_dx;
    return a;
  };
  dispatch(
      dy, "batch_norm backward",
      [&](auto tag) {
        if constexpr (std::is_same_v<decltype(tag), float>) {
          kernels::bn_relu_backward_cpu_fast(args(tag));
        } else {
          kernels::bn_relu_backward_cpu(args(tag));
        }
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        size_t bytes = 0;
        void* ws = bn_relu_workspace(dy, x.numel() / x.dim(-1), x.dim(-1), bytes);
        kernels::bn_relu_backward_cuda(args(tag), ws, bytes, s);
      }));
}

}  // namespace detail

}  // namespace alz::ops
