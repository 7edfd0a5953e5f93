// Dataset audit: what a folder holds and how it can mislead an evaluation.
//
// audit_dataset(root) scans the folder (data/dataset.h: any layout it knows), then reads every
// image once, in parallel, and reports
//   - the layout, classes, and counts per split and class;
//   - a histogram of image sizes "HxW, C channels" (C as stored in the file);
//   - unreadable files with reasons (those the scan skipped and those that fail to decode);
//   - exact duplicates: files with equal bytes (FNV-1a 64 of the contents and equal length),
//     as groups, and how many groups span more than one split;
//   - near-duplicates: pairs whose bytes differ but whose 64-bit pHashes (data/phash.h) differ in
//     <= near_threshold bits AND whose 256-bit detail hashes differ in <= detail_threshold bits
//     (the pHash finds candidates fast; the detail hash rejects distinct slices that merely share
//     a head outline), counted within each split and across each pair of splits;
//   - per split, how many images have an exact or near copy in another split;
//   - subject groups found in more than one split: groups come from the samples when a manifest
//     CSV is audited, or from DIR/manifest.csv (path,label,group; as `alz synth` writes) when a
//     folder holds one beside its splits;
//   - warnings: the layout's own leak warning (Kaggle V1/V2 train holds augmented copies of
//     val), cross-split duplicates, shared subjects, unreadable files.
// format_audit_text / format_audit_json render the report (JSON via nlohmann/json; the field
// names are listed at format_audit_json in data/audit.cpp).
//
// Tested in tests/test_audit.cpp:
//   cmake --build build --target test_audit && build/tests/test_audit
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/phash.h"

namespace alz::data {

struct AuditOptions {
  int near_threshold = 6;     // Hamming distance of 64-bit pHashes, 0..kMaxNearThreshold
  int detail_threshold = 20;  // Hamming distance of 256-bit detail hashes, 0..256
  int max_examples = 10;      // examples listed per kind of finding
};

struct AuditFile {
  std::string path, split;
  int label = -1;
  int height = 0, width = 0, channels = 0;  // channels as stored in the file
  int64_t bytes = 0;
  uint64_t byte_hash = 0, phash = 0;
  DetailHash detail{};
  bool readable = false;
};

struct AuditSplit {
  std::string name;
  std::vector<int64_t> per_class;  // size class_names.size()
  int64_t total = 0;
  int64_t with_copy_elsewhere = 0;  // images with an exact or near copy in another split
};

struct AuditDuplicateGroup {
  std::vector<int64_t> files;  // indices into AuditReport::files, ascending
  bool cross_split = false;
};

struct AuditNearPair {
  int64_t a = 0, b = 0;  // indices into AuditReport::files
  int distance = 0, detail_distance = 0;
  bool cross_split = false;
};

struct AuditReport {
  std::string root, layout;
  std::vector<std::string> class_names;
  std::vector<AuditSplit> splits;
  std::vector<AuditFile> files;          // every sample the scan found, split by split
  std::map<std::string, int64_t> sizes;  // "HxW, C channels" -> count (readable files)
  std::vector<SkippedFile> unreadable;
  std::vector<AuditDuplicateGroup> exact_groups;
  int64_t exact_redundant_files = 0;  // sum over groups of (size - 1)
  int64_t exact_cross_split_groups = 0;
  int near_threshold = 0, detail_threshold = 0;
  std::vector<AuditNearPair> near_pairs;            // exact duplicates excluded
  std::map<std::string, int64_t> near_pair_counts;  // "train" (within) or "train/val" (across)
  int64_t near_cross_split_pairs = 0;
  std::vector<std::string> shared_groups;  // subject groups present in several splits
  bool known_leaky = false;
  std::vector<std::string> warnings;
  int max_examples = 10;
};

// Throws alz::Error for a missing or unusable folder (from scan_dataset) or bad options.
AuditReport audit_dataset(const std::string& root, const AuditOptions& options = {});

std::string format_audit_text(const AuditReport& report);
std::string format_audit_json(const AuditReport& report, int indent = 2);

}  // namespace alz::data
