// One-vs-rest ROC and precision-recall curves from scores and labels (train/metrics.h): sort
// by decreasing score, walk the distinct scores counting true and false positives, emit one
// point per distinct score. Tested in tests/test_metrics.cpp against hand-computed cases:
//   cmake --build build --target test_metrics && build/tests/test_metrics
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "train/metrics.h"

namespace alz::train {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Cumulative (threshold, TP, FP) at each distinct score, in decreasing score order.
struct Counts {
  std::vector<double> thresholds;
  std::vector<int64_t> tp, fp;
  int64_t positives = 0, negatives = 0;
};

Counts cumulative_counts(std::span<const double> scores, std::span<const int> labels, int positive_class,
                         const char* what) {
  ALZ_CHECK(scores.size() == labels.size(),
            what << ": " << scores.size() << " scores but " << labels.size() << " labels");
  for (size_t i = 0; i < scores.size(); ++i)
    ALZ_CHECK(std::isfinite(scores[i]), what << ": score " << i << " is not finite (" << scores[i] << ")");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  Counts c;
  int64_t tp = 0, fp = 0;
  for (size_t r = 0; r < order.size(); ++r) {
    const size_t i = order[r];
    if (labels[i] == positive_class)
      ++tp;
    else
      ++fp;
    // A point only after the last sample of a run of equal scores: ties move together.
    if (r + 1 == order.size() || scores[order[r + 1]] != scores[i]) {
      c.thresholds.push_back(scores[i]);
      c.tp.push_back(tp);
      c.fp.push_back(fp);
    }
  }
  c.positives = tp;
  c.negatives = fp;
  return c;
}

}  // namespace

RocCurve roc_curve(std::span<const double> scores, std::span<const int> labels, int positive_class) {
  const Counts c = cumulative_counts(scores, labels, positive_class, "roc_curve");
  RocCurve curve;
  if (c.positives == 0 || c.negatives == 0) return curve;
  // All points in counts, (0, 0) first; then keep the corners.
  std::vector<int64_t> tp{0}, fp{0};
  std::vector<double> thresholds{kInf};
  tp.insert(tp.end(), c.tp.begin(), c.tp.end());
  fp.insert(fp.end(), c.fp.begin(), c.fp.end());
  thresholds.insert(thresholds.end(), c.thresholds.begin(), c.thresholds.end());
  for (size_t i = 0; i < tp.size(); ++i) {
    const bool end = i == 0 || i + 1 == tp.size();
    // Collinear with both neighbours (cross product of the two steps is zero): drawn anyway.
    const bool collinear =
        !end && (fp[i] - fp[i - 1]) * (tp[i + 1] - tp[i]) == (tp[i] - tp[i - 1]) * (fp[i + 1] - fp[i]);
    if (collinear) continue;
    curve.fpr.push_back(static_cast<double>(fp[i]) / static_cast<double>(c.negatives));
    curve.tpr.push_back(static_cast<double>(tp[i]) / static_cast<double>(c.positives));
    curve.thresholds.push_back(thresholds[i]);
  }
  return curve;
}

PrecisionRecallCurve precision_recall_curve(std::span<const double> scores, std::span<const int> labels,
                                            int positive_class) {
  const Counts c = cumulative_counts(scores, labels, positive_class, "precision_recall_curve");
  PrecisionRecallCurve curve;
  if (c.positives == 0) {
    curve.average_precision = std::numeric_limits<double>::quiet_NaN();
    return curve;
  }
  curve.recall.push_back(0.0);
  curve.precision.push_back(1.0);
  curve.thresholds.push_back(kInf);
  for (size_t i = 0; i < c.tp.size(); ++i) {
    const double recall = static_cast<double>(c.tp[i]) / static_cast<double>(c.positives);
    const double precision = static_cast<double>(c.tp[i]) / static_cast<double>(c.tp[i] + c.fp[i]);
    curve.average_precision += (recall - curve.recall.back()) * precision;
    curve.recall.push_back(recall);
    curve.precision.push_back(precision);
    curve.thresholds.push_back(c.thresholds[i]);
  }
  return curve;
}

}  // namespace alz::train
