// `alz convert IN OUT.safetensors`: any weights file alz reads (Keras legacy .h5 weights or full
// model, Keras 3 .weights.h5, .keras, safetensors) to an alz checkpoint: safetensors with Keras
// weight names and the metadata `alz predict` / `alz eval` read (model, classes, input size).
// The architecture comes from the file's config when it has one, else from its weight names and
// shapes (models/weights_file.h); the weights are checked against that model before anything is
// written. A file without a top (`_notop`) is written as a backbone (no classes in the metadata),
// ready for `alz train --init-from`.
//   alz convert resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5 imagenet_notop.safetensors
//   alz convert model.keras model.safetensors --class-names Mild,Moderate,Non,VeryMild
// Tested in tests/test_keras_cli.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "cli/usage.h"
#include "core/error.h"
#include "models/checkpoint.h"
#include "models/weights_file.h"
#include "train/inference.h"

namespace alz::cli {

int convert(int argc, char** argv) {
  CLI::App app{"Convert a Keras weights file to an alz checkpoint (safetensors)", "alz convert"};
  use_conventions(app);
  std::string in, out, input_size, class_names;
  app.add_option("in", in, "Keras .h5, .weights.h5, .keras or safetensors file")->required();
  app.add_option("out", out, "the .safetensors file to write")->required();
  app.add_option("--input-size", input_size, "N or HxW to record (default: the file's config, else 224)");
  app.add_option("--class-names", class_names, "comma-separated class names to record");
  if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
  ALZ_CHECK(out.size() > 12 && out.compare(out.size() - 12, 12, ".safetensors") == 0,
            out << ": alz convert writes .safetensors checkpoints; for Keras formats use alz export");
  SafetensorsFile file = read_weights_file(in);
  ResNetV2Config config = infer_resnet_v2(file);
  if (!input_size.empty() && !train::parse_size(input_size, config.input_height, config.input_width)) {
    std::fprintf(stderr, "alz convert: --input-size: expected N or HxW, got '%s'\n", input_size.c_str());
    return 2;
  }
  std::vector<std::string> names;
  std::stringstream stream(class_names);
  for (std::string name; std::getline(stream, name, ',');) names.push_back(name);
  std::string names_json = nlohmann::json(names).dump();
  bool top = config.classes > 0;
  ALZ_CHECK(names.empty() || static_cast<int>(names.size()) == config.classes,
            in << ": " << names.size() << " class names for a model with " << config.classes << " classes");
  std::string format = file.metadata.count("format") ? file.metadata.at("format") : "safetensors";
  if (top) {
    ResNetV2 model(config, 0);
    load_weights_file(file, model, LoadMode::Strict);  // every weight checked against the model
    save_checkpoint(out, model, {{"class_names", names_json}, {"converted_from", format}});
  } else {
    // A backbone: every weight but the head must match a model of this shape.
    config.classes = 2;
    ResNetV2 model(config, 0);
    LoadReport report = load_weights_file(file, model, LoadMode::Partial);
    ALZ_CHECK(report.skipped_unexpected.empty() && report.skipped_shape_mismatch.empty() && report.missing.size() == 2,
              in << ": not a ResNetV2 backbone: " << describe_transfer(report));
    std::string size = std::to_string(config.input_height) + "x" + std::to_string(config.input_width);
    save_safetensors(out, file.tensors,
                     {{"format", "alz-keras-v1"},
                      {"model", config.name},
                      {"input_size", size},
                      {"preprocessing", "x/127.5-1"},
                      {"include_top", "false"},
                      {"converted_from", format}});
  }
  std::string what = top ? std::to_string(config.classes) + " classes" : std::string("backbone (no top)");
  std::printf("wrote %s: %s, %s, input %dx%d, %zu tensors, from %s (%s)\n", out.c_str(), config.name.c_str(),
              what.c_str(), config.input_height, config.input_width, file.tensors.size(), in.c_str(), format.c_str());
  return 0;
}

}  // namespace alz::cli
