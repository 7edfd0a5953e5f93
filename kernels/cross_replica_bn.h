// Cross-replica BatchNorm(+ReLU) on the CPU, in phases, so that the per-channel sums of each
// phase can be summed over the replicas of a data-parallel run between phases (the op in
// tensor/ops_cross_replica_bn.cpp does the summing). With N the rows over all replicas:
//   forward   s1[c] = sum_r x[r,c]                 -> summed over replicas -> mean = s1 / N
//             s2[c] = sum_r (x[r,c] - mean[c])^2   -> summed over replicas -> var = s2 / N (biased)
//             y = [relu](gamma * (x - mean) * invstd + beta),  invstd = 1 / sqrt(var + eps)
//   backward  g = dy masked by the ReLU, xhat = (x - mean) * invstd
//             b[c] = sum_r g, a[c] = sum_r g * xhat (this replica's dbeta and dgamma)
//                                                  -> summed over replicas -> B, A
//             dx = gamma * invstd * (g - B / N - xhat * A / N)
// With one replica this is kernels/cpu/bn_relu.cpp's training forward and backward (tested
// against it, and by finite differences, in tests/test_cross_replica_bn.cpp). Layout (rows, C),
// channels last; sums in double. Run: ctest --test-dir build -R CrossReplicaBn
#pragma once
#include <cstdint>

namespace alz::kernels {

// sums[c] += sum over rows of x[r, c]
template <typename T> void cross_replica_bn_sum_cpu(const T* x, int64_t rows, int64_t channels, double* sums);
// sums[c] += sum over rows of (x[r, c] - mean[c])^2
template <typename T>
void cross_replica_bn_centered_sum_cpu(const T* x, int64_t rows, int64_t channels, const double* mean, double* sums);
// y = [relu](gamma * (x - mean) * invstd + beta)
template <typename T>
void cross_replica_bn_apply_cpu(const T* x, T* y, int64_t rows, int64_t channels, const T* gamma, const T* beta,
                                const T* mean, const T* invstd, bool relu);
// sum_g[c] = sum_r g, sum_g_xhat[c] = sum_r g * xhat (overwritten)
template <typename T>
void cross_replica_bn_backward_sums_cpu(const T* x, const T* dy, int64_t rows, int64_t channels, const T* gamma,
                                        const T* beta, const T* mean, const T* invstd, bool relu, double* sum_g,
                                        double* sum_g_xhat);
// dx from the sums over every replica and the global row count
template <typename T>
void cross_replica_bn_backward_dx_cpu(const T* x, const T* dy, T* dx, int64_t rows, int64_t channels, const T* gamma,
                                      const T* beta, const T* mean, const T* invstd, bool relu, const double* sum_g,
                                      const double* sum_g_xhat, double global_rows);

}  // namespace alz::kernels
