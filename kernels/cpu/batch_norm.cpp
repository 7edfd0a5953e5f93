// Unfused batch normalisation on the CPU: the reference loops (formulas in kernels/batch_norm.h).
// Layout: NHWC viewed as (rows = N*H*W, C), C fastest. Sums run in double whatever T is, two
// passes for the variance (centred sum of squares), so this is as accurate as the data allow.
// Tested by tests/test_batch_norm.cpp:  ctest --test-dir build -R "^BatchNorm\."
#include "kernels/batch_norm.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace alz::kernels {
namespace {

void check_shape(const char* op, int64_t rows, int64_t channels) {
  ALZ_CHECK(rows > 0 && channels > 0,
            op << ": needs rows > 0 and channels > 0, got rows " << rows << ", channels " << channels);
}

}  // namespace

template <typename T> void batch_norm_forward_training_cpu(const BatchNormForwardArgs<T>& a) {
  const T *x = a.x, *gamma = a.gamma, *beta = a.beta;
  T *y = a.y, *moving_mean = a.moving_mean, *moving_variance = a.moving_variance;
  T *save_mean = a.saved.mean, *save_invstd = a.saved.invstd;
  const int64_t rows = a.rows, channels = a.channels;
  const double momentum = a.momentum, epsilon = a.epsilon;
  check_shape("batch_norm_forward_training_cpu", rows, channels);
  ALZ_CHECK((moving_mean == nullptr) == (moving_variance == nullptr),
            "batch_norm_forward_training_cpu: moving_mean and moving_variance must both be given or both be null");
  std::vector<double> mean(channels, 0.0), var(channels, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) mean[c] += static_cast<double>(x[r * channels + c]);
  for (int64_t c = 0; c < channels; ++c) mean[c] /= static_cast<double>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      double d = static_cast<double>(x[r * channels + c]) - mean[c];
      var[c] += d * d;
    }
  }
  std::vector<double> invstd(channels);
  for (int64_t c = 0; c < channels; ++c) {
    var[c] /= static_cast<double>(rows);  // biased: what normalises, and what Keras averages
    invstd[c] = 1.0 / std::sqrt(var[c] + epsilon);
    save_mean[c] = static_cast<T>(mean[c]);
    save_invstd[c] = static_cast<T>(invstd[c]);
    if (moving_mean != nullptr) {
      moving_mean[c] = static_cast<T>(momentum * static_cast<double>(moving_mean[c]) + (1.0 - momentum) * mean[c]);
      moving_variance[c] =
          static_cast<T>(momentum * static_cast<double>(moving_variance[c]) + (1.0 - momentum) * var[c]);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      double xhat = (static_cast<double>(x[r * channels + c]) - mean[c]) * invstd[c];
      y[r * channels + c] = static_cast<T>(static_cast<double>(gamma[c]) * xhat + static_cast<double>(beta[c]));
    }
  }
}

template <typename T> void batch_norm_forward_inference_cpu(const BatchNormForwardArgs<T>& a) {
  const T *x = a.x, *gamma = a.gamma, *beta = a.beta, *moving_mean = a.moving_mean,
          *moving_variance = a.moving_variance;
  T* y = a.y;
  const int64_t rows = a.rows, channels = a.channels;
  const double epsilon = a.epsilon;
  check_shape("batch_norm_forward_inference_cpu", rows, channels);
  std::vector<double> invstd(channels);
  for (int64_t c = 0; c < channels; ++c) invstd[c] = 1.0 / std::sqrt(static_cast<double>(moving_variance[c]) + epsilon);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      double xhat = (static_cast<double>(x[r * channels + c]) - static_cast<double>(moving_mean[c])) * invstd[c];
      y[r * channels + c] = static_cast<T>(static_cast<double>(gamma[c]) * xhat + static_cast<double>(beta[c]));
    }
  }
}

template <typename T> void batch_norm_backward_cpu(const BatchNormBackwardArgs<T>& a) {
  const T *x = a.x, *dy = a.dy, *gamma = a.gamma, *save_mean = a.saved.mean, *save_invstd = a.saved.invstd;
  T *dx = a.dx, *dgamma = a.dgamma, *dbeta = a.dbeta;
  const int64_t rows = a.rows, channels = a.channels;
  check_shape("batch_norm_backward_cpu", rows, channels);
  std::vector<double> sum_dy(channels, 0.0), sum_dy_xhat(channels, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      double xhat = (static_cast<double>(x[r * channels + c]) - static_cast<double>(save_mean[c])) *
                    static_cast<double>(save_invstd[c]);
      double g = static_cast<double>(dy[r * channels + c]);
      sum_dy[c] += g;
      sum_dy_xhat[c] += g * xhat;
    }
  }
  for (int64_t c = 0; c < channels; ++c) {
    const bool add = a.accumulate_params;
    dbeta[c] = static_cast<T>((add ? static_cast<double>(dbeta[c]) : 0.0) + sum_dy[c]);
    dgamma[c] = static_cast<T>((add ? static_cast<double>(dgamma[c]) : 0.0) + sum_dy_xhat[c]);
  }
  const double inv_rows = 1.0 / static_cast<double>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      double invstd = static_cast<double>(save_invstd[c]);
      double xhat = (static_cast<double>(x[r * channels + c]) - static_cast<double>(save_mean[c])) * invstd;
      double g = static_cast<double>(dy[r * channels + c]);
      dx[r * channels + c] = static_cast<T>(static_cast<double>(gamma[c]) * invstd *
                                            (g - sum_dy[c] * inv_rows - xhat * sum_dy_xhat[c] * inv_rows));
    }
  }
}

#define ALZ_INSTANTIATE_BATCH_NORM(T)                                                \
  template void batch_norm_forward_training_cpu<T>(const BatchNormForwardArgs<T>&);  \
  template void batch_norm_forward_inference_cpu<T>(const BatchNormForwardArgs<T>&); \
  template void batch_norm_backward_cpu<T>(const BatchNormBackwardArgs<T>&);
ALZ_INSTANTIATE_BATCH_NORM(float)
ALZ_INSTANTIATE_BATCH_NORM(double)
#undef ALZ_INSTANTIATE_BATCH_NORM

}  // namespace alz::kernels
