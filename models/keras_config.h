// Keras model configurations (JSON): what alz reads from them, and the one it writes.
//
// Read: the `model_config` root attribute of a full-model .h5 (Keras 2 or Keras 3) and the
// config.json of a .keras archive. Both list the layers with their classes; alz takes the
// model's name (`config.name`), the input size (the InputLayer's `batch_shape`, Keras 2's
// `batch_input_shape`), the class count (the last Dense layer's `units`) and each layer's class
// (to name a Keras 3 file's weights, models/keras_h5.h).
//
// Written: the config.json of a .keras archive for a ResNetV2, a Keras 3 `Functional` model
// whose layers, settings and graph come from the model's one Keras layer table
// (ResNetV2::keras_layers()); `keras.saving.load_model` rebuilds it.
//
//   KerasModelConfig info = parse_keras_config(text, "m.keras: config.json");
//   std::string json = keras_functional_config(model);
//
// Tested in tests/test_keras_files.cpp; the written config against Keras itself in
// tests/keras_roundtrip.py.
#pragma once
#include <map>
#include <string>

#include "models/resnet_v2.h"

namespace alz {

struct KerasModelConfig {
  std::string name;                                // config.name, e.g. "resnet152v2"
  int input_height = 0, input_width = 0;           // 0: not fixed by the config
  int classes = 0;                                 // the last Dense's units; 0: no Dense (notop)
  std::map<std::string, std::string> layer_class;  // layer name -> Keras class
};

// Throws alz::Error naming `where` when the text is not a Keras model config.
KerasModelConfig parse_keras_config(const std::string& text, const std::string& where);

// The name a Keras model of this config gets: the config's name when Keras accepts it
// ("resnet152v2", "resnetv2-small"), else "resnetv2" (a shape-named custom model).
std::string keras_model_name(const ResNetV2Config& config);

// config.json of a .keras archive holding `model` (Dense activation softmax, as keras.applications).
std::string keras_functional_config(const ResNetV2& model);

}  // namespace alz
