// Bootstrap intervals (train/bootstrap.h): cases checkable by hand (identical subjects give a
// zero-width interval, a perfect classifier [1, 1]), the point estimate equals compute_metrics,
// the same seed gives the same interval, about 95 % coverage over many synthetic data sets, and
// resampling subjects gives a wider interval than resampling their correlated slices.
// Run: cmake --build build -j2 --target test_bootstrap && ctest --test-dir build -R Bootstrap
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/philox.h"
#include "support/compare.h"
#include "train/bootstrap.h"
#include "train/metrics.h"

namespace alz::train {
namespace {

// Ratios of small integer counts, computed in a different order: equal to rounding.
constexpr test::Tolerance kExact{1e-12, 0.0};

// A uniform float in [0, 1) from (seed, index).
double uniform(uint64_t seed, uint64_t index) { return philox4x32(index, 0, seed).word[0] * (1.0 / 4294967296.0); }

TEST(Bootstrap, IdenticalSubjectsGiveAZeroWidthInterval) {
  // 8 subjects, each: 3 slices of class 0 (2 right, 1 wrong), 2 of class 1 (both right).
  std::vector<int> labels, predicted;
  std::vector<std::string> groups;
  for (int s = 0; s < 8; ++s) {
    for (int p : {0, 0, 1})
      labels.push_back(0), predicted.push_back(p), groups.push_back(std::string("s") + std::to_string(s));
    for (int p : {1, 1})
      labels.push_back(1), predicted.push_back(p), groups.push_back(std::string("s") + std::to_string(s));
  }
  BootstrapResult r = bootstrap_intervals(predicted, labels, groups, 2, {200, 0.95, 3});
  EXPECT_TRUE(r.by_group);
  EXPECT_EQ(r.units, 8);
  // Every replicate is 8 copies of one subject: recall 2/3 and 1, balanced accuracy 5/6.
  ALZ_EXPECT_CLOSE((std::vector<double>{r.balanced_accuracy.estimate}), (std::vector<double>{5.0 / 6.0}),
                   kExact);  // exact ratios of small counts
  EXPECT_DOUBLE_EQ(r.balanced_accuracy.low, r.balanced_accuracy.high);
  EXPECT_DOUBLE_EQ(r.macro_f1.low, r.macro_f1.estimate);
  EXPECT_DOUBLE_EQ(r.macro_f1.high, r.macro_f1.estimate);
  ALZ_EXPECT_CLOSE((std::vector<double>{r.recall[0].low}), (std::vector<double>{2.0 / 3.0}), kExact);  // exact ratio
  ALZ_EXPECT_CLOSE((std::vector<double>{r.recall[1].high}), (std::vector<double>{1.0}), kExact);       // exact ratio
}

TEST(Bootstrap, PerfectPredictionsGiveOneToOne) {
  std::vector<int> labels = {0, 1, 2, 0, 1, 2, 2, 2};
  BootstrapResult r = bootstrap_intervals(labels, labels, {}, 3, {100, 0.95, 1});
  EXPECT_FALSE(r.by_group);
  EXPECT_EQ(r.units, 8);
  EXPECT_EQ(r.macro_f1.low, 1.0);
  EXPECT_EQ(r.macro_f1.high, 1.0);
  EXPECT_EQ(r.balanced_accuracy.low, 1.0);
  // A class of 2 of 8 images is missing from some replicates: recall is defined in fewer of them.
  EXPECT_LT(r.recall[0].replicates, 100);
  EXPECT_GT(r.recall[0].replicates, 80);
  EXPECT_GE(r.recall[2].replicates, 95);  // 4 of 8: missing from a replicate with probability (1/2)^8
}

TEST(Bootstrap, EstimateEqualsComputeMetricsAndIntervalHoldsIt) {
  const int n = 300, k = 4;
  std::vector<float> probs(n * k);
  std::vector<int> labels(n);
  std::vector<std::string> groups(n);
  for (int i = 0; i < n; ++i) {
    labels[i] = static_cast<int>(uniform(5, i) * k);
    groups[i] = std::string("g") + std::to_string(i / 6);
    for (int c = 0; c < k; ++c)
      probs[i * k + c] = static_cast<float>(uniform(6, i * k + c) + (c == labels[i] ? 0.4 : 0));
  }
  Metrics m = compute_metrics(std::span<const float>(probs), std::span<const int>(labels), {"a", "b", "c", "d"});
  std::vector<int> predicted = argmax_rows(probs, k);
  BootstrapResult r = bootstrap_intervals(predicted, labels, groups, k);
  EXPECT_EQ(r.units, 50);
  ALZ_EXPECT_CLOSE((std::vector<double>{r.macro_f1.estimate}), (std::vector<double>{m.macro_f1}),
                   kExact);  // the same counts, summed in another order
  ALZ_EXPECT_CLOSE((std::vector<double>{r.balanced_accuracy.estimate}), (std::vector<double>{m.balanced_accuracy}),
                   kExact);  // as above
  for (int c = 0; c < k; ++c)
    ALZ_EXPECT_CLOSE((std::vector<double>{r.recall[c].estimate}), (std::vector<double>{m.per_class[c].recall}),
                     kExact);  // as above
  EXPECT_LT(r.macro_f1.low, r.macro_f1.estimate);
  EXPECT_GT(r.macro_f1.high, r.macro_f1.estimate);
  EXPECT_LT(r.macro_f1.high - r.macro_f1.low, 0.4);

  // Deterministic for a seed, different for another.
  BootstrapResult again = bootstrap_intervals(predicted, labels, groups, k);
  EXPECT_EQ(again.macro_f1.low, r.macro_f1.low);
  EXPECT_EQ(again.macro_f1.high, r.macro_f1.high);
  BootstrapOptions other;
  other.seed = 2;
  EXPECT_NE(bootstrap_intervals(predicted, labels, groups, k, other).macro_f1.low, r.macro_f1.low);

  nlohmann::json j = bootstrap_to_json(r, {"a", "b", "c", "d"});
  EXPECT_EQ(j["unit"], "subject");
  EXPECT_EQ(j["replicates"], 1000);
  EXPECT_DOUBLE_EQ(j["recall"]["c"]["low"].get<double>(), r.recall[2].low);
  std::string text = format_bootstrap_text(r, {"a", "b", "c", "d"});
  EXPECT_NE(text.find("resampling 50 subjects"), std::string::npos) << text;
  EXPECT_NE(text.find("macro-F1"), std::string::npos) << text;
}

TEST(Bootstrap, CoversTheTrueBalancedAccuracyAboutNinetyFivePercentOfTheTime) {
  // 150 data sets of 200 images, two classes of 100, each image right with probability 0.75:
  // the true recall of each class and the balanced accuracy are 0.75.
  const int datasets = 150, n = 200;
  int covered = 0;
  for (int d = 0; d < datasets; ++d) {
    std::vector<int> labels(n), predicted(n);
    for (int i = 0; i < n; ++i) {
      labels[i] = i % 2;
      bool right = uniform(100 + d, i) < 0.75;
      predicted[i] = right ? labels[i] : 1 - labels[i];
    }
    BootstrapResult r = bootstrap_intervals(predicted, labels, {}, 2, {400, 0.95, static_cast<uint64_t>(d)});
    covered += r.balanced_accuracy.low <= 0.75 && 0.75 <= r.balanced_accuracy.high;
  }
  // Binomial(150, 0.95) has a standard deviation of 2.7: 130..150 is well over 4 of them wide on
  // the low side (percentile intervals cover slightly less than nominal at this size).
  EXPECT_GE(covered, 130) << covered << " of " << datasets;
}

TEST(Bootstrap, ResamplingSubjectsWidensTheIntervalOfCorrelatedSlices) {
  // 20 subjects x 10 slices; a subject's slices are all right or all wrong (the model's error
  // is per subject). Resampling slices pretends there are 200 independent trials.
  std::vector<int> labels, predicted;
  std::vector<std::string> groups;
  for (int s = 0; s < 20; ++s)
    for (int i = 0; i < 10; ++i) {
      int label = s % 2;
      labels.push_back(label);
      predicted.push_back(uniform(9, s) < 0.7 ? label : 1 - label);
      groups.push_back(std::string("s") + std::to_string(s));
    }
  BootstrapResult by_subject = bootstrap_intervals(predicted, labels, groups, 2);
  BootstrapResult by_image = bootstrap_intervals(predicted, labels, {}, 2);
  double subject_width = by_subject.balanced_accuracy.high - by_subject.balanced_accuracy.low;
  double image_width = by_image.balanced_accuracy.high - by_image.balanced_accuracy.low;
  // sqrt(10) ~ 3.2 times wider in theory; at least twice in any seeded draw of this size.
  EXPECT_GT(subject_width, 2.0 * image_width) << subject_width << " vs " << image_width;
}

TEST(Bootstrap, QuantileInterpolatesAndBadInputThrows) {
  ALZ_EXPECT_CLOSE((std::vector<double>{quantile({4, 1, 3, 2}, 0.5)}), (std::vector<double>{2.5}),
                   kExact);  // exact: half way between 2 and 3
  EXPECT_EQ(quantile({4, 1, 3, 2}, 0.0), 1.0);
  EXPECT_EQ(quantile({4, 1, 3, 2}, 1.0), 4.0);
  ALZ_EXPECT_CLOSE((std::vector<double>{quantile({0, 10}, 0.025)}), (std::vector<double>{0.25}),
                   kExact);  // exact: 0.025 of the way
  EXPECT_THROW(quantile({}, 0.5), Error);
  std::vector<int> labels = {0, 1}, bad = {0, 2};
  EXPECT_THROW(bootstrap_intervals(bad, labels, {}, 2), Error);
  EXPECT_THROW(bootstrap_intervals(labels, labels, {"a"}, 2), Error);
  EXPECT_THROW(bootstrap_intervals(labels, labels, {}, 2, {5, 0.95, 1}), Error);
  EXPECT_THROW(bootstrap_intervals(std::span<const int>(), std::span<const int>(), {}, 2), Error);
}

}  // namespace
}  // namespace alz::train
