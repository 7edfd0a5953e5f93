// `alz eval --weights FILE --data DIR [--split NAME] [--format text|json]`: accuracy, balanced
// accuracy, macro-F1, per-class precision/recall/F1/support, the confusion matrix and
// one-vs-rest ROC-AUC of a checkpoint on a dataset split (default: the validation split the
// checkpoint's own run used, when it was trained on this data and records it (train/provenance.h);
// else val, else test, else all; --split, --split-seed or --val-fraction override the record),
// 95 % bootstrap intervals for macro-F1, balanced accuracy and per-class recall (resampling
// subjects when the data has them; train/bootstrap.h), and how many of the evaluated images the
// checkpoint was trained on (train/provenance.h).
// Images that cannot be read (found while scanning, or by decoding every image of the split
// first) are skipped and listed at the end, in the JSON as "skipped" (cli/unreadable.h): exit
// status 1 only when none could be read, or with --strict.
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "cli/cli.h"
#include "cli/unreadable.h"
#include "cli/usage.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "train/bootstrap.h"
#include "train/evaluate.h"
#include "train/inference.h"
#include "train/provenance.h"

namespace alz::cli {

int eval(int argc, char** argv) {
  CLI::App app{"Evaluate a checkpoint on a dataset split", "alz eval"};
  use_conventions(app);
  train::InferenceOptions o;
  std::string data, split, format = "text", input_size;
  int batch = 32;
  bool strict = false;
  double val_fraction = 0.2;
  uint64_t split_seed = 1;
  train::BootstrapOptions bootstrap;
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
  app.add_option("--bootstrap", bootstrap.replicates, "bootstrap replicates for the 95% intervals (0: none)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--bootstrap-seed", bootstrap.seed, "seed of the bootstrap draws");
  app.add_option("--device", o.device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--precision", o.precision, "fp32 (strict), tf32 (GPU default) or bf16 (bf16 weights and compute)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  app.add_option("--resize", o.resize, "keras or area (default: what the checkpoint was trained with, else keras)")
      ->check(CLI::IsMember({"keras", "area"}));
  app.add_flag("--strict", strict, "exit with status 1 when any image could not be read (they are skipped either way)");
  if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
  if (!input_size.empty() && !train::parse_size(input_size, o.input_height, o.input_width)) {
    std::fprintf(stderr, "alz eval: --input-size: expected N or HxW, got '%s'\n", input_size.c_str());
    return 2;
  }
  data::DatasetIndex index = data::scan_dataset(data);
  if (o.class_names.empty()) o.class_names = index.class_names;
  train::LoadedModel loaded = train::load_model_for_inference(o);
  ALZ_CHECK(loaded.class_names == index.class_names || loaded.class_names.size() == index.class_names.size(),
            "the checkpoint has " << loaded.class_names.size() << " classes, the data " << index.class_names.size());
  auto provenance = loaded.metadata.find("training_data");
  const std::string record = provenance == loaded.metadata.end() ? std::string() : provenance->second;
  // No split named: the split the checkpoint's own run validated on, when it was this data.
  train::RecordedValidation recorded;
  if (split.empty() && app.count("--val-fraction") == 0 && app.count("--split-seed") == 0)
    recorded = train::remake_recorded_validation(record, data, index);
  bool made_split = false;
  if (!recorded.applies && !index.find_split("val") && split != "all") {
    // The same seeded, group-aware split alz train makes, so "val" means the same images.
    index = data::with_validation_split(index, val_fraction, split_seed);
    made_split = true;
  }
  const data::Split* chosen = nullptr;
  if (recorded.applies) {
    chosen = index.find_split("val");
  } else if (!split.empty()) {
    chosen = index.find_split(split);
    ALZ_CHECK(chosen, data << ": no split '" << split << "'\n" << index.describe());
  } else {
    for (const char* name : {"val", "test", "all"})
      if (!chosen) chosen = index.find_split(name);
    ALZ_CHECK(chosen, data << ": no val, test or all split; name one with --split\n" << index.describe());
  }
  data::LoaderOptions options;
  options.batch_size = batch;
  options.height = loaded.model->config().input_height;
  options.width = loaded.model->config().input_width;
  options.resize = loaded.resize;
  options.shuffle = false;
  options.device = loaded.device;
  if (o.precision == "bf16" && loaded.device.is_cuda()) options.dtype = DType::BF16;  // half the copy; the same values
  // Every image of the split decoded once before the pass, so that a corrupt one is skipped, not fatal.
  std::vector<data::SkippedFile> skipped = index.skipped;
  data::ScanOptions verify;
  verify.verify_images = true;
  const std::vector<data::Sample> usable = data::filter_usable(chosen->samples, verify, skipped);
  const size_t total = chosen->samples.size() + index.skipped.size();
  if (usable.empty()) return report_unreadable("eval", skipped, total, strict);
  data::Loader loader(usable, options);
  train::Predictions predictions = train::predict_loader(*loaded.model, loader);
  train::Metrics metrics =
      train::compute_metrics(std::span<const float>(predictions.probs), std::span<const int>(predictions.labels),
                             index.class_names, predictions.mean_loss);
  std::optional<train::BootstrapResult> intervals;
  if (bootstrap.replicates > 0) {
    std::vector<std::string> groups;  // of the predictions, in their order
    for (int64_t i : predictions.samples) groups.push_back(usable[i].group);
    const int classes = static_cast<int>(index.class_names.size());
    intervals = train::bootstrap_intervals(train::argmax_rows(predictions.probs, classes), predictions.labels, groups,
                                           classes, bootstrap);
  }
  train::OverlapCheck overlap = train::check_training_overlap(record, usable);
  if (format == "json") {
    nlohmann::json out = train::metrics_to_json(metrics);
    out["split"] = chosen->name;
    if (recorded.applies) out["split_from_checkpoint"] = recorded.description;
    out["weights"] = o.weights;
    out["data"] = data;
    out["resize"] = data::resize_method_name(loaded.resize);
    out["precision"] = o.precision;
    if (intervals) out["intervals"] = train::bootstrap_to_json(*intervals, index.class_names);
    out["training_overlap"] = overlap.to_json();
    if (index.known_leaky) out["leak_warning"] = index.leak_warning;
    out["skipped"] = unreadable_json(skipped);
    std::cout << out.dump(2) << "\n";
  } else {
    if (recorded.applies)
      std::cout << "split val as recorded in the checkpoint: " << recorded.description << " (" << usable.size()
                << " images)";
    else
      std::cout << "split " << chosen->name << " of " << data << " (" << usable.size() << " images)";
    if (made_split)
      std::cout << ", made as alz train makes it: group-aware, fraction " << val_fraction << ", seed " << split_seed;
    std::cout << ", resize " << data::resize_method_name(loaded.resize);
    if (o.precision == "bf16") std::cout << ", bf16";
    std::cout << "\n";
    std::cout << overlap.describe();
    if (index.known_leaky) std::cout << "WARNING: " << index.leak_warning << "\n";
    std::cout << train::format_metrics_text(metrics);
    if (intervals) std::cout << "\n" << train::format_bootstrap_text(*intervals, index.class_names);
  }
  return report_unreadable("eval", skipped, total, strict);
}

}  // namespace alz::cli
