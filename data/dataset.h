// Datasets on disk: layout detection, the sample index, and train/validation splits.
//
// scan_dataset(path) recognises, in this order:
//   Manifest          a .csv file `path,label[,group]` with a header line; paths relative to the
//                     CSV's folder; label is a class name; group (a subject id, say) is optional
//   KaggleV1          <root>/AugmentedAlzheimerDataset/<class>/ -> "train",
//                     <root>/OriginalDataset/<class>/ -> "val"               (known to leak)
//   KaggleV2          <root>/data/{train,val}/<class>/ or <root>/{train,val}/<class>/, an
//                     optional test/ beside them -> "test"                   (known to leak)
//   OriginalFourClass <root>/{train,test}/<class>/ or <root>/Alzheimer_s Dataset/{train,test}/
//   ClassFolders      <root>/<class>/ -> one split "all"
// Class names are the folder names (or manifest labels), sorted alphabetically as Keras's
// flow_from_directory; label = index in class_names. Images are found recursively inside a
// class folder; extensions .jpg .jpeg .png .bmp in any case. Hidden files are ignored.
//
// Bad input never crashes and never passes quietly: a file that cannot be used (zero bytes,
// not an image, unsupported format, too large, too small, unreadable, a symlink loop, and —
// with verify_images — truncated or corrupt data) is skipped and listed in `skipped` with its
// reason; describe() prints the first of them. With strict=true any skip throws alz::Error.
// A missing or empty root, no class folders, and a class left without images always throw.
//
// Splits: stratified_split / group_split make a seeded train/val split; with_validation_split
// adds one to an index that has no "val" (group-aware whenever samples carry groups).
//
// Tested in tests/test_dataset.cpp:
//   cmake --build build --target test_dataset && build/tests/test_dataset
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/image.h"

namespace alz::data {

enum class LayoutKind { ClassFolders, KaggleV2, KaggleV1, OriginalFourClass, Manifest };
const char* layout_name(LayoutKind kind);  // "class folders", "Kaggle V2", ...

struct Sample {
  std::string path;   // as opened (root or CSV folder joined with the relative path)
  int label = -1;     // index into DatasetIndex::class_names
  std::string group;  // manifest group (subject); empty when unknown
};

struct SkippedFile {
  std::string path;
  std::string reason;
};

struct Split {
  std::string name;  // "train", "val", "test", "all"
  std::vector<Sample> samples;
};

struct ScanOptions {
  bool strict = false;         // any skipped file is an error
  bool verify_images = false;  // decode every image (in parallel) to catch truncated/corrupt data
  bool check_headers = true;   // read every header (stbi_info): catches most bad files cheaply
  int min_image_side = 8;      // headers with a smaller side are skipped (1xN images)
  DecodeLimits limits;         // headers above limits.max_pixels are skipped
  int verify_threads = 0;      // 0: all cores
};

struct DatasetIndex {
  LayoutKind layout = LayoutKind::ClassFolders;
  std::string root;                      // the folder (or the CSV file) scanned
  std::vector<std::string> class_names;  // alphabetical
  std::vector<Split> splits;
  std::vector<SkippedFile> skipped;
  bool known_leaky = false;  // V2/V1: train holds augmented copies of val
  std::string leak_warning;

  const Split* find_split(const std::string& name) const;  // nullptr when absent
  // Counts of `split` per class, size class_names.size().
  std::vector<int64_t> class_counts(const Split& split) const;
  // Layout, root, classes, per-split per-class counts, the leak warning, and a summary of
  // skipped files (the first `max_skipped_listed` with reasons).
  std::string describe(int max_skipped_listed = 10) const;
};

DatasetIndex scan_dataset(const std::string& root_or_manifest_csv, const ScanOptions& options = {});

// Parses a manifest CSV only: classes, one split "all", groups; files are not opened (that is
// scan_dataset's job). Throws alz::Error "<csv>:<line>: <reason>" for malformed lines.
DatasetIndex parse_manifest(const std::string& csv_path);

// Checks every sample as `options` say (headers, minimum side, pixel limit, full decode with
// verify_images) and returns those that pass, in order; the others go to `skipped`.
std::vector<Sample> filter_usable(const std::vector<Sample>& candidates, const ScanOptions& options,
                                  std::vector<SkippedFile>& skipped);

// A permutation of 0..n-1 from (seed, stream) by Fisher-Yates on Philox draws: the same on every
// platform and standard library. The loader uses stream = epoch.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream);

// A seeded split of `samples` into ("train", "val") with about val_fraction of every class in
// val (per class: round(count * val_fraction), at least 1 when the class has 2 or more
// samples). Deterministic for a seed on every platform; both sides keep the input order.
std::pair<Split, Split> stratified_split(const std::vector<Sample>& samples, int num_classes, double val_fraction,
                                         uint64_t seed);

// The same, but every sample of a group lands on the same side (samples with an empty group
// are groups of one). Groups are assigned greedily, largest first in a seeded order, to the
// side whose per-class counts are furthest below their targets, so classes stay balanced as
// well as whole groups allow.
std::pair<Split, Split> group_split(const std::vector<Sample>& samples, int num_classes, double val_fraction,
                                    uint64_t seed);

// Returns `index` with "train"/"val" made from its "train" (or "all") split when it has no
// "val": group-aware when any sample has a group, else stratified. Unchanged when "val"
// exists. Throws alz::Error when val_fraction is not in (0, 1).
DatasetIndex with_validation_split(const DatasetIndex& index, double val_fraction, uint64_t seed);

}  // namespace alz::data
