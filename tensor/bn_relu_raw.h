// The fused BatchNorm(+ReLU) kernels of kernels/bn_relu.h on Tensors, without the tape: what
// ops::batch_norm launches, for ops that compose them (the cross-replica BatchNorm of --sync-bn,
// tensor/ops_cross_replica_bn.cpp, runs these on every replica and sums their per-channel
// results in between). Any device and dtype the op takes: x, y, dy, dx (..., C) alike; the
// per-channel tensors (C) of kernels::BatchNormParam (the dtype of x on the CPU in f32 and f64,
// f32 for bf16 and on the GPU). On the CPU, f32 runs the fast kernels, f64 the reference.
// Tested through the ops that use them: tests/test_cross_replica_bn.cpp, tests/dist/.
#pragma once
#include "tensor/ops.h"

namespace alz::ops::detail {

// y = [relu](gamma * (x - mean) * invstd + beta) with this batch's statistics, which go to
// save_mean and save_invstd (invstd = 1 / sqrt(biased variance + epsilon)); no moving statistics.
void bn_relu_training_forward(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& beta,
                              const Tensor& save_mean, const Tensor& save_invstd, double epsilon, bool relu);

// y = [relu](gamma * (x - mean) / sqrt(variance + epsilon) + beta) with the given statistics;
// with epsilon 0 and variance 1, any per-channel affine map of x.
void bn_relu_apply(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                   const Tensor& variance, double epsilon, bool relu);

// The training backward from the statistics the forward normalised with (mean, invstd):
// g = dy masked by the ReLU, xhat = (x - mean) * invstd; dbeta = sum g and dgamma = sum g * xhat
// over these rows (overwritten); dx = gamma * invstd * (g - dbeta / rows - xhat * dgamma / rows).
void bn_relu_training_backward(const Tensor& x, const Tensor& dy, const Tensor& dx, const Tensor& gamma,
                               const Tensor& beta, const Tensor& mean, const Tensor& invstd, bool relu,
                               const Tensor& dgamma, const Tensor& dbeta);

}  // namespace alz::ops::detail
