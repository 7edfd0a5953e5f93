// Cross-validation by subject (train/cross_validation.h): the fold loop, the finished-fold
// records and the summary files.
//
// Tested in tests/test_cli_cv.cpp:
//   cmake --build build -j2 --target test_cli_cv && ctest --test-dir build -R CliCv
#include "train/cross_validation.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/folds.h"
#include "train/run_setup.h"
#include "train/run_state.h"
#include "train/svg_chart.h"

namespace alz::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double number_or_nan(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : kNaN;
}

json number(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

std::vector<double> column(const std::vector<FoldResult>& folds, double FoldResult::*field) {
  std::vector<double> out;
  for (const FoldResult& f : folds) out.push_back(f.*field);
  return out;
}

struct Figure {
  const char* key;
  const char* label;
  double FoldResult::*field;
};
constexpr Figure kFigures[] = {{"macro_f1", "macro-F1", &FoldResult::macro_f1},
                               {"balanced_accuracy", "balanced accuracy", &FoldResult::balanced_accuracy},
                               {"roc_auc_macro", "ROC-AUC (macro)", &FoldResult::roc_auc_macro}};

std::string format_mean_std(const MeanStd& m) {
  char text[96];
  if (!std::isfinite(m.mean)) return "undefined";
  if (!std::isfinite(m.std))
    std::snprintf(text, sizeof text, "%.3f (n = %d)", m.mean, m.n);
  else
    std::snprintf(text, sizeof text, "%.3f ± %.3f (n = %d)", m.mean, m.std, m.n);
  return text;
}

std::string format3(double x) {
  if (!std::isfinite(x)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", x);
  return text;
}

std::string fold_dir(const std::string& dir, int fold) { return dir + "/fold-" + std::to_string(fold); }

}  // namespace

void to_json(json& j, const FoldResult& r) {
  j = {{"fold", r.fold},
       {"run_dir", r.run_dir},
       {"train_images", r.train_images},
       {"val_images", r.val_images},
       {"val_subjects", r.val_subjects},
       {"best_epoch", r.best_epoch},
       {"macro_f1", number(r.macro_f1)},
       {"balanced_accuracy", number(r.balanced_accuracy)},
       {"roc_auc_macro", number(r.roc_auc_macro)}};
}

void from_json(const json& j, FoldResult& r) {
  r.fold = j.at("fold").get<int>();
  r.run_dir = j.at("run_dir").get<std::string>();
  r.train_images = j.at("train_images").get<int64_t>();
  r.val_images = j.at("val_images").get<int64_t>();
  r.val_subjects = j.at("val_subjects").get<int64_t>();
  r.best_epoch = j.at("best_epoch").get<int>();
  r.macro_f1 = number_or_nan(j, "macro_f1");
  r.balanced_accuracy = number_or_nan(j, "balanced_accuracy");
  r.roc_auc_macro = number_or_nan(j, "roc_auc_macro");
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd out;
  double sum = 0.0;
  for (double v : values)
    if (std::isfinite(v)) sum += v, ++out.n;
  out.mean = out.n > 0 ? sum / out.n : kNaN;
  if (out.n < 2) {
    out.std = kNaN;
    return out;
  }
  double squares = 0.0;
  for (double v : values)
    if (std::isfinite(v)) squares += (v - out.mean) * (v - out.mean);
  out.std = std::sqrt(squares / (out.n - 1));
  return out;
}

json cv_summary_json(const std::vector<FoldResult>& folds, const json& recipe) {
  json out = {{"folds", folds.size()}, {"std", "sample standard deviation (n - 1)"}, {"per_fold", folds}};
  for (const Figure& figure : kFigures) {
    MeanStd m = mean_std(column(folds, figure.field));
    out[figure.key] = {{"mean", number(m.mean)}, {"std", number(m.std)}, {"n", m.n}};
  }
  out["recipe"] = recipe;
  return out;
}

std::string cv_summary_markdown(const std::vector<FoldResult>& folds, const json& recipe) {
  std::ostringstream s;
  s << "# Cross-validation by subject: " << folds.size() << " folds\n\n"
    << "Each fold's model was validated only on subjects it never trained on; every subject is in exactly one "
       "validation fold. Figures are those of each fold's best epoch (by validation macro-F1). Mean ± sample "
       "standard deviation (n - 1) over the folds.\n\n"
    << "| metric | mean ± std |\n|---|---|\n";
  for (const Figure& figure : kFigures)
    s << "| " << figure.label << " | " << format_mean_std(mean_std(column(folds, figure.field))) << " |\n";
  s << "\n| fold | train images | val images | val subjects | best epoch | macro-F1 | balanced acc | ROC-AUC |\n"
    << "|---|---|---|---|---|---|---|---|\n";
  for (const FoldResult& f : folds)
    s << "| " << f.fold << " | " << f.train_images << " | " << f.val_images << " | " << f.val_subjects << " | "
      << f.best_epoch << " | " << format3(f.macro_f1) << " | " << format3(f.balanced_accuracy) << " | "
      << format3(f.roc_auc_macro) << " |\n";
  s << "\nEach fold's run folder (`fold-<k>/`) holds its checkpoints and report.html.\n\n## Recipe\n\n";
  for (auto it = recipe.begin(); it != recipe.end(); ++it)
    s << "- " << it.key() << ": `" << (it->is_string() ? it->get<std::string>() : it->dump()) << "`\n";
  return s.str();
}

namespace {

std::string h(std::string_view text) { return svg::escape_xml(text); }

// The look of the run report (train/report.cpp), in a few rules: the page stands alone.
constexpr const char* kCvCss = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 0 auto; max-width: 1040px;
       padding: 16px 24px 48px; line-height: 1.4; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin: 0 0 12px; }
table { border-collapse: collapse; font-size: 14px; margin: 4px 0; }
th, td { border: 1px solid #ddd; padding: 4px 10px; }
th { background: #f3f5f7; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.config td:first-child { font-family: monospace; color: #444; }
)";

}  // namespace

std::string cv_summary_html(const std::vector<FoldResult>& folds, const json& recipe) {
  std::ostringstream s;
  const std::string title = "Cross-validation by subject: " + std::to_string(folds.size()) + " folds";
  s << "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>" << h(title)
    << "</title>\n<style>" << kCvCss << "</style>\n</head>\n<body>\n<h1>" << h(title) << "</h1>\n"
    << "<p class=\"sub\">Each fold's model was validated only on subjects it never trained on; every subject is in "
       "exactly one validation fold. Figures are those of each fold's best epoch (by validation macro-F1), so "
       "slightly optimistic; the spread across folds is the point.</p>\n"
    << "<h2>Mean &#177; sample standard deviation (n - 1)</h2>\n<table>\n<tr><th>metric</th><th "
       "class=\"num\">mean &#177; std</th></tr>\n";
  for (const Figure& figure : kFigures)
    s << "<tr><td>" << h(figure.label) << "</td><td class=\"num\">"
      << h(format_mean_std(mean_std(column(folds, figure.field)))) << "</td></tr>\n";
  s << "</table>\n<h2>Folds</h2>\n<table>\n<tr><th>fold</th><th class=\"num\">train images</th><th "
       "class=\"num\">val images</th><th class=\"num\">val subjects</th><th class=\"num\">best epoch</th><th "
       "class=\"num\">macro-F1</th><th class=\"num\">balanced acc</th><th "
       "class=\"num\">ROC-AUC</th><th>report</th></tr>\n";
  for (const FoldResult& f : folds) {
    const std::string link = "fold-" + std::to_string(f.fold) + "/report.html";
    s << "<tr><td>" << f.fold << "</td><td class=\"num\">" << f.train_images << "</td><td class=\"num\">"
      << f.val_images << "</td><td class=\"num\">" << f.val_subjects << "</td><td class=\"num\">" << f.best_epoch
      << "</td><td class=\"num\">" << format3(f.macro_f1) << "</td><td class=\"num\">" << format3(f.balanced_accuracy)
      << "</td><td class=\"num\">" << format3(f.roc_auc_macro) << "</td><td><a href=\"" << h(link) << "\">" << h(link)
      << "</a></td></tr>\n";
  }
  s << "</table>\n<h2>Recipe</h2>\n<table class=\"config\">\n";
  for (auto it = recipe.begin(); it != recipe.end(); ++it)
    s << "<tr><td>" << h(it.key()) << "</td><td>" << h(it->is_string() ? it->get<std::string>() : it->dump())
      << "</td></tr>\n";
  s << "</table>\n</body>\n</html>\n";
  return s.str();
}

std::string cv_summary_text(const std::vector<FoldResult>& folds) {
  std::ostringstream s;
  char line[200];
  std::snprintf(line, sizeof line, "%-5s %8s %8s %9s %6s %9s %9s %8s\n", "fold", "train", "val", "subjects", "best",
                "macro-F1", "bal. acc", "ROC-AUC");
  s << line;
  for (const FoldResult& f : folds) {
    std::snprintf(line, sizeof line, "%-5d %8lld %8lld %9lld %6d %9s %9s %8s\n", f.fold,
                  static_cast<long long>(f.train_images), static_cast<long long>(f.val_images),
                  static_cast<long long>(f.val_subjects), f.best_epoch, format3(f.macro_f1).c_str(),
                  format3(f.balanced_accuracy).c_str(), format3(f.roc_auc_macro).c_str());
    s << line;
  }
  s << "mean ± sample std (n - 1) over " << folds.size() << " subject-disjoint folds:\n";
  for (const Figure& figure : kFigures)
    s << "  " << figure.label << " " << format_mean_std(mean_std(column(folds, figure.field))) << "\n";
  return s.str();
}

int run_cross_validation(CrossValidationConfig cv) {
  ALZ_CHECK(cv.folds >= 2, "--folds must be at least 2, got " << cv.folds);
  ALZ_CHECK(cv.recipe.resume.empty(), "alz cv resumes by itself: run the same command again");
  if (cv.dir.empty()) cv.dir = "runs/cv-seed" + std::to_string(cv.recipe.seed);
  fs::create_directories(cv.dir);
  json recipe = cv.recipe;
  for (const char* key : {"run_dir", "resume", "cv_fold", "stop_after_steps"}) recipe.erase(key);
  recipe["cv_folds"] = cv.folds;

  std::vector<FoldResult> results;
  for (int k = 1; k <= cv.folds; ++k) {
    TrainConfig config = cv.recipe;
    config.run_dir = fold_dir(cv.dir, k);
    config.cv_folds = cv.folds;
    config.cv_fold = k - 1;
    const std::string done = config.run_dir + "/fold.json";
    if (fs::exists(done)) {
      std::ifstream in(done);
      try {
        results.push_back(json::parse(in).get<FoldResult>());
        if (!config.quiet) std::printf("fold %d/%d: finished before, skipped (%s)\n", k, cv.folds, done.c_str());
        continue;
      } catch (const json::exception& error) {
        ALZ_FAIL(done << ": not a valid fold record (" << error.what() << "); delete it to train the fold again");
      }
    }
    RunData data = prepare_data(config);  // the fold's split, for its counts (the Trainer makes the same)
    if (fs::exists(config.run_dir + "/state.json")) config.resume = config.run_dir;
    if (!config.quiet)
      std::printf("== fold %d/%d: %s %s\n", k, cv.folds, config.resume.empty() ? "training" : "resuming",
                  config.run_dir.c_str());
    int code = run_training(config);
    if (code != 0) {
      std::fprintf(stderr, "alz cv: fold %d stopped (exit code %d); run the same command again to go on\n", k, code);
      return code;
    }
    SavedRun saved = read_saved_run(config.run_dir);
    FoldResult result;
    result.fold = k;
    result.run_dir = config.run_dir;
    result.train_images = static_cast<int64_t>(data.index.find_split("train")->samples.size());
    result.val_images = static_cast<int64_t>(data.index.find_split("val")->samples.size());
    result.val_subjects = data::count_groups(data.index.find_split("val")->samples);
    result.best_epoch = saved.state.best_epoch;
    result.macro_f1 = number_or_nan(saved.state.best_evaluation, "macro_f1");
    result.balanced_accuracy = number_or_nan(saved.state.best_evaluation, "balanced_accuracy");
    result.roc_auc_macro = number_or_nan(saved.state.best_evaluation, "roc_auc_macro");
    write_file_atomic(done, json(result).dump(2) + "\n");
    results.push_back(result);
  }
  write_file_atomic(cv.dir + "/summary.json", cv_summary_json(results, recipe).dump(2) + "\n");
  write_file_atomic(cv.dir + "/summary.md", cv_summary_markdown(results, recipe));
  write_file_atomic(cv.dir + "/cv_report.html", cv_summary_html(results, recipe));
  std::printf("%s", cv_summary_text(results).c_str());
  std::printf("summary: %s/cv_report.html, summary.md and summary.json\n", cv.dir.c_str());
  return 0;
}

}  // namespace alz::train
