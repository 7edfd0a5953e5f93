// The phases of cross-replica BatchNorm(+ReLU) on the CPU (kernels/cross_replica_bn.h): plain
// loops in double, channels last. Tested in tests/test_cross_replica_bn.cpp:
//   ctest --test-dir build -R CrossReplicaBn
#include "kernels/cross_replica_bn.h"

namespace alz::kernels {

namespace {

// g: dy where the pre-activation is positive (or everywhere without ReLU); xhat: (x - mean) * invstd.
template <typename T>
void masked(const T* x, const T* dy, int64_t i, int64_t c, const T* gamma, const T* beta, const T* mean,
            const T* invstd, bool relu, double& g, double& xhat) {
  xhat = (static_cast<double>(x[i]) - static_cast<double>(mean[c])) * static_cast<double>(invstd[c]);
  g = static_cast<double>(dy[i]);
  if (relu && !(static_cast<double>(gamma[c]) * xhat + static_cast<double>(beta[c]) > 0.0)) g = 0.0;
}

}  // namespace

template <typename T> void cross_replica_bn_sum_cpu(const T* x, int64_t rows, int64_t channels, double* sums) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) sums[c] += static_cast<double>(x[r * channels + c]);
}

template <typename T>
void cross_replica_bn_centered_sum_cpu(const T* x, int64_t rows, int64_t channels, const double* mean, double* sums) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      const double d = static_cast<double>(x[r * channels + c]) - mean[c];
      sums[c] += d * d;
    }
}

template <typename T>
void cross_replica_bn_apply_cpu(const T* x, T* y, int64_t rows, int64_t channels, const T* gamma, const T* beta,
                                const T* mean, const T* invstd, bool relu) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t i = r * channels + c;
      const double xhat = (static_cast<double>(x[i]) - static_cast<double>(mean[c])) * static_cast<double>(invstd[c]);
      const double pre = static_cast<double>(gamma[c]) * xhat + static_cast<double>(beta[c]);
      y[i] = static_cast<T>(relu && !(pre > 0.0) ? 0.0 : pre);
    }
}

template <typename T>
void cross_replica_bn_backward_sums_cpu(const T* x, const T* dy, int64_t rows, int64_t channels, const T* gamma,
                                        const T* beta, const T* mean, const T* invstd, bool relu, double* sum_g,
                                        double* sum_g_xhat) {
  for (int64_t c = 0; c < channels; ++c) sum_g[c] = sum_g_xhat[c] = 0.0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      double g, xhat;
      masked(x, dy, r * channels + c, c, gamma, beta, mean, invstd, relu, g, xhat);
      sum_g[c] += g;
      sum_g_xhat[c] += g * xhat;
    }
}

template <typename T>
void cross_replica_bn_backward_dx_cpu(const T* x, const T* dy, T* dx, int64_t rows, int64_t channels, const T* gamma,
                                      const T* beta, const T* mean, const T* invstd, bool relu, const double* sum_g,
                                      const double* sum_g_xhat, double global_rows) {
  const double inv_n = 1.0 / global_rows;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t i = r * channels + c;
      double g, xhat;
      masked(x, dy, i, c, gamma, beta, mean, invstd, relu, g, xhat);
      const double k = static_cast<double>(gamma[c]) * static_cast<double>(invstd[c]);
      dx[i] = static_cast<T>(k * (g - sum_g[c] * inv_n - xhat * sum_g_xhat[c] * inv_n));
    }
}

#define ALZ_INSTANTIATE_CROSS_REPLICA_BN(T)                                                                           \
  template void cross_replica_bn_sum_cpu<T>(const T*, int64_t, int64_t, double*);                                     \
  template void cross_replica_bn_centered_sum_cpu<T>(const T*, int64_t, int64_t, const double*, double*);             \
  template void cross_replica_bn_apply_cpu<T>(const T*, T*, int64_t, int64_t, const T*, const T*, const T*, const T*, \
                                              bool);                                                                  \
  template void cross_replica_bn_backward_sums_cpu<T>(const T*, const T*, int64_t, int64_t, const T*, const T*,       \
                                                      const T*, const T*, bool, double*, double*);                    \
  template void cross_replica_bn_backward_dx_cpu<T>(const T*, const T*, T*, int64_t, int64_t, const T*, const T*,     \
                                                    const T*, const T*, bool, const double*, const double*, double);
ALZ_INSTANTIATE_CROSS_REPLICA_BN(float)
ALZ_INSTANTIATE_CROSS_REPLICA_BN(double)
#undef ALZ_INSTANTIATE_CROSS_REPLICA_BN

}  // namespace alz::kernels
