// The op API: functions on Tensors that dispatch on device and dtype to the kernels/ layer and
// record their backward on the autograd tape (tensor/autograd.h) when an input needs a
// gradient. CPU: f32 and f64 (the reference kernels), and bf16 through f32 (below); CUDA: f32,
// and bf16 where the kernel has it.
// bf16 on the CPU: the CPU kernels are f32 and f64 only, so a CPU op given bf16 tensors runs as
// the f32 op on the same values (bf16 -> f32 is exact) and rounds its result to bf16 once; on
// the tape it is cast(op(cast(x, F32)), BF16), so its gradients are rounded where the GPU's bf16
// kernels round them: each output and each input gradient once. The CPU suite thereby checks
// bf16 numerics (tests/test_ops.cpp, OpTable/CpuBf16MatchesF32) and the GPU's bf16 is compared
// with the CPU's (tests/gpu/test_autograd_ops_gpu.cpp, OpTable/GpuBf16MatchesCpuBf16).
// Images are NHWC (N, H, W, C); conv filters KRSC (K, R, S, C); Dense weights (in, out).
//
//   Tensor y = ops::conv2d(x, w, b, {.stride_h = 2, .stride_w = 2, .pad = {1, 1, 1, 1}});
//   Tensor loss = ops::softmax_cross_entropy(logits, labels);
//
// Every op's forward and backward is checked against finite differences on the CPU in
// tests/test_ops.cpp and against the CPU on the GPU in tests/gpu/test_autograd_ops_gpu.cpp.
#pragma once
#include <cstdint>

#include "kernels/pad.h"
#include "tensor/autograd.h"
#include "tensor/tensor.h"

namespace alz::ops {

using kernels::Padding2d;

// ---- elementwise (same shape, dtype and device) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double alpha);
Tensor relu(const Tensor& x);
// x (..., C) + bias (C) broadcast over every other dimension (NHWC: over N, H, W).
Tensor add_channel(const Tensor& x, const Tensor& bias);

// ---- reductions ----
Tensor sum(const Tensor& x);              // 0-d (shape {})
Tensor mean(const Tensor& x);             // 0-d
Tensor channel_sum(const Tensor& x);      // (..., C) -> (C)
Tensor channel_mean(const Tensor& x);     // (..., C) -> (C)
Tensor global_avg_pool(const Tensor& x);  // (N, H, W, C) -> (N, C)

// ---- dense ----
Tensor matmul(const Tensor& a, const Tensor& b);  // (M, K) x (K, N) -> (M, N)
Tensor linear(const Tensor& x, const Tensor& w,
              const Tensor& bias);  // (B, in) x (in, out) + (out); bias may be undefined

// ---- convolution, pooling, padding ----
struct Conv2dOptions {
  int stride_h = 1, stride_w = 1;
  Padding2d pad;  // explicit zero padding, may be asymmetric
};
// x (N, H, W, C), w (K, R, S, C), bias (K) or undefined -> (N, P, Q, K).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& options = {});
// add(residual, conv2d(x, w, bias)) as one op, residual (N, P, Q, K): on the GPU the bias and the
// residual go in with one pass over the output (a residual block's last convolution and its
// shortcut), the same values as the two ops; the residual's gradient is the output's.
Tensor conv2d_add(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& residual,
                  const Conv2dOptions& options = {});

struct MaxPoolOptions {
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  Padding2d pad;  // zeros, as Keras ZeroPadding2D before MaxPooling2D
};
Tensor max_pool2d(const Tensor& x, const MaxPoolOptions& options);
Tensor zero_pad2d(const Tensor& x, const Padding2d& pad);

// ---- batch normalisation (+ReLU) ----
struct BatchNormOptions {
  bool training = true;       // batch statistics and a moving-statistics update; false: moving statistics
  bool relu = true;           // ReLU after the normalisation (every BatchNorm of ResNetV2 has one)
  bool fused = true;          // the fused kernels (kernels/bn_relu.h); false: the unfused reference + ops::relu
  double momentum = 0.99;     // Keras: moving = momentum * moving + (1 - momentum) * batch
  double epsilon = 1.001e-5;  // Keras ResNetV2
};
// x (..., C). gamma, beta, moving_mean, moving_variance (C): the dtype of x for f32 and f64 on
// the CPU, f32 on the GPU and for bf16 x anywhere. In training mode the moving statistics are updated in place.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& moving_mean,
                  Tensor& moving_variance, const BatchNormOptions& options = {});

// ---- dtype ----
// x converted to `dtype` (round to nearest even into bf16); the gradient is converted back to
// x's dtype. Mixed precision: f32 master weights cast to bf16 for each step, bf16 logits cast
// to f32 for the loss. Returns x itself when it already has the dtype.
Tensor cast(const Tensor& x, DType dtype);

// ---- shape ----
Tensor reshape(const Tensor& x, const Shape& shape);  // a view; gradient reshaped back
Tensor flatten(const Tensor& x);                      // (N, ...) -> (N, rest)

// ---- loss ----
// logits (N, K), labels (N) I32 on the same device; class_weights (K) or undefined;
// label_smoothing in [0, 1). Mean reduction (weighted by the true class's weight). 0-d result.
// bf16 logits are cast to f32 first: the loss and its softmax are always computed in f32 (f64
// for f64 logits), and the result is f32 then.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& class_weights = Tensor(),
                             double label_smoothing = 0.0);
// Row-wise softmax of logits (N, K), no gradient (for predictions and metrics).
Tensor softmax(const Tensor& logits);

}  // namespace alz::ops
