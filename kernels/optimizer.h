// Optimizer updates on flat parameter buffers: SGD (momentum, Nesterov) and Adam (Keras's bias
// correction and epsilon placement), each with decoupled weight decay as Keras 3 applies it and
// an optional coupled L2 term, and the global gradient norm for clipping. Every tensor is flat
// (count elements); layout does not matter.
//
// Per element, with g the raw gradient and s the clip factor (1 without clipping):
//   g' = s * g
//   g' += l2 * p                    coupled L2 (the gradient of l2/2 * |p|^2), on p before decay
//   p  -= (lr * wd) * p             decoupled weight decay, before the update, with the step's lr:
//                                   Keras 3's BaseOptimizer._apply_weight_decay for every optimizer
//                                   (so Keras's AdamW is Adam with this term, and so is alz's)
//   SGD   momentum == 0:  p -= lr * g'
//         else:           vel = momentum * vel - lr * g'        (Keras's velocity form)
//                         p  += vel                              (plain)
//                         p  += momentum * vel - lr * g'         (Nesterov)
//   Adam  m   = beta1 * m + (1 - beta1) * g'
//         v   = beta2 * v + (1 - beta2) * g'^2
//         p  -= lr_t * m / (sqrt(v) + epsilon),   lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
//         (t: the optimizer's step count, 1 on the first step; epsilon is Keras's "epsilon hat",
//          added to sqrt(v) of the un-corrected v; Keras default 1e-7).
//   Clip  norm = sqrt(sum over every updated tensor of sum g^2),
//         s = min(1, max_norm / (norm + 1e-6))      (max_norm <= 0: no clipping, s = 1)
// The weight decay and l2 terms touch no state: the saved state (velocity, m, v, t, lr) is the
// same with or without them.
//
// The per-step scalars (lr_t, 1 - beta, lr * wd, ...) are computed in double from the
// hyper-parameters, the learning rate and t by sgd_scalars / adam_scalars, then rounded once to
// the element type; the element update (sgd_update / adam_update) is ONE inline function used
// by the CPU loops and the CUDA kernel alike, so both devices evaluate the same formula.
//
// CPU: the reference, plain loops over one tensor, float and double.
// CUDA (float): one fused multi-tensor launch per step for all tensors. The host describes the
// tensors in a table of MultiTensorEntry (param, grad, two state pointers, count) and splits
// them into chunks of kMultiTensorChunk elements (MultiTensorChunk: tensor index, chunk index);
// both arrays live in device memory, built once and reused while the pointers stay the same.
// One block handles one chunk. The learning rate and t live in device memory
// (OptimizerScalars), so a step never waits for the host and can be captured in a CUDA graph:
//   [grad_sq_norm_partials_cuda]  one partial sum of squares per chunk (clipping only)
//   sgd_prepare_cuda / adam_prepare_cuda   <<<1, 256>>>: t += 1, fixed-order sum of the
//                                 partials -> norm and clip factor, the step's scalars
//   sgd_multi_tensor_cuda / adam_multi_tensor_cuda   THE update, one launch for every tensor
// The norm is deterministic: per-chunk partials in a fixed tree order, then a fixed-order sum.
//
// Tested by tests/test_optimizer.cpp (CPU, hand-computed steps) and
// tests/gpu/test_optimizer_gpu.cpp (CUDA vs CPU); benchmarked by bench/bench_optimizer.cu:
//   ctest --test-dir build -R Optimizer && build/bench/bench_optimizer
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/bf16.h"  // ALZ_HOST_DEVICE

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace alz::kernels {

// ---------------------------------------------------------------- hyper-parameters
struct SgdHyper {
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;  // decoupled (Keras): p -= lr * wd * p before the update
  double l2 = 0.0;            // coupled L2: g += l2 * p
};

struct AdamHyper {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-7;
  double weight_decay = 0.0;  // decoupled (Keras, AdamW): p -= lr * wd * p before the update
  double l2 = 0.0;            // coupled L2: g += l2 * p
};

// The scalars of one step, rounded once to the element type T.
template <typename T> struct SgdScalars {
  T lr;
  T momentum;
  T l2;     // coupled L2 coefficient
  T decay;  // lr * weight_decay (decoupled)
  T grad_scale;
  int nesterov;  // 0 or 1
};

template <typename T> struct AdamScalars {
  T lr_t;  // lr * sqrt(1 - beta2^t) / (1 - beta1^t)
  T beta1, one_minus_beta1;
  T beta2, one_minus_beta2;
  T epsilon;
  T l2;     // coupled L2 coefficient
  T decay;  // lr * weight_decay (decoupled)
  T grad_scale;
};

// Global-norm clip factor: min(1, max_norm / (norm + 1e-6)); 1 when max_norm <= 0.
ALZ_HOST_DEVICE double clip_factor(double norm, double max_norm) {
  if (max_norm <= 0.0) return 1.0;
  const double factor = max_norm / (norm + 1e-6);
  return factor < 1.0 ? factor : 1.0;
}

template <typename T> ALZ_HOST_DEVICE SgdScalars<T> sgd_scalars(double lr, const SgdHyper& h, double grad_scale) {
  SgdScalars<T> s;
  s.lr = static_cast<T>(lr);
  s.momentum = static_cast<T>(h.momentum);
  s.l2 = static_cast<T>(h.l2);
  s.decay = static_cast<T>(lr * h.weight_decay);
  s.grad_scale = static_cast<T>(grad_scale);
  s.nesterov = h.nesterov ? 1 : 0;
  return s;
}

// step: t >= 1.
template <typename T>
ALZ_HOST_DEVICE AdamScalars<T> adam_scalars(double lr, const AdamHyper& h, int64_t step, double grad_scale) {
  const double t = static_cast<double>(step);
#if defined(__CUDA_ARCH__)
  const double lr_t = lr * sqrt(1.0 - pow(h.beta2, t)) / (1.0 - pow(h.beta1, t));
#else
  const double lr_t = lr * std::sqrt(1.0 - std::pow(h.beta2, t)) / (1.0 - std::pow(h.beta1, t));
#endif
  AdamScalars<T> s;
  s.lr_t = static_cast<T>(lr_t);
  s.beta1 = static_cast<T>(h.beta1);
  s.one_minus_beta1 = static_cast<T>(1.0 - h.beta1);
  s.beta2 = static_cast<T>(h.beta2);
  s.one_minus_beta2 = static_cast<T>(1.0 - h.beta2);
  s.epsilon = static_cast<T>(h.epsilon);
  s.l2 = static_cast<T>(h.l2);
  s.decay = static_cast<T>(lr * h.weight_decay);
  s.grad_scale = static_cast<T>(grad_scale);
  return s;
}

ALZ_HOST_DEVICE float optimizer_sqrt(float x) {
#if defined(__CUDA_ARCH__)
  return sqrtf(x);
#else
  return std::sqrt(x);
#endif
}
ALZ_HOST_DEVICE double optimizer_sqrt(double x) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}

// The terms both rules share: the clip factor, coupled L2 (on p before decay), decoupled decay.
template <typename T> ALZ_HOST_DEVICE T decay_and_scale(T& p, T g, T grad_scale, T l2, T decay) {
  g = g * grad_scale;
  if (l2 != T(0)) g = g + l2 * p;
  if (decay != T(0)) p = p - decay * p;
  return g;
}

// One element of SGD. `vel` is only touched when momentum != 0.
template <typename T> ALZ_HOST_DEVICE void sgd_update(T& p, T g, T& vel, const SgdScalars<T>& s) {
  g = decay_and_scale(p, g, s.grad_scale, s.l2, s.decay);
  if (s.momentum == T(0)) {
    p = p - s.lr * g;
    return;
  }
  vel = s.momentum * vel - s.lr * g;
  p = s.nesterov ? p + (s.momentum * vel - s.lr * g) : p + vel;
}

// One element of Adam (AdamW: weight_decay > 0).
template <typename T> ALZ_HOST_DEVICE void adam_update(T& p, T g, T& m, T& v, const AdamScalars<T>& s) {
  g = decay_and_scale(p, g, s.grad_scale, s.l2, s.decay);
  m = s.beta1 * m + s.one_minus_beta1 * g;
  v = s.beta2 * v + s.one_minus_beta2 * (g * g);
  p = p - s.lr_t * m / (optimizer_sqrt(v) + s.epsilon);
}

// ---------------------------------------------------------------- CPU (T = float, double)
// One tensor of `count` elements. velocity may be nullptr when momentum == 0.
template <typename T> void sgd_step_cpu(T* param, const T* grad, T* velocity, int64_t count, const SgdScalars<T>& s);
template <typename T> void adam_step_cpu(T* param, const T* grad, T* m, T* v, int64_t count, const AdamScalars<T>& s);
// sum of x^2, accumulated in double in index order.
template <typename T> double sum_squares_cpu(const T* x, int64_t count);

// ---------------------------------------------------------------- multi-tensor tables (host)
constexpr int64_t kMultiTensorChunk = 65536;  // elements per block of the fused kernels

struct MultiTensorEntry {
  float* param;
  const float* grad;
  float* state0;  // SGD: velocity (nullptr without momentum); Adam: m
  float* state1;  // Adam: v; SGD: nullptr
  int64_t count;
};

struct MultiTensorChunk {
  int32_t tensor;  // index into the entry table
  int32_t chunk;   // elements [chunk * kMultiTensorChunk, min(count, (chunk + 1) * kMultiTensorChunk))
};

// One chunk per kMultiTensorChunk elements of every entry, in entry order; entries with
// count 0 get none. Throws alz::Error when the table would exceed int32 indices.
std::vector<MultiTensorChunk> multi_tensor_chunks(const std::vector<MultiTensorEntry>& entries);

// The device-resident state of a fused optimizer: written only by the kernels below (and
// optimizer_set_scalars_cuda), read by the update kernel. Lives in device memory.
struct OptimizerScalars {
  double lr;          // the learning rate of the next step
  int64_t step;       // t: steps taken (the prepare kernel adds 1 before the update)
  double grad_norm;   // global gradient norm of the last step (clipping only; else -1)
  double grad_scale;  // clip factor of the last step
  SgdScalars<float> sgd;
  AdamScalars<float> adam;
};

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (float)
// All launchers are asynchronous on `stream` and never synchronise with the host.

// Sets lr and step in device memory (one tiny kernel, stream-ordered): construction,
// set_learning_rate, loading a saved state.
void optimizer_set_scalars_cuda(OptimizerScalars* scalars, double lr, int64_t step, cudaStream_t stream);
// Sets lr only (step unchanged).
void optimizer_set_learning_rate_cuda(OptimizerScalars* scalars, double lr, cudaStream_t stream);

// partials[c] = sum of grad^2 over chunk c: one launch, one block per chunk.
void grad_sq_norm_partials_cuda(const MultiTensorEntry* entries, const MultiTensorChunk* chunks, int32_t num_chunks,
                                double* partials, cudaStream_t stream);

// t += 1; if max_norm > 0: norm = sqrt(sum of partials[0..num_partials)) in a fixed order and
// grad_scale = clip_factor(norm, max_norm); then the step's scalars. partials may be nullptr
// when max_norm <= 0.
void sgd_prepare_cuda(OptimizerScalars* scalars, const SgdHyper& hyper, const double* partials, int32_t num_partials,
                      double max_norm, cudaStream_t stream);
void adam_prepare_cuda(OptimizerScalars* scalars, const AdamHyper& hyper, const double* partials, int32_t num_partials,
                       double max_norm, cudaStream_t stream);

// THE update: one launch, one block per chunk, for every tensor of the table.
void sgd_multi_tensor_cuda(const MultiTensorEntry* entries, const MultiTensorChunk* chunks, int32_t num_chunks,
                           const OptimizerScalars* scalars, cudaStream_t stream);
void adam_multi_tensor_cuda(const MultiTensorEntry* entries, const MultiTensorChunk* chunks, int32_t num_chunks,
                            const OptimizerScalars* scalars, cudaStream_t stream);

// How many fused update kernels (SGD or Adam) have been launched in this process (tests).
uint64_t multi_tensor_update_launches();
#endif

}  // namespace alz::kernels
