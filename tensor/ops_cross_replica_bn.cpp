// Cross-replica BatchNorm(+ReLU) on the tape (tensor/cross_replica_bn.h, --sync-bn), on any
// device: the single-replica fused kernels (tensor/bn_relu_raw.h, kernels/bn_relu.h) on each
// replica's rows, with the per-channel results summed over the replicas in between by the
// ReplicaSum of the scope (host doubles; a few per layer, so the GPU waits for each).
//   forward   this replica's n rows: mean m and biased variance v (the training kernel);
//             sum of [n, n*m (C), n*(v + m^2) (C)] over the replicas -> N, the global mean M and
//             variance V = sum n*(v + m^2) / N - M^2; the moving statistics follow M and V;
//             y = [relu](gamma * (x - M) / sqrt(V + eps) + beta)   (the inference kernel)
//   backward  the training backward with M and invstd: this replica's b = sum g and
//             a = sum g * xhat (its dbeta and dgamma) and dx for n rows,
//             dx_n = k * (g - b / n - xhat * a / n), k = gamma * invstd;
//             sum of [b (C), a (C)] -> B, A; the exact dx = k * (g - B / N - xhat * A / N) is
//             dx_n + alpha + beta' * x, an affine map per channel (the inference kernel again):
//             beta' = k * invstd * (a / n - A / N), alpha = k * (b / n - B / N) - beta' * M.
// dgamma and dbeta are this replica's own sums: the gradient synchronisation
// (dist/gradient_sync.h) averages them with every other gradient. The node saves x, M, invstd
// and the ReplicaSum itself (backward runs after the scope that recorded it has ended).
// Tests: ctest --test-dir build -R CrossReplicaBn (one process, simulated replicas, f64 and
// f32); 2 ranks against 1 process under mpirun (tests/dist/); on a GPU,
// tests/gpu/test_cross_replica_bn_gpu.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "tensor/autograd.h"
#include "tensor/bn_relu_raw.h"
#include "tensor/cross_replica_bn.h"
#include "tensor/profiler.h"

namespace alz::ops {

namespace {
thread_local const ReplicaSum* g_active_sum = nullptr;

// A per-channel tensor (C) of `dtype` on `device` holding `values`.
Tensor per_channel(const std::vector<double>& values, DType dtype, Device device) {
  return Tensor::from_vector(values, {static_cast<int64_t>(values.size())}).to(dtype).to(device);
}
}  // namespace

const ReplicaSum* active_replica_sum() { return g_active_sum; }

CrossReplicaBatchNorm::CrossReplicaBatchNorm(ReplicaSum sum) : previous_(g_active_sum), sum_(std::move(sum)) {
  g_active_sum = &sum_;
}

CrossReplicaBatchNorm::~CrossReplicaBatchNorm() { g_active_sum = previous_; }

Tensor cross_replica_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& moving_mean,
                                Tensor& moving_variance, const BatchNormOptions& o, const ReplicaSum& sum) {
  profiler::Range range("cross_replica_batch_norm", x);
  ALZ_CHECK(o.training, "cross_replica_batch_norm: training mode only");
  ALZ_CHECK(x.defined() && x.ndim() >= 1 && x.numel() > 0, "cross_replica_batch_norm: input " << x.summary());
  const int64_t channels = x.dim(-1), rows = x.numel() / channels;
  const auto c = static_cast<size_t>(channels);
  const DType param_dtype = gamma.dtype();
  const Device device = x.device();

  // This replica's moments, then every replica's.
  Tensor y = Tensor::empty(x.shape(), x.dtype(), device);
  Tensor local_mean = Tensor::empty({channels}, param_dtype, device);
  Tensor local_invstd = Tensor::empty({channels}, param_dtype, device);
  detail::bn_relu_training_forward(x, y, gamma, beta, Tensor(), Tensor(), local_mean, local_invstd, o);
  const std::vector<double> m = local_mean.to_vector(), s = local_invstd.to_vector();
  const double n = static_cast<double>(rows);
  std::vector<double> moments(1 + 2 * c);  // [n, n*m (C), n*(v + m^2) (C)]
  moments[0] = n;
  for (size_t k = 0; k < c; ++k) {
    const double variance = std::max(1.0 / (s[k] * s[k]) - o.epsilon, 0.0);
    moments[1 + k] = n * m[k];
    moments[1 + c + k] = n * (variance + m[k] * m[k]);
  }
  sum(moments.data(), static_cast<int64_t>(moments.size()));
  const double global_rows = moments[0];
  std::vector<double> mean(c), variance(c), invstd(c);
  std::vector<double> moving_m = moving_mean.to_vector(), moving_v = moving_variance.to_vector();
  for (size_t k = 0; k < c; ++k) {
    mean[k] = moments[1 + k] / global_rows;
    variance[k] = std::max(moments[1 + c + k] / global_rows - mean[k] * mean[k], 0.0);  // biased
    invstd[k] = 1.0 / std::sqrt(variance[k] + o.epsilon);
    moving_m[k] = o.momentum * moving_m[k] + (1.0 - o.momentum) * mean[k];
    moving_v[k] = o.momentum * moving_v[k] + (1.0 - o.momentum) * variance[k];
  }
  moving_mean.copy_from(per_channel(moving_m, moving_mean.dtype(), moving_mean.device()));
  moving_variance.copy_from(per_channel(moving_v, moving_variance.dtype(), moving_variance.device()));
  const Tensor save_mean = per_channel(mean, param_dtype, device);
  const Tensor save_invstd = per_channel(invstd, param_dtype, device);
  detail::bn_relu_apply(x, y, gamma, beta, save_mean, per_channel(variance, param_dtype, device), o.epsilon, o.relu);
  if (!needs_record({&x, &gamma, &beta})) return y;

  const ReplicaSum saved_sum = sum;
  const bool relu = o.relu;
  const std::vector<double> gamma_values = gamma.to_vector();
  record("cross_replica_batch_norm", y, {&x, &gamma, &beta}, [=](const Tensor& g) {
    Tensor dx = Tensor::empty(x.shape(), g.dtype(), g.device());
    Tensor dgamma = Tensor::empty({channels}, param_dtype, g.device());
    Tensor dbeta = Tensor::empty({channels}, param_dtype, g.device());
    detail::bn_relu_training_backward(x, g, dx, gamma, beta, save_mean, save_invstd, relu, dgamma, dbeta);
    const std::vector<double> b = dbeta.to_vector(), a = dgamma.to_vector();
    std::vector<double> sums(2 * c);  // [b (C), a (C)]: this replica's, then every replica's
    std::copy(b.begin(), b.end(), sums.begin());
    std::copy(a.begin(), a.end(), sums.begin() + static_cast<std::ptrdiff_t>(c));
    saved_sum(sums.data(), static_cast<int64_t>(sums.size()));
    // dx += alpha + slope * x per channel: the inference kernel with mean 0, variance 1, epsilon 0.
    std::vector<double> slope(c), alpha(c);
    for (size_t k = 0; k < c; ++k) {
      const double scale = gamma_values[k] * invstd[k];
      slope[k] = scale * invstd[k] * (a[k] / n - sums[c + k] / global_rows);
      alpha[k] = scale * (b[k] / n - sums[k] / global_rows) - slope[k] * mean[k];
    }
    Tensor correction = Tensor::empty(x.shape(), g.dtype(), g.device());
    detail::bn_relu_apply(x, correction, per_channel(slope, param_dtype, g.device()),
                          per_channel(alpha, param_dtype, g.device()), Tensor::zeros({channels}, param_dtype, g.device()),
                          Tensor::ones({channels}, param_dtype, g.device()), 0.0, /*relu=*/false);
    accumulate_into(dx, correction);
    return std::vector<Tensor>{dx, dgamma, dbeta};
  });
  return y;
}

}  // namespace alz::ops
