// The run report: pictures and tables of a training run, written into the run folder.
//
// write_report(run_dir, inputs) writes, each atomically (temp file beside it + rename, so a
// reader never sees a half-written file and the report can be rewritten every epoch):
//   curves.svg            loss (train/val) per epoch | accuracy, balanced accuracy, macro-F1
//   confusion_matrix.svg  counts per (true, predicted) cell, colour = count / row total
//                         (only when inputs.evaluation is set)
//   roc_pr.svg            per-class ROC and precision-recall curves, one-vs-rest, from the
//                         per-sample probabilities (only when inputs.predictions is set)
//   report.html           one self-contained file: title, run metadata, the warnings (leakage;
//                         classes with small support; one class taking more than 90 % of the
//                         predictions), configuration as resolved, dataset and class balance,
//                         headline metrics (macro-F1 and balanced accuracy first) and per-class
//                         table of `evaluation` (the best epoch) with `last_evaluation` (the last
//                         epoch) beside them, both confusion matrices, ROC and PR curves, the
//                         training and learning-rate curves, the per-epoch table and the gallery
//                         of misclassified slices (train/report_gallery.h; thumbnails embedded as
//                         data URIs). No scripts, no external assets.
// The SVGs and the HTML are well-formed XML (the HTML is XHTML-compatible).
//
// Which numbers: the trainer passes the best epoch's (highest validation macro-F1) metrics as
// `evaluation`, computed from best_predictions.json (train/report_run.h), so the headline
// equals what `alz eval` says of best.safetensors; the last epoch's are shown beside, smaller.
//
// metrics.jsonl: append_jsonl(path, record) appends one JSON line and flushes (one record per
// epoch, epoch_to_json); read_jsonl reads them back, ignoring a torn last line.
//
// Tested in tests/test_report.cpp:
//   cmake --build build --target test_report && build/tests/test_report
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/atomic_file.h"
#include "train/metrics.h"
#include "train/report_gallery.h"
#include "train/report_run.h"

namespace alz::train {

// One epoch of history. Values that were not measured (no validation split, say) are NaN and
// are shown as "-" and left out of the curves.
struct EpochRecord {
  int epoch = 0;  // 1-based
  double train_loss = 0.0;
  double train_accuracy = 0.0;
  double val_loss = 0.0;
  double val_accuracy = 0.0;
  double val_balanced_accuracy = 0.0;
  double val_macro_f1 = 0.0;
  double learning_rate = 0.0;
  double images_per_second = 0.0;

  bool operator==(const EpochRecord&) const = default;  // NaN (not measured) equals nothing
};

// Fields: epoch, train_loss, train_accuracy, val_loss, val_accuracy, val_balanced_accuracy,
// val_macro_f1, learning_rate, images_per_second (NaN as null). from_json takes missing or
// null values as NaN; throws alz::Error when "epoch" is missing.
nlohmann::json epoch_to_json(const EpochRecord& record);
EpochRecord epoch_from_json(const nlohmann::json& record);
// The same for nlohmann's conversions (a history inside state.json, train/run_state.h).
inline void to_json(nlohmann::json& j, const EpochRecord& record) { j = epoch_to_json(record); }
inline void from_json(const nlohmann::json& j, EpochRecord& record) { record = epoch_from_json(j); }

struct ReportInputs {
  std::string title = "alz training run";
  std::string generated_at;                                 // shown under the title when set
  std::string run_dir;                                      // shown under the title; write_report
                                                            // fills it when empty
  std::vector<std::pair<std::string, std::string>> config;  // key, value (in this order)
  std::string dataset_summary;                              // preformatted text
  std::string leakage_warning;                              // empty: none
  std::vector<EpochRecord> history;
  std::optional<Metrics> evaluation;                 // the best evaluation (the headline)
  std::string evaluation_label = "evaluation";       // e.g. "validation, best epoch (7)"
  std::optional<Metrics> last_evaluation;            // the last epoch's, shown beside
  std::string last_evaluation_label = "last epoch";  // e.g. "last epoch (8)"
  std::optional<RunMetadata> metadata;               // date, duration, device, version
  std::optional<ClassBalance> class_balance;         // images per class, train and val
  std::optional<BestPredictions> predictions;        // behind `evaluation`: ROC and PR curves
  std::vector<GalleryCell> gallery;                  // misclassified slices (build_gallery)
  bool show_gallery = false;                         // the gallery section (even when empty)
};

struct ReportPaths {
  std::string curves_svg;
  std::string confusion_svg;  // empty when there was no evaluation
  std::string roc_pr_svg;     // empty without predictions
  std::string html;
};

// What the trainer shows after each epoch: with the best epoch's predictions, `evaluation`
// becomes their metrics ("validation, best epoch B"), `last_evaluation` the last epoch's
// ("last epoch L"), `predictions` the best epoch's and the gallery is built from them
// (build_gallery with `gallery`). Without them (a run folder written before they were kept),
// the last epoch is the evaluation, labelled as such.
void choose_evaluations(ReportInputs& inputs, std::optional<BestPredictions> best, const Metrics& last, int last_epoch,
                        const GalleryOptions& gallery = {});

// Writes the report files into run_dir (which must exist); throws alz::Error naming the file
// when one cannot be written.
ReportPaths write_report(const std::string& run_dir, const ReportInputs& inputs);

// The pieces, as text: each SVG is a single <svg> element without XML declaration.
std::string render_curves_svg(const std::vector<EpochRecord>& history);
std::string render_confusion_svg(const Metrics& metrics);
std::string render_report_html(const ReportInputs& inputs);
// Two panels: per class one-vs-rest ROC (legend with the AUC, a dashed chance diagonal) and
// precision-recall as the step function of average precision (legend with the AP).
// train/report_curves.cpp.
std::string render_roc_pr_svg(const BestPredictions& predictions);
std::string render_learning_rate_svg(const std::vector<EpochRecord>& history);
// Every warning of the page's warning box, in order: small support, then one class dominating
// the predictions of `evaluation` and of `last_evaluation`. (The leakage warning has its own box.)
std::vector<std::string> report_warnings(const ReportInputs& inputs);

// Appends record.dump() and a newline to `path` (created if missing) and flushes it to disk
// (append_line_durable, core/atomic_file.h). Whole files go through write_file_atomic.
void append_jsonl(const std::string& path, const nlohmann::json& record);

// Every record of a JSON-lines file (blank lines skipped). A last line without its newline that
// does not parse (a write cut short) is ignored; any other bad line throws alz::Error with the
// file and line number.
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace alz::train
