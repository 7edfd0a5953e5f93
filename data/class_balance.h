// Warnings about classes too small to learn or to measure, and about heavy imbalance: what
// `alz audit` lists and what `alz train` prints beside its data summary.
//
// For per-split counts (class_names order), with `train_split` the split the model learns from
// (empty: none; then every split counts as training data):
//   - a class with fewer than min_images images over all splits;
//   - a class with fewer than min_validation_images images in an evaluation split (every split
//     other than train_split): its recall and F1 rest on a handful of images;
//   - imbalance: the largest class of the training split has at least max_imbalance times the
//     images of the smallest, with the advice to train with `--class-weights auto`.
// A class with no images in a split is named as such.
//
// Tested in tests/test_class_balance.cpp:
//   cmake --build build --target test_class_balance && build/tests/test_class_balance
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace alz::data {

struct ClassBalanceOptions {
  int64_t min_images = 30;             // per class, all splits together
  int64_t min_validation_images = 10;  // per class, in each evaluation split
  double max_imbalance = 10.0;         // largest / smallest training class
};

struct SplitClassCounts {
  std::string name;
  std::vector<int64_t> per_class;  // size class_names.size()
};

std::vector<std::string> class_balance_warnings(const std::vector<std::string>& class_names,
                                                const std::vector<SplitClassCounts>& splits,
                                                const std::string& train_split,
                                                const ClassBalanceOptions& options = {});

}  // namespace alz::data
