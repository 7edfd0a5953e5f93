// The fused BatchNorm(+ReLU) kernels of kernels/bn_relu.h on Tensors, without the tape: what
// ops::batch_norm launches (tensor/ops_batch_norm.cpp), and what ops that compose them run (the
// cross-replica BatchNorm of --sync-bn, tensor/ops_cross_replica_bn.cpp, runs these on every
// replica and sums their per-channel results in between). Any device and dtype the op takes: x,
// y, dy, dx (..., C) alike; the per-channel tensors (C) of kernels::BatchNormParam (the dtype of
// x on the CPU in f32 and f64, f32 for bf16 and on the GPU). On the CPU, f32 runs the fast
// kernels, f64 the reference.
// Tested through the ops that use them: tests/test_ops.cpp, tests/test_cross_replica_bn.cpp,
// tests/dist/, tests/gpu/test_autograd_ops_gpu.cpp.
#pragma once
#include "tensor/ops.h"

namespace alz::ops::detail {

// y = [relu](gamma * (x - mean) * invstd + beta) with this batch's statistics, which go to
// save_mean and save_invstd (invstd = 1 / sqrt(biased variance + epsilon)); the moving
// statistics follow them with options.momentum, unless both are undefined.
void bn_relu_training_forward(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& beta,
                              const Tensor& moving_mean, const Tensor& moving_variance, const Tensor& save_mean,
                              const Tensor& save_invstd, const BatchNormOptions& options);

// y = [relu](gamma * (x - mean) / sqrt(variance + epsilon) + beta) with the given statistics;
// with epsilon 0 and variance 1, any per-channel affine map of x. reference_on_cpu: f32 on the
// CPU through the reference kernel too (whose mask a frozen layer's backward recomputes).
void bn_relu_apply(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                   const Tensor& variance, double epsilon, bool relu, bool reference_on_cpu = false);

// The training backward from the statistics the forward normalised with (mean, invstd):
// g = dy masked by the ReLU, xhat = (x - mean) * invstd; dbeta = sum g and dgamma = sum g * xhat
// over these rows (overwritten); dx = gamma * invstd * (g - dbeta / rows - xhat * dgamma / rows),
// or added into dx with accumulate_dx.
void bn_relu_training_backward(const Tensor& x, const Tensor& dy, const Tensor& dx, const Tensor& gamma,
                               const Tensor& beta, const Tensor& mean, const Tensor& invstd, bool relu,
                               const Tensor& dgamma, const Tensor& dbeta, bool accumulate_dx = false);

}  // namespace alz::ops::detail
