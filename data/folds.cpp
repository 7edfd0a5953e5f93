// Subject-disjoint, class-stratified K-fold assignment (data/folds.h): greedy, largest group
// first, each group to the fold whose per-class counts it brings closest to their targets.
//
// Tested in tests/test_folds.cpp:
//   cmake --build build -j2 --target test_folds && ctest --test-dir build -R Folds
#include "data/folds.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "core/error.h"

namespace alz::data {
namespace {

// Sample indices per group, groups in first-seen order; an empty group name is a group of one.
std::vector<std::vector<size_t>> gather_groups(const std::vector<Sample>& samples) {
  std::map<std::string, size_t> group_of_name;
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].group.empty()) {
      groups.push_back({i});
      continue;
    }
    auto [it, added] = group_of_name.emplace(samples[i].group, groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  return groups;
}

}  // namespace

int64_t count_groups(const std::vector<Sample>& samples) { return static_cast<int64_t>(gather_groups(samples).size()); }

std::vector<int> group_kfold(const std::vector<Sample>& samples, int num_classes, int folds, uint64_t seed) {
  ALZ_CHECK(folds >= 2, "cross-validation: needs at least 2 folds, got " << folds);
  ALZ_CHECK(num_classes >= 1, "cross-validation: num_classes must be positive");
  for (const Sample& s : samples)
    ALZ_CHECK(s.label >= 0 && s.label < num_classes,
              "cross-validation: " << s.path << " has label " << s.label << ", outside [0, " << num_classes << ")");
  std::vector<std::vector<size_t>> groups = gather_groups(samples);
  ALZ_CHECK(static_cast<int64_t>(groups.size()) >= folds,
            "cross-validation: " << folds << " folds need at least " << folds << " groups (subjects), the data has "
                                 << groups.size());

  std::vector<double> target(num_classes, 0.0);  // per fold
  for (const Sample& s : samples) target[s.label] += 1.0 / folds;
  std::vector<std::vector<double>> have(folds, std::vector<double>(num_classes, 0.0));  // (folds, classes)
  std::vector<int64_t> fold_size(folds, 0);

  std::vector<int64_t> order = seeded_permutation(static_cast<int64_t>(groups.size()), seed, 0xF01D);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return groups[a].size() > groups[b].size(); });

  std::vector<int> fold_of(samples.size(), -1);
  std::vector<double> counts(num_classes);
  for (int64_t g : order) {
    std::fill(counts.begin(), counts.end(), 0.0);
    for (size_t i : groups[g]) counts[samples[i].label] += 1.0;
    // The change of the total cost when group g joins fold f (only fold f's terms change).
    auto delta = [&](int f) {
      double d = 0.0;
      for (int c = 0; c < num_classes; ++c) {
        if (counts[c] == 0.0) continue;
        double scale = std::max(target[c], 1.0);
        d += (std::abs(have[f][c] + counts[c] - target[c]) - std::abs(have[f][c] - target[c])) / scale;
      }
      return d;
    };
    int best = 0;
    double best_delta = delta(0);
    for (int f = 1; f < folds; ++f) {
      double d = delta(f);
      if (d < best_delta - 1e-12 || (std::abs(d - best_delta) <= 1e-12 && fold_size[f] < fold_size[best])) {
        best = f;
        best_delta = d;
      }
    }
    for (int c = 0; c < num_classes; ++c) have[best][c] += counts[c];
    fold_size[best] += static_cast<int64_t>(groups[g].size());
    for (size_t i : groups[g]) fold_of[i] = best;
  }
  for (int f = 0; f < folds; ++f)
    ALZ_CHECK(fold_size[f] > 0,
              "cross-validation: fold " << f + 1 << " of " << folds << " received no group; use fewer folds");
  return fold_of;
}

std::vector<Sample> cv_pool(const DatasetIndex& index) {
  std::vector<Sample> pool;
  for (const Split& split : index.splits)
    if (split.name == "all" || split.name == "train" || split.name == "val")
      pool.insert(pool.end(), split.samples.begin(), split.samples.end());
  ALZ_CHECK(!pool.empty(), index.root << ": no 'all', 'train' or 'val' split to cross-validate");
  return pool;
}

DatasetIndex fold_split(const DatasetIndex& index, int folds, int fold, uint64_t seed) {
  ALZ_CHECK(fold >= 0 && fold < folds, "cross-validation: fold " << fold << " is not in [0, " << folds << ")");
  std::vector<Sample> pool = cv_pool(index);
  std::vector<int> fold_of = group_kfold(pool, static_cast<int>(index.class_names.size()), folds, seed);
  Split train{"train", {}}, val{"val", {}};
  for (size_t i = 0; i < pool.size(); ++i) (fold_of[i] == fold ? val : train).samples.push_back(pool[i]);
  DatasetIndex out = index;
  out.splits.clear();
  out.splits.push_back(std::move(train));
  out.splits.push_back(std::move(val));
  for (const Split& split : index.splits)
    if (split.name == "test") out.splits.push_back(split);
  return out;
}

}  // namespace alz::data
