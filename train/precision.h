// The --precision setting of `alz train`, `eval`, `predict` and the step benchmark:
//   fp32  strict f32 everywhere (on the GPU no TF32 tensor cores: FMA kernels only)
//   tf32  f32 storage; convolutions and GEMMs on TF32 tensor cores (the GPU default)
//   bf16  mixed precision, as Keras's `mixed_bfloat16` policy: f32 master weights, optimizer
//         state and checkpoints; bf16 activations, convolutions and GEMMs (f32 accumulation),
//         BatchNorm+ReLU on bf16 activations with f32 statistics and parameters; the logits
//         leave the model in f32, so softmax and loss are f32 (layers/module.h, the compute
//         dtype). On the CPU the same ops run bf16 through f32 and round at the same points
//         (tensor/ops.h), so the CPU suite checks the bf16 numerics.
// On the CPU fp32 and tf32 are the same (TF32 exists only on GPUs).
// Tested by tests/test_precision.cpp: ctest --test-dir build -R Precision
#pragma once
#include <string>

#include "layers/module.h"

namespace alz::train {

// Throws alz::Error naming the option unless `precision` is fp32, tf32 or bf16.
void check_precision(const std::string& precision, const char* option = "--precision");

// Sets the GPU's math mode (TF32 on or off, cuDNN's heuristic algorithm order) for `device`
// and, for bf16, the model's compute dtype. inference_only: also stores Conv2D and Dense
// weights in bf16 once (no per-forward casts; the model must not train or be saved after).
void apply_precision(const std::string& precision, Device device, Module& model, bool inference_only = false);

}  // namespace alz::train
