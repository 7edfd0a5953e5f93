// Softmax cross-entropy from logits with integer labels, mean reduction.
//
//   logits z: (N, K); labels y: (N) int32 in [0, K); class weights w: (K) or none (all 1);
//   label smoothing eps in [0, 1): targets t[i, j] = (1 - eps) * [j == y_i] + eps / K.
//   p[i, j]  = softmax(z[i])_j = exp(z[i, j] - lse_i),  lse_i = log sum_j exp(z[i, j])
//              (log-sum-exp with the row max subtracted: stable for any logits)
//   loss_i   = -sum_j t[i, j] * log p[i, j] = lse_i - sum_j t[i, j] * z[i, j]
//   L        = sum_i w[y_i] * loss_i / sum_i w[y_i]
//   dL/dz[i, j] = w[y_i] / sum_k w[y_k] * (p[i, j] - t[i, j])
//
// The weighted mean: each sample is weighted by the weight of its TRUE class, and the sum is
// divided by the sum of those weights, as PyTorch's CrossEntropyLoss(weight=w) with
// reduction='mean'. (Without smoothing it is exactly PyTorch; with smoothing PyTorch weights
// each smoothing term by w[j] instead of w[y_i]. Keras's class_weight divides by N instead of
// sum w[y_i], a constant factor per batch.) Without weights L is the plain mean over N.
//
// CPU: float and double, accumulated in double; labels out of range throw alz::Error.
// CUDA: float; the loss is written to a device scalar (no host synchronisation) by a fixed-order
// reduction (deterministic); a label out of range makes the loss NaN (the GPU cannot throw);
// backward reads the upstream gradient dL from device memory.
// Backward: `accumulate` false overwrites dlogits, true adds into it (the gradient rule:
// tensor/autograd.h).
// Tested by tests/test_softmax_xent.cpp (hand-computed values, finite differences) and
// tests/gpu/test_ops_gpu.cpp:  ctest --test-dir build -R "SoftmaxXent|OpsGpu"
#pragma once
#include <cstdint>

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

// What the op needs besides the logits; pointers may be nullptr where marked.
template <typename T> struct SoftmaxXentArgs {
  const int32_t* labels = nullptr;   // (N), required
  const T* class_weights = nullptr;  // (K) or nullptr for all 1
  T label_smoothing = T(0);          // eps in [0, 1)
  int64_t n = 0, k = 0;              // rows, classes
};

// ---------------------------------------------------------------- CPU (T = float, double)
// Returns L; probs (N, K) receives the softmax when not nullptr.
template <typename T> T softmax_xent_forward_cpu(const T* logits, const SoftmaxXentArgs<T>& args, T* probs);
// dlogits (N, K) (+)= dloss * dL/dz.
template <typename T>
void softmax_xent_backward_cpu(const T* logits, const SoftmaxXentArgs<T>& args, T dloss, T* dlogits, bool accumulate);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (float)
// Floats of device workspace forward and backward need: 2 * N.
int64_t softmax_xent_workspace_elements(int64_t n);
// All pointers in device memory; loss: one float; probs may be nullptr.
void softmax_xent_forward_cuda(const float* logits, const SoftmaxXentArgs<float>& args, float* loss, float* probs,
                               float* workspace, cudaStream_t stream);
// dloss: one float in device memory (the upstream gradient of L).
void softmax_xent_backward_cuda(const float* logits, const SoftmaxXentArgs<float>& args, const float* dloss,
                                float* dlogits, bool accumulate, float* workspace, cudaStream_t stream);
#endif

}  // namespace alz::kernels
