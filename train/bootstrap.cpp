// Percentile bootstrap intervals over subjects or images (train/bootstrap.h).
//
// Tested in tests/test_bootstrap.cpp:
//   cmake --build build -j2 --target test_bootstrap && ctest --test-dir build -R Bootstrap
#include "train/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/philox.h"

namespace alz::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Metrics of one confusion matrix C (K x K, [true][predicted]) as train/metrics.h defines them.
struct ConfusionMetrics {
  double macro_f1 = 0.0, balanced_accuracy = 0.0;
  std::vector<double> recall;  // NaN for a class without support
};

ConfusionMetrics metrics_of(const std::vector<int64_t>& confusion, int k) {
  ConfusionMetrics m;
  m.recall.assign(k, kNaN);
  double f1_sum = 0.0, recall_sum = 0.0;
  int f1_classes = 0, recall_classes = 0;
  for (int c = 0; c < k; ++c) {
    int64_t support = 0, predicted = 0, hit = confusion[c * k + c];
    for (int j = 0; j < k; ++j) {
      support += confusion[c * k + j];
      predicted += confusion[j * k + c];
    }
    double precision = predicted > 0 ? double(hit) / predicted : 0.0;
    double recall = support > 0 ? double(hit) / support : 0.0;
    if (support > 0) {
      m.recall[c] = recall;
      recall_sum += recall;
      ++recall_classes;
    }
    if (support > 0 || predicted > 0) {
      f1_sum += precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
      ++f1_classes;
    }
  }
  m.macro_f1 = f1_classes > 0 ? f1_sum / f1_classes : 0.0;
  m.balanced_accuracy = recall_classes > 0 ? recall_sum / recall_classes : 0.0;
  return m;
}

Interval make_interval(double estimate, std::vector<double> values, double confidence) {
  Interval out;
  out.estimate = estimate;
  out.replicates = static_cast<int64_t>(values.size());
  if (values.empty()) {
    out.low = out.high = kNaN;
    return out;
  }
  out.low = quantile(values, (1.0 - confidence) / 2.0);
  out.high = quantile(std::move(values), (1.0 + confidence) / 2.0);
  return out;
}

nlohmann::json number(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

nlohmann::json interval_json(const Interval& i) {
  return {
      {"estimate", number(i.estimate)}, {"low", number(i.low)}, {"high", number(i.high)}, {"replicates", i.replicates}};
}

}  // namespace

double quantile(std::vector<double> values, double q) {
  ALZ_CHECK(!values.empty(), "quantile of no values");
  std::sort(values.begin(), values.end());
  double position = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  auto below = static_cast<size_t>(std::floor(position));
  size_t above = std::min(below + 1, values.size() - 1);
  double t = position - static_cast<double>(below);
  return values[below] + t * (values[above] - values[below]);
}

std::vector<int> argmax_rows(std::span<const float> probs, int num_classes) {
  ALZ_CHECK(num_classes >= 1 && probs.size() % num_classes == 0,
            "argmax_rows: " << probs.size() << " values are not rows of " << num_classes);
  std::vector<int> out(probs.size() / num_classes);
  for (size_t i = 0; i < out.size(); ++i) {
    const float* row = probs.data() + i * num_classes;
    out[i] = static_cast<int>(std::max_element(row, row + num_classes) - row);
  }
  return out;
}

BootstrapResult bootstrap_intervals(std::span<const int> predicted, std::span<const int> labels,
                                    const std::vector<std::string>& groups, int k, const BootstrapOptions& options) {
  const size_t n = labels.size();
  ALZ_CHECK(n > 0, "bootstrap: no samples");
  ALZ_CHECK(predicted.size() == n, "bootstrap: " << predicted.size() << " predictions for " << n << " labels");
  ALZ_CHECK(groups.empty() || groups.size() == n, "bootstrap: " << groups.size() << " groups for " << n << " labels");
  ALZ_CHECK(k >= 2, "bootstrap: needs at least 2 classes");
  ALZ_CHECK(options.replicates >= 10, "bootstrap: needs at least 10 replicates, got " << options.replicates);
  ALZ_CHECK(options.confidence > 0.0 && options.confidence < 1.0,
            "bootstrap: confidence " << options.confidence << " must be in (0, 1)");
  for (size_t i = 0; i < n; ++i)
    ALZ_CHECK(labels[i] >= 0 && labels[i] < k && predicted[i] >= 0 && predicted[i] < k,
              "bootstrap: sample " << i << " has label " << labels[i] << " / prediction " << predicted[i]
                                   << " outside [0, " << k << ")");

  // The units and, per unit, its confusion counts (K x K).
  BootstrapResult result;
  result.options = options;
  result.by_group = std::any_of(groups.begin(), groups.end(), [](const std::string& g) { return !g.empty(); });
  std::vector<std::vector<int64_t>> unit_confusion;
  std::map<std::string, size_t> unit_of_group;
  for (size_t i = 0; i < n; ++i) {
    size_t unit = unit_confusion.size();
    if (result.by_group && !groups[i].empty()) {
      auto [it, added] = unit_of_group.emplace(groups[i], unit);
      unit = it->second;
      if (added) unit_confusion.emplace_back(size_t(k) * k, 0);
    } else {
      unit_confusion.emplace_back(size_t(k) * k, 0);
    }
    ++unit_confusion[unit][labels[i] * k + predicted[i]];
  }
  const auto units = static_cast<uint64_t>(unit_confusion.size());
  result.units = static_cast<int64_t>(units);

  std::vector<int64_t> full(size_t(k) * k, 0);
  for (const auto& c : unit_confusion)
    for (size_t j = 0; j < full.size(); ++j) full[j] += c[j];
  ConfusionMetrics estimate = metrics_of(full, k);

  std::vector<double> f1_values, balanced_values;
  std::vector<std::vector<double>> recall_values(k);
  std::vector<int64_t> confusion(size_t(k) * k);
  for (int b = 0; b < options.replicates; ++b) {
    std::fill(confusion.begin(), confusion.end(), 0);
    for (uint64_t j = 0; j < units; ++j) {
      PhiloxBlock block = philox4x32(j, static_cast<uint64_t>(b), options.seed ^ 0xB0075712A9ULL);
      uint64_t bits = (uint64_t(block.word[1]) << 32) | block.word[0];
      auto unit = static_cast<size_t>((static_cast<unsigned __int128>(bits) * units) >> 64);  // uniform in [0, units)
      const std::vector<int64_t>& add = unit_confusion[unit];
      for (size_t e = 0; e < confusion.size(); ++e) confusion[e] += add[e];
    }
    ConfusionMetrics m = metrics_of(confusion, k);
    f1_values.push_back(m.macro_f1);
    balanced_values.push_back(m.balanced_accuracy);
    for (int c = 0; c < k; ++c)
      if (std::isfinite(m.recall[c])) recall_values[c].push_back(m.recall[c]);
  }
  result.macro_f1 = make_interval(estimate.macro_f1, std::move(f1_values), options.confidence);
  result.balanced_accuracy = make_interval(estimate.balanced_accuracy, std::move(balanced_values), options.confidence);
  for (int c = 0; c < k; ++c)
    result.recall.push_back(make_interval(estimate.recall[c], std::move(recall_values[c]), options.confidence));
  return result;
}

nlohmann::json bootstrap_to_json(const BootstrapResult& r, const std::vector<std::string>& class_names) {
  nlohmann::json recall = nlohmann::json::object();
  for (size_t c = 0; c < r.recall.size(); ++c)
    recall[c < class_names.size() ? class_names[c] : "class" + std::to_string(c)] = interval_json(r.recall[c]);
  return {{"method", "percentile bootstrap"},
          {"unit", r.by_group ? "subject" : "image"},
          {"units", r.units},
          {"replicates", r.options.replicates},
          {"confidence", r.options.confidence},
          {"seed", r.options.seed},
          {"macro_f1", interval_json(r.macro_f1)},
          {"balanced_accuracy", interval_json(r.balanced_accuracy)},
          {"recall", recall}};
}

std::string format_bootstrap_text(const BootstrapResult& r, const std::vector<std::string>& class_names) {
  std::ostringstream s;
  const int percent = static_cast<int>(std::lround(r.options.confidence * 100));
  s << percent << "% bootstrap intervals (percentile, " << r.options.replicates << " replicates, seed "
    << r.options.seed << "), resampling " << r.units << (r.by_group ? " subjects" : " images")
    << (r.by_group ? " (all images of a drawn subject)" : " (the data has no subjects)") << ":\n";
  auto line = [&](const std::string& name, const Interval& i, bool note_replicates) {
    char text[200];
    if (!std::isfinite(i.estimate)) {
      std::snprintf(text, sizeof text, "  %-26s      -  (no samples)\n", name.c_str());
    } else {
      std::snprintf(text, sizeof text, "  %-26s %.4f  [%.4f, %.4f]", name.c_str(), i.estimate, i.low, i.high);
      s << text;
      if (note_replicates && i.replicates < r.options.replicates)
        s << "  (defined in " << i.replicates << " of " << r.options.replicates << " replicates)";
      s << "\n";
      return;
    }
    s << text;
  };
  line("macro-F1", r.macro_f1, false);
  line("balanced accuracy", r.balanced_accuracy, false);
  for (size_t c = 0; c < r.recall.size(); ++c)
    line("recall " + (c < class_names.size() ? class_names[c] : "class" + std::to_string(c)), r.recall[c], true);
  return s.str();
}

}  // namespace alz::train
