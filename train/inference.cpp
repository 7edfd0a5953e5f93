// Loading a model for inference (train/inference.h).
#include "train/inference.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/checkpoint.h"
#include "models/weights_file.h"
#include "tensor/cuda_runtime.h"

namespace alz::train {

bool parse_size(const std::string& text, int& height, int& width) {
  char tail = 0;
  if (std::sscanf(text.c_str(), "%dx%d%c", &height, &width, &tail) == 2) return height > 0 && width > 0;
  if (std::sscanf(text.c_str(), "%d%c", &height, &tail) == 1) {
    width = height;
    return height > 0;
  }
  return false;
}

LoadedModel load_model_for_inference(const InferenceOptions& o) {
  SafetensorsFile file = read_weights_file(o.weights);  // safetensors or any Keras format
  auto meta = [&](const char* key) {
    auto it = file.metadata.find(key);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  std::string model_name = o.model.empty() ? meta("model") : o.model;
  if (model_name.empty() && is_keras_file(file)) model_name = infer_resnet_v2(file).name;  // from the weights
  ALZ_CHECK(!model_name.empty(), o.weights << ": the file has no model metadata (a bare Keras-named weights file); "
                                              "give --model and --classes");
  int classes = o.classes;
  if (classes == 0 && !meta("classes").empty()) classes = std::atoi(meta("classes").c_str());
  if (classes == 0) {
    if (const Tensor* bias = file.find("predictions/bias")) classes = static_cast<int>(bias->numel());
  }
  ALZ_CHECK(classes >= 2, o.weights << ": cannot tell the number of classes; give --classes");
  int height = o.input_height, width = o.input_width;
  if (height == 0 && !parse_size(meta("input_size"), height, width)) height = width = 224;

  LoadedModel loaded;
  // Images are resized as asked, else as the model was trained (metadata), else as Keras does.
  const std::string resize = !o.resize.empty() ? o.resize : meta("resize");
  ALZ_CHECK(resize.empty() || resize == "keras" || resize == "area",
            o.weights << ": unknown resize '" << resize << "' in the metadata (keras or area); give --resize");
  loaded.resize = resize.empty() ? data::ResizeMethod::Keras : data::parse_resize_method(resize);
  loaded.class_names = o.class_names;
  if (loaded.class_names.empty() && !meta("class_names").empty()) {
    try {
      loaded.class_names = nlohmann::json::parse(meta("class_names")).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception&) {
      loaded.class_names.clear();
    }
  }
  if (loaded.class_names.empty())
    for (int i = 0; i < classes; ++i) loaded.class_names.push_back("class" + std::to_string(i));
  ALZ_CHECK(static_cast<int>(loaded.class_names.size()) == classes,
            o.weights << ": " << loaded.class_names.size() << " class names for " << classes << " classes");

  loaded.model = std::make_unique<ResNetV2>(resnet_v2_config(model_name, classes, height, width), 0);
  load_weights_file(file, *loaded.model, LoadMode::Strict);  // every name and shape must match
  loaded.model->set_training(false);
  bool gpu = o.device == "cuda" || (o.device == "auto" && cuda::available());
  ALZ_CHECK(!(o.device == "cuda" && !cuda::available()), "--device cuda: " << cuda::unavailable_reason());
  loaded.device = gpu ? Device::cuda(0) : Device::cpu();
  loaded.model->to(loaded.device);
  return loaded;
}

}  // namespace alz::train
