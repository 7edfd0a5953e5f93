// A checkpoint's training-data record and the overlap check of alz eval (train/provenance.h).
//
// Tested in tests/test_provenance.cpp:
//   cmake --build build -j2 --target test_provenance && ctest --test-dir build -R Provenance
#include "train/provenance.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/folds.h"
#include "data/phash.h"

namespace alz::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The path as one file has one name: absolute, symlinks and ".." resolved as far as they exist.
std::string canonical_path(const std::string& path) {
  std::error_code error;
  fs::path resolved = fs::weakly_canonical(fs::absolute(path), error);
  return error ? fs::absolute(path).lexically_normal().string() : resolved.string();
}

std::string fnv_text(uint64_t hash) {
  char text[40];
  std::snprintf(text, sizeof text, "fnv1a64:%016" PRIx64, hash);
  return text;
}

uint64_t hash_lines(const std::vector<std::string>& lines) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (const std::string& line : lines) {
    hash = data::fnv1a64(reinterpret_cast<const uint8_t*>(line.data()), line.size(), hash);
    hash = data::fnv1a64(reinterpret_cast<const uint8_t*>("\n"), 1, hash);
  }
  return hash;
}

std::vector<std::string> sorted_canonical_paths(const std::vector<data::Sample>& samples) {
  std::vector<std::string> paths;
  paths.reserve(samples.size());
  for (const data::Sample& s : samples) paths.push_back(canonical_path(s.path));
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string source_hash(const std::string& source, const data::DatasetIndex& index) {
  if (fs::is_regular_file(source)) return fnv_text(data::fnv1a64_file(source));
  std::vector<std::string> lines;
  for (const data::Split& split : index.splits)
    for (const data::Sample& s : split.samples)
      lines.push_back(canonical_path(s.path) + "," + std::to_string(s.label) + "," + s.group);
  std::sort(lines.begin(), lines.end());
  return fnv_text(hash_lines(lines));
}

}  // namespace

std::string make_training_split(data::DatasetIndex& index, const SplitRecipe& recipe) {
  if (recipe.folds > 0) {
    index = data::fold_split(index, recipe.folds, recipe.fold, recipe.seed);
    return "fold";
  }
  if (index.find_split("val")) return "as given";
  index = data::with_validation_split(index, recipe.val_fraction, recipe.seed);
  return "validation split";
}

json training_provenance(const std::string& source, const data::DatasetIndex& index, const std::string& split,
                         const SplitRecipe& recipe) {
  const data::Split* train = index.find_split("train");
  ALZ_CHECK(train, source << ": no training split to record");
  bool groups =
      std::any_of(train->samples.begin(), train->samples.end(), [](const data::Sample& s) { return !s.group.empty(); });
  return {{"source", canonical_path(source)},
          {"source_hash", source_hash(source, index)},
          {"split", split},
          {"val_fraction", recipe.val_fraction},
          {"split_seed", recipe.seed},
          {"groups", groups},
          {"folds", recipe.folds},
          {"fold", recipe.fold},
          {"train_images", static_cast<int64_t>(train->samples.size())},
          {"train_hash", fnv_text(hash_lines(sorted_canonical_paths(train->samples)))}};
}

RecordedValidation remake_recorded_validation(const std::string& provenance_json, const std::string& data,
                                              data::DatasetIndex& index) {
  RecordedValidation out;
  if (provenance_json.empty()) {
    out.reason = "the checkpoint does not record its training data";
    return out;
  }
  json record;
  SplitRecipe recipe;
  std::string split, source, hash;
  try {
    record = json::parse(provenance_json);
    source = record.at("source").get<std::string>();
    split = record.at("split").get<std::string>();
    recipe.val_fraction = record.at("val_fraction").get<double>();
    recipe.seed = record.at("split_seed").get<uint64_t>();
    recipe.folds = record.value("folds", 0);
    recipe.fold = record.value("fold", 0);
    hash = record.value("source_hash", std::string());
  } catch (const json::exception& error) {
    out.reason = std::string("the checkpoint's training-data record is damaged: ") + error.what();
    return out;
  }
  if (canonical_path(data) != source) {
    out.reason = "the checkpoint was trained on " + source + ", not on this data";
    return out;
  }
  data::DatasetIndex remade = index;
  try {
    const std::string made = make_training_split(remade, recipe);
    ALZ_CHECK(made == split, "the split was made as '" << split << "' in training but would be '" << made << "' now");
    ALZ_CHECK(remade.find_split("val"), "the remade split has no val");
  } catch (const Error& error) {
    out.reason = std::string("cannot make its validation split again: ") + error.what();
    return out;
  }
  std::ostringstream d;
  if (split == "fold")
    d << "fold " << recipe.fold << " of " << recipe.folds << " of " << source << ", seed " << recipe.seed;
  else if (split == "as given")
    d << "the val split of " << source << " as given";
  else
    d << "validation split of " << source << ", fraction " << recipe.val_fraction << ", seed " << recipe.seed
      << (record.value("groups", false) ? ", group-aware" : "");
  out.data_changed = !hash.empty() && source_hash(data, index) != hash;
  if (out.data_changed) d << " (the data changed since training: it hashes differently)";
  out.description = d.str();
  out.applies = true;
  index = std::move(remade);
  return out;
}

OverlapCheck check_training_overlap(const std::string& provenance_json, const std::vector<data::Sample>& evaluated) {
  OverlapCheck check;
  check.evaluated = static_cast<int64_t>(evaluated.size());
  if (provenance_json.empty()) {
    check.reason = "the checkpoint does not record its training data (written by an older alz, or not by alz train)";
    return check;
  }
  json record;
  SplitRecipe recipe;
  std::string split;
  try {
    record = json::parse(provenance_json);
    check.source = record.at("source").get<std::string>();
    split = record.at("split").get<std::string>();
    recipe.val_fraction = record.at("val_fraction").get<double>();
    recipe.seed = record.at("split_seed").get<uint64_t>();
    recipe.folds = record.value("folds", 0);
    recipe.fold = record.value("fold", 0);
  } catch (const json::exception& error) {
    check.reason = std::string("the checkpoint's training-data record is damaged: ") + error.what();
    return check;
  }
  if (!fs::exists(check.source)) {
    check.reason = "its training data " + check.source + " is not found here";
    return check;
  }
  data::DatasetIndex index;
  try {
    index = data::scan_dataset(check.source);
    std::string made = make_training_split(index, recipe);
    ALZ_CHECK(made == split, "the split was made as '" << split << "' in training but as '" << made << "' now");
  } catch (const Error& error) {
    check.reason = std::string("cannot recompute its training split: ") + error.what();
    return check;
  }
  std::vector<std::string> train_paths = sorted_canonical_paths(index.find_split("train")->samples);
  check.training_images = static_cast<int64_t>(train_paths.size());
  check.data_changed = fnv_text(hash_lines(train_paths)) != record.value("train_hash", std::string());
  std::set<std::string> training(train_paths.begin(), train_paths.end());
  for (const data::Sample& s : evaluated) check.overlap += training.count(canonical_path(s.path)) ? 1 : 0;
  check.checked = true;
  return check;
}

json OverlapCheck::to_json() const {
  json j = {{"checked", checked}, {"evaluated", evaluated}};
  if (!checked) {
    j["reason"] = reason;
    return j;
  }
  j["overlap"] = overlap;
  j["training_images"] = training_images;
  j["source"] = source;
  j["data_changed"] = data_changed;
  return j;
}

std::string OverlapCheck::describe() const {
  std::ostringstream s;
  if (!checked) {
    s << "training data overlap: not checked: " << reason << "\n";
    return s.str();
  }
  if (overlap > 0) {
    s << "WARNING: " << overlap << " of the " << evaluated << " evaluated images were TRAINING images of this "
      << "checkpoint (its training split of " << source << "); these figures are not held-out figures\n";
  } else {
    s << "training data overlap: none of the " << evaluated << " evaluated images is among the checkpoint's "
      << training_images << " training images (" << source << ")\n";
  }
  if (data_changed)
    s << "note: " << source << " changed since training (its training split hashes differently); the overlap "
      << "is counted against the data as it is now\n";
  return s.str();
}

}  // namespace alz::train
