// Bootstrap confidence intervals for the headline metrics of `alz eval`: macro-F1, balanced
// accuracy and the recall of every class.
//
// A validation set of a few hundred slices from a few dozen subjects gives a macro-F1 whose
// uncertainty is larger than most differences between models, so alz eval prints an interval
// beside each figure. How:
//   - the units resampled are the groups (subjects: all slices of a drawn subject come along)
//     when the samples carry groups, else the single images; slices of one subject are not
//     independent, and resampling them one by one would make the interval far too narrow;
//   - B replicates (default 1000), each draws as many units as there are, uniformly with
//     replacement, from a counter-based generator keyed by the seed (Philox4x32: replicate b,
//     draw j -> counter (j, b)), so the result is the same on every platform and run;
//   - each replicate's confusion matrix gives its metrics by the definitions of train/metrics.h
//     (macro-F1 over the classes with support or predictions, balanced accuracy over the
//     classes with support);
//   - the interval is the percentile interval: the (1-c)/2 and (1+c)/2 quantiles of the B
//     replicate values (c = 0.95), linearly interpolated between order statistics. A class's
//     recall is undefined in a replicate that drew none of its samples; its interval uses the
//     replicates where it is defined, and says how many those were.
// The point estimate is the metric on the data as it is, not the bootstrap mean.
//
// Tested in tests/test_bootstrap.cpp (zero width for identical groups, the estimate equals
// compute_metrics, determinism, coverage near 95 % on synthetic data, groups widen the interval):
//   cmake --build build -j2 --target test_bootstrap && ctest --test-dir build -R Bootstrap
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace alz::train {

struct BootstrapOptions {
  int replicates = 1000;     // B; at least 10
  double confidence = 0.95;  // in (0, 1)
  uint64_t seed = 1;
};

struct Interval {
  double estimate = 0.0;  // on the data as it is
  double low = 0.0, high = 0.0;
  int64_t replicates = 0;  // replicates where the metric was defined (B for macro-F1 and balanced accuracy)
};

struct BootstrapResult {
  BootstrapOptions options;
  bool by_group = false;  // units are groups (subjects), else images
  int64_t units = 0;      // the number of groups or images resampled
  Interval macro_f1, balanced_accuracy;
  std::vector<Interval> recall;  // (K) per class; estimate NaN and no interval for a class without support
};

// predicted and labels (N) in [0, K); groups empty (images are the units) or (N) group names
// (an empty name is a group of one). Throws alz::Error on mismatched sizes, labels out of
// range, N = 0, or bad options.
BootstrapResult bootstrap_intervals(std::span<const int> predicted, std::span<const int> labels,
                                    const std::vector<std::string>& groups, int num_classes,
                                    const BootstrapOptions& options = {});

// The argmax of every row of probs (N, K) (the first of equal maxima, as train/metrics.h).
std::vector<int> argmax_rows(std::span<const float> probs, int num_classes);

// The q-quantile (q in [0, 1]) of `values`, linearly interpolated between order statistics
// (position q * (n - 1) in the sorted values). Throws alz::Error when values is empty.
double quantile(std::vector<double> values, double q);

// {"method": "percentile bootstrap", "unit": "subject"|"image", "units", "replicates",
//  "confidence", "seed", "macro_f1": {"estimate","low","high"}, "balanced_accuracy": {...},
//  "recall": {"<class>": {"estimate","low","high","replicates"}}}; NaN as null.
nlohmann::json bootstrap_to_json(const BootstrapResult& result, const std::vector<std::string>& class_names);

// Lines such as "macro-F1 0.383  95% CI [0.301, 0.462]" for the headline metrics and each
// class's recall, after a line saying what was resampled.
std::string format_bootstrap_text(const BootstrapResult& result, const std::vector<std::string>& class_names);

}  // namespace alz::train
