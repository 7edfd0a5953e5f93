// Test-only driver of the ONNX Runtime round trip (tests/onnx/check_onnxruntime.py): the few
// things the script needs from alz that the `alz` command does not offer.
//
//   onnx_test_driver checkpoint OUT.safetensors MODEL CLASSES HxW SEED
//       a checkpoint of MODEL with every weight random: glorot kernels, and biases, BatchNorm
//       gammas, betas and moving statistics drawn away from their initial values
//   onnx_test_driver export WEIGHTS OUT.onnx [--raw-pixels] [--logits]
//       export_onnx (models/onnx_export.h) of a checkpoint, with its class names
//   onnx_test_driver inputs WEIGHTS PREPROCESSED.npy RAW.npy IMAGE...
//       the batch `alz predict` feeds its model for these images (decode, bilinear resize to the
//       checkpoint's input size, x / 127.5 - 1) as float32 (N, H, W, 3), and the resized RGB
//       values before preprocessing (0..255) for the --raw-pixels export
// Errors print one line and exit 1.
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/image.h"
#include "data/resize.h"
#include "models/checkpoint.h"
#include "models/onnx_export.h"

namespace alz {
namespace {

// A float32 array in NumPy's .npy format (version 1.0, C order).
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& values) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t unpadded = 10 + header.size() + 1;  // magic, version, length, header, newline
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  write_file_atomic(path, bytes);
}

std::vector<std::string> class_names_of(const SafetensorsFile& file) {
  auto it = file.metadata.find("class_names");
  if (it == file.metadata.end()) return {};
  return nlohmann::json::parse(it->second).get<std::vector<std::string>>();
}

int make_checkpoint(const std::vector<std::string>& args) {
  ALZ_CHECK(args.size() == 5, "checkpoint: expected OUT MODEL CLASSES HxW SEED");
  int height = 0, width = 0;
  ALZ_CHECK(std::sscanf(args[3].c_str(), "%dx%d", &height, &width) == 2, "checkpoint: size must be HxW");
  const int classes = std::stoi(args[2]);
  const uint64_t seed = std::stoull(args[4]);
  ResNetV2 model(resnet_v2_config(args[1], classes, height, width), seed);
  Generator gen(seed + 1);
  for (ParamRef& p : model.parameters()) {
    const std::string& n = p.name;
    if (n.ends_with("/gamma") || n.ends_with("/moving_variance"))
      *p.tensor = Tensor::uniform(p.tensor->shape(), gen, 0.5, 1.5);
    else if (n.ends_with("/beta") || n.ends_with("/moving_mean") || n.ends_with("/bias"))
      *p.tensor = Tensor::normal(p.tensor->shape(), gen, 0.0, 0.2);
  }
  std::vector<std::string> names = {"MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"};
  if (classes != 4) {
    names.clear();
    for (int i = 0; i < classes; ++i) names.push_back("class" + std::to_string(i));
  }
  save_checkpoint(args[0], model, {{"class_names", nlohmann::json(names).dump()}});
  return 0;
}

int export_model(const std::vector<std::string>& args) {
  ALZ_CHECK(args.size() >= 2, "export: expected WEIGHTS OUT.onnx [--raw-pixels] [--logits]");
  SafetensorsFile file = load_safetensors(args[0]);
  ResNetV2 model(config_from_metadata(file), 0);
  load_checkpoint(file, model, LoadMode::Strict);
  OnnxExportOptions options;
  options.class_names = class_names_of(file);
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--raw-pixels")
      options.raw_pixels = true;
    else if (args[i] == "--logits")
      options.probabilities = false;
    else
      ALZ_FAIL("export: unknown option '" << args[i] << "'");
  }
  export_onnx(model, args[1], options);
  return 0;
}

int write_inputs(const std::vector<std::string>& args) {
  ALZ_CHECK(args.size() >= 4, "inputs: expected WEIGHTS PREPROCESSED.npy RAW.npy IMAGE...");
  const SafetensorsFile weights = load_safetensors(args[0]);
  const ResNetV2Config config = config_from_metadata(weights);
  const auto resize = weights.metadata.find("resize");  // as the checkpoint's training resized
  const data::ResizeMethod method =
      data::parse_resize_method(resize == weights.metadata.end() ? "keras" : resize->second);
  const int h = config.input_height, w = config.input_width;
  const int64_t n = static_cast<int64_t>(args.size()) - 3, per_image = int64_t{h} * w * 3;
  std::vector<float> preprocessed(n * per_image), raw(n * per_image);
  for (int64_t i = 0; i < n; ++i) {
    const data::FloatImage image = data::resize_image(data::decode_image_file(args[3 + i]), h, w, method);
    data::preprocess_to_float(image, preprocessed.data() + i * per_image);
    for (int64_t k = 0; k < per_image; ++k) raw[i * per_image + k] = image.pixels[k];
  }
  write_npy(args[1], {n, h, w, 3}, preprocessed);
  write_npy(args[2], {n, h, w, 3}, raw);
  return 0;
}

}  // namespace
}  // namespace alz

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: onnx_test_driver checkpoint|export|inputs ...\n");
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "checkpoint") return alz::make_checkpoint(args);
    if (command == "export") return alz::export_model(args);
    if (command == "inputs") return alz::write_inputs(args);
    std::fprintf(stderr, "onnx_test_driver: unknown command '%s'\n", command.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onnx_test_driver: %s\n", e.what());
    return 1;
  }
}
