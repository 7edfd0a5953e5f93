// CUDA inference-mode BatchNorm(+ReLU) backward (kernels/frozen_bn.h): one grid-stride kernel
// for dx, one thread per channel for the (rarely needed) parameter sums, in row order.
#include <algorithm>

#include "core/cuda/check.h"
#include "kernels/cuda/element_access.h"
#include "kernels/frozen_bn.h"

namespace alz::kernels {

namespace {

// The masked gradient g and xhat of element i (channel c).
template <typename T>
__device__ __forceinline__ void masked(const T* x, const T* dy, int64_t i, int64_t c, const float* gamma,
                                       const float* beta, const float* mean, const float* var, float epsilon, bool relu,
                                       float& g, float& xhat, float& invstd) {
  invstd = rsqrtf(var[c] + epsilon);
  xhat = (load(x, i) - mean[c]) * invstd;
  float pre = gamma[c] * xhat + beta[c];
  g = (relu && !(pre > 0.0f)) ? 0.0f : load(dy, i);
}

template <typename T>
__global__ void frozen_bn_dx_kernel(const T* x, const T* dy, T* dx, int64_t rows, int64_t channels, const float* gamma,
                                    const float* beta, const float* mean, const float* var, float epsilon, bool relu) {
  int64_t count = rows * channels;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t c = i % channels;
    float g, xhat, invstd;
    masked(x, dy, i, c, gamma, beta, mean, var, epsilon, relu, g, xhat, invstd);
    store(dx, i, g * gamma[c] * invstd);
  }
}

template <typename T>
__global__ void frozen_bn_param_kernel(const T* x, const T* dy, int64_t rows, int64_t channels, const float* gamma,
                                       const float* beta, const float* mean, const float* var, float epsilon, bool relu,
                                       float* dgamma, float* dbeta) {
  int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (c >= channels) return;
  float sum_g = 0.0f, sum_g_xhat = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    float g, xhat, invstd;
    masked(x, dy, r * channels + c, c, gamma, beta, mean, var, epsilon, relu, g, xhat, invstd);
    sum_g += g;
    sum_g_xhat += g * xhat;
  }
  if (dgamma) dgamma[c] += sum_g_xhat;
  if (dbeta) dbeta[c] += sum_g;
}

template <typename T>
void launch(const T* x, const T* dy, T* dx, int64_t rows, int64_t channels, const float* gamma, const float* beta,
            const float* mean, const float* var, float epsilon, bool relu, float* dgamma, float* dbeta,
            bool accumulate_params, cudaStream_t stream) {
  if (!accumulate_params) {  // the parameter kernel adds into dgamma and dbeta
    const size_t bytes = sizeof(float) * static_cast<size_t>(channels);
    if (dgamma) ALZ_CUDA_CHECK(cudaMemsetAsync(dgamma, 0, bytes, stream));
    if (dbeta) ALZ_CUDA_CHECK(cudaMemsetAsync(dbeta, 0, bytes, stream));
  }
  int64_t count = rows * channels;
  if (count == 0) return;
  int blocks = static_cast<int>(std::min<int64_t>((count + 255) / 256, 4096));
  frozen_bn_dx_kernel<<<blocks, 256, 0, stream>>>(x, dy, dx, rows, channels, gamma, beta, mean, var, epsilon, relu);
  ALZ_CUDA_CHECK_LAUNCH();
  if (dgamma || dbeta) {
    frozen_bn_param_kernel<<<static_cast<int>((channels + 127) / 128), 128, 0, stream>>>(
        x, dy, rows, channels, gamma, beta, mean, var, epsilon, relu, dgamma, dbeta);
    ALZ_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

void frozen_bn_backward_cuda(const FrozenBnBackwardArgs<float>& a, cudaStream_t stream) {
  launch(a.x, a.dy, a.dx, a.rows, a.channels, a.gamma, a.beta, a.moving_mean, a.moving_variance,
         static_cast<float>(a.epsilon), a.relu, a.dgamma, a.dbeta, a.accumulate_params, stream);
}

void frozen_bn_backward_cuda(const FrozenBnBackwardArgs<bf16>& a, cudaStream_t stream) {
  launch(a.x, a.dy, a.dx, a.rows, a.channels, a.gamma, a.beta, a.moving_mean, a.moving_variance,
         static_cast<float>(a.epsilon), a.relu, a.dgamma, a.dbeta, a.accumulate_params, stream);
}

}  // namespace alz::kernels
