// Internal to optim/: what one fused CUDA update of an optimizer needs, handed by
// Optimizer::step_cuda (optim/cuda/optimizer_cuda.cpp) to SGD::update_cuda / Adam::update_cuda.
// Everything is device memory on the device's compute stream; see kernels/optimizer.h.
#pragma once
#include <cstdint>

#include "kernels/optimizer.h"
#include "optim/optimizer.h"

namespace alz {

#if ALZ_HAS_CUDA
struct DeviceStep {
  const kernels::MultiTensorEntry* entries;  // (param, grad, state0, state1, count) per tensor
  const kernels::MultiTensorChunk* chunks;   // (tensor, chunk) per block of the fused launch
  int32_t num_chunks;
  const double* partials;              // per-chunk sums of squares, or nullptr without clipping
  kernels::OptimizerScalars* scalars;  // learning rate, t, the step's scalars
  cudaStream_t stream;
};
#endif

// The kernels' hyper-parameters of each rule.
inline kernels::SgdHyper sgd_hyper(const SgdOptions& o) {
  return {.momentum = o.momentum, .nesterov = o.nesterov, .weight_decay = o.weight_decay, .l2 = o.l2};
}
inline kernels::AdamHyper adam_hyper(const AdamOptions& o) {
  return {.beta1 = o.beta1, .beta2 = o.beta2, .epsilon = o.epsilon, .weight_decay = o.weight_decay, .l2 = o.l2};
}

}  // namespace alz
