// Model checkpoints as safetensors files with Keras weight names and layouts.
//
// Names are the models' Keras names (`conv1_conv/kernel`, `post_bn/moving_mean`,
// `predictions/bias`, ...). Conv kernels are stored HWIO (kh, kw, cin, cout) as Keras keeps
// them (the model holds KRSC and transposes on the way in and out); Dense kernels (in, out).
// The header's __metadata__ holds: format "alz-keras-v1", model, classes, class_names (JSON
// list), input_size ("224x224"), preprocessing ("x/127.5-1"), plus whatever the caller adds.
// Writing is atomic (tensor/safetensors.h).
//
//   save_checkpoint("best.safetensors", model, {{"class_names", R"(["A","B"])"}});
//   LoadReport r = load_checkpoint("imagenet.safetensors", model, LoadMode::Partial);  // transfer
//   std::cout << r.describe();   // lists e.g. predictions/kernel as skipped (1000-class head)
//
// Tested in tests/test_checkpoint.cpp.
#pragma once
#include <map>
#include <string>

#include "layers/module.h"
#include "models/resnet_v2.h"
#include "tensor/safetensors.h"

namespace alz {

// The model's tensors in Keras layout (CPU copies; conv kernels transposed to HWIO).
std::vector<NamedTensor> keras_weights(Module& model);

void save_checkpoint(const std::string& path, ResNetV2& model, std::map<std::string, std::string> metadata = {});

// Strict: every name, shape and dtype must match in both directions (all mismatches reported
// together in one alz::Error naming the file). Partial: loads what matches and reports the rest.
LoadReport load_checkpoint(const std::string& path, Module& model, LoadMode mode);
LoadReport load_checkpoint(const SafetensorsFile& file, Module& model, LoadMode mode);

// Reads the model description from a checkpoint's metadata (throws when it has none).
ResNetV2Config config_from_metadata(const SafetensorsFile& file);

// KRSC (K, R, S, C) <-> HWIO (R, S, C, K) on the CPU.
Tensor krsc_to_hwio(const Tensor& krsc);
Tensor hwio_to_krsc(const Tensor& hwio);

}  // namespace alz
