// The report's per-class ROC and precision-recall curves (one-vs-rest, from the best epoch's
// probabilities) and the learning-rate curve, as SVG through train/svg_chart.h. See
// train/report.h. Tested in tests/test_report.cpp:
//   cmake --build build --target test_report && build/tests/test_report
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "train/metrics.h"
#include "train/report.h"
#include "train/svg_chart.h"

namespace alz::train {
namespace {

// One colour per class (cycled beyond ten), the same in both panels.
constexpr const char* kClassColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr const char* kChanceColor = "#999999";

std::string two_decimals(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

}  // namespace

std::string render_roc_pr_svg(const BestPredictions& p) {
  const size_t k = p.class_names.size();
  svg::Panel roc{"ROC (one-vs-rest)", "false positive rate", "true positive rate", {}, false};
  svg::Panel pr{"Precision-recall (one-vs-rest)", "recall", "precision", {}, false};
  roc.y_floor = pr.y_floor = 0.0;
  roc.y_ceiling = pr.y_ceiling = 1.0;
  for (size_t c = 0; c < k; ++c) {
    std::vector<double> scores(static_cast<size_t>(p.count()));
    for (size_t i = 0; i < scores.size(); ++i) scores[i] = p.probs[i * k + c];
    const char* color = kClassColors[c % std::size(kClassColors)];
    const RocCurve r = roc_curve(scores, p.labels, static_cast<int>(c));
    const double auc = roc_auc(scores, p.labels, static_cast<int>(c));
    roc.series.push_back({p.class_names[c] + " (AUC " + two_decimals(auc) + ")", color, r.fpr, r.tpr, false});
    // Precision as the step function average precision sums: recall moves from R_{i-1} to
    // R_i at precision P_i.
    const PrecisionRecallCurve curve = precision_recall_curve(scores, p.labels, static_cast<int>(c));
    svg::Series steps{p.class_names[c] + " (AP " + two_decimals(curve.average_precision) + ")", color, {}, {}, false};
    for (size_t i = 0; i < curve.recall.size(); ++i) {
      if (i > 0) {
        steps.x.push_back(curve.recall[i - 1]);
        steps.y.push_back(curve.precision[i]);
      }
      steps.x.push_back(curve.recall[i]);
      steps.y.push_back(curve.precision[i]);
    }
    pr.series.push_back(std::move(steps));
  }
  roc.series.push_back({"chance", kChanceColor, {0.0, 1.0}, {0.0, 1.0}, true});
  return svg::line_chart({roc, pr}, 480, 420);
}

std::string render_learning_rate_svg(const std::vector<EpochRecord>& history) {
  svg::Panel lr{"Learning rate at the end of each epoch", "epoch", "learning rate", {}, true};
  svg::Series s{"learning rate", "#1f77b4", {}, {}, false};
  for (const EpochRecord& r : history) {
    s.x.push_back(r.epoch);
    s.y.push_back(r.learning_rate);
  }
  lr.series.push_back(std::move(s));
  lr.y_floor = 0.0;
  return svg::line_chart({lr}, 640, 280);
}

}  // namespace alz::train
