// Subject-disjoint K-fold cross-validation splits (`alz cv`).
//
// group_kfold puts every group (subject) in exactly one of K folds, so that each sample is
// validated exactly once, by the one model that never saw its subject. Samples with an empty
// group are groups of one. The folds are stratified by class as far as whole groups allow:
// groups are taken largest first (ties in a seeded order) and each goes to the fold where it
// brings the per-class counts closest to their targets (a class's count / K), each class
// weighed relative to its target so a rare class counts as much as a common one; equal costs
// go to the fold with fewer samples, then the lower index. Deterministic for a seed on every
// platform.
//
// cv_pool gathers the samples cross-validation folds: the "all" split, or "train" and "val"
// together; a "test" split (a manifest's test rows, a layout's test folder) stays out of every
// fold and is kept aside by fold_split.
//
// Tested in tests/test_folds.cpp:
//   cmake --build build -j2 --target test_folds && ctest --test-dir build -R Folds
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace alz::data {

// The fold (0..folds-1) of every sample. Throws alz::Error when folds < 2, a label is outside
// [0, num_classes), or there are fewer groups than folds.
std::vector<int> group_kfold(const std::vector<Sample>& samples, int num_classes, int folds, uint64_t seed);

// The samples cross-validation divides into folds (see above), in index order.
std::vector<Sample> cv_pool(const DatasetIndex& index);

// `index` with "train" = the pool outside fold `fold` and "val" = fold `fold` (any "test" split
// kept as it is). Throws alz::Error when fold is not in [0, folds).
DatasetIndex fold_split(const DatasetIndex& index, int folds, int fold, uint64_t seed);

// The number of distinct groups among `samples` (a sample without a group counts as its own).
int64_t count_groups(const std::vector<Sample>& samples);

}  // namespace alz::data
