// Cross-replica BatchNorm(+ReLU) on the tape (tensor/cross_replica_bn.h, --sync-bn): the phases of
// kernels/cross_replica_bn.h with the replicas' sums added between them by the ReplicaSum of
// the scope. Forward: one sum of [rows, s1 (C)], then one of s2 (C); backward: one of
// [B (C), A (C)]. The node saves x, the mean and invstd, and the ReplicaSum itself (backward
// runs after the scope that recorded it has ended). dgamma and dbeta are this replica's own
// sums: the gradient synchronisation (dist/gradient_sync.h) averages them with every other
// gradient. Tests: ctest --test-dir build -R CrossReplicaBn; 2 ranks under mpirun (tests/dist/).
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cross_replica_bn.h"
#include "tensor/autograd.h"
#include "tensor/cross_replica_bn.h"
#include "tensor/profiler.h"

namespace alz::ops {

namespace {
thread_local const ReplicaSum* g_active_sum = nullptr;
}  // namespace

const ReplicaSum* active_replica_sum() { return g_active_sum; }

CrossReplicaBatchNorm::CrossReplicaBatchNorm(ReplicaSum sum) : previous_(g_active_sum), sum_(std::move(sum)) {
  g_active_sum = &sum_;
}

CrossReplicaBatchNorm::~CrossReplicaBatchNorm() { g_active_sum = previous_; }

Tensor cross_replica_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& moving_mean,
                                Tensor& moving_variance, const BatchNormOptions& o, const ReplicaSum& sum) {
  profiler::Range range("cross_replica_batch_norm", x);
  ALZ_CHECK(x.device().is_cpu(), "--sync-bn: cross-replica BatchNorm runs on the CPU only; got " << x.summary());
  ALZ_CHECK(o.training, "cross_replica_batch_norm: training mode only");
  ALZ_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64,
            "cross_replica_batch_norm: f32 or f64, got " << x.summary());
  const int64_t channels = x.dim(-1), rows = x.numel() / channels;
  const auto c = static_cast<size_t>(channels);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({channels}, x.dtype(), x.device());    // (C)
  Tensor save_invstd = Tensor::empty({channels}, x.dtype(), x.device());  // (C)
  double global_rows = 0.0;
  auto forward = [&](auto tag) {
    using T = decltype(tag);
    std::vector<double> first(1 + c, 0.0);  // [rows, s1 (C)]
    first[0] = static_cast<double>(rows);
    kernels::cross_replica_bn_sum_cpu(x.data<T>(), rows, channels, first.data() + 1);
    sum(first.data(), static_cast<int64_t>(first.size()));
    global_rows = first[0];
    std::vector<double> mean(c), second(c, 0.0);
    for (size_t k = 0; k < c; ++k) mean[k] = first[1 + k] / global_rows;
    kernels::cross_replica_bn_centered_sum_cpu(x.data<T>(), rows, channels, mean.data(), second.data());
    sum(second.data(), channels);
    T* m = save_mean.data<T>();
    T* s = save_invstd.data<T>();
    T* mm = moving_mean.data<T>();
    T* mv = moving_variance.data<T>();
    for (size_t k = 0; k < c; ++k) {
      const double var = second[k] / global_rows;  // biased, as the single-process kernels
      m[k] = static_cast<T>(mean[k]);
      s[k] = static_cast<T>(1.0 / std::sqrt(var + o.epsilon));
      mm[k] = static_cast<T>(o.momentum * static_cast<double>(mm[k]) + (1.0 - o.momentum) * mean[k]);
      mv[k] = static_cast<T>(o.momentum * static_cast<double>(mv[k]) + (1.0 - o.momentum) * var);
    }
    kernels::cross_replica_bn_apply_cpu(x.data<T>(), y.data<T>(), rows, channels, gamma.data<T>(), beta.data<T>(), m, s,
                                        o.relu);
  };
  if (x.dtype() == DType::F32) {
    forward(float{});
  } else {
    forward(double{});
  }
  if (!needs_record({&x, &gamma, &beta})) return y;

  const ReplicaSum saved_sum = sum;
  const bool relu = o.relu;
  record("cross_replica_batch_norm", y, {&x, &gamma, &beta}, [=](const Tensor& g) {
    Tensor dx = Tensor::empty(x.shape(), g.dtype(), g.device());
    Tensor dgamma = Tensor::empty({channels}, gamma.dtype(), g.device());
    Tensor dbeta = Tensor::empty({channels}, gamma.dtype(), g.device());
    auto backward = [&](auto tag) {
      using T = decltype(tag);
      std::vector<double> sums(2 * c);  // [B (C), A (C)]: this replica's, then every replica's
      kernels::cross_replica_bn_backward_sums_cpu(x.data<T>(), g.data<T>(), rows, channels, gamma.data<T>(),
                                                  beta.data<T>(), save_mean.data<T>(), save_invstd.data<T>(), relu,
                                                  sums.data(), sums.data() + c);
      for (size_t k = 0; k < c; ++k) {
        dbeta.data<T>()[k] = static_cast<T>(sums[k]);
        dgamma.data<T>()[k] = static_cast<T>(sums[c + k]);
      }
      saved_sum(sums.data(), static_cast<int64_t>(sums.size()));
      kernels::cross_replica_bn_backward_dx_cpu(x.data<T>(), g.data<T>(), dx.data<T>(), rows, channels, gamma.data<T>(),
                                                beta.data<T>(), save_mean.data<T>(), save_invstd.data<T>(), relu,
                                                sums.data(), sums.data() + c, global_rows);
    };
    if (g.dtype() == DType::F32) {
      backward(float{});
    } else {
      backward(double{});
    }
    return std::vector<Tensor>{dx, dgamma, dbeta};
  });
  return y;
}

}  // namespace alz::ops
