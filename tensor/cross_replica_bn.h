// Cross-replica BatchNorm for data parallelism (`alz train --sync-bn`): while a
// CrossReplicaBatchNorm scope is alive on this thread, every training-mode ops::batch_norm takes
// its statistics over the batches of all replicas. `sum` adds host doubles over the replicas in
// place (an all-reduce, called by every replica in the same order) for the per-channel sums of
// the forward and of the backward (tensor/ops_cross_replica_bn.cpp). Any device and dtype of
// ops::batch_norm: the single-replica fused kernels run on each replica (tensor/bn_relu_raw.h).
//
//   ops::CrossReplicaBatchNorm scope([&](double* v, int64_t n) { comm.all_reduce_sum(v, n); });
//   Tensor y = model.forward(x);   // every BatchNorm normalises with the global batch's moments
//
// Tests: tests/test_cross_replica_bn.cpp; 2 ranks against 1 process under mpirun (tests/dist/):
//   ctest --test-dir build -R 'CrossReplicaBn|Dist'
#pragma once
#include <cstdint>
#include <functional>

#include "tensor/ops.h"

namespace alz::ops {

using ReplicaSum = std::function<void(double* values, int64_t count)>;

class CrossReplicaBatchNorm {
 public:
  explicit CrossReplicaBatchNorm(ReplicaSum sum);
  ~CrossReplicaBatchNorm();
  CrossReplicaBatchNorm(const CrossReplicaBatchNorm&) = delete;
  CrossReplicaBatchNorm& operator=(const CrossReplicaBatchNorm&) = delete;

 private:
  const ReplicaSum* previous_;
  ReplicaSum sum_;
};

// The ReplicaSum of the innermost scope on this thread, or null.
const ReplicaSum* active_replica_sum();

// The batch_norm of such a scope, callable directly: with a `sum` that adds nothing it is the
// single-process training batch_norm. The node keeps a copy of `sum` for backward.
Tensor cross_replica_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& moving_mean,
                                Tensor& moving_variance, const BatchNormOptions& options, const ReplicaSum& sum);

}  // namespace alz::ops
