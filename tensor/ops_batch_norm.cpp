// Batch normalisation (+ReLU) on the tape. Training mode: the fused kernels of
// kernels/bn_relu.h (or, with fused = false, the unfused reference of kernels/batch_norm.h
// followed by ops::relu); the node saves x and the per-channel mean and inverse std.
// Inference mode (a frozen BatchNorm): one pass with the moving statistics; its backward is
// kernels/frozen_bn.h. On the CPU, f32 runs the fast kernels (kernels/cpu/bn_relu_fast.cpp),
// f64 the reference. Tests: tests/test_ops.cpp, tests/gpu/test_autograd_ops_gpu.cpp.
#include <type_traits>
#include <vector>

#include "kernels/batch_norm.h"
#include "kernels/bn_relu.h"
#include "kernels/frozen_bn.h"
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
  DType param_dtype = x.device().is_cpu() ? x.dtype() : DType::F32;
  for (const Tensor* t : {&gamma, &beta, &moving_mean, &moving_variance}) {
    ALZ_CHECK(t->defined() && t->ndim() == 1 && t->dim(0) == channels && t->dtype() == param_dtype &&
                  t->device() == x.device(),
              "batch_norm: parameters and statistics must be " << dtype_name(param_dtype) << " (" << channels
                                                               << ") on " << x.device().str() << "; got "
                                                               << t->summary() << " for " << x.summary());
  }
}

#if ALZ_HAS_CUDA
// The fused kernels' workspace, kept by the device context (tensor/cuda/context.h) beside the
// cuDNN workspace; `bytes` receives its size.
void* bn_relu_workspace(const Tensor& like, int64_t rows, int64_t channels, size_t& bytes) {
  return cuda::context(like.device().index).bn_relu_workspace(kernels::bn_relu_workspace_bytes(rows, channels), bytes);
}
#endif

Tensor unfused_training(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& moving_mean,
                        Tensor& moving_variance, const BatchNormOptions& o, int64_t rows, int64_t channels) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({channels}, gamma.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({channels}, gamma.dtype(), x.device());
  dispatch(
      x, "batch_norm",
      [&](auto tag) {
        using T = decltype(tag);
        kernels::batch_norm_forward_training_cpu(x.data<T>(), y.data<T>(), rows, channels, gamma.data<T>(),
                                                 beta.data<T>(), moving_mean.data<T>(), moving_variance.data<T>(),
                                                 save_mean.data<T>(), save_invstd.data<T>(), o.momentum, o.epsilon);
      },
      ALZ_ON_CUDA([&](auto, cudaStream_t s) {  // the unfused CUDA reference: f32 only
        size_t bytes = kernels::batch_norm_workspace_bytes(rows, channels);
        Tensor ws = Tensor::empty({static_cast<int64_t>(bytes / 4 + 4)}, DType::F32, x.device());
        kernels::batch_norm_forward_training_cuda(x.data<float>(), y.data<float>(), rows, channels, gamma.data<float>(),
                                                  beta.data<float>(), moving_mean.data<float>(),
                                                  moving_variance.data<float>(), save_mean.data<float>(),
                                                  save_invstd.data<float>(), static_cast<float>(o.momentum),
                                                  static_cast<float>(o.epsilon), ws.raw_data(), ws.nbytes(), s);
      }),
      CudaTypes::F32Only);
  if (needs_record({&x, &gamma, &beta})) {
    record("batch_norm", y, {&x, &gamma, &beta}, [=](const Tensor& g) {
      Tensor dx = Tensor::empty(x.shape(), g.dtype(), g.device());
      Tensor dgamma = Tensor::zeros({channels}, gamma.dtype(), g.device());
      Tensor dbeta = Tensor::zeros({channels}, gamma.dtype(), g.device());
      dispatch(
          g, "batch_norm backward",
          [&](auto tag) {
            using T = decltype(tag);
            kernels::batch_norm_backward_cpu(x.data<T>(), g.data<T>(), dx.data<T>(), rows, channels, gamma.data<T>(),
                                             save_mean.data<T>(), save_invstd.data<T>(), dgamma.data<T>(),
                                             dbeta.data<T>());
          },
          ALZ_ON_CUDA([&](auto, cudaStream_t s) {
            size_t bytes = kernels::batch_norm_workspace_bytes(rows, channels);
            Tensor ws = Tensor::empty({static_cast<int64_t>(bytes / 4 + 4)}, DType::F32, g.device());
            kernels::batch_norm_backward_cuda(x.data<float>(), g.data<float>(), dx.data<float>(), rows, channels,
                                              gamma.data<float>(), save_mean.data<float>(), save_invstd.data<float>(),
                                              dgamma.data<float>(), dbeta.data<float>(), ws.raw_data(), ws.nbytes(), s);
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
  profiler::Range range(o.relu ? "batch_norm_relu" : "batch_norm", x);
  check_bn_arguments(x, gamma, beta, moving_mean, moving_variance);
  int64_t channels = x.dim(-1), rows = x.numel() / channels;
  if (o.training && !o.fused) return unfused_training(x, gamma, beta, moving_mean, moving_variance, o, rows, channels);

  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean, save_invstd;
  if (o.training) {
    save_mean = Tensor::empty({channels}, gamma.dtype(), x.device());
    save_invstd = Tensor::empty({channels}, gamma.dtype(), x.device());
  }
  // On the CPU, f32 takes the fast kernels; f64 (and a frozen layer whose backward will
  // recompute the mask with the reference formula) the reference.
  const bool frozen_backward = !o.training && needs_record({&x, &gamma, &beta});
  dispatch(
      x, "batch_norm",
      [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
          if (o.training) {
            kernels::bn_relu_forward_training_cpu_fast(
                x.data<float>(), y.data<float>(), rows, channels, gamma.data<float>(), beta.data<float>(),
                moving_mean.data<float>(), moving_variance.data<float>(),
                kernels::BnReluSaved<float>{save_mean.data<float>(), save_invstd.data<float>()}, o.momentum, o.epsilon,
                o.relu);
            return;
          }
          if (!frozen_backward) {
            kernels::bn_relu_forward_inference_cpu_fast(
                x.data<float>(), y.data<float>(), rows, channels, gamma.data<float>(), beta.data<float>(),
                moving_mean.data<float>(), moving_variance.data<float>(), o.epsilon, o.relu);
            return;
          }
        }
        if (o.training) {
          kernels::bn_relu_forward_training_cpu(x.data<T>(), y.data<T>(), rows, channels, gamma.data<T>(),
                                                beta.data<T>(), moving_mean.data<T>(), moving_variance.data<T>(),
                                                kernels::BnReluSaved<T>{save_mean.data<T>(), save_invstd.data<T>()},
                                                o.momentum, o.epsilon, o.relu);
        } else {
          kernels::bn_relu_forward_inference_cpu(x.data<T>(), y.data<T>(), rows, channels, gamma.data<T>(),
                                                 beta.data<T>(), moving_mean.data<T>(), moving_variance.data<T>(),
                                                 o.epsilon, o.relu);
        }
      },
      ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
        using T = decltype(tag);
        if (o.training) {
          size_t bytes = 0;
          void* ws = bn_relu_workspace(x, rows, channels, bytes);
          kernels::bn_relu_forward_training_cuda(
              x.data<T>(), y.data<T>(), rows, channels, gamma.data<float>(), beta.data<float>(),
              moving_mean.data<float>(), moving_variance.data<float>(),
              kernels::BnReluSaved<float>{save_mean.data<float>(), save_invstd.data<float>()},
              static_cast<float>(o.momentum), static_cast<float>(o.epsilon), o.relu, ws, bytes, s);
        } else {
          kernels::bn_relu_forward_inference_cuda(
              x.data<T>(), y.data<T>(), rows, channels, gamma.data<float>(), beta.data<float>(),
              moving_mean.data<float>(), moving_variance.data<float>(), static_cast<float>(o.epsilon), o.relu, s);
        }
      }));
  if (!needs_record({&x, &gamma, &beta})) return y;

  bool want_params = gamma.requires_grad() || beta.requires_grad();
  // Saved state: x and the statistics the backward needs (batch mean/invstd in training, the
  // moving statistics, copied, in inference mode), plus gamma and beta for the ReLU mask.
  Tensor saved_x = x, saved_gamma = gamma, saved_beta = beta;
  Tensor stat_a = o.training ? save_mean : moving_mean.clone();
  Tensor stat_b = o.training ? save_invstd : moving_variance.clone();
  record(o.training ? "batch_norm_relu" : "batch_norm_relu_inference", y, {&x, &gamma, &beta},
         [=](const Tensor& g) {
           Tensor dx = Tensor::empty(saved_x.shape(), g.dtype(), g.device());
           Tensor dgamma, dbeta;
           if (o.training || want_params) {
             dgamma = Tensor::zeros({channels}, saved_gamma.dtype(), g.device());
             dbeta = Tensor::zeros({channels}, saved_gamma.dtype(), g.device());
           }
           dispatch(
               g, "batch_norm backward",
               [&](auto tag) {
                 using T = decltype(tag);
                 T* dg = dgamma.defined() ? dgamma.data<T>() : nullptr;
                 T* db = dbeta.defined() ? dbeta.data<T>() : nullptr;
                 if constexpr (std::is_same_v<T, float>) {
                   if (o.training) {
                     kernels::bn_relu_backward_cpu_fast(
                         saved_x.data<float>(), g.data<float>(), dx.data<float>(), rows, channels,
                         saved_gamma.data<float>(), saved_beta.data<float>(),
                         kernels::BnReluSaved<float>{stat_a.data<float>(), stat_b.data<float>()}, o.relu, dg, db);
                     return;
                   }
                 }
                 if (o.training) {
                   kernels::bn_relu_backward_cpu(saved_x.data<T>(), g.data<T>(), dx.data<T>(), rows, channels,
                                                 saved_gamma.data<T>(), saved_beta.data<T>(),
                                                 kernels::BnReluSaved<T>{stat_a.data<T>(), stat_b.data<T>()}, o.relu,
                                                 dg, db);
                 } else {
                   kernels::frozen_bn_backward_cpu(saved_x.data<T>(), g.data<T>(), dx.data<T>(), rows, channels,
                                                   saved_gamma.data<T>(), saved_beta.data<T>(), stat_a.data<T>(),
                                                   stat_b.data<T>(), o.epsilon, o.relu, dg, db);
                 }
               },
               ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {
                 using T = decltype(tag);
                 float* dg = dgamma.defined() ? dgamma.data<float>() : nullptr;
                 float* db = dbeta.defined() ? dbeta.data<float>() : nullptr;
                 if (o.training) {
                   size_t bytes = 0;
                   void* ws = bn_relu_workspace(g, rows, channels, bytes);
                   kernels::bn_relu_backward_cuda(
                       saved_x.data<T>(), g.data<T>(), dx.data<T>(), rows, channels, saved_gamma.data<float>(),
                       saved_beta.data<float>(),
                       kernels::BnReluSaved<float>{stat_a.data<float>(), stat_b.data<float>()}, o.relu, dg, db, ws,
                       bytes, s);
                 } else {
                   kernels::frozen_bn_backward_cuda(saved_x.data<T>(), g.data<T>(), dx.data<T>(), rows, channels,
                                                    saved_gamma.data<float>(), saved_beta.data<float>(),
                                                    stat_a.data<float>(), stat_b.data<float>(),
                                                    static_cast<float>(o.epsilon), o.relu, dg, db, s);
                 }
               }));
           return std::vector<Tensor>{dx, dgamma, dbeta};
         });
  return y;
}

}  // namespace alz::ops
