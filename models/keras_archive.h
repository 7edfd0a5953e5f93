// Keras 3's .keras archives: a zip of metadata.json, config.json and model.weights.h5.
//
// Reading takes the model's name, input size, class count and layer classes from config.json
// (models/keras_config.h) and the weights from model.weights.h5 (the Keras 3 layout,
// models/keras_h5.h), opened from memory. Members are read with their own compression method
// and bounded in size before allocation (models/zip_archive.h): config.json and metadata.json at
// kMaxAttributeBytes, model.weights.h5 at kMaxArchiveWeightsBytes.
//
// Writing makes the three members for a ResNetV2, stored as Keras stores them; the config is a
// Keras 3 Functional model, so `keras.saving.load_model` rebuilds the model with its weights.
//
//   SafetensorsFile w = read_keras_archive("model.keras");
//   std::string bytes = keras_archive_bytes(model, "out.keras");    // written with AtomicFile
//
// Tested in tests/test_keras_files.cpp, tests/test_keras_bad_input.cpp and tests/keras_roundtrip.py.
#pragma once
#include <cstdint>
#include <string>

#include "models/resnet_v2.h"
#include "tensor/safetensors.h"

namespace alz {

constexpr int64_t kMaxArchiveWeightsBytes = int64_t{16} << 30;  // 16 GiB

SafetensorsFile read_keras_archive(const std::string& path);
std::string keras_archive_bytes(ResNetV2& model, const std::string& name_for_messages);

}  // namespace alz
