// The run report: curves.svg, confusion_matrix.svg, roc_pr.svg and a self-contained report.html,
// written atomically; metrics.jsonl appends. See train/report.h. Tested by tests/test_report.cpp.
#include "train/report.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "train/svg_chart.h"

namespace alz::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

double number_or_nan(const nlohmann::json& record, const char* key) {
  const auto it = record.find(key);
  return it != record.end() && it->is_number() ? it->get<double>() : kNaN;
}

std::string fixed(double v, int decimals = 4) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string h(std::string_view text) { return svg::escape_xml(text); }

// Colours of the curves: train blue, validation orange, per-class-balanced metrics in green/red.
constexpr const char* kTrainColor = "#1f77b4";
constexpr const char* kValColor = "#ff7f0e";
constexpr const char* kBalancedColor = "#2ca02c";
constexpr const char* kMacroF1Color = "#d62728";

constexpr const char* kCss = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 0 auto; max-width: 1040px;
       padding: 16px 24px 48px; line-height: 1.4; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin: 0 0 12px; }
.warning { background: #fdecea; border: 2px solid #d93025; border-radius: 6px; padding: 10px 16px; margin: 16px 0; }
.warning strong { color: #b3261e; font-size: 17px; }
.warning p { margin: 6px 0 0; white-space: pre-wrap; }
table { border-collapse: collapse; font-size: 14px; margin: 4px 0; }
th, td { border: 1px solid #ddd; padding: 4px 10px; }
th { background: #f3f5f7; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #fff7d6; font-weight: bold; }
.config td:first-child { font-family: monospace; color: #444; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 4px; padding: 10px; overflow-x: auto; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 14px; min-width: 112px; }
.card .label { font-size: 13px; color: #555; }
.card .value { font-size: 26px; font-weight: bold; }
.card.primary { border: 2px solid #1f77b4; background: #f1f7fc; }
.note { color: #555; font-size: 13px; }
.figure svg { max-width: 100%; height: auto; }
.cautions { background: #fff8e1; border: 2px solid #f0a500; border-radius: 6px; padding: 8px 16px; margin: 16px 0; }
.cautions strong { color: #8a5a00; font-size: 17px; }
.cautions ul { margin: 6px 0 0; padding-left: 20px; }
.card .last { font-size: 12px; color: #666; }
.side { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.side .figure { flex: 1 1 460px; }
.side .caption { font-size: 13px; color: #555; text-align: center; }
.gallery { display: flex; flex-wrap: wrap; gap: 10px; margin: 6px 0 14px; }
.slice { border: 1px solid #d0d7de; border-radius: 4px; padding: 6px; font-size: 12px; }
.slice .pictures { display: flex; gap: 4px; }
.slice img { height: 112px; image-rendering: pixelated; }
.slice .caption { font-size: 11px; color: #555; max-width: 112px; }
.slice .file { font-family: monospace; font-size: 11px; max-width: 230px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.slice .missing { width: 112px; height: 112px; background: #eee; color: #a00; font-size: 11px; overflow: hidden; }
table.probs { font-size: 11px; margin: 2px 0 0; }
table.probs td { border: none; padding: 0 6px 0 0; }
h3 { font-size: 15px; margin: 14px 0 4px; }
)";

std::string last_note(const std::optional<Metrics>& last, double Metrics::*field) {
  return last ? fixed((*last).*field) : std::string();
}

void card(std::ostringstream& out, const std::string& label, const std::string& value, bool primary,
          const std::string& last_label = "", const std::string& last_value = "") {
  out << "<div class=\"card" << (primary ? " primary" : "") << "\"><div class=\"label\">" << h(label)
      << "</div><div class=\"value\">" << h(value) << "</div>";
  if (!last_value.empty()) out << "<div class=\"last\">" << h(last_label) << ": " << h(last_value) << "</div>";
  out << "</div>\n";
}

void evaluation_html(std::ostringstream& out, const ReportInputs& in) {
  const Metrics& m = *in.evaluation;
  const std::optional<Metrics>& last = in.last_evaluation;
  const std::string& ll = in.last_evaluation_label;
  out << "<h2>Headline metrics (" << h(in.evaluation_label) << ")</h2>\n<div class=\"cards\">\n";
  card(out, "Macro-F1", fixed(m.macro_f1), true, ll, last_note(last, &Metrics::macro_f1));
  card(out, "Balanced accuracy", fixed(m.balanced_accuracy), true, ll, last_note(last, &Metrics::balanced_accuracy));
  card(out, "Accuracy", fixed(m.accuracy), false, ll, last_note(last, &Metrics::accuracy));
  card(out, "ROC-AUC (macro)", fixed(m.roc_auc_macro), false, ll, last_note(last, &Metrics::roc_auc_macro));
  if (std::isfinite(m.loss)) card(out, "Loss", fixed(m.loss), false, ll, last_note(last, &Metrics::loss));
  card(out, "Samples", std::to_string(m.count), false);
  out << "</div>\n<p class=\"note\">Macro-F1 and balanced accuracy weigh every class equally; accuracy is "
         "dominated by the largest classes and can look good for a model that ignores the small ones. "
         "ROC-AUC is one-vs-rest per class, averaged over the classes with both positives and negatives.";
  if (last)
    out << " The large numbers are those of " << h(in.evaluation_label) << " (best.safetensors, what "
        << "<code>alz eval</code> reports); the small ones those of " << h(ll) << ".";
  out << "</p>\n";

  out << "<h2>Per class (" << h(in.evaluation_label)
      << ")</h2>\n<table>\n<tr><th>class</th><th class=\"num\">precision</th>"
         "<th class=\"num\">recall</th><th class=\"num\">F1</th><th class=\"num\">support</th><th "
         "class=\"num\">predicted</th>"
         "<th class=\"num\">ROC-AUC</th>";
  if (last) out << "<th class=\"num\">F1, " << h(ll) << "</th><th class=\"num\">recall, " << h(ll) << "</th>";
  out << "</tr>\n";
  for (size_t i = 0; i < m.per_class.size(); ++i) {
    const ClassMetrics& c = m.per_class[i];
    out << "<tr><td>" << h(c.name) << "</td><td class=\"num\">" << fixed(c.precision) << "</td><td class=\"num\">"
        << fixed(c.recall) << "</td><td class=\"num\">" << fixed(c.f1) << "</td><td class=\"num\">" << c.support
        << "</td><td class=\"num\">" << c.predicted << "</td><td class=\"num\">" << fixed(c.roc_auc) << "</td>";
    if (last) {
      const bool has = i < last->per_class.size();
      out << "<td class=\"num\">" << (has ? fixed(last->per_class[i].f1) : "-") << "</td><td class=\"num\">"
          << (has ? fixed(last->per_class[i].recall) : "-") << "</td>";
    }
    out << "</tr>\n";
  }
  out << "</table>\n";
  out << "<h2>Confusion matrix</h2>\n<p class=\"note\">Rows are true classes, columns predicted classes; each cell "
         "shows the count and its share of the row, and its colour is that share.</p>\n";
  if (!last) {
    out << "<div class=\"figure\">\n" << render_confusion_svg(m) << "</div>\n";
    return;
  }
  out << "<div class=\"side\">\n<div class=\"figure\">\n"
      << render_confusion_svg(m) << "<div class=\"caption\">" << h(in.evaluation_label)
      << "</div></div>\n<div class=\"figure\">\n"
      << render_confusion_svg(*last) << "<div class=\"caption\">" << h(ll) << "</div></div>\n</div>\n";
}

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const long total = std::lround(seconds);
  char buf[64];
  if (total >= 3600)
    std::snprintf(buf, sizeof buf, "%ld h %02ld min %02ld s", total / 3600, total / 60 % 60, total % 60);
  else if (total >= 60)
    std::snprintf(buf, sizeof buf, "%ld min %02ld s", total / 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  return buf;
}

void metadata_html(std::ostringstream& out, const RunMetadata& m) {
  out << "<h2>Run</h2>\n<table class=\"config\">\n";
  auto row = [&](const char* key, const std::string& value) {
    out << "<tr><td>" << key << "</td><td>" << h(value.empty() ? "-" : value) << "</td></tr>\n";
  };
  row("started", m.started_at);
  row("report written", m.updated_at);
  row("training time", duration_text(m.elapsed_seconds) +
                           (m.processes > 1 ? " over " + std::to_string(m.processes) + " processes (resumed)" : ""));
  row("device", m.device);
  row(m.device.rfind("cuda", 0) == 0 ? "GPU" : "CPU", m.device_name);
  if (!m.cuda_graph.empty()) row("CUDA graph step", m.cuda_graph);
  row("alz version", m.alz_version);
  row("alz commit", m.alz_commit);
  row("host", m.host);
  out << "</table>\n";
}

void balance_html(std::ostringstream& out, const ClassBalance& b) {
  int64_t train_total = 0, val_total = 0;
  for (int64_t v : b.train) train_total += v;
  for (int64_t v : b.val) val_total += v;
  auto share = [](int64_t v, int64_t total) { return total > 0 ? fixed(100.0 * v / total, 1) + "%" : "-"; };
  out << "<h3>Class balance</h3>\n<table>\n<tr><th>class</th><th class=\"num\">train</th><th class=\"num\">share</th>"
         "<th class=\"num\">validation</th><th class=\"num\">share</th><th></th></tr>\n";
  for (size_t k = 0; k < b.class_names.size(); ++k) {
    const int64_t t = k < b.train.size() ? b.train[k] : 0, v = k < b.val.size() ? b.val[k] : 0;
    const bool small = v < kSmallValidationSupport || t < kSmallTrainingSupport;
    out << "<tr><td>" << h(b.class_names[k]) << "</td><td class=\"num\">" << t << "</td><td class=\"num\">"
        << share(t, train_total) << "</td><td class=\"num\">" << v << "</td><td class=\"num\">" << share(v, val_total)
        << "</td><td>" << (small ? "&#9888; small support" : "") << "</td></tr>\n";
  }
  out << "<tr><td>total</td><td class=\"num\">" << train_total << "</td><td></td><td class=\"num\">" << val_total
      << "</td><td></td><td></td></tr>\n</table>\n";
}

// The epoch whose validation macro-F1 is highest (first of equals); -1 when none is finite.
int best_epoch_index(const std::vector<EpochRecord>& history) {
  int best = -1;
  for (size_t i = 0; i < history.size(); ++i) {
    if (!std::isfinite(history[i].val_macro_f1)) continue;
    if (best < 0 || history[i].val_macro_f1 > history[static_cast<size_t>(best)].val_macro_f1)
      best = static_cast<int>(i);
  }
  return best;
}

void history_html(std::ostringstream& out, const std::vector<EpochRecord>& history) {
  out << "<h2>Training curves</h2>\n<div class=\"figure\">\n" << render_curves_svg(history) << "</div>\n";
  out << "<h3>Learning rate</h3>\n<div class=\"figure\">\n" << render_learning_rate_svg(history) << "</div>\n";
  out << "<h2>Per epoch</h2>\n";
  if (history.empty()) {
    out << "<p class=\"note\">No epoch has finished yet.</p>\n";
    return;
  }
  const int best = best_epoch_index(history);
  out << "<table>\n<tr><th class=\"num\">epoch</th><th class=\"num\">train loss</th><th class=\"num\">train acc</th>"
         "<th class=\"num\">val loss</th><th class=\"num\">val acc</th><th class=\"num\">val balanced acc</th>"
         "<th class=\"num\">val macro-F1</th><th class=\"num\">learning rate</th><th "
         "class=\"num\">images/s</th></tr>\n";
  for (size_t i = 0; i < history.size(); ++i) {
    const EpochRecord& r = history[i];
    out << "<tr" << (static_cast<int>(i) == best ? " class=\"best\"" : "") << "><td class=\"num\">" << r.epoch
        << "</td><td class=\"num\">" << fixed(r.train_loss) << "</td><td class=\"num\">" << fixed(r.train_accuracy)
        << "</td><td class=\"num\">" << fixed(r.val_loss) << "</td><td class=\"num\">" << fixed(r.val_accuracy)
        << "</td><td class=\"num\">" << fixed(r.val_balanced_accuracy) << "</td><td class=\"num\">"
        << fixed(r.val_macro_f1) << "</td><td class=\"num\">" << h(svg::format_number(r.learning_rate, 4))
        << "</td><td class=\"num\">" << fixed(r.images_per_second, 1) << "</td></tr>\n";
  }
  out << "</table>\n";
  if (best >= 0)
    out << "<p class=\"note\">Highlighted: the epoch with the highest validation macro-F1 (epoch "
        << history[static_cast<size_t>(best)].epoch << ").</p>\n";
}

}  // namespace

// ---------------------------------------------------------------- epoch records

nlohmann::json epoch_to_json(const EpochRecord& r) {
  return {{"epoch", r.epoch},
          {"train_loss", number_or_null(r.train_loss)},
          {"train_accuracy", number_or_null(r.train_accuracy)},
          {"val_loss", number_or_null(r.val_loss)},
          {"val_accuracy", number_or_null(r.val_accuracy)},
          {"val_balanced_accuracy", number_or_null(r.val_balanced_accuracy)},
          {"val_macro_f1", number_or_null(r.val_macro_f1)},
          {"learning_rate", number_or_null(r.learning_rate)},
          {"images_per_second", number_or_null(r.images_per_second)}};
}

EpochRecord epoch_from_json(const nlohmann::json& record) {
  ALZ_CHECK(record.is_object() && record.contains("epoch") && record["epoch"].is_number_integer(),
            "epoch record without an integer \"epoch\": " << record.dump(-1, ' ', false,
                                                                         nlohmann::json::error_handler_t::replace));
  EpochRecord r;
  r.epoch = record["epoch"].get<int>();
  r.train_loss = number_or_nan(record, "train_loss");
  r.train_accuracy = number_or_nan(record, "train_accuracy");
  r.val_loss = number_or_nan(record, "val_loss");
  r.val_accuracy = number_or_nan(record, "val_accuracy");
  r.val_balanced_accuracy = number_or_nan(record, "val_balanced_accuracy");
  r.val_macro_f1 = number_or_nan(record, "val_macro_f1");
  r.learning_rate = number_or_nan(record, "learning_rate");
  r.images_per_second = number_or_nan(record, "images_per_second");
  return r;
}

// ---------------------------------------------------------------- pictures

std::string render_curves_svg(const std::vector<EpochRecord>& history) {
  std::vector<double> epochs;
  for (const EpochRecord& r : history) epochs.push_back(r.epoch);
  auto series = [&](const char* name, const char* color, double EpochRecord::*field, bool dashed) {
    svg::Series s{name, color, epochs, {}, dashed};
    for (const EpochRecord& r : history) s.y.push_back(r.*field);
    return s;
  };
  svg::Panel loss{"Loss", "epoch", "loss", {}, true};
  loss.series = {series("train", kTrainColor, &EpochRecord::train_loss, false),
                 series("validation", kValColor, &EpochRecord::val_loss, false)};
  loss.y_floor = 0.0;
  svg::Panel quality{"Accuracy and macro-F1", "epoch", "score", {}, true};
  quality.series = {series("train accuracy", kTrainColor, &EpochRecord::train_accuracy, false),
                    series("val accuracy", kValColor, &EpochRecord::val_accuracy, false),
                    series("val balanced accuracy", kBalancedColor, &EpochRecord::val_balanced_accuracy, true),
                    series("val macro-F1", kMacroF1Color, &EpochRecord::val_macro_f1, false)};
  quality.y_floor = 0.0;
  quality.y_ceiling = 1.0;
  return svg::line_chart({loss, quality}, 480, 360);
}

std::string render_confusion_svg(const Metrics& m) {
  svg::HeatMap map;
  map.title = "Confusion matrix";
  map.row_title = "true class";
  map.col_title = "predicted class";
  map.scale_title = "share of the true class";
  const size_t k = m.confusion_matrix.size();
  for (size_t i = 0; i < k; ++i) {
    const std::string name = i < m.per_class.size() ? m.per_class[i].name : std::to_string(i);
    map.row_labels.push_back(name);
    map.col_labels.push_back(name);
  }
  for (size_t i = 0; i < k; ++i) {
    int64_t row_total = 0;
    for (int64_t v : m.confusion_matrix[i]) row_total += v;
    for (size_t j = 0; j < k; ++j) {
      const int64_t v = m.confusion_matrix[i][j];
      const double share = row_total > 0 ? static_cast<double>(v) / static_cast<double>(row_total) : 0.0;
      map.cell_text.push_back(std::to_string(v));
      map.cell_subtext.push_back(row_total > 0 ? fixed(100.0 * share, 1) + "%" : "");
      map.shade.push_back(share);
    }
  }
  return svg::heat_map(map);
}

std::string render_report_html(const ReportInputs& in) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta "
         "charset=\"utf-8\"/>\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>" << h(in.title)
      << "</title>\n<style>" << kCss << "</style>\n</head>\n<body>\n<h1>" << h(in.title) << "</h1>\n";
  if (!in.run_dir.empty() || !in.generated_at.empty()) {
    out << "<p class=\"sub\">";
    if (!in.run_dir.empty()) out << "run folder <code>" << h(in.run_dir) << "</code>";
    if (!in.run_dir.empty() && !in.generated_at.empty()) out << " &#183; ";
    out << h(in.generated_at) << "</p>\n";
  }
  if (!in.leakage_warning.empty())
    out << "<div class=\"warning\"><strong>&#9888; Leakage warning: these scores may be too optimistic</strong>\n<p>"
        << h(in.leakage_warning) << "</p></div>\n";
  const std::vector<std::string> warnings = report_warnings(in);
  if (!warnings.empty()) {
    out << "<div class=\"cautions\"><strong>&#9888; Read the numbers with care</strong>\n<ul>\n";
    for (const std::string& w : warnings) out << "<li>" << h(w) << "</li>\n";
    out << "</ul></div>\n";
  }
  if (in.metadata) metadata_html(out, *in.metadata);

  out << "<h2>Configuration</h2>\n";
  if (in.config.empty()) {
    out << "<p class=\"note\">No configuration recorded.</p>\n";
  } else {
    out << "<table class=\"config\">\n";
    for (const auto& [key, value] : in.config) out << "<tr><td>" << h(key) << "</td><td>" << h(value) << "</td></tr>\n";
    out << "</table>\n";
  }
  out << "<h2>Dataset</h2>\n<pre>" << h(in.dataset_summary.empty() ? "(no summary)" : in.dataset_summary) << "</pre>\n";
  if (in.class_balance) balance_html(out, *in.class_balance);

  if (in.evaluation)
    evaluation_html(out, in);
  else
    out << "<h2>Headline metrics</h2>\n<p class=\"note\">No evaluation yet.</p>\n";
  if (in.predictions && in.predictions->count() > 0) {
    out << "<h2>ROC and precision-recall curves (" << h(in.evaluation_label)
        << ")</h2>\n<p class=\"note\">One class "
           "against the rest, from the probabilities of every validation image. A class with few images has a "
           "coarse, noisy curve. Precision-recall is drawn as the step function that average precision (AP) "
           "sums; a random ranking has a precision near the class's share of the images (the class balance "
           "above).</p>\n"
        << "<div class=\"figure\">\n"
        << render_roc_pr_svg(*in.predictions) << "</div>\n";
  }
  history_html(out, in.history);
  if (in.show_gallery) {
    std::vector<std::string> names;
    if (in.predictions)
      names = in.predictions->class_names;
    else if (in.evaluation)
      for (const ClassMetrics& c : in.evaluation->per_class) names.push_back(c.name);
    out << render_gallery_html(in.gallery, names);
  }
  out << "</body>\n</html>\n";
  return out.str();
}

void choose_evaluations(ReportInputs& in, std::optional<BestPredictions> best, const Metrics& last, int last_epoch,
                        const GalleryOptions& gallery) {
  if (!best) {
    in.evaluation = last;
    in.evaluation_label = "validation, epoch " + std::to_string(last_epoch);
    in.last_evaluation.reset();
    return;
  }
  in.evaluation = best->metrics();
  in.evaluation_label = "validation, best epoch " + std::to_string(best->epoch);
  in.last_evaluation = last;
  in.last_evaluation_label = "last epoch " + std::to_string(last_epoch);
  in.gallery = build_gallery(*best, gallery);
  in.show_gallery = true;
  in.predictions = std::move(best);
}

std::vector<std::string> report_warnings(const ReportInputs& in) {
  std::vector<std::string> warnings;
  if (in.class_balance) warnings = small_support_warnings(*in.class_balance);
  if (in.evaluation)
    if (auto w = dominant_class_warning(*in.evaluation, in.evaluation_label)) warnings.push_back(*w);
  if (in.last_evaluation)
    if (auto w = dominant_class_warning(*in.last_evaluation, in.last_evaluation_label)) warnings.push_back(*w);
  return warnings;
}

ReportPaths write_report(const std::string& run_dir, const ReportInputs& inputs) {
  std::error_code ec;
  ALZ_CHECK(std::filesystem::is_directory(run_dir, ec),
            "cannot write the run report: '" << run_dir << "' is not a folder");
  const std::filesystem::path dir(run_dir);
  ReportPaths paths;
  paths.curves_svg = (dir / "curves.svg").string();
  write_file_atomic(paths.curves_svg, svg::kSvgXmlDeclaration + render_curves_svg(inputs.history));
  if (inputs.evaluation) {
    paths.confusion_svg = (dir / "confusion_matrix.svg").string();
    write_file_atomic(paths.confusion_svg, svg::kSvgXmlDeclaration + render_confusion_svg(*inputs.evaluation));
  }
  if (inputs.predictions && inputs.predictions->count() > 0) {
    paths.roc_pr_svg = (dir / "roc_pr.svg").string();
    write_file_atomic(paths.roc_pr_svg, svg::kSvgXmlDeclaration + render_roc_pr_svg(*inputs.predictions));
  }
  paths.html = (dir / "report.html").string();
  if (inputs.run_dir.empty()) {
    ReportInputs with_dir = inputs;
    with_dir.run_dir = run_dir;
    write_file_atomic(paths.html, render_report_html(with_dir));
  } else {
    write_file_atomic(paths.html, render_report_html(inputs));
  }
  return paths;
}

// ---------------------------------------------------------------- files

void append_jsonl(const std::string& path, const nlohmann::json& record) {
  append_line_durable(path, record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ALZ_CHECK(in, "cannot read '" << path << "': " << errno_text(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<nlohmann::json> records;
  size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    const bool terminated = end != std::string::npos;
    if (!terminated) end = text.size();
    ++line_number;
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded()) {
      if (!terminated) break;  // the last write was cut short: ignore it
      ALZ_FAIL("'" << path << "' line " << line_number << " is not valid JSON");
    }
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace alz::train
