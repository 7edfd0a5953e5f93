// Classification metrics: confusion matrix, per-class precision/recall/F1, accuracy, balanced
// accuracy, macro-F1, one-vs-rest ROC-AUC by average ranks. Formulas and conventions in
// train/metrics.h. Tested by tests/test_metrics.cpp.
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <sstream>

#include "core/error.h"

namespace alz::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Throws unless probs is (labels.size(), K), every probability finite and every label in [0, K).
template <typename T>
void validate(std::span<const T> probs, std::span<const int> labels, size_t num_classes, const char* who) {
  ALZ_CHECK(num_classes > 0, who << ": no class names");
  ALZ_CHECK(probs.size() == labels.size() * num_classes,
            who << ": probabilities hold " << probs.size() << " values but " << labels.size() << " labels x "
                << num_classes << " classes need " << labels.size() * num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    ALZ_CHECK(labels[i] >= 0 && static_cast<size_t>(labels[i]) < num_classes,
              who << ": label " << labels[i] << " of sample " << i << " is outside [0, " << num_classes << ")");
    for (size_t k = 0; k < num_classes; ++k) {
      const T p = probs[i * num_classes + k];
      ALZ_CHECK(std::isfinite(static_cast<double>(p)),
                who << ": probability of class " << k << " for sample " << i << " is not finite (" << p << ")");
    }
  }
}

double ratio_or_zero(double num, double den) { return den > 0.0 ? num / den : 0.0; }

double mean_or_nan(const std::vector<double>& values) {
  if (values.empty()) return kNaN;
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// The metrics of validated inputs: probs (N, K), labels (N).
Metrics compute_validated(std::span<const double> probs, std::span<const int> labels,
                          const std::vector<std::string>& names, std::optional<double> loss) {
  const size_t n = labels.size();
  const size_t k_count = names.size();
  ALZ_CHECK(n > 0, "metrics: no samples");

  Metrics m;
  m.count = static_cast<int64_t>(n);
  m.loss = loss.value_or(kNaN);
  m.confusion_matrix.assign(k_count, std::vector<int64_t>(k_count, 0));
  for (size_t i = 0; i < n; ++i) {
    const double* row = probs.data() + i * k_count;
    const size_t predicted = static_cast<size_t>(std::max_element(row, row + k_count) - row);  // first maximum
    ++m.confusion_matrix[static_cast<size_t>(labels[i])][predicted];
  }

  int64_t correct = 0;
  std::vector<double> recalls, f1s, aucs;
  std::vector<double> scores(n);
  for (size_t k = 0; k < k_count; ++k) {
    ClassMetrics c;
    c.name = names[k];
    const int64_t tp = m.confusion_matrix[k][k];
    for (size_t j = 0; j < k_count; ++j) {
      c.support += m.confusion_matrix[k][j];
      c.predicted += m.confusion_matrix[j][k];
    }
    correct += tp;
    c.precision = ratio_or_zero(static_cast<double>(tp), static_cast<double>(c.predicted));
    c.recall = ratio_or_zero(static_cast<double>(tp), static_cast<double>(c.support));
    c.f1 = ratio_or_zero(2.0 * c.precision * c.recall, c.precision + c.recall);
    for (size_t i = 0; i < n; ++i) scores[i] = probs[i * k_count + k];
    c.roc_auc = roc_auc(scores, labels, static_cast<int>(k));
    if (c.support > 0) recalls.push_back(c.recall);
    if (c.support > 0 || c.predicted > 0) f1s.push_back(c.f1);
    if (!std::isnan(c.roc_auc)) aucs.push_back(c.roc_auc);
    m.per_class.push_back(std::move(c));
  }
  m.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  m.balanced_accuracy = mean_or_nan(recalls);
  m.macro_f1 = mean_or_nan(f1s);
  m.roc_auc_macro = mean_or_nan(aucs);
  return m;
}

// A number for JSON: NaN (and infinities) become null.
nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string fixed4(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

double roc_auc(std::span<const double> scores, std::span<const int> labels, int positive_class) {
  ALZ_CHECK(scores.size() == labels.size(),
            "roc_auc: " << scores.size() << " scores but " << labels.size() << " labels");
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  for (size_t i = 0; i < n; ++i)
    ALZ_CHECK(std::isfinite(scores[i]), "roc_auc: score " << i << " is not finite (" << scores[i] << ")");
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });

  double positive_rank_sum = 0.0;
  int64_t positives = 0;
  for (size_t begin = 0; begin < n;) {
    size_t end = begin + 1;  // [begin, end) holds equal scores: 1-based ranks begin+1 .. end
    while (end < n && scores[order[end]] == scores[order[begin]]) ++end;
    const double average_rank = 0.5 * static_cast<double>(begin + 1 + end);
    for (size_t j = begin; j < end; ++j) {
      if (labels[order[j]] == positive_class) {
        positive_rank_sum += average_rank;
        ++positives;
      }
    }
    begin = end;
  }
  const int64_t negatives = static_cast<int64_t>(n) - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  const double p = static_cast<double>(positives);
  const double u = positive_rank_sum - p * (p + 1.0) / 2.0;
  return u / (p * static_cast<double>(negatives));
}

Metrics compute_metrics(std::span<const float> probs, std::span<const int> labels,
                        const std::vector<std::string>& class_names, std::optional<double> loss) {
  validate(probs, labels, class_names.size(), "compute_metrics");
  const std::vector<double> wide(probs.begin(), probs.end());
  return compute_validated(wide, labels, class_names, loss);
}

Metrics compute_metrics(std::span<const double> probs, std::span<const int> labels,
                        const std::vector<std::string>& class_names, std::optional<double> loss) {
  validate(probs, labels, class_names.size(), "compute_metrics");
  return compute_validated(probs, labels, class_names, loss);
}

// ---------------------------------------------------------------- streaming

MetricsAccumulator::MetricsAccumulator(std::vector<std::string> class_names) : class_names_(std::move(class_names)) {
  ALZ_CHECK(!class_names_.empty(), "MetricsAccumulator: no class names");
}

template <typename T>
void MetricsAccumulator::add_batch_impl(std::span<const T> probs, std::span<const int> labels,
                                        std::optional<double> batch_mean_loss) {
  validate(probs, labels, class_names_.size(), "MetricsAccumulator::add_batch");
  probs_.insert(probs_.end(), probs.begin(), probs.end());
  labels_.insert(labels_.end(), labels.begin(), labels.end());
  if (batch_mean_loss) {
    loss_sum_ += *batch_mean_loss * static_cast<double>(labels.size());
    loss_count_ += static_cast<int64_t>(labels.size());
  }
}

void MetricsAccumulator::add_batch(std::span<const float> probs, std::span<const int> labels,
                                   std::optional<double> batch_mean_loss) {
  add_batch_impl(probs, labels, batch_mean_loss);
}

void MetricsAccumulator::add_batch(std::span<const double> probs, std::span<const int> labels,
                                   std::optional<double> batch_mean_loss) {
  add_batch_impl(probs, labels, batch_mean_loss);
}

Metrics MetricsAccumulator::compute() const {
  ALZ_CHECK(!labels_.empty(), "MetricsAccumulator::compute: no samples were added");
  std::optional<double> loss;
  if (loss_count_ > 0) loss = loss_sum_ / static_cast<double>(loss_count_);
  return compute_validated(probs_, labels_, class_names_, loss);
}

void MetricsAccumulator::reset() {
  probs_.clear();
  labels_.clear();
  loss_sum_ = 0.0;
  loss_count_ = 0;
}

// ---------------------------------------------------------------- rendering

std::string format_metrics_text(const Metrics& m) {
  size_t name_width = 12;  // wide enough for "weighted avg"
  for (const ClassMetrics& c : m.per_class) name_width = std::max(name_width, c.name.size());
  const int w = static_cast<int>(name_width);
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "%*s  %10s %10s %10s %10s %10s\n", w, "", "precision", "recall", "f1-score",
                "support", "roc-auc");
  out << line << '\n';
  double macro_p = 0, macro_r = 0, weighted_p = 0, weighted_r = 0, weighted_f = 0;
  int macro_classes = 0;
  for (const ClassMetrics& c : m.per_class) {
    std::snprintf(line, sizeof line, "%*s  %10s %10s %10s %10lld %10s\n", w, c.name.c_str(),
                  fixed4(c.precision).c_str(), fixed4(c.recall).c_str(), fixed4(c.f1).c_str(),
                  static_cast<long long>(c.support), fixed4(c.roc_auc).c_str());
    out << line;
    if (c.support > 0 || c.predicted > 0) {  // the classes macro_f1 averages over
      macro_p += c.precision;
      macro_r += c.recall;
      ++macro_classes;
    }
    const double weight = static_cast<double>(c.support) / static_cast<double>(std::max<int64_t>(m.count, 1));
    weighted_p += weight * c.precision;
    weighted_r += weight * c.recall;
    weighted_f += weight * c.f1;
  }
  const double macro_div = std::max(macro_classes, 1);
  const long long count = static_cast<long long>(m.count);
  out << '\n';
  std::snprintf(line, sizeof line, "%*s  %10s %10s %10s %10lld\n", w, "accuracy", "", "", fixed4(m.accuracy).c_str(),
                count);
  out << line;
  std::snprintf(line, sizeof line, "%*s  %10s %10s %10s %10lld\n", w, "balanced acc", "", "",
                fixed4(m.balanced_accuracy).c_str(), count);
  out << line;
  std::snprintf(line, sizeof line, "%*s  %10s %10s %10s %10lld %10s\n", w, "macro avg",
                fixed4(macro_p / macro_div).c_str(), fixed4(macro_r / macro_div).c_str(), fixed4(m.macro_f1).c_str(),
                count, fixed4(m.roc_auc_macro).c_str());
  out << line;
  std::snprintf(line, sizeof line, "%*s  %10s %10s %10s %10lld\n", w, "weighted avg", fixed4(weighted_p).c_str(),
                fixed4(weighted_r).c_str(), fixed4(weighted_f).c_str(), count);
  out << line;
  if (!std::isnan(m.loss)) {
    std::snprintf(line, sizeof line, "%*s  %10s %10s %10s\n", w, "loss", "", "", fixed4(m.loss).c_str());
    out << line;
  }

  // Confusion matrix; columns are numbered like the rows so long class names fit.
  out << "\nconfusion matrix (rows = true class, columns = predicted class)\n";
  int64_t largest = 1;
  for (const auto& row : m.confusion_matrix)
    for (int64_t v : row) largest = std::max(largest, v);
  const int cell = std::max(5, static_cast<int>(std::to_string(largest).size()) + 2);
  std::snprintf(line, sizeof line, "%*s     ", w, "");
  out << line;
  char index[32];
  for (size_t j = 0; j < m.confusion_matrix.size(); ++j) {
    std::snprintf(index, sizeof index, "[%zu]", j);
    std::snprintf(line, sizeof line, "%*s", cell, index);
    out << line;
  }
  out << '\n';
  for (size_t i = 0; i < m.confusion_matrix.size(); ++i) {
    std::snprintf(index, sizeof index, "[%zu]", i);
    std::snprintf(line, sizeof line, "%*s %4s", w, m.per_class[i].name.c_str(), index);
    out << line;
    for (int64_t v : m.confusion_matrix[i]) {
      std::snprintf(line, sizeof line, "%*lld", cell, static_cast<long long>(v));
      out << line;
    }
    out << '\n';
  }
  return out.str();
}

nlohmann::json metrics_to_json(const Metrics& m) {
  nlohmann::json per_class = nlohmann::json::array();
  for (const ClassMetrics& c : m.per_class) {
    per_class.push_back({{"name", c.name},
                         {"precision", number_or_null(c.precision)},
                         {"recall", number_or_null(c.recall)},
                         {"f1", number_or_null(c.f1)},
                         {"support", c.support},
                         {"roc_auc", number_or_null(c.roc_auc)}});
  }
  return {{"accuracy", number_or_null(m.accuracy)},
          {"balanced_accuracy", number_or_null(m.balanced_accuracy)},
          {"macro_f1", number_or_null(m.macro_f1)},
          {"roc_auc_macro", number_or_null(m.roc_auc_macro)},
          {"loss", number_or_null(m.loss)},
          {"count", m.count},
          {"per_class", per_class},
          {"confusion_matrix", m.confusion_matrix}};
}

}  // namespace alz::train
