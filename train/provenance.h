// Where a checkpoint's training images came from, and the check `alz eval` makes with it.
//
// Every checkpoint alz train writes records, in its metadata under "training_data", a JSON
// object:
//   source        the folder or manifest CSV scanned, as an absolute path
//   source_hash   "fnv1a64:<16 hex digits>": FNV-1a 64 (data/phash.h) of the manifest file's
//                 bytes, or for a folder of its sorted "path,label,group" sample lines. A cheap
//                 stable fingerprint that tells a changed data set, not a cryptographic hash
//   split         how "train" was made: "as given" (the data's own train split: a layout's
//                 folders or a manifest's split column), "validation split" (made by
//                 with_validation_split from val_fraction and split_seed, group-aware when
//                 groups is true) or "fold" (fold `fold` of `folds` of alz cv, data/folds.h)
//   val_fraction, split_seed, groups, folds, fold
//   train_images  the number of training images
//   train_hash    FNV-1a 64 of the sorted, canonical training image paths, one a line
// alz eval scans `source` again, makes the same split (make_training_split below, the one
// function alz train uses too) and counts the evaluated images that were training images, by
// canonical path. When the recomputed train_hash differs, the data changed since training and
// the count is against the data as it is now; the result says so. Without --split, alz eval
// evaluates the run's own validation split (remake_recorded_validation below).
//
// Tested in tests/test_provenance.cpp:
//   cmake --build build -j2 --target test_provenance && ctest --test-dir build -R Provenance
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace alz::train {

// How alz train turns a scanned data set into "train" and "val".
struct SplitRecipe {
  double val_fraction = 0.2;
  uint64_t seed = 1;
  int folds = 0;  // alz cv: fold `fold` of `folds` is "val"; 0: not cross-validation
  int fold = 0;
};

// Makes "train" and "val" as alz train does: the fold of the recipe when folds > 0, else the
// data's own "val" when it has one, else a seeded validation split (group-aware when samples
// have groups). Returns the split's description: "fold", "as given" or "validation split".
std::string make_training_split(data::DatasetIndex& index, const SplitRecipe& recipe);

// The "training_data" record of a run on `index` (after make_training_split, whose result is
// `split`). `source` is what was scanned.
nlohmann::json training_provenance(const std::string& source, const data::DatasetIndex& index, const std::string& split,
                                   const SplitRecipe& recipe);

// The validation split a checkpoint's run validated on, made again: when `data` (what alz eval
// is given) is the run's recorded source, `index` (its scan) gets the run's "train" and "val"
// (make_training_split with the recorded fraction, seed and fold; a manifest's or folder's own
// split as given) and `applies` is true. Otherwise `index` is unchanged and `reason` says why
// (no record, a damaged one, other data, a split that cannot be made the same way again).
struct RecordedValidation {
  bool applies = false;
  std::string reason;
  std::string description;    // e.g. "validation split of DATA, fraction 0.3, seed 5, group-aware"
  bool data_changed = false;  // the source hashes differently from the record
};
RecordedValidation remake_recorded_validation(const std::string& provenance_json, const std::string& data,
                                              data::DatasetIndex& index);

struct OverlapCheck {
  bool checked = false;  // false: `reason` says why not
  std::string reason;
  std::string source;           // the checkpoint's training data
  int64_t evaluated = 0;        // images evaluated
  int64_t overlap = 0;          // of those, images of the checkpoint's training split
  int64_t training_images = 0;  // in the training split as recomputed
  bool data_changed = false;    // the recomputed training split differs from the recorded one

  nlohmann::json to_json() const;
  // One or two plain lines for the text report ("training data overlap: ...").
  std::string describe() const;
};

// Counts the `evaluated` samples that are in the training split a checkpoint's "training_data"
// record (the metadata's JSON text; empty when the checkpoint has none) describes.
OverlapCheck check_training_overlap(const std::string& provenance_json, const std::vector<data::Sample>& evaluated);

}  // namespace alz::train
