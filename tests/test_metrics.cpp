// Tests of train/metrics.h on constructed predictions whose metrics are worked out by hand in
// the comments: accuracy, balanced accuracy, macro-F1, per-class precision/recall/F1/support,
// the confusion matrix, ROC-AUC with ties (and against the pairwise definition on random
// scores), classes without support, streaming equal to one-shot, errors, text and JSON.
//
//   cmake --build build --target test_metrics && ./build/tests/test_metrics
#include <gtest/gtest.h>

#include <cmath>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>

#include "core/error.h"
#include "support/compare.h"
#include "train/metrics.h"

namespace alz::train {
namespace {

using test::Tolerance;

const Tolerance kExact{1e-12, 0.0};  // f64 ratios of small integers: rounding only
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Three classes, ten samples; argmax predictions:
//   true A: A A A A B C   true B: B A   true C: C C
// confusion [[4,1,1],[1,1,0],[0,0,2]], predicted counts A 5, B 2, C 3.
struct Example3 {
  std::vector<std::string> names{"A", "B", "C"};
  std::vector<double> probs{
      0.7, 0.2,  0.1,   // A -> A
      0.6, 0.3,  0.1,   // A -> A
      0.5, 0.3,  0.2,   // A -> A
      0.4, 0.35, 0.25,  // A -> A
      0.3, 0.5,  0.2,   // A -> B
      0.2, 0.2,  0.6,   // A -> C
      0.1, 0.8,  0.1,   // B -> B
      0.5, 0.4,  0.1,   // B -> A
      0.1, 0.2,  0.7,   // C -> C
      0.2, 0.2,  0.6,   // C -> C (ties sample 5 on class C's score)
  };
  std::vector<int> labels{0, 0, 0, 0, 0, 0, 1, 1, 2, 2};
};

std::vector<double> per_class(const Metrics& m, double ClassMetrics::*field) {
  std::vector<double> out;
  for (const ClassMetrics& c : m.per_class) out.push_back(c.*field);
  return out;
}

TEST(Metrics, ThreeClassExampleByHand) {
  Example3 ex;
  const Metrics m = compute_metrics(ex.probs, ex.labels, ex.names, 0.42);
  EXPECT_EQ(m.count, 10);
  EXPECT_EQ(m.confusion_matrix, (std::vector<std::vector<int64_t>>{{4, 1, 1}, {1, 1, 0}, {0, 0, 2}}));
  // accuracy 7/10; recalls 4/6, 1/2, 2/2 -> balanced 13/18; precisions 4/5, 1/2, 2/3;
  // F1 A = 2(0.8)(2/3)/(0.8+2/3) = 8/11, B = 1/2, C = 2(2/3)/(5/3) = 4/5 -> macro 223/330.
  ALZ_EXPECT_CLOSE((std::vector<double>{m.accuracy, m.balanced_accuracy, m.macro_f1, m.loss}),
                   (std::vector<double>{0.7, 13.0 / 18.0, 223.0 / 330.0, 0.42}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::precision), (std::vector<double>{0.8, 0.5, 2.0 / 3.0}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::recall), (std::vector<double>{4.0 / 6.0, 0.5, 1.0}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::f1), (std::vector<double>{8.0 / 11.0, 0.5, 0.8}), kExact);
  std::vector<int64_t> support, predicted;
  for (const ClassMetrics& c : m.per_class) support.push_back(c.support), predicted.push_back(c.predicted);
  EXPECT_EQ(support, (std::vector<int64_t>{6, 2, 2}));
  EXPECT_EQ(predicted, (std::vector<int64_t>{5, 2, 3}));
  // ROC-AUC, counting (positive, negative) pairs ordered right, ties as 1/2:
  //   A: positives 0.7 0.6 0.5 0.4 0.3 0.2 vs negatives 0.1 0.5 0.1 0.2 -> 4+4+3.5+3+3+2.5 = 20 of 24
  //   B: positives 0.8 0.4 vs negatives 0.2 0.3 0.3 0.35 0.5 0.2 0.2 0.2 -> 8+7 = 15 of 16
  //   C: positives 0.7 0.6 vs negatives 0.1 0.1 0.2 0.25 0.2 0.6 0.1 0.1 -> 8+7.5 = 15.5 of 16
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::roc_auc), (std::vector<double>{20.0 / 24, 15.0 / 16, 15.5 / 16}),
                   kExact);
  ALZ_EXPECT_CLOSE(std::vector<double>{m.roc_auc_macro}, std::vector<double>{(20.0 / 24 + 15.0 / 16 + 15.5 / 16) / 3},
                   kExact);
}

TEST(Metrics, FloatAndDoubleInputsAgree) {
  Example3 ex;
  std::vector<float> probs_f(ex.probs.begin(), ex.probs.end());
  const Metrics a = compute_metrics(probs_f, ex.labels, ex.names);
  const Metrics b = compute_metrics(ex.probs, ex.labels, ex.names);
  EXPECT_EQ(a.confusion_matrix, b.confusion_matrix);
  EXPECT_EQ(metrics_to_json(a), metrics_to_json(b));  // same ranks, same ratios
  EXPECT_TRUE(std::isnan(a.loss));                    // no loss given
}

TEST(Metrics, PerfectClassifier) {
  // Four classes, supports 3, 1, 2, 1; every row's largest probability on the true class.
  const std::vector<int> labels{0, 1, 2, 0, 3, 2, 0};
  std::vector<double> probs;
  for (size_t i = 0; i < labels.size(); ++i)
    for (int k = 0; k < 4; ++k) probs.push_back(k == labels[i] ? 0.55 + 0.05 * static_cast<double>(i) : 0.1);
  const Metrics m = compute_metrics(probs, labels, {"w", "x", "y", "z"});
  ALZ_EXPECT_CLOSE((std::vector<double>{m.accuracy, m.balanced_accuracy, m.macro_f1, m.roc_auc_macro}),
                   (std::vector<double>{1, 1, 1, 1}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::f1), (std::vector<double>{1, 1, 1, 1}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::roc_auc), (std::vector<double>{1, 1, 1, 1}), kExact);
  EXPECT_EQ(m.confusion_matrix,
            (std::vector<std::vector<int64_t>>{{3, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 2, 0}, {0, 0, 0, 1}}));
}

TEST(Metrics, ConstantMajorityClassifier) {
  // Supports 7, 1, 1, 1; every sample gets (0.7, 0.1, 0.1, 0.1), so everything is class 0.
  // accuracy 0.7; recalls 1, 0, 0, 0 -> balanced 1/4 = 1/K; F1 of class 0 = 2(0.7)(1)/1.7 = 14/17,
  // others 0 (they have support, so they count) -> macro 7/34. All scores tie: every AUC 1/2.
  const std::vector<int> labels{0, 0, 1, 0, 0, 2, 0, 3, 0, 0};
  std::vector<double> probs;
  for (size_t i = 0; i < labels.size(); ++i) probs.insert(probs.end(), {0.7, 0.1, 0.1, 0.1});
  const Metrics m = compute_metrics(probs, labels, {"major", "b", "c", "d"});
  ALZ_EXPECT_CLOSE((std::vector<double>{m.accuracy, m.balanced_accuracy, m.macro_f1, m.roc_auc_macro}),
                   (std::vector<double>{0.7, 0.25, 7.0 / 34.0, 0.5}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::precision), (std::vector<double>{0.7, 0, 0, 0}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::roc_auc), (std::vector<double>{0.5, 0.5, 0.5, 0.5}), kExact);
  EXPECT_GT(m.accuracy, 2 * m.macro_f1);  // the trap the report guards against
}

TEST(Metrics, ClassesWithoutSupport) {
  // Class 2 has no support but is predicted once; class 3 has neither support nor predictions.
  //   0: true 0 -> 0   1: true 0 -> 2   2: true 1 -> 1   3: true 1 -> 1
  // accuracy 3/4; recalls 1/2, 1 -> balanced 3/4 (classes 2, 3 left out: no support).
  // precisions 1, 1, 0 (class 2 predicted wrongly), 0 (never predicted); F1 2/3, 1, 0, 0;
  // macro-F1 over classes 0, 1, 2 (class 3 has no support and no predictions) = 5/9.
  // AUC class 0: positives 0.6 0.1 vs negatives 0.2 0.1 -> 2 + 0.5 = 2.5 of 4; class 1: 4 of 4;
  // classes 2 and 3 have no positives -> NaN; macro (0.625 + 1) / 2.
  const std::vector<double> probs{0.6, 0.2, 0.1, 0.1, 0.1, 0.3, 0.55, 0.05, 0.2, 0.7, 0.05, 0.05, 0.1, 0.6, 0.2, 0.1};
  const std::vector<int> labels{0, 0, 1, 1};
  const Metrics m = compute_metrics(probs, labels, {"c0", "c1", "c2", "c3"});
  ALZ_EXPECT_CLOSE((std::vector<double>{m.accuracy, m.balanced_accuracy, m.macro_f1, m.roc_auc_macro}),
                   (std::vector<double>{0.75, 0.75, 5.0 / 9.0, 0.8125}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::precision), (std::vector<double>{1, 1, 0, 0}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::recall), (std::vector<double>{0.5, 1, 0, 0}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::f1), (std::vector<double>{2.0 / 3.0, 1, 0, 0}), kExact);
  ALZ_EXPECT_CLOSE(per_class(m, &ClassMetrics::roc_auc), (std::vector<double>{0.625, 1, kNaN, kNaN}), kExact);
  EXPECT_EQ(m.confusion_matrix,
            (std::vector<std::vector<int64_t>>{{1, 0, 1, 0}, {0, 2, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}}));
}

TEST(Metrics, ArgmaxTakesTheFirstOfEqualMaxima) {
  const Metrics m =
      compute_metrics(std::vector<double>{0.4, 0.4, 0.2, 0.3, 0.35, 0.35}, std::vector<int>{1, 2}, {"a", "b", "c"});
  EXPECT_EQ(m.confusion_matrix, (std::vector<std::vector<int64_t>>{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}}));
}

TEST(RocAuc, HandComputedWithTies) {
  // Ranks 1, 3, 2, 4; positives' rank sum 6; U = 6 - 3 = 3 of 2 x 2 pairs.
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{0.1, 0.4, 0.35, 0.8}, std::vector<int>{0, 0, 1, 1}, 1), 0.75);
  // Positive 0.5 beats 0.2 and ties two 0.5 negatives (1 + 2 x 0.5); positive 0.9 beats all 3: 5 of 6.
  ALZ_EXPECT_CLOSE(
      std::vector<double>{roc_auc(std::vector<double>{0.5, 0.5, 0.5, 0.2, 0.9}, std::vector<int>{1, 0, 0, 0, 1}, 1)},
      std::vector<double>{5.0 / 6.0}, kExact);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{0.3, 0.3, 0.3}, std::vector<int>{1, 0, 0}, 1), 0.5);  // all tied
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{0.9, 0.8, 0.1, 0.2}, std::vector<int>{0, 0, 1, 1}, 1), 0.0);
  EXPECT_TRUE(std::isnan(roc_auc(std::vector<double>{0.1, 0.2}, std::vector<int>{0, 0}, 1)));  // no positives
  EXPECT_TRUE(std::isnan(roc_auc(std::vector<double>{0.1, 0.2}, std::vector<int>{1, 1}, 1)));  // no negatives
  EXPECT_THROW(roc_auc(std::vector<double>{0.1, 0.2}, std::vector<int>{1}, 1), Error);
  EXPECT_THROW(roc_auc(std::vector<double>{0.1, kNaN}, std::vector<int>{1, 0}, 1), Error);
}

// Eight samples, three positives (class 1), a tie at 0.8 between a positive and a negative:
//   score  0.9 0.8 0.8 0.6 0.5 0.3 0.2 0.1
//   label   +   +   -   -   +   -   -   -        P = 3, Q = 5
// cumulative (FP, TP) at each distinct score: 0.9 (0,1), 0.8 (1,2), 0.6 (2,2), 0.5 (2,3),
// 0.3 (3,3), 0.2 (4,3), 0.1 (5,3). ROC keeps the corners: (3,3) and (4,3) lie on the line
// from (2,3) to (5,3). Precision TP/(TP+FP): 1, 2/3, 1/2, 3/5, 1/2, 3/7, 3/8.
// AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5 = 0.7555...
struct CurveExample {
  std::vector<double> scores{0.9, 0.8, 0.8, 0.6, 0.5, 0.3, 0.2, 0.1};
  std::vector<int> labels{1, 1, 0, 0, 1, 2, 0, 3};  // classes other than 1 are all negatives
};

TEST(Curves, RocPointsByHand) {
  CurveExample ex;
  const RocCurve roc = roc_curve(ex.scores, ex.labels, 1);
  ALZ_EXPECT_CLOSE(roc.fpr, (std::vector<double>{0, 0, 1.0 / 5, 2.0 / 5, 2.0 / 5, 1}), kExact);
  ALZ_EXPECT_CLOSE(roc.tpr, (std::vector<double>{0, 1.0 / 3, 2.0 / 3, 2.0 / 3, 1, 1}), kExact);
  ASSERT_EQ(roc.thresholds.size(), 6u);
  EXPECT_TRUE(std::isinf(roc.thresholds[0]));
  EXPECT_EQ(std::vector<double>(roc.thresholds.begin() + 1, roc.thresholds.end()),
            (std::vector<double>{0.9, 0.8, 0.6, 0.5, 0.1}));
  // The area under the drawn curve (trapezoids) is the rank statistic: 12.5 of 15 pairs.
  double area = 0.0;
  for (size_t i = 1; i < roc.fpr.size(); ++i) area += (roc.fpr[i] - roc.fpr[i - 1]) * (roc.tpr[i] + roc.tpr[i - 1]) / 2;
  ALZ_EXPECT_CLOSE(std::vector<double>{area}, std::vector<double>{roc_auc(ex.scores, ex.labels, 1)}, kExact);
  ALZ_EXPECT_CLOSE(std::vector<double>{area}, std::vector<double>{12.5 / 15.0}, kExact);
  // Without positives or negatives there is no curve.
  EXPECT_TRUE(roc_curve(ex.scores, ex.labels, 7).fpr.empty());
  EXPECT_TRUE(roc_curve(std::vector<double>{0.2, 0.4}, std::vector<int>{1, 1}, 1).fpr.empty());
  EXPECT_THROW(roc_curve(std::vector<double>{0.2, kNaN}, std::vector<int>{1, 0}, 1), Error);
  EXPECT_THROW(roc_curve(std::vector<double>{0.2}, std::vector<int>{1, 0}, 1), Error);
}

TEST(Curves, PrecisionRecallPointsByHand) {
  CurveExample ex;
  const PrecisionRecallCurve pr = precision_recall_curve(ex.scores, ex.labels, 1);
  ALZ_EXPECT_CLOSE(pr.recall, (std::vector<double>{0, 1.0 / 3, 2.0 / 3, 2.0 / 3, 1, 1, 1, 1}), kExact);
  ALZ_EXPECT_CLOSE(pr.precision, (std::vector<double>{1, 1, 2.0 / 3, 1.0 / 2, 3.0 / 5, 1.0 / 2, 3.0 / 7, 3.0 / 8}),
                   kExact);
  ALZ_EXPECT_CLOSE(std::vector<double>{pr.average_precision}, std::vector<double>{1.0 / 3 + 2.0 / 9 + 1.0 / 5}, kExact);
  EXPECT_EQ(pr.thresholds.size(), pr.recall.size());
  // A class without positives has no curve; its average precision is undefined.
  const PrecisionRecallCurve none = precision_recall_curve(ex.scores, ex.labels, 7);
  EXPECT_TRUE(none.recall.empty());
  EXPECT_TRUE(std::isnan(none.average_precision));
}

TEST(RocAuc, MatchesPairwiseDefinitionOnRandomTiedScores) {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> level(0, 9), label(0, 2);
  for (int n : {2, 7, 101}) {
    std::vector<double> scores(static_cast<size_t>(n));
    std::vector<int> labels(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) scores[i] = 0.1 * level(rng), labels[i] = label(rng);  // many ties
    labels[0] = 2, labels[n - 1] = 0;                                                  // both classes present
    double pairs = 0, wins = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        if (labels[i] == 2 && labels[j] != 2) {
          pairs += 1;
          wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
        }
    ALZ_EXPECT_CLOSE(std::vector<double>{roc_auc(scores, labels, 2)}, std::vector<double>{wins / pairs}, kExact);
  }
}

TEST(MetricsAccumulator, StreamingEqualsOneShot) {
  const int n = 37, k = 5;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.01f, 1.0f);
  std::uniform_int_distribution<int> cls(0, k - 1);
  std::vector<float> probs(static_cast<size_t>(n * k));
  std::vector<int> labels(static_cast<size_t>(n));
  for (float& p : probs) p = std::round(u(rng) * 20.0f) / 20.0f;  // coarse values: ties across batches
  for (int& l : labels) l = cls(rng);
  const std::vector<std::string> names{"a", "b", "c", "d", "e"};

  MetricsAccumulator acc(names);
  const std::vector<int> batch_sizes{1, 7, 13, 16};
  const std::vector<double> batch_losses{0.9, 0.7, 0.5, 0.3};
  double loss_sum = 0;
  int start = 0;
  for (size_t b = 0; b < batch_sizes.size(); ++b) {
    const int size = batch_sizes[b];
    acc.add_batch(std::span<const float>(probs).subspan(static_cast<size_t>(start * k), static_cast<size_t>(size * k)),
                  std::span<const int>(labels).subspan(static_cast<size_t>(start), static_cast<size_t>(size)),
                  batch_losses[b]);
    loss_sum += batch_losses[b] * size;
    start += size;
  }
  ASSERT_EQ(start, n);
  EXPECT_EQ(acc.count(), n);
  const Metrics streamed = acc.compute();
  const Metrics once = compute_metrics(probs, labels, names, loss_sum / n);
  nlohmann::json a = metrics_to_json(streamed), b = metrics_to_json(once);
  ALZ_EXPECT_CLOSE(std::vector<double>{a["loss"].get<double>()}, std::vector<double>{b["loss"].get<double>()},
                   (Tolerance{1e-15, 1e-14}));  // sums of four products in a different order
  a.erase("loss"), b.erase("loss");
  EXPECT_EQ(a, b);

  acc.reset();
  EXPECT_EQ(acc.count(), 0);
  EXPECT_THROW(acc.compute(), Error);
}

TEST(MetricsAccumulator, RejectsBadBatchesAndKeepsState) {
  MetricsAccumulator acc({"a", "b"});
  acc.add_batch(std::vector<double>{0.2, 0.8}, std::vector<int>{1});
  EXPECT_THROW(acc.add_batch(std::vector<double>{0.2, 0.8, 0.5}, std::vector<int>{1}), Error);  // size
  EXPECT_THROW(acc.add_batch(std::vector<double>{0.2, 0.8}, std::vector<int>{2}), Error);       // label
  EXPECT_THROW(acc.add_batch(std::vector<double>{0.2, 0.8}, std::vector<int>{-1}), Error);      // label
  EXPECT_THROW(acc.add_batch(std::vector<float>{0.2f, NAN}, std::vector<int>{0}), Error);       // NaN
  EXPECT_EQ(acc.count(), 1);
  const Metrics m = acc.compute();
  EXPECT_EQ(m.count, 1);
  EXPECT_TRUE(std::isnan(m.loss));  // no batch gave a loss
  EXPECT_THROW(MetricsAccumulator({}), Error);
  EXPECT_THROW(compute_metrics(std::vector<double>{}, std::vector<int>{}, {"a"}), Error);  // no samples
}

TEST(MetricsRendering, JsonHasTheFixedFields) {
  Example3 ex;
  const nlohmann::json j = metrics_to_json(compute_metrics(ex.probs, ex.labels, ex.names, 0.5));
  for (const char* key :
       {"accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix", "roc_auc_macro", "loss", "count"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.size(), 8u);
  EXPECT_EQ(j["count"], 10);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.7);
  ASSERT_EQ(j["per_class"].size(), 3u);
  for (const auto& c : j["per_class"])
    for (const char* key : {"name", "precision", "recall", "f1", "support", "roc_auc"})
      EXPECT_TRUE(c.contains(key)) << key;
  EXPECT_EQ(j["per_class"][1]["name"], "B");
  EXPECT_EQ(j["per_class"][0]["support"], 6);
  EXPECT_EQ(j["confusion_matrix"], nlohmann::json::parse("[[4,1,1],[1,1,0],[0,0,2]]"));

  // NaN values (no loss; AUC of a class without positives) are written as null.
  const nlohmann::json k =
      metrics_to_json(compute_metrics(std::vector<double>{0.9, 0.1, 0.2, 0.8}, std::vector<int>{0, 0}, {"x", "y"}));
  EXPECT_TRUE(k["loss"].is_null());
  EXPECT_TRUE(k["per_class"][0]["roc_auc"].is_null());
  EXPECT_TRUE(k["roc_auc_macro"].is_null());
  EXPECT_NO_THROW((void)k.dump());
}

TEST(MetricsRendering, TextReportShowsTableAndConfusionMatrix) {
  Example3 ex;
  ex.names = {"MildDemented", "ModerateDemented", "NonDemented"};
  const std::string text = format_metrics_text(compute_metrics(ex.probs, ex.labels, ex.names, 0.25));
  for (const char* needle : {"precision", "recall", "f1-score", "support", "roc-auc", "ModerateDemented", "accuracy",
                             "balanced acc", "macro avg", "weighted avg", "0.7000", "0.7222", "0.6758", "0.2500",
                             "confusion matrix (rows = true class, columns = predicted class)"})
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text;
  // The confusion matrix row of ModerateDemented reads "1 1 0".
  const size_t row = text.find("ModerateDemented  [1]");
  ASSERT_NE(row, std::string::npos) << text;
  const std::string line = text.substr(row, text.find('\n', row) - row);
  std::istringstream cells(line.substr(line.find(']') + 1));
  std::vector<int> counts{std::istream_iterator<int>(cells), std::istream_iterator<int>()};
  EXPECT_EQ(counts, (std::vector<int>{1, 1, 0})) << line;
}

}  // namespace
}  // namespace alz::train
