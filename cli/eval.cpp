// `alz eval --weights FILE --data DIR [--split NAME] [--format text|json]`: accuracy, balanced
// accuracy, macro-F1, per-class precision/recall/F1/support, the confusion matrix and
// one-vs-rest ROC-AUC of a checkpoint on a dataset split (default: val, else test, else all).
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/cli.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "train/evaluate.h"
#include "train/inference.h"

namespace alz::cli {

int eval(int argc, char** argv) {
  CLI::App app{"Evaluate a checkpoint on a dataset split", "alz eval"};
  train::InferenceOptions o;
  std::string data, split, format = "text", input_size;
  int batch = 32;
  double val_fraction = 0.2;
  uint64_t split_seed = 1;
  app.add_option("--weights", o.weights, "checkpoint (.safetensors) or Keras file (.h5, .weights.h5, .keras)")
      ->required();
  app.add_option("--data", data, "dataset folder or manifest CSV")->required();
  app.add_option("--split", split, "split to evaluate (default: val, else test, else all)");
  app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--model", o.model, "model name, for a bare Keras-named weights file");
  app.add_option("--classes", o.classes, "number of classes, for a bare weights file");
  app.add_option("--input-size", input_size, "N or HxW (default: the checkpoint's)");
  app.add_option("--batch", batch, "batch size")->check(CLI::Range(1, 4096));
  app.add_option("--val-fraction", val_fraction,
                 "data without a val split: make it as alz train does (group-aware), with this fraction");
  app.add_option("--split-seed", split_seed, "data without a val split: the seed alz train used (its --seed)");
  app.add_option("--device", o.device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--resize", o.resize, "keras or area (default: what the checkpoint was trained with, else keras)")
      ->check(CLI::IsMember({"keras", "area"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (!input_size.empty() && !train::parse_size(input_size, o.input_height, o.input_width)) {
    std::fprintf(stderr, "alz eval: --input-size: expected N or HxW, got '%s'\n", input_size.c_str());
    return 2;
  }
  data::DatasetIndex index = data::scan_dataset(data);
  bool made_split = false;
  if (!index.find_split("val") && split != "all") {
    // The same seeded, group-aware split alz train makes, so "val" means the same images.
    index = data::with_validation_split(index, val_fraction, split_seed);
    made_split = true;
  }
  const data::Split* chosen = nullptr;
  if (!split.empty()) {
    chosen = index.find_split(split);
    ALZ_CHECK(chosen, data << ": no split '" << split << "'\n" << index.describe());
  } else {
    for (const char* name : {"val", "test", "all"})
      if (!chosen) chosen = index.find_split(name);
    ALZ_CHECK(chosen, data << ": no val, test or all split; name one with --split\n" << index.describe());
  }
  if (o.class_names.empty()) o.class_names = index.class_names;
  train::LoadedModel loaded = train::load_model_for_inference(o);
  ALZ_CHECK(loaded.class_names == index.class_names || loaded.class_names.size() == index.class_names.size(),
            "the checkpoint has " << loaded.class_names.size() << " classes, the data " << index.class_names.size());
  data::LoaderOptions options;
  options.batch_size = batch;
  options.height = loaded.model->config().input_height;
  options.width = loaded.model->config().input_width;
  options.resize = loaded.resize;
  options.shuffle = false;
  options.device = loaded.device;
  data::Loader loader(chosen->samples, options);
  train::Metrics metrics = train::evaluate(*loaded.model, loader, index.class_names);
  if (format == "json") {
    nlohmann::json out = train::metrics_to_json(metrics);
    out["split"] = chosen->name;
    out["weights"] = o.weights;
    out["data"] = data;
    out["resize"] = data::resize_method_name(loaded.resize);
    if (index.known_leaky) out["leak_warning"] = index.leak_warning;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "split " << chosen->name << " of " << data << " (" << chosen->samples.size() << " images)";
    if (made_split)
      std::cout << ", made as alz train makes it: group-aware, fraction " << val_fraction << ", seed " << split_seed;
    std::cout << ", resize " << data::resize_method_name(loaded.resize) << "\n";
    if (index.known_leaky) std::cout << "WARNING: " << index.leak_warning << "\n";
    std::cout << train::format_metrics_text(metrics);
  }
  return 0;
}

}  // namespace alz::cli
