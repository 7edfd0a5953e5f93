// The run report: pictures and tables of a training run, written into the run folder.
//
// write_report(run_dir, inputs) writes, each atomically (temp file beside it + rename, so a
// reader never sees a half-written file and the report can be rewritten every epoch):
//   curves.svg            loss (train/val) per epoch | accuracy, balanced accuracy, macro-F1
//   confusion_matrix.svg  counts per (true, predicted) cell, colour = count / row total
//                         (only when inputs.evaluation is set)
//   report.html           one self-contained file: title, the leakage warning in a red box,
//                         headline metrics (macro-F1 and balanced accuracy first), per-class
//                         table, the two pictures inlined, configuration, dataset summary and
//                         the per-epoch table. No scripts, no external assets.
// The SVGs and the HTML are well-formed XML (the HTML is XHTML-compatible).
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
  std::optional<Metrics> evaluation;            // the final or best evaluation
  std::string evaluation_label = "evaluation";  // e.g. "validation, best epoch (7)"
};

struct ReportPaths {
  std::string curves_svg;
  std::string confusion_svg;  // empty when there was no evaluation
  std::string html;
};

// Writes the report files into run_dir (which must exist); throws alz::Error naming the file
// when one cannot be written.
ReportPaths write_report(const std::string& run_dir, const ReportInputs& inputs);

// The pieces, as text: each SVG is a single <svg> element without XML declaration.
std::string render_curves_svg(const std::vector<EpochRecord>& history);
std::string render_confusion_svg(const Metrics& metrics);
std::string render_report_html(const ReportInputs& inputs);

// Appends record.dump() and a newline to `path` (created if missing) and flushes it to disk
// (append_line_durable, core/atomic_file.h). Whole files go through write_file_atomic.
void append_jsonl(const std::string& path, const nlohmann::json& record);

// Every record of a JSON-lines file (blank lines skipped). A last line without its newline that
// does not parse (a write cut short) is ignored; any other bad line throws alz::Error with the
// file and line number.
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace alz::train
