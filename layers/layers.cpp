// Conv2D, BatchNormReLU and Dense (layers/layers.h).
#include "layers/layers.h"

#include <atomic>

namespace alz {

namespace {
std::atomic<bool> g_fused_batch_norm{true};
}

Conv2D::Conv2D(const std::string& name, int64_t in_channels, int64_t filters, int kernel, int stride, bool use_bias,
               Generator& gen)
    : Module(name), stride_(stride) {
  int64_t receptive = int64_t{kernel} * kernel;
  kernel_ = glorot_uniform({filters, kernel, kernel, in_channels}, receptive * in_channels, receptive * filters, gen);
  add_weight("kernel", kernel_, KerasLayout::ConvKRSC);
  if (use_bias) {
    bias_ = Tensor::zeros({filters});
    add_weight("bias", bias_);
  }
}

Tensor Conv2D::forward(const Tensor& x) {
  return ops::conv2d(x, for_compute(kernel_), for_compute(bias_), {stride_, stride_, {}});
}

Tensor Conv2D::forward_add(const Tensor& x, const Tensor& residual) {
  return ops::conv2d_add(x, for_compute(kernel_), for_compute(bias_), residual, {stride_, stride_, {}});
}

Tensor Conv2D::forward(const Tensor& x, const ops::Padding2d& pad) {
  return ops::conv2d(x, for_compute(kernel_), for_compute(bias_), {stride_, stride_, pad});
}

namespace {
// Inference: a layer's weights converted to its compute dtype once (no gradient any more).
void store_in(std::optional<DType> dtype, Tensor& weight) {
  if (!dtype || !weight.defined() || weight.dtype() == *dtype) return;
  weight = weight.to(*dtype);
}
}  // namespace

void Conv2D::store_weights_in_compute_dtype() {
  store_in(compute_dtype(), kernel_);
  store_in(compute_dtype(), bias_);
}

void Dense::store_weights_in_compute_dtype() {
  store_in(compute_dtype(), kernel_);
  store_in(compute_dtype(), bias_);
}

BatchNormReLU::BatchNormReLU(const std::string& name, int64_t channels, bool relu, double momentum)
    : Module(name), relu_(relu), momentum_(momentum) {
  gamma_ = Tensor::ones({channels});
  beta_ = Tensor::zeros({channels});
  moving_mean_ = Tensor::zeros({channels});
  moving_variance_ = Tensor::ones({channels});
  add_weight("gamma", gamma_);
  add_weight("beta", beta_);
  add_buffer("moving_mean", moving_mean_);
  add_buffer("moving_variance", moving_variance_);
}

void BatchNormReLU::set_fused(bool fused) { g_fused_batch_norm = fused; }

Tensor BatchNormReLU::forward(const Tensor& x) {
  ops::BatchNormOptions options;
  options.training = training() && trainable();  // a frozen BatchNorm runs in inference mode (Keras)
  options.relu = relu_;
  options.momentum = momentum_;
  options.fused = g_fused_batch_norm;
  return ops::batch_norm(x, gamma_, beta_, moving_mean_, moving_variance_, options);
}

Dense::Dense(const std::string& name, int64_t in, int64_t out, Generator& gen) : Module(name) {
  kernel_ = glorot_uniform({in, out}, in, out, gen);
  bias_ = Tensor::zeros({out});
  add_weight("kernel", kernel_);
  add_weight("bias", bias_);
}

Tensor Dense::forward(const Tensor& x) { return ops::linear(x, for_compute(kernel_), for_compute(bias_)); }

}  // namespace alz
