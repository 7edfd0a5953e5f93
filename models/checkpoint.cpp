// Checkpoints with Keras names and layouts (models/checkpoint.h).
#include "models/checkpoint.h"

#include <cstdio>
#include <stdexcept>

#include "core/error.h"
#include "tensor/autograd.h"

namespace alz {

namespace {

// Moves the first axis of a 4-d tensor to the end ((A, B, C, D) -> (B, C, D, A)) or back
// ((B, C, D, A) -> (A, B, C, D)); on the CPU, in f64, returned in the input's dtype.
Tensor rotate_axes(const Tensor& input, bool first_to_last) {
  Tensor src = input.to(Device::cpu()).to(DType::F64);
  int64_t A = first_to_last ? src.dim(0) : src.dim(3);
  int64_t B = first_to_last ? src.dim(1) : src.dim(0);
  int64_t C = first_to_last ? src.dim(2) : src.dim(1);
  int64_t D = first_to_last ? src.dim(3) : src.dim(2);
  Tensor dst = Tensor::empty(first_to_last ? Shape{B, C, D, A} : Shape{A, B, C, D}, DType::F64);
  const double* in = src.data<double>();
  double* out = dst.data<double>();
  for (int64_t a = 0; a < A; ++a)
    for (int64_t i = 0; i < B * C * D; ++i) {
      int64_t leading = a * B * C * D + i, trailing = i * A + a;
      if (first_to_last)
        out[trailing] = in[leading];
      else
        out[leading] = in[trailing];
    }
  return dst.to(input.dtype());
}

}  // namespace

Tensor krsc_to_hwio(const Tensor& krsc) { return rotate_axes(krsc, true); }   // (K,R,S,C) -> (R,S,C,K)
Tensor hwio_to_krsc(const Tensor& hwio) { return rotate_axes(hwio, false); }  // (R,S,C,K) -> (K,R,S,C)

std::vector<NamedTensor> keras_weights(Module& model) {
  std::vector<NamedTensor> out;
  for (const ParamRef& p : model.parameters()) {
    Tensor host = p.tensor->to(Device::cpu());
    out.push_back({p.name, p.layout == KerasLayout::ConvKRSC ? krsc_to_hwio(host) : host.clone()});
  }
  return out;
}

void save_checkpoint(const std::string& path, ResNetV2& model, std::map<std::string, std::string> metadata) {
  const ResNetV2Config& c = model.config();
  metadata.emplace("format", "alz-keras-v1");
  metadata.emplace("model", c.name);
  metadata.emplace("classes", std::to_string(c.classes));
  metadata.emplace("input_size", std::to_string(c.input_height) + "x" + std::to_string(c.input_width));
  metadata.emplace("preprocessing", "x/127.5-1");
  metadata.emplace("class_names", "[]");
  save_safetensors(path, keras_weights(model), metadata);
}

LoadReport load_checkpoint(const SafetensorsFile& file, Module& model, LoadMode mode) {
  std::vector<ParamRef> params = model.parameters();
  // Targets in Keras layout: host tensors that load_into fills, then copied into the model.
  std::vector<NamedTensor> targets;
  for (const ParamRef& p : params) {
    Shape shape = p.tensor->shape();
    if (p.layout == KerasLayout::ConvKRSC) shape = {shape[1], shape[2], shape[3], shape[0]};
    targets.push_back({p.name, Tensor::empty(shape, p.tensor->dtype())});
  }
  LoadReport report = load_into(file, targets, mode);
  std::vector<std::string> loaded(report.loaded.begin(), report.loaded.end());
  for (size_t i = 0; i < params.size(); ++i) {
    bool was_loaded = false;
    for (const std::string& name : loaded) was_loaded = was_loaded || name == params[i].name;
    if (!was_loaded) continue;
    Tensor value = params[i].layout == KerasLayout::ConvKRSC ? hwio_to_krsc(targets[i].tensor) : targets[i].tensor;
    params[i].tensor->copy_from(value.to(params[i].tensor->device()));  // keeps storage, flags, grads
  }
  return report;
}

LoadReport load_checkpoint(const std::string& path, Module& model, LoadMode mode) {
  return load_checkpoint(load_safetensors(path), model, mode);
}

ResNetV2Config config_from_metadata(const SafetensorsFile& file) {
  auto get = [&](const char* key) -> std::string {
    auto it = file.metadata.find(key);
    ALZ_CHECK(it != file.metadata.end(), file.path << ": the checkpoint's metadata has no '" << key
                                                   << "'; give the model with --model and --classes");
    return it->second;
  };
  std::string size = get("input_size");
  int height = 0, width = 0;
  ALZ_CHECK(std::sscanf(size.c_str(), "%dx%d", &height, &width) == 2,
            file.path << ": metadata input_size '" << size << "' is not HxW");
  int classes = 0;
  try {
    classes = std::stoi(get("classes"));
  } catch (const std::logic_error&) {
    ALZ_FAIL(file.path << ": metadata classes '" << get("classes") << "' is not a number");
  }
  return resnet_v2_config(get("model"), classes, height, width);
}

}  // namespace alz
