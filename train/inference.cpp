// Loading a model for inference (train/inference.h).
#include "train/inference.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "data/image.h"
#include "models/checkpoint.h"
#include "models/weights_file.h"
#include "tensor/cuda_runtime.h"
#include "train/precision.h"

namespace alz::train {

namespace {

// An optimizer's state (a run's optimizer.safetensors): tensors named "<kind>/step",
// "<kind>/m/<weight>", ..., metadata {"kind": ...} and no model.
bool is_optimizer_state(const SafetensorsFile& file) {
  if (file.metadata.count("model")) return false;
  if (file.metadata.count("kind")) return true;
  for (const char* kind : {"adam", "adamw", "sgd"})
    if (file.find(std::string(kind) + "/step")) return true;
  return false;
}

// What the file holds, for a message: "resnetv2-tiny with 4 classes, input 32x32" from a
// checkpoint's metadata, else from the weights' names and shapes (infer_resnet_v2), else "".
std::string trained_as(const SafetensorsFile& file) {
  auto meta = [&](const char* key) {
    auto it = file.metadata.find(key);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  if (!meta("model").empty()) {
    std::string text = meta("model");
    if (!meta("classes").empty()) text += " with " + meta("classes") + " classes";
    if (!meta("input_size").empty()) text += ", input " + meta("input_size");
    return text;
  }
  try {
    ResNetV2Config c = infer_resnet_v2(file);
    return c.classes > 0 ? c.name + " with " + std::to_string(c.classes) + " classes" : c.name + " without a head";
  } catch (const Error&) {
    return "";
  }
}

// Strict loading with a one-line error: the model the file was trained as, the model asked for,
// and at most kListed of the mismatched tensors, then "and N more".
void require_matching_weights(const SafetensorsFile& file, ResNetV2& model, const InferenceOptions& o) {
  constexpr size_t kListed = 3;
  std::vector<ExpectedTensor> expected;
  for (const ParamRef& p : model.parameters()) {
    Shape shape = p.tensor->shape();
    if (p.layout == KerasLayout::ConvKRSC) shape = {shape[1], shape[2], shape[3], shape[0]};  // KRSC -> HWIO
    expected.push_back({p.name, shape, p.tensor->dtype()});
  }
  LoadReport report = compare_tensors(file, expected);
  if (report.exact()) return;
  const ResNetV2Config& asked = model.config();
  std::ostringstream out;
  out << o.weights << ": ";
  const std::string was = trained_as(file);
  out << (was.empty() ? "does not hold" : "trained as " + was + ", not") << " the model asked for, " << asked.name
      << " with " << asked.classes << " classes";
  if (!o.model.empty() || o.classes != 0)
    out << " (from --model/--classes; leave them out to use the file's own" << (was.empty() ? " metadata" : "") << ")";
  out << "; " << report.problems.size() << (report.problems.size() == 1 ? " mismatch: " : " mismatches: ");
  for (size_t i = 0; i < report.problems.size() && i < kListed; ++i) out << (i ? "; " : "") << report.problems[i];
  if (report.problems.size() > kListed) out << " and " << report.problems.size() - kListed << " more";
  ALZ_FAIL(out.str());
}

}  // namespace

bool parse_size(const std::string& text, int& height, int& width) {
  char tail = 0;
  if (std::sscanf(text.c_str(), "%dx%d%c", &height, &width, &tail) == 2) return height > 0 && width > 0;
  if (std::sscanf(text.c_str(), "%d%c", &height, &tail) == 1) {
    width = height;
    return height > 0;
  }
  return false;
}

std::vector<std::string> expand_image_inputs(const std::vector<std::string>& inputs,
                                             std::vector<data::SkippedFile>* skipped) {
  // A bad input is an error, or a line in `skipped` when the caller keeps going without it.
  auto bad = [&](const std::string& input, const std::string& reason) {
    ALZ_CHECK(skipped != nullptr, input << ": " << reason);
    skipped->push_back({input, reason});
  };
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (auto it = std::filesystem::recursive_directory_iterator(
               input, std::filesystem::directory_options::skip_permission_denied, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec) && data::has_image_extension(it->path().string()))
          found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      if (found.empty()) bad(input, "no images (.jpg .jpeg .png .bmp) in this folder");
      files.insert(files.end(), found.begin(), found.end());
    } else if (!std::filesystem::exists(input, ec)) {
      bad(input, "no such file or folder");
    } else {
      files.push_back(input);
    }
  }
  return files;
}

void load_model_input(const std::string& path, int height, int width, data::ResizeMethod resize, float* out) {
  data::preprocess_to_float(data::resize_image(data::decode_image_file(path), height, width, resize), out);
}

LoadedModel load_model_for_inference(const InferenceOptions& o) {
  check_precision(o.precision);
  SafetensorsFile file = read_weights_file(o.weights);  // safetensors or any Keras format
  ALZ_CHECK(!is_optimizer_state(file),
            o.weights << ": holds an optimizer's state (the moments of a training run), not model weights; give the "
                         "run's best.safetensors or last.safetensors");
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
  loaded.model = std::make_unique<ResNetV2>(resnet_v2_config(model_name, classes, height, width), 0);
  require_matching_weights(file, *loaded.model, o);  // one line when they do not
  loaded.metadata = file.metadata;
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

  load_weights_file(file, *loaded.model, LoadMode::Strict);  // every name and shape must match
  loaded.model->set_training(false);
  bool gpu = o.device == "cuda" || (o.device == "auto" && cuda::available());
  ALZ_CHECK(!(o.device == "cuda" && !cuda::available()), "--device cuda: " << cuda::unavailable_reason());
  loaded.device = gpu ? Device::cuda(0) : Device::cpu();
  loaded.model->to(loaded.device);
  apply_precision(o.precision, loaded.device, *loaded.model, /*inference_only=*/true);
  return loaded;
}

}  // namespace alz::train
