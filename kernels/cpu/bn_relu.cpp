// Fused BatchNorm(+ReLU) on the CPU: the reference for the CUDA kernels (formulas in
// kernels/bn_relu.h). Layout: NHWC viewed as (rows = N*H*W, C), C fastest.
// Statistics in double (two passes: mean, then centred squares), in channel blocks of 16 so
// each row contributes a short contiguous run; OpenMP over channel blocks for the sums and
// over rows for the elementwise parts. Every channel is summed by one thread in row order, so
// the result does not depend on the thread count.
// The forward normalises with the saved statistics rounded to T, so the backward recomputes
// exactly the same pre-activation and therefore the same ReLU mask.
// Tested by tests/test_bn_relu.cpp:  ctest --test-dir build -R "^BnRelu\."
#include "kernels/bn_relu.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace alz::kernels {
namespace {

constexpr int64_t kChannelBlock = 16;
constexpr int64_t kParallelMinElements = 1 << 15;

void check_args(const char* op, int64_t rows, int64_t channels) {
  ALZ_CHECK(rows > 0 && channels > 0,
            op << ": needs rows > 0 and channels > 0, got rows " << rows << ", channels " << channels);
}

// pre = gamma * (x - mean) * invstd + beta; the one expression used by forward and backward.
inline double pre_activation(double x, double mean, double invstd, double gamma, double beta) {
  return gamma * ((x - mean) * invstd) + beta;
}

// Per-channel mean and biased variance of x (rows, channels), two passes, double sums.
template <typename T>
void channel_moments(const T* x, int64_t rows, int64_t channels, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMinElements)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t c0 = block * kChannelBlock, width = std::min(kChannelBlock, channels - c0);
    double sum[kChannelBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * channels + c0;
      for (int64_t j = 0; j < width; ++j) sum[j] += static_cast<double>(row[j]);
    }
    double m[kChannelBlock], squares[kChannelBlock] = {};
    for (int64_t j = 0; j < width; ++j) m[j] = sum[j] / static_cast<double>(rows);
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * channels + c0;
      for (int64_t j = 0; j < width; ++j) {
        double d = static_cast<double>(row[j]) - m[j];
        squares[j] += d * d;
      }
    }
    for (int64_t j = 0; j < width; ++j) {
      mean[c0 + j] = m[j];
      var[c0 + j] = squares[j] / static_cast<double>(rows);
    }
  }
}

// y = [relu] pre(x); invstd given as T (saved by the training forward) or double (inference).
template <typename T, typename S>
void apply(const T* x, T* y, int64_t rows, int64_t channels, const T* gamma, const T* beta, const T* mean,
           const S* invstd, bool relu) {
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      double pre =
          pre_activation(static_cast<double>(x[r * channels + c]), static_cast<double>(mean[c]),
                         static_cast<double>(invstd[c]), static_cast<double>(gamma[c]), static_cast<double>(beta[c]));
      y[r * channels + c] = static_cast<T>(relu && !(pre > 0.0) ? 0.0 : pre);
    }
  }
}

}  // namespace

template <typename T> void bn_relu_forward_training_cpu(const BnReluForwardArgs<T>& a) {
  const T *x = a.x, *gamma = a.gamma, *beta = a.beta;
  T *y = a.y, *moving_mean = a.moving_mean, *moving_variance = a.moving_variance;
  const BatchNormSaved<T> saved = a.saved;
  const int64_t rows = a.rows, channels = a.channels;
  const double momentum = a.momentum, epsilon = a.epsilon;
  const bool relu = a.relu;
  check_args("bn_relu_forward_training_cpu", rows, channels);
  ALZ_CHECK(saved.mean != nullptr && saved.invstd != nullptr,
            "bn_relu_forward_training_cpu: the saved mean and invstd buffers are required");
  ALZ_CHECK((moving_mean == nullptr) == (moving_variance == nullptr),
            "bn_relu_forward_training_cpu: moving_mean and moving_variance must both be given or both be null");
  std::vector<double> mean(channels), var(channels);
  channel_moments(x, rows, channels, mean, var);
  for (int64_t c = 0; c < channels; ++c) {
    saved.mean[c] = static_cast<T>(mean[c]);
    saved.invstd[c] = static_cast<T>(1.0 / std::sqrt(var[c] + epsilon));
    if (moving_mean != nullptr) {
      moving_mean[c] = static_cast<T>(momentum * static_cast<double>(moving_mean[c]) + (1.0 - momentum) * mean[c]);
      moving_variance[c] =
          static_cast<T>(momentum * static_cast<double>(moving_variance[c]) + (1.0 - momentum) * var[c]);
    }
  }
  apply(x, y, rows, channels, gamma, beta, saved.mean, saved.invstd, relu);
}

template <typename T> void bn_relu_forward_inference_cpu(const BnReluForwardArgs<T>& a) {
  const T *x = a.x, *gamma = a.gamma, *beta = a.beta, *moving_mean = a.moving_mean,
          *moving_variance = a.moving_variance;
  T* y = a.y;
  const int64_t rows = a.rows, channels = a.channels;
  const double epsilon = a.epsilon;
  const bool relu = a.relu;
  check_args("bn_relu_forward_inference_cpu", rows, channels);
  std::vector<double> invstd(channels);
  for (int64_t c = 0; c < channels; ++c) invstd[c] = 1.0 / std::sqrt(static_cast<double>(moving_variance[c]) + epsilon);
  apply(x, y, rows, channels, gamma, beta, moving_mean, invstd.data(), relu);
}

template <typename T> void bn_relu_backward_cpu(const BnReluBackwardArgs<T>& a) {
  const T *x = a.x, *dy = a.dy, *gamma = a.gamma, *beta = a.beta;
  T *dx = a.dx, *dgamma = a.dgamma, *dbeta = a.dbeta;
  const BatchNormSaved<const T> saved = a.saved;
  const int64_t rows = a.rows, channels = a.channels;
  const bool relu = a.relu;
  check_args("bn_relu_backward_cpu", rows, channels);
  ALZ_CHECK(saved.mean != nullptr && saved.invstd != nullptr,
            "bn_relu_backward_cpu: the saved mean and invstd of the forward are required");
  ALZ_CHECK(!(a.accumulate_dx && dx == dy), "bn_relu_backward_cpu: accumulate_dx needs dx apart from dy");
  // g = dy masked by the recomputed ReLU; xhat = (x - mean) * invstd.
  auto masked = [&](int64_t r, int64_t c, double& g, double& xhat) {
    const double m = static_cast<double>(saved.mean[c]), s = static_cast<double>(saved.invstd[c]);
    const double v = static_cast<double>(x[r * channels + c]);
    xhat = (v - m) * s;
    g = static_cast<double>(dy[r * channels + c]);
    if (relu && !(pre_activation(v, m, s, static_cast<double>(gamma[c]), static_cast<double>(beta[c])) > 0.0)) g = 0.0;
  };
  std::vector<double> sum_g(channels, 0.0), sum_g_xhat(channels, 0.0);
  const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMinElements)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t c0 = block * kChannelBlock, c1 = std::min(channels, c0 + kChannelBlock);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = c0; c < c1; ++c) {
        double g, xhat;
        masked(r, c, g, xhat);
        sum_g[c] += g;
        sum_g_xhat[c] += g * xhat;
      }
    }
  }
  for (int64_t c = 0; c < channels; ++c) {
    const bool add = a.accumulate_params;
    dbeta[c] = static_cast<T>((add ? static_cast<double>(dbeta[c]) : 0.0) + sum_g[c]);
    dgamma[c] = static_cast<T>((add ? static_cast<double>(dgamma[c]) : 0.0) + sum_g_xhat[c]);
  }
  const double inv_rows = 1.0 / static_cast<double>(rows);
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      double g, xhat;
      masked(r, c, g, xhat);
      const double k = static_cast<double>(gamma[c]) * static_cast<double>(saved.invstd[c]);
      const double before = a.accumulate_dx ? static_cast<double>(dx[r * channels + c]) : 0.0;
      dx[r * channels + c] =
          static_cast<T>(before + k * (g - sum_g[c] * inv_rows - xhat * sum_g_xhat[c] * inv_rows));
    }
  }
}

#define ALZ_INSTANTIATE_BN_RELU(T)                                             \
  template void bn_relu_forward_training_cpu<T>(const BnReluForwardArgs<T>&);  \
  template void bn_relu_forward_inference_cpu<T>(const BnReluForwardArgs<T>&); \
  template void bn_relu_backward_cpu<T>(const BnReluBackwardArgs<T>&);
ALZ_INSTANTIATE_BN_RELU(float)
ALZ_INSTANTIATE_BN_RELU(double)
#undef ALZ_INSTANTIATE_BN_RELU

}  // namespace alz::kernels
