// Loading a model for evaluation or prediction from a weights file: a checkpoint of this
// project (its metadata names the model, classes and input size), a Keras file (.h5,
// .weights.h5, .keras: the model from its config and weights, models/weights_file.h) or a bare
// Keras-named safetensors file (then the caller gives --model and --classes). A checkpoint's
// metadata also says how its training resized images ("resize"); eval and predict do the same.
// Used by `alz eval` and `alz predict`.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/resize.h"
#include "models/resnet_v2.h"

namespace alz::train {

struct InferenceOptions {
  std::string weights;
  std::string model;                      // overrides/supplies the metadata's model
  int classes = 0;                        // 0: from the metadata
  int input_height = 0, input_width = 0;  // 0: from the metadata, else 224
  std::vector<std::string> class_names;   // empty: from the metadata, else "class0", ...
  std::string resize;                     // keras or area; empty: the metadata's "resize", else keras
  std::string device = "auto";
};

struct LoadedModel {
  std::unique_ptr<ResNetV2> model;
  std::vector<std::string> class_names;
  data::ResizeMethod resize = data::ResizeMethod::Keras;  // how images are brought to the input size
  Device device;
};

LoadedModel load_model_for_inference(const InferenceOptions& options);

// "224" or "208x176" -> height, width; false when it is neither. Every command's --input-size.
bool parse_size(const std::string& text, int& height, int& width);

}  // namespace alz::train
