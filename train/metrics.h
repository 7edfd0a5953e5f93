// Classification metrics from predicted class probabilities and true labels.
//
// Inputs: probs (N, K) row-major, row i = sample i's class probabilities (f32 or f64), labels
// (N) ints in [0, K), class names (K). The predicted class is the row's argmax (the first of
// equal maxima). With C the confusion matrix, C[t][p] = #{i : label_i = t, pred_i = p}:
//   support_k   = sum_p C[k][p]              predicted_k = sum_t C[t][k]
//   precision_k = C[k][k] / predicted_k      recall_k    = C[k][k] / support_k
//   f1_k        = 2 P R / (P + R)
//   accuracy          = sum_k C[k][k] / N
//   balanced_accuracy = mean of recall_k over the classes with support_k > 0
//   macro_f1          = mean of f1_k over the classes with support_k > 0 or predicted_k > 0
// Undefined ratios are 0 (scikit-learn's zero_division=0): precision of a class never
// predicted, recall of a class without support, F1 when P + R = 0. A class with neither
// support nor predictions says nothing about the classifier and is left out of macro_f1,
// as scikit-learn's f1_score(average="macro") does when `labels` is not given; likewise
// balanced_accuracy leaves out classes without support (balanced_accuracy_score).
// ROC-AUC of class k, one-vs-rest with score probs[:, k]: the Mann-Whitney U statistic,
//   AUC_k = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg),
// R_pos the sum of the positives' 1-based ranks among all N scores, tied scores sharing their
// average rank (so a tie between a positive and a negative counts 1/2). NaN when class k has
// no positives or no negatives; roc_auc_macro is the mean over the classes where it is
// defined (NaN when there are none). JSON writes NaN as null.
//
// Tested in tests/test_metrics.cpp:
//   cmake --build build --target test_metrics && build/tests/test_metrics
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace alz::train {

struct ClassMetrics {
  std::string name;
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
  int64_t support = 0;    // true samples of the class
  int64_t predicted = 0;  // samples predicted as the class
  double roc_auc = 0.0;   // NaN without both positives and negatives
};

struct Metrics {
  int64_t count = 0;  // N
  double accuracy = 0.0;
  double balanced_accuracy = 0.0;
  double macro_f1 = 0.0;
  double roc_auc_macro = 0.0;                          // NaN when no class has both positives and negatives
  double loss = 0.0;                                   // sample-weighted mean loss; NaN when no loss was given
  std::vector<ClassMetrics> per_class;                 // (K)
  std::vector<std::vector<int64_t>> confusion_matrix;  // (K, K): [true][predicted]

  int num_classes() const { return static_cast<int>(per_class.size()); }
};

// One-shot metrics. probs.size() must be labels.size() * class_names.size(); throws alz::Error
// on a size mismatch, a label outside [0, K), a non-finite probability, or N = 0.
// `loss` is stored as Metrics::loss (NaN when not given).
Metrics compute_metrics(std::span<const float> probs, std::span<const int> labels,
                        const std::vector<std::string>& class_names, std::optional<double> loss = std::nullopt);
Metrics compute_metrics(std::span<const double> probs, std::span<const int> labels,
                        const std::vector<std::string>& class_names, std::optional<double> loss = std::nullopt);

// One-vs-rest ROC-AUC of `scores` (N) for the samples whose label is `positive_class` against
// all others, by average ranks; NaN when there are no positives or no negatives. Throws
// alz::Error when the sizes differ or a score is not finite.
double roc_auc(std::span<const double> scores, std::span<const int> labels, int positive_class);

// The points of one-vs-rest curves (train/metrics_curves.cpp), for the report's pictures.
// With the scores sorted in decreasing order and one point per distinct score t (the
// threshold: "predicted positive" means score >= t), TP(t) and FP(t) count the positives and
// negatives scoring at least t; P and Q are the numbers of positives and negatives.
//   ROC: (FPR, TPR) = (FP / Q, TP / P), starting at (0, 0) (threshold +inf) and ending at
//        (1, 1). Points on the straight segment between their neighbours are left out (the
//        curve drawn is the same). Empty when there are no positives or no negatives.
//   PR:  (recall, precision) = (TP / P, TP / (TP + FP)), starting at (0, 1) (threshold +inf),
//        the convention of scikit-learn's precision_recall_curve. Empty without positives.
//        average_precision = sum over the points of (R_i - R_{i-1}) P_i (a step function, no
//        interpolation), as scikit-learn's average_precision_score.
// Throws alz::Error when the sizes differ or a score is not finite.
struct RocCurve {
  std::vector<double> fpr, tpr, thresholds;  // equal sizes; thresholds[0] = +inf
};
struct PrecisionRecallCurve {
  std::vector<double> recall, precision, thresholds;  // equal sizes; thresholds[0] = +inf
  double average_precision = 0.0;                     // NaN when the curve is empty
};
RocCurve roc_curve(std::span<const double> scores, std::span<const int> labels, int positive_class);
PrecisionRecallCurve precision_recall_curve(std::span<const double> scores, std::span<const int> labels,
                                            int positive_class);

// Streams over batches; compute() equals compute_metrics on the concatenation. Keeps every
// score (N * K doubles), which ROC-AUC needs exactly.
class MetricsAccumulator {
 public:
  explicit MetricsAccumulator(std::vector<std::string> class_names);

  // probs (B, K) row-major, labels (B). batch_mean_loss, when given, is the batch's mean loss;
  // Metrics::loss is then the sample-weighted mean over the batches that gave one. Validates
  // like compute_metrics; a rejected batch leaves the accumulator unchanged.
  void add_batch(std::span<const float> probs, std::span<const int> labels,
                 std::optional<double> batch_mean_loss = std::nullopt);
  void add_batch(std::span<const double> probs, std::span<const int> labels,
                 std::optional<double> batch_mean_loss = std::nullopt);

  Metrics compute() const;  // throws alz::Error when no sample was added
  int64_t count() const { return static_cast<int64_t>(labels_.size()); }
  const std::vector<std::string>& class_names() const { return class_names_; }
  void reset();

 private:
  template <typename T>
  void add_batch_impl(std::span<const T> probs, std::span<const int> labels, std::optional<double> batch_mean_loss);

  std::vector<std::string> class_names_;
  std::vector<double> probs_;  // (N, K)
  std::vector<int> labels_;    // (N)
  double loss_sum_ = 0.0;      // sum over batches of mean loss * batch size
  int64_t loss_count_ = 0;     // samples in the batches that gave a loss
};

// Text in the manner of scikit-learn's classification_report: per class precision, recall,
// F1, support and ROC-AUC; accuracy, balanced accuracy, macro and support-weighted averages,
// loss; then the confusion matrix (rows = true, columns = predicted, columns numbered as the
// rows). Four decimals.
std::string format_metrics_text(const Metrics& m);

// JSON with the fields
//   accuracy, balanced_accuracy, macro_f1, roc_auc_macro, loss, count,
//   per_class: [{name, precision, recall, f1, support, roc_auc}],
//   confusion_matrix: [[...K counts...] x K]   (rows = true, columns = predicted)
// NaN values are written as null.
nlohmann::json metrics_to_json(const Metrics& m);

}  // namespace alz::train
