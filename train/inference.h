// Loading a model for evaluation or prediction from a weights file: a checkpoint of this
// project (its metadata names the model, classes and input size), a Keras file (.h5,
// .weights.h5, .keras: the model from its config and weights, models/weights_file.h) or a bare
// Keras-named safetensors file (then the caller gives --model and --classes). A checkpoint's
// metadata also says how its training resized images ("resize"); eval and predict do the same.
// Used by `alz eval`, `alz predict` and `alz explain`.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
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
  std::string precision = "tf32";  // fp32, tf32 or bf16 (train/precision.h); bf16 stores the weights in bf16
};

struct LoadedModel {
  std::unique_ptr<ResNetV2> model;
  std::vector<std::string> class_names;
  data::ResizeMethod resize = data::ResizeMethod::Keras;  // how images are brought to the input size
  Device device;
  std::map<std::string, std::string> metadata;  // the file's metadata as read (training_data: train/provenance.h)
};

LoadedModel load_model_for_inference(const InferenceOptions& options);

// The image files named by `inputs`: files as they are, folders searched recursively for .jpg
// .jpeg .png .bmp (sorted). A missing path or a folder without images is an alz::Error, or,
// when `skipped` is given, an entry there (alz predict goes on without it).
std::vector<std::string> expand_image_inputs(const std::vector<std::string>& inputs,
                                             std::vector<data::SkippedFile>* skipped = nullptr);

// One image file as the model sees it: decoded, resized to height x width with `resize`, and
// preprocessed (x / 127.5 - 1) into `out`, (height, width, 3) floats. Throws alz::Error naming
// the file when it cannot be read. `alz explain` loads images through it.
void load_model_input(const std::string& path, int height, int width, data::ResizeMethod resize, float* out);

// "224" or "208x176" -> height, width; false when it is neither. Every command's --input-size.
bool parse_size(const std::string& text, int& height, int& width);

}  // namespace alz::train
