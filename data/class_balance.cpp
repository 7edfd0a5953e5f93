// Small-class and imbalance warnings. See data/class_balance.h; tests in
// tests/test_class_balance.cpp.
#include "data/class_balance.h"

#include <cstdio>

#include "core/error.h"

namespace alz::data {

std::vector<std::string> class_balance_warnings(const std::vector<std::string>& class_names,
                                                const std::vector<SplitClassCounts>& splits,
                                                const std::string& train_split, const ClassBalanceOptions& options) {
  const size_t k = class_names.size();
  for (const SplitClassCounts& split : splits)
    ALZ_CHECK(split.per_class.size() == k, "class_balance_warnings: split '" << split.name << "' has "
                                                                             << split.per_class.size() << " counts for "
                                                                             << k << " classes");
  std::vector<std::string> warnings;
  std::vector<int64_t> total(k, 0), training(k, 0);
  bool has_train = false;
  for (const SplitClassCounts& split : splits) {
    const bool is_train = train_split.empty() || split.name == train_split;
    has_train = has_train || is_train;
    for (size_t c = 0; c < k; ++c) {
      total[c] += split.per_class[c];
      if (is_train) training[c] += split.per_class[c];
    }
  }
  for (size_t c = 0; c < k; ++c)
    if (total[c] < options.min_images)
      warnings.push_back("class " + class_names[c] + " has only " + std::to_string(total[c]) +
                         " image(s) in all (fewer than " + std::to_string(options.min_images) +
                         "): too few to learn it or to measure it");
  for (const SplitClassCounts& split : splits) {
    if (train_split.empty() || split.name == train_split) continue;
    for (size_t c = 0; c < k; ++c)
      if (split.per_class[c] < options.min_validation_images)
        warnings.push_back(
            "class " + class_names[c] + " has " +
            (split.per_class[c] == 0 ? std::string("no") : "only " + std::to_string(split.per_class[c])) +
            " image(s) in " + split.name + " (fewer than " + std::to_string(options.min_validation_images) +
            "): its recall and F1 there rest on too few images");
  }
  if (has_train && k >= 2) {
    size_t largest = 0, smallest = 0;
    for (size_t c = 1; c < k; ++c) {
      if (training[c] > training[largest]) largest = c;
      if (training[c] < training[smallest]) smallest = c;
    }
    const std::string where = train_split.empty() ? "" : " in " + train_split;
    if (training[smallest] == 0 && training[largest] > 0) {
      warnings.push_back("class " + class_names[smallest] + " has no image" + where + ": the model cannot learn it");
    } else if (training[smallest] > 0 &&
               double(training[largest]) >= options.max_imbalance * double(training[smallest])) {
      char ratio[32];
      std::snprintf(ratio, sizeof ratio, "%.1f", double(training[largest]) / double(training[smallest]));
      warnings.push_back("classes are heavily imbalanced" + where + ": " + class_names[largest] + " has " + ratio +
                         "x the images of " + class_names[smallest] + " (" + std::to_string(training[largest]) +
                         " vs " + std::to_string(training[smallest]) +
                         "); train with --class-weights auto and judge by macro-F1 and balanced accuracy");
    }
  }
  return warnings;
}

}  // namespace alz::data
