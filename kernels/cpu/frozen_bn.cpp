// CPU reference of the inference-mode BatchNorm(+ReLU) backward (kernels/frozen_bn.h).
#include <cmath>
#include <vector>

#include "kernels/frozen_bn.h"

namespace alz::kernels {

template <typename T>
void frozen_bn_backward_cpu(const T* x, const T* dy, T* dx, int64_t rows, int64_t channels, const T* gamma,
                            const T* beta, const T* moving_mean, const T* moving_variance, double epsilon, bool relu,
                            T* dgamma, T* dbeta) {
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
    if (dgamma) dgamma[c] += static_cast<T>(sum_g_xhat[c]);
    if (dbeta) dbeta[c] += static_cast<T>(sum_g[c]);
  }
}

template void frozen_bn_backward_cpu<float>(const float*, const float*, float*, int64_t, int64_t, const float*,
                                            const float*, const float*, const float*, double, bool, float*, float*);
template void frozen_bn_backward_cpu<double>(const double*, const double*, double*, int64_t, int64_t, const double*,
                                             const double*, const double*, const double*, double, bool, double*,
                                             double*);

}  // namespace alz::kernels
