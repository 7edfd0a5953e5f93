// CPU reference of the inference-mode BatchNorm(+ReLU) backward (kernels/frozen_bn.h).
#include "kernels/frozen_bn.h"

#include <cmath>
#include <vector>

namespace alz::kernels {

template <typename T> void frozen_bn_backward_cpu(const FrozenBnBackwardArgs<T>& a) {
  const T *x = a.x, *dy = a.dy, *gamma = a.gamma, *beta = a.beta, *moving_mean = a.moving_mean,
          *moving_variance = a.moving_variance;
  T *dx = a.dx, *dgamma = a.dgamma, *dbeta = a.dbeta;
  const int64_t rows = a.rows, channels = a.channels;
  const double epsilon = a.epsilon;
  const bool relu = a.relu;
  std::vector<double> sum_g(channels, 0.0), sum_g_xhat(channels, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      int64_t i = r * channels + c;
      double invstd = 1.0 / std::sqrt(static_cast<double>(moving_variance[c]) + epsilon);
      double xhat = (static_cast<double>(x[i]) - moving_mean[c]) * invstd;
      double pre = gamma[c] * xhat + beta[c];
      double g = (relu && !(pre > 0)) ? 0.0 : static_cast<double>(dy[i]);
      dx[i] = static_cast<T>(g * gamma[c] * invstd);
      sum_g[c] += g;
      sum_g_xhat[c] += g * xhat;
    }
  }
  for (int64_t c = 0; c < channels; ++c) {
    if (dgamma) dgamma[c] = (a.accumulate_params ? dgamma[c] : T(0)) + static_cast<T>(sum_g_xhat[c]);
    if (dbeta) dbeta[c] = (a.accumulate_params ? dbeta[c] : T(0)) + static_cast<T>(sum_g[c]);
  }
}

template void frozen_bn_backward_cpu<float>(const FrozenBnBackwardArgs<float>&);
template void frozen_bn_backward_cpu<double>(const FrozenBnBackwardArgs<double>&);

}  // namespace alz::kernels
