// Keras's HDF5 weight files, read and written with HDF5's C API (models/hdf5_file.h).
//
// Read (every one into Keras weight names and layouts: `conv1_conv/kernel` HWIO, Dense (in, out)):
//   legacy weights   Keras 2 / tf.keras `save_weights("x.h5")`, the layout of keras.applications'
//                    published files: root attribute `layer_names`; each layer group's
//                    `weight_names` (`conv1_conv/kernel`, Keras 2: `conv1_conv/kernel:0`); the
//                    datasets below the layer group at the path the weight name gives.
//   full model       `model.save("m.h5")`: the same under `model_weights/`, and the
//                    architecture as JSON in the root attribute `model_config`.
//   Keras 3          `.weights.h5`: `layers/<auto name>/vars/<i>`; the layer's real name in the
//                    `name` attribute of its `vars` group; the i-th variable is named by the
//                    layer's class (Conv2D: kernel, bias; BatchNormalization: gamma, beta,
//                    moving_mean, moving_variance; Dense: kernel, bias). The class comes from
//                    the model's config when there is one, else from the group name
//                    (`conv2d_3` -> Conv2D).
// The result is a SafetensorsFile (tensors + metadata), so checking and loading are the same as
// for alz's own checkpoints. Metadata: "format" (keras-h5, keras-h5-model, keras-weights-h5),
// and from a config: "keras_name", "classes", "input_size".
//
// Written:
//   legacy weights   `layer_names` lists every layer of the model's Keras table in Keras's order
//                    (Keras 2/3 `load_weights` match layers with weights by their position);
//   Keras 3          `layers/<snake_case(class)>[_k]/vars/<i>`, k counting the layers of that
//                    class in model.layers order: this group name, not the `name` attribute, is
//                    what Keras 3's `load_weights` matches (checked against Keras 3.15).
//
//   SafetensorsFile w = read_keras_h5("resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5");
//   std::string bytes = keras_legacy_h5_bytes(model, "out.h5");
//
// Tested in tests/test_keras_files.cpp (files made by Keras) and tests/keras_roundtrip.py.
#pragma once
#include <map>
#include <string>

#include "models/keras_config.h"
#include "models/resnet_v2.h"
#include "tensor/safetensors.h"

namespace alz {

class H5File;

// Any of the three layouts above, told apart by what the root holds.
SafetensorsFile read_keras_h5(const std::string& path);
// A Keras 3 weights file already open (the member of a .keras archive), with the model's
// config when there is one.
SafetensorsFile read_keras3_weights(const H5File& file, const KerasModelConfig* config);

// The bytes of the model's weights as a legacy (Keras 2 layout) or Keras 3 .weights.h5 file.
std::string keras_legacy_h5_bytes(ResNetV2& model, const std::string& name_for_messages);
std::string keras3_weights_h5_bytes(ResNetV2& model, const std::string& name_for_messages);

}  // namespace alz
