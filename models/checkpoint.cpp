// Checkpoints with Keras names and layouts (models/checkpoint.h).
#include "models/checkpoint.h"

#include <cstdio>
#include <stdexcept>

#include "tensor/autograd.h"
#include "tensor/error.h"

namespace alz {

Tensor krsc_to_hwio(const Tensor& krsc) {
  Tensor src = krsc.to(Device::cpu()).to(DType::F64);
  int64_t K = src.dim(0), R = src.dim(1), S = src.dim(2), C = src.dim(3);
  Tensor dst = Tensor::empty({R, S, C, K}, DType::F64);
  const double* in = src.data<double>();
  double* out = dst.data<double>();
  for (int64_t k = 0; k < K; ++k)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t c = 0; c < C; ++c) out[((r * S + s) * C + c) * K + k] = in[((k * R + r) * S + s) * C + c];
  return dst.to(krsc.dtype());
}

Tensor hwio_to_krsc(const Tensor& hwio) {
  Tensor src = hwio.to(Device::cpu()).to(DType::F64);
  int64_t R = src.dim(0), S = src.dim(1), C = src.dim(2), K = src.dim(3);
  Tensor dst = Tensor::empty({K, R, S, C}, DType::F64);
  const double* in = src.data<double>();
  double* out = dst.data<double>();
  for (int64_t k = 0; k < K; ++k)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t c = 0; c < C; ++c) out[((k * R + r) * S + s) * C + c] = in[((r * S + s) * C + c) * K + k];
  return dst.to(hwio.dtype());
}

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
