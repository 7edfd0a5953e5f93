// Seeded train/val splits: stratified by class, or group-aware (whole groups on one side),
// and the platform-independent permutation both use (Fisher-Yates on Philox draws).
//
// Tested in tests/test_dataset.cpp:
//   cmake --build build --target test_dataset && build/tests/test_dataset
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "core/error.h"
#include "core/philox.h"
#include "data/dataset.h"

namespace alz::data {
namespace {

void check_split_args(const std::vector<Sample>& samples, int num_classes, double val_fraction) {
  ALZ_CHECK(val_fraction > 0.0 && val_fraction < 1.0,
            "split: validation fraction " << val_fraction << " must be in (0, 1)");
  ALZ_CHECK(num_classes >= 1, "split: num_classes must be positive");
  for (const Sample& s : samples)
    ALZ_CHECK(s.label >= 0 && s.label < num_classes,
              "split: " << s.path << " has label " << s.label << ", outside [0, " << num_classes << ")");
}

std::pair<Split, Split> assemble(const std::vector<Sample>& samples, const std::vector<char>& in_val) {
  std::pair<Split, Split> out{{"train", {}}, {"val", {}}};
  for (size_t i = 0; i < samples.size(); ++i) (in_val[i] ? out.second : out.first).samples.push_back(samples[i]);
  return out;
}

}  // namespace

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) {
    PhiloxBlock block = philox4x32(static_cast<uint64_t>(i), stream, seed ^ 0x5EEDF00DCAFEBEEFULL);
    uint64_t bits = (uint64_t(block.word[1]) << 32) | block.word[0];
    // j uniform in [0, i] by a 64x64 -> 128-bit multiply (bias below 2^-40 for any n here).
    auto j = static_cast<int64_t>((static_cast<unsigned __int128>(bits) * uint64_t(i + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

std::pair<Split, Split> stratified_split(const std::vector<Sample>& samples, int num_classes, double val_fraction,
                                         uint64_t seed) {
  check_split_args(samples, num_classes, val_fraction);
  std::vector<std::vector<size_t>> members(num_classes);
  for (size_t i = 0; i < samples.size(); ++i) members[samples[i].label].push_back(i);
  std::vector<char> in_val(samples.size(), 0);
  for (int c = 0; c < num_classes; ++c) {
    auto n = static_cast<int64_t>(members[c].size());
    if (n < 2) continue;  // a single sample stays in train
    int64_t k = std::clamp<int64_t>(std::llround(n * val_fraction), 1, n - 1);
    std::vector<int64_t> order = seeded_permutation(n, seed, static_cast<uint64_t>(c));
    for (int64_t i = 0; i < k; ++i) in_val[members[c][order[i]]] = 1;
  }
  return assemble(samples, in_val);
}

std::pair<Split, Split> group_split(const std::vector<Sample>& samples, int num_classes, double val_fraction,
                                    uint64_t seed) {
  check_split_args(samples, num_classes, val_fraction);
  // Groups in first-seen order; an empty group name makes a group of one.
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
  ALZ_CHECK(groups.size() >= 2, "group split: needs at least 2 groups, got " << groups.size());

  std::vector<double> target(num_classes, 0.0), have(num_classes, 0.0);
  for (const Sample& s : samples) target[s.label] += val_fraction;
  // Seeded order, then largest first (stable, so ties keep the seeded order).
  std::vector<int64_t> order = seeded_permutation(static_cast<int64_t>(groups.size()), seed, 0x6706);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return groups[a].size() > groups[b].size(); });

  // Cost: how far val's per-class counts are from their targets, each class relative to its
  // target so a small class weighs as much as a large one.
  auto cost = [&](const std::vector<double>& counts) {
    double total = 0.0;
    for (int c = 0; c < num_classes; ++c) total += std::abs(counts[c] - target[c]) / std::max(target[c], 1.0);
    return total;
  };
  std::vector<char> group_in_val(groups.size(), 0);
  size_t val_groups = 0;
  for (int64_t g : order) {
    std::vector<double> with = have;
    for (size_t i : groups[g]) with[samples[i].label] += 1.0;
    if (cost(with) < cost(have)) {
      have = with;
      group_in_val[g] = 1;
      ++val_groups;
    }
  }
  // Like stratified_split, every class with 2 or more groups gets at least one of them in val
  // (the cheapest), so validation never lacks a class that train has twice over.
  for (int c = 0; c < num_classes; ++c) {
    if (have[c] > 0) continue;
    int64_t best = -1, holders = 0;
    double best_cost = 0.0;
    std::vector<double> best_with;
    for (size_t g = 0; g < groups.size(); ++g) {
      std::vector<double> with = have;
      bool holds = false;
      for (size_t i : groups[g]) {
        with[samples[i].label] += 1.0;
        holds |= samples[i].label == c;
      }
      if (!holds) continue;
      ++holders;
      if (best < 0 || cost(with) < best_cost) {
        best = static_cast<int64_t>(g);
        best_cost = cost(with);
        best_with = with;
      }
    }
    if (holders >= 2) {
      group_in_val[best] = 1;
      have = best_with;
      ++val_groups;
    }
  }
  if (val_groups == 0) {
    group_in_val[order.back()] = 1;  // the smallest group
    ++val_groups;
  }
  ALZ_CHECK(val_groups < groups.size(),
            "group split: every group went to validation (fraction " << val_fraction << " too large)");
  std::vector<char> in_val(samples.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g)
    if (group_in_val[g])
      for (size_t i : groups[g]) in_val[i] = 1;
  return assemble(samples, in_val);
}

DatasetIndex with_validation_split(const DatasetIndex& index, double val_fraction, uint64_t seed) {
  ALZ_CHECK(val_fraction > 0.0 && val_fraction < 1.0, "validation fraction " << val_fraction << " must be in (0, 1)");
  if (index.find_split("val")) return index;
  const Split* source = index.find_split("train");
  if (!source) source = index.find_split("all");
  ALZ_CHECK(source, index.root << ": no 'train' or 'all' split to take a validation split from");
  bool grouped =
      std::any_of(source->samples.begin(), source->samples.end(), [](const Sample& s) { return !s.group.empty(); });
  int classes = static_cast<int>(index.class_names.size());
  auto [train, val] = grouped ? group_split(source->samples, classes, val_fraction, seed)
                              : stratified_split(source->samples, classes, val_fraction, seed);
  DatasetIndex out = index;
  out.splits.clear();
  out.splits.push_back(std::move(train));
  out.splits.push_back(std::move(val));
  for (const Split& split : index.splits)
    if (split.name != "train" && split.name != "all") out.splits.push_back(split);
  return out;
}

}  // namespace alz::data
