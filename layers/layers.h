// The layers ResNetV2 is built from, each a Module with Keras weight names:
//   Conv2D         kernel (K, R, S, C) here, HWIO in Keras checkpoints; bias (K) if use_bias
//   BatchNormReLU  gamma, beta (trainable), moving_mean, moving_variance (buffers); fused ReLU
//                  optional (relu = false is a plain BatchNorm); Keras epsilon 1.001e-5,
//                  momentum 0.99; inference mode when not training or frozen
//   Dense          kernel (in, out), bias (out)
// Pooling, padding and the residual Add hold no weights: they are plain ops (tensor/ops.h); the
// Add of a residual block goes in with its last convolution (Conv2D::forward_add).
// With a compute dtype set (mixed precision, layers/module.h) Conv2D and Dense cast their f32
// weights to it on each use; BatchNormReLU takes bf16 activations with its f32 parameters.
// Initialisation as Keras: glorot_uniform kernels, zero biases, gamma 1, beta 0, moving mean 0,
// moving variance 1, from a seeded generator.
// Tested in tests/test_layers.cpp.
#pragma once
#include "layers/module.h"
#include "tensor/ops.h"

namespace alz {

class Conv2D : public Module {
 public:
  // Keras Conv2D(filters, kernel, strides, padding="valid", use_bias).
  Conv2D(const std::string& name, int64_t in_channels, int64_t filters, int kernel, int stride, bool use_bias,
         Generator& gen);
  Tensor forward(const Tensor& x);  // (N, H, W, C) -> (N, P, Q, filters)
  // Keras's ZeroPadding2D(pad) and then this convolution, as one op: the convolution reads
  // zeros outside x instead of a padded copy (none is made, kept for backward or copied back).
  Tensor forward(const Tensor& x, const ops::Padding2d& pad);
  // residual + this convolution of x, as one op (ops::conv2d_add): a residual block's last layer.
  Tensor forward_add(const Tensor& x, const Tensor& residual);
  int64_t filters() const { return kernel_.dim(0); }
  int kernel_size() const { return static_cast<int>(kernel_.dim(1)); }
  int stride() const { return stride_; }
  void store_weights_in_compute_dtype() override;

  Tensor kernel_, bias_;

 private:
  int stride_;
};

class BatchNormReLU : public Module {
 public:
  BatchNormReLU(const std::string& name, int64_t channels, bool relu = true, double momentum = 0.99);
  Tensor forward(const Tensor& x);
  static void set_fused(bool fused);  // process-wide: fused kernels (default) or the unfused reference
  bool relu() const { return relu_; }
  double epsilon() const { return ops::BatchNormOptions{}.epsilon; }  // the one forward uses

  Tensor gamma_, beta_, moving_mean_, moving_variance_;

 private:
  bool relu_;
  double momentum_;
};

class Dense : public Module {
 public:
  Dense(const std::string& name, int64_t in, int64_t out, Generator& gen);
  Tensor forward(const Tensor& x);  // (B, in) -> (B, out)
  void store_weights_in_compute_dtype() override;

  Tensor kernel_, bias_;
};

}  // namespace alz
