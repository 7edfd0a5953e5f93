// Cross-validation by subject behind `alz cv`: K models, each trained by the ordinary Trainer
// (train/trainer.h) with the same recipe, fold k validated on the subjects of fold k only
// (data/folds.h), and one summary of the K best-epoch figures.
//
//   CrossValidationConfig cv;  cv.recipe = ...;  cv.folds = 5;  cv.dir = "runs/cv";
//   int code = run_cross_validation(cv);   // 0 done; else the failing fold's exit code
//
// The folder: <dir>/fold-<k>/ is a normal run folder (k = 1..K; config.json, checkpoints,
// report.html; its checkpoints record the fold in their training_data, train/provenance.h),
// <dir>/fold-<k>/fold.json marks a finished fold with its result, <dir>/summary.json,
// <dir>/summary.md and <dir>/cv_report.html hold the summary. Running the same command again skips finished folds and
// resumes an interrupted one (alz train --resume), so a stopped cross-validation goes on.
//
// The summary gives, for macro-F1, balanced accuracy and macro ROC-AUC of each fold's best
// epoch (by validation macro-F1, as alz train keeps best.safetensors), the mean and the sample
// standard deviation (n - 1 in the denominator) over the folds where the figure is defined,
// and one row per fold. Note that picking the best epoch on the validation fold makes these
// figures slightly optimistic; the spread across folds is the point.
//
// Tested in tests/test_cli_cv.cpp:
//   cmake --build build -j2 --target test_cli_cv && ctest --test-dir build -R CliCv
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace alz::train {

struct CrossValidationConfig {
  TrainConfig recipe;  // every fold's settings; run_dir, resume, cv_folds and cv_fold are set per fold
  int folds = 5;
  std::string dir;  // default runs/cv-seed<seed>
};

struct FoldResult {
  int fold = 0;  // 1-based
  std::string run_dir;
  int64_t train_images = 0, val_images = 0, val_subjects = 0;
  int best_epoch = 0;
  double macro_f1 = 0.0, balanced_accuracy = 0.0, roc_auc_macro = 0.0;  // ROC-AUC NaN when undefined
};
void to_json(nlohmann::json& j, const FoldResult& r);
void from_json(const nlohmann::json& j, FoldResult& r);

struct MeanStd {
  double mean = 0.0, std = 0.0;  // std: sample standard deviation (n - 1); NaN when n < 2
  int n = 0;                     // the defined values used
};
// Over the finite values (NaN values are left out); mean NaN when there are none.
MeanStd mean_std(const std::vector<double>& values);

// The summary: {"folds": K, "std": "sample (n-1)", "macro_f1": {mean, std, n}, ..., "per_fold": [...]}
nlohmann::json cv_summary_json(const std::vector<FoldResult>& folds, const nlohmann::json& recipe);
// A small self-contained Markdown page: the mean ± std table, the per-fold rows, the recipe.
std::string cv_summary_markdown(const std::vector<FoldResult>& folds, const nlohmann::json& recipe);
// The same as a self-contained HTML page (cv_report.html, in the look of a run's report.html),
// each fold's row linking to fold-<k>/report.html.
std::string cv_summary_html(const std::vector<FoldResult>& folds, const nlohmann::json& recipe);
// What alz cv prints at the end: the per-fold rows and "macro-F1 0.383 ± 0.041" lines.
std::string cv_summary_text(const std::vector<FoldResult>& folds);

// Trains (or skips, or resumes) every fold, then writes and prints the summary. Returns 0, or
// the exit code of the first fold that did not finish (130 when interrupted: run it again).
int run_cross_validation(CrossValidationConfig config);

}  // namespace alz::train
