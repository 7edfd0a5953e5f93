// What the run report says about the run besides the curves: its metadata (run_info.json),
// the best epoch's predictions (best_predictions.json), the resolved settings, the class
// balance of the splits and the warnings that go at the top of the page.
//
//   run_info.json         RunMetadata: when the run began, how long it has trained (summed over
//                         resumes), the device actually used and its name, alz's version and
//                         commit. Written at the start of a run and after every epoch.
//   best_predictions.json BestPredictions: for every validation image of the best epoch, its
//                         path, true class and class probabilities. Written with
//                         best.safetensors, so the report (also one rewritten after a resume)
//                         shows the best epoch's numbers: the ones `alz eval` on best.safetensors
//                         gives.
// Both go through write_file_atomic (core/atomic_file.h).
//
// The version and commit come from the generated header alz_build_info.h (cmake/build_info.cmake
// writes it into the build folder from `git describe --always --dirty` at every build; "unknown"
// outside a git checkout). An `alz --version` can print the same two strings.
//
// Tested in tests/test_report.cpp:
//   cmake --build build --target test_report && build/tests/test_report
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "train/metrics.h"

namespace alz::train {

// ---------------------------------------------------------------- the build

std::string alz_version();  // the project version, "0.1.0"
std::string alz_commit();   // `git describe --always --dirty` of the source tree at build time

// ---------------------------------------------------------------- run metadata

struct RunMetadata {
  std::string started_at;        // UTC, "2026-11-29 19:51:04 UTC", when the run began
  std::string updated_at;        // UTC, when this record was last written
  double elapsed_seconds = 0.0;  // wall time of the training processes, summed over resumes
  int processes = 1;             // 1 + the number of resumes
  std::string device;            // the device used: "cpu" or "cuda:0" (never "auto")
  std::string device_name;       // the GPU's name, or the CPU threading summary
  std::string alz_version, alz_commit;
  std::string host;        // the machine's host name
  std::string cuda_graph;  // how the last process ran the training step (train/step_graph.h status)

  bool operator==(const RunMetadata&) const = default;
};
nlohmann::json run_metadata_to_json(const RunMetadata& m);
RunMetadata run_metadata_from_json(const nlohmann::json& j);  // missing keys keep their defaults

// Now, in UTC, as "YYYY-MM-DD HH:MM:SS UTC".
std::string utc_now();
// The metadata of a run starting now on `device` ("cpu", "cuda:0"): the build's version and
// commit, the GPU's name (or the CPU threading summary), the host name.
RunMetadata new_run_metadata(const std::string& device);
// run_dir/run_info.json, atomically; read returns nullopt when the file is missing or not JSON
// (an older run folder): the caller starts a new record.
void write_run_metadata(const std::string& run_dir, const RunMetadata& m);
std::optional<RunMetadata> read_run_metadata(const std::string& run_dir);

// ---------------------------------------------------------------- the best epoch's predictions

struct BestPredictions {
  int epoch = 0;                         // 1-based epoch of best.safetensors
  std::vector<std::string> class_names;  // (K)
  std::vector<std::string> paths;        // (N) the validation images
  std::vector<int> labels;               // (N) true classes
  std::vector<float> probs;              // (N, K) softmax probabilities

  int64_t count() const { return static_cast<int64_t>(labels.size()); }
  int predicted(int64_t i) const;  // argmax of row i (the first of equal maxima)
  // Mean cross-entropy -log p[label] (p clamped at 1e-30), as train/evaluate.cpp computes it.
  double mean_loss() const;
  Metrics metrics() const;  // compute_metrics with mean_loss()
};
// JSON: {"epoch", "class_names", "samples": [{"path", "label", "probs": [K]}]}.
nlohmann::json best_predictions_to_json(const BestPredictions& p);
// Throws alz::Error (naming `source`) when a field is missing or sizes disagree.
BestPredictions best_predictions_from_json(const nlohmann::json& j, const std::string& source);
inline constexpr const char* kBestPredictionsFile = "best_predictions.json";
void write_best_predictions(const std::string& run_dir, const BestPredictions& p);
// nullopt when run_dir has no best_predictions.json; alz::Error naming the file when damaged.
std::optional<BestPredictions> read_best_predictions(const std::string& run_dir);

// ---------------------------------------------------------------- settings, balance, warnings

// The configuration as the run actually ran it: `config` (config.json's object) with the
// settings that config.json keeps unresolved replaced: "device" by the device used ("cpu",
// "cuda:0"), "precision" on a CPU run by "fp32" (TF32 exists only on GPUs) and an empty
// "data" by `data_source` (the phantom manifest). A replaced value notes what was asked:
// "cpu (asked: auto)". "class_weights" auto says what it means ("auto: inverse class
// frequency"). Every other value is shown as in config.json.
std::vector<std::pair<std::string, std::string>> resolved_settings(const nlohmann::json& config,
                                                                   const std::string& device,
                                                                   const std::string& data_source);

// Images per class in the training and validation splits.
struct ClassBalance {
  std::vector<std::string> class_names;  // (K)
  std::vector<int64_t> train, val;       // (K) each
};
// A class is "small" below these counts: its validation recall moves by 1/support per image,
// so with 4 images one image is 25 points of recall.
inline constexpr int64_t kSmallValidationSupport = 20;
inline constexpr int64_t kSmallTrainingSupport = 50;
// One prediction class above this share of all predictions draws a warning: the model may
// have collapsed onto that class.
inline constexpr double kDominantPredictionShare = 0.9;

// The warnings shown in a box at the top of the report, one sentence each: every class with
// small support (training or validation), and an evaluation whose predictions go more than
// kDominantPredictionShare to one class (`label` names which evaluation, e.g. "best epoch 6").
std::vector<std::string> small_support_warnings(const ClassBalance& balance);
std::optional<std::string> dominant_class_warning(const Metrics& m, const std::string& label);

}  // namespace alz::train
