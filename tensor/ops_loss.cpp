// Softmax cross-entropy on the tape, and a plain softmax for predictions.
// Kernels: kernels/softmax_xent.h (stable log-sum-exp; on the GPU the loss stays on the device).
// Tests: tests/test_ops.cpp, tests/gpu/test_autograd_ops_gpu.cpp.
//
// A deliberate difference from Keras: its cross-entropy on probabilities (from_logits=False, as
// behind the softmax head of keras.applications) clips them to [1e-7, 1 - 1e-7] before the log,
// so the loss of a sample is capped near 16.1 and a saturated sample (true-class probability
// below 1e-7 or above 1 - 1e-7) gets a zero gradient. Here the loss is computed from the logits
// (log-sum-exp minus the true logit; gradient softmax - one-hot): stable, never capped, and a
// confidently wrong sample keeps pulling. The two agree wherever no probability is clipped.
#include <algorithm>
#include <cmath>

#include "kernels/softmax_xent.h"
#include "tensor/ops.h"
#include "tensor/ops_common.h"
#include "tensor/profiler.h"

namespace alz::ops {

using namespace detail;

namespace {

void check_loss_arguments(const Tensor& logits, const Tensor& labels, const Tensor& class_weights,
                          double label_smoothing) {
  ALZ_CHECK(logits.defined() && logits.ndim() == 2 && logits.dim(0) > 0,
            "softmax_cross_entropy: logits must be (N, K); got " << logits.summary());
  ALZ_CHECK(labels.defined() && labels.dtype() == DType::I32 && labels.ndim() == 1 && labels.dim(0) == logits.dim(0),
            "softmax_cross_entropy: labels must be i32 (" << logits.dim(0) << "); got " << labels.summary());
  check_same_device(logits, labels, "softmax_cross_entropy");
  if (class_weights.defined()) {
    ALZ_CHECK(
        class_weights.ndim() == 1 && class_weights.dim(0) == logits.dim(1),
        "softmax_cross_entropy: class weights must be (" << logits.dim(1) << "); got " << class_weights.summary());
    check_same_device(logits, class_weights, "softmax_cross_entropy");
    check_same_dtype(logits, class_weights, "softmax_cross_entropy");
  }
  ALZ_CHECK(label_smoothing >= 0.0 && label_smoothing < 1.0,
            "softmax_cross_entropy: label smoothing must be in [0, 1); got " << label_smoothing);
}

template <typename T>
kernels::SoftmaxXentArgs<T> make_args(const Tensor& logits, const Tensor& labels, const Tensor& class_weights,
                                      double label_smoothing) {
  kernels::SoftmaxXentArgs<T> args;
  args.labels = labels.data<int32_t>();
  args.class_weights = class_weights.defined() ? class_weights.data<T>() : nullptr;
  args.label_smoothing = static_cast<T>(label_smoothing);
  args.n = logits.dim(0);
  args.k = logits.dim(1);
  return args;
}

}  // namespace

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& class_weights,
                             double label_smoothing) {
  if (logits.defined() && logits.dtype() == DType::BF16)  // the loss is computed in f32 (tensor/ops.h)
    return softmax_cross_entropy(cast(logits, DType::F32), labels, class_weights, label_smoothing);
  profiler::Range range("softmax_cross_entropy", logits);
  check_loss_arguments(logits, labels, class_weights, label_smoothing);
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  dispatch(
      logits, "softmax_cross_entropy",
      [&](auto tag) {
        using T = decltype(tag);
        loss.data<T>()[0] = kernels::softmax_xent_forward_cpu(
            logits.data<T>(), make_args<T>(logits, labels, class_weights, label_smoothing), static_cast<T*>(nullptr));
      },
      ALZ_ON_CUDA([&](auto, cudaStream_t s) {
        Tensor workspace = scratch_floats(kernels::softmax_xent_workspace_elements(logits.dim(0)), logits);
        kernels::softmax_xent_forward_cuda(logits.data<float>(),
                                           make_args<float>(logits, labels, class_weights, label_smoothing),
                                           loss.data<float>(), nullptr, workspace.data<float>(), s);
      }),
      CudaTypes::F32Only);
  if (needs_record({&logits})) {
    Tensor saved_logits = logits, saved_labels = labels, saved_weights = class_weights;
    record("softmax_cross_entropy", loss, {&logits}, [=](const Tensor& g) {
      Tensor dlogits = Tensor::empty(saved_logits.shape(), g.dtype(), g.device());
      dispatch(
          g, "softmax_cross_entropy backward",
          [&](auto tag) {
            using T = decltype(tag);
            kernels::softmax_xent_backward_cpu(saved_logits.data<T>(),
                                               make_args<T>(saved_logits, saved_labels, saved_weights, label_smoothing),
                                               g.data<T>()[0], dlogits.data<T>(), false);
          },
          ALZ_ON_CUDA([&](auto, cudaStream_t s) {
            Tensor workspace = scratch_floats(kernels::softmax_xent_workspace_elements(saved_logits.dim(0)), g);
            kernels::softmax_xent_backward_cuda(
                saved_logits.data<float>(),
                make_args<float>(saved_logits, saved_labels, saved_weights, label_smoothing), g.data<float>(),
                dlogits.data<float>(), false, workspace.data<float>(), s);
          }),
          CudaTypes::F32Only);
      return std::vector<Tensor>{dlogits};
    });
  }
  return loss;
}

Tensor softmax(const Tensor& logits) {
  profiler::Range range("softmax", logits);
  ALZ_CHECK(logits.defined() && logits.ndim() == 2, "softmax: logits must be (N, K); got " << logits.summary());
  // Computed on the host from a copy: predictions and metrics only, never in a training step.
  Tensor host = logits.to(Device::cpu()).to(DType::F64);
  int64_t n = host.dim(0), k = host.dim(1);
  Tensor probs = Tensor::empty({n, k}, DType::F64);
  const double* z = host.data<double>();
  double* p = probs.data<double>();
  for (int64_t i = 0; i < n; ++i) {
    double row_max = z[i * k];
    for (int64_t j = 1; j < k; ++j) row_max = std::max(row_max, z[i * k + j]);
    double total = 0;
    for (int64_t j = 0; j < k; ++j) total += (p[i * k + j] = std::exp(z[i * k + j] - row_max));
    for (int64_t j = 0; j < k; ++j) p[i * k + j] /= total;
  }
  return probs.to(logits.dtype() == DType::F64 ? DType::F64 : DType::F32).to(logits.device());
}

}  // namespace alz::ops
