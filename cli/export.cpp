// `alz export --weights FILE --format keras-h5|keras-weights|keras|onnx OUT`: writes a model in a
// format another framework loads. The model comes from any weights file alz reads (a checkpoint
// of this project, or a Keras file); each format is one row of kFormats below (name, the file
// ending its reader expects, a writer from models/).
//   alz export --weights runs/a/best.safetensors --format keras-h5 mri.h5        # model.load_weights
//   alz export --weights runs/a/best.safetensors --format keras mri.keras        # keras.saving.load_model
//   alz export --weights runs/a/best.safetensors --format onnx mri.onnx          # ONNX Runtime, NHWC input
// Written atomically: on any error nothing is left at OUT. Tested by tests/keras_roundtrip.py
// (Keras loads what this writes), tests/onnx/check_onnxruntime.py (ONNX Runtime matches
// alz predict) and tests/test_keras_cli.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/cli.h"
#include "core/error.h"
#include "models/onnx_export.h"
#include "models/weights_file.h"
#include "train/inference.h"

namespace alz::cli {

namespace {

struct ExportOptions {
  bool raw_pixels = false;  // onnx: the graph applies x / 127.5 - 1 itself
};

struct ExportFormat {
  const char* name;       // --format
  const char* extension;  // what the reading side expects OUT to end in
  const char* help;
  // The whole file, atomically.
  void (*write)(const train::LoadedModel& loaded, const std::string& path, const ExportOptions& options);
};

const ExportFormat kFormats[] = {
    {"keras-h5", ".h5", "legacy Keras weights (Keras 2 layout): model.load_weights(OUT) in Keras 2 and 3",
     [](const train::LoadedModel& m, const std::string& path, const ExportOptions&) {
       write_keras_h5(*m.model, path);
     }},
    {"keras-weights", ".weights.h5", "Keras 3 weights: model.load_weights(OUT)",
     [](const train::LoadedModel& m, const std::string& path, const ExportOptions&) {
       write_keras_weights_h5(*m.model, path);
     }},
    {"keras", ".keras", "Keras 3 model archive: keras.saving.load_model(OUT)",
     [](const train::LoadedModel& m, const std::string& path, const ExportOptions&) {
       write_keras_archive(*m.model, path);
     }},
    {"onnx", ".onnx",
     "ONNX opset 17 (models/onnx_export.h): input \"images\" (N, H, W, 3) preprocessed as x/127.5-1 (RGB 0..255 with "
     "--raw-pixels), output \"probabilities\", class names in the metadata",
     [](const train::LoadedModel& m, const std::string& path, const ExportOptions& options) {
       OnnxExportOptions onnx;
       onnx.raw_pixels = options.raw_pixels;
       onnx.class_names = m.class_names;
       export_onnx(*m.model, path, onnx);
     }},
};

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

// The format that OUT's name asks for: the longest matching ending wins (.weights.h5 over .h5).
const ExportFormat* format_for(const std::string& out) {
  const ExportFormat* best = nullptr;
  for (const ExportFormat& f : kFormats)
    if (ends_with(out, f.extension) && (!best || std::string(f.extension).size() > std::string(best->extension).size()))
      best = &f;
  return best;
}

}  // namespace

int export_model(int argc, char** argv) {
  CLI::App app{"Write a model in another framework's format", "alz export"};
  train::InferenceOptions o;
  std::string format, out, input_size;
  std::string names;
  for (const ExportFormat& f : kFormats) names += std::string(names.empty() ? "" : ", ") + f.name;
  app.add_option("--weights", o.weights, "the model: a checkpoint or any Keras file alz reads")->required();
  app.add_option("--format", format, "one of: " + names + " (default: from OUT's ending)");
  app.add_option("out", out, "the file to write")->required();
  app.add_option("--model", o.model, "model name, for a bare Keras-named safetensors file");
  app.add_option("--classes", o.classes, "number of classes, for a bare weights file");
  app.add_option("--input-size", input_size, "N or HxW (default: the file's, else 224)");
  ExportOptions options;
  app.add_flag("--raw-pixels", options.raw_pixels, "onnx: the graph takes RGB values 0..255 and preprocesses them");
  app.footer([] {
    std::string text = "Formats:\n";
    for (const ExportFormat& f : kFormats)
      text += "  " + std::string(f.name) + " (" + f.extension + "): " + f.help + "\n";
    return text;
  }());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (!input_size.empty() && !train::parse_size(input_size, o.input_height, o.input_width)) {
    std::fprintf(stderr, "alz export: --input-size: expected N or HxW, got '%s'\n", input_size.c_str());
    return 2;
  }
  const ExportFormat* chosen = format.empty() ? format_for(out) : nullptr;
  for (const ExportFormat& f : kFormats)
    if (format == f.name) chosen = &f;
  ALZ_CHECK(chosen, (format.empty() ? "cannot tell the format from '" + out + "'" : "unknown --format '" + format + "'")
                        << "; give --format " << names);
  // Keras picks its reader by the ending: a legacy file named .weights.h5 would be read as Keras 3.
  ALZ_CHECK(
      ends_with(out, chosen->extension) && !(std::string(chosen->name) == "keras-h5" && ends_with(out, ".weights.h5")),
      out << ": a " << chosen->name << " file must end in " << chosen->extension
          << (std::string(chosen->name) == "keras-h5" ? " (and not .weights.h5)" : "")
          << ", which is how Keras tells the formats apart");
  o.device = "cpu";
  train::LoadedModel loaded = train::load_model_for_inference(o);
  ALZ_CHECK(!options.raw_pixels || std::string(chosen->name) == "onnx", "--raw-pixels applies to --format onnx only");
  chosen->write(loaded, out, options);
  const ResNetV2Config& c = loaded.model->config();
  std::printf("wrote %s (%s): %s, %d classes, input %dx%d, %lld parameters\n", out.c_str(), chosen->name,
              c.name.c_str(), c.classes, c.input_height, c.input_width,
              static_cast<long long>(loaded.model->count_parameters()));
  return 0;
}

}  // namespace alz::cli
