// Dataset audit (data/audit.h) on phantom folders: a clean `synth` output shows no cross-split
// copies; planted exact and near duplicates, a shared subject and a broken file are all found;
// the JSON output parses with the documented fields; bad input throws.
//   cmake --build build --target test_audit && build/tests/test_audit
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/audit.h"
#include "data/image.h"
#include "data/phantom.h"
#include "support/compare.h"

namespace alz::data {
namespace {

namespace fs = std::filesystem;

// A small phantom set in the V2 layout; returns its plan.
std::vector<PhantomSample> make_phantoms(const std::string& dir) {
  PhantomSpec spec;
  spec.out_dir = dir;
  spec.counts = {5, 3, 8, 6};
  spec.val_fraction = 0.35;
  spec.seed = 9;
  return write_phantom_dataset(spec);
}

const PhantomSample& first_in(const std::vector<PhantomSample>& plan, const std::string& split) {
  return *std::find_if(plan.begin(), plan.end(), [&](const PhantomSample& s) { return s.split == split; });
}

TEST(Audit, CleanPhantomSetHasNoCrossSplitCopies) {
  std::string dir = test::fresh_temp_dir("audit_clean");
  std::vector<PhantomSample> plan = make_phantoms(dir);
  AuditReport report = audit_dataset(dir);
  EXPECT_EQ(report.layout, layout_name(LayoutKind::KaggleV2));
  ASSERT_EQ(report.class_names.size(), 4u);
  ASSERT_EQ(report.splits.size(), 2u);
  int64_t total = 0;
  for (const AuditSplit& split : report.splits) {
    for (size_t c = 0; c < 4; ++c) {
      int64_t expected = std::count_if(
          plan.begin(), plan.end(), [&](const PhantomSample& s) { return s.split == split.name && s.label == int(c); });
      EXPECT_EQ(split.per_class[c], expected) << split.name << " " << report.class_names[c];
    }
    EXPECT_EQ(split.with_copy_elsewhere, 0) << split.name;
    total += split.total;
  }
  EXPECT_EQ(total, int64_t(plan.size()));
  EXPECT_EQ(report.sizes.size(), 1u);
  EXPECT_EQ(report.sizes.begin()->first, "208x176, 3 channels");  // stb writes JPEG as YCbCr
  EXPECT_TRUE(report.unreadable.empty());
  EXPECT_TRUE(report.exact_groups.empty());
  EXPECT_EQ(report.near_cross_split_pairs, 0);
  EXPECT_TRUE(report.shared_groups.empty());
  // The layout still carries Kaggle V2's warning, saying that no copy was found here.
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("Kaggle V2"), std::string::npos);
  EXPECT_NE(report.warnings[0].find("found no exact or near copy"), std::string::npos);
}

TEST(Audit, FindsPlantedDuplicatesSharedSubjectsAndBrokenFiles) {
  std::string dir = test::fresh_temp_dir("audit_planted");
  std::vector<PhantomSample> plan = make_phantoms(dir);
  const PhantomSample& val = first_in(plan, "val");
  const PhantomSample& train = first_in(plan, "train");
  const std::string klass = kPhantomClassNames[size_t(val.label)];
  // 1. An exact copy of a val image in train, listed in the manifest under the same subject.
  fs::copy_file(dir + "/" + val.path, dir + "/train/" + klass + "/copy.jpg");
  std::ofstream(dir + "/manifest.csv", std::ios::app)
      << "train/" << klass << "/copy.jpg," << klass << "," << val.group << "\n";
  // 2. A slightly brighter, re-encoded copy of the same val image in train.
  Image altered = decode_image_file(dir + "/" + val.path);
  for (uint8_t& p : altered.pixels) p = uint8_t(std::min(255, p + 5));
  write_jpeg(dir + "/train/" + klass + "/altered.jpg", altered, 80);
  // 3. An exact duplicate inside train.
  fs::copy_file(dir + "/" + train.path, dir + "/" + train.path + ".dup.jpg");
  // 4. A file that is not an image.
  std::ofstream(dir + "/train/NonDemented/broken.jpg") << "not a jpeg";

  AuditReport report = audit_dataset(dir);
  ASSERT_EQ(report.exact_groups.size(), 2u);
  EXPECT_EQ(report.exact_redundant_files, 2);
  EXPECT_EQ(report.exact_cross_split_groups, 1);
  // Near: altered ~ val original (across) and altered ~ copy (within train); the exact copy is
  // not also counted as near.
  EXPECT_EQ(report.near_cross_split_pairs, 1);
  bool found_altered = false;
  for (const AuditNearPair& pair : report.near_pairs) {
    const std::string &a = report.files[size_t(pair.a)].path, &b = report.files[size_t(pair.b)].path;
    if (pair.cross_split) {
      found_altered = found_altered ||
                      (a.find("altered.jpg") != std::string::npos && b.find(val.path) != std::string::npos) ||
                      (b.find("altered.jpg") != std::string::npos && a.find(val.path) != std::string::npos);
      EXPECT_LE(pair.distance, report.near_threshold);
      EXPECT_LE(pair.detail_distance, report.detail_threshold);
    }
  }
  EXPECT_TRUE(found_altered);
  EXPECT_EQ(report.near_pair_counts.at("train/val"), 1);
  EXPECT_EQ(report.splits[0].name, "train");
  EXPECT_EQ(report.splits[0].with_copy_elsewhere, 2);  // copy.jpg and altered.jpg
  EXPECT_EQ(report.splits[1].with_copy_elsewhere, 1);  // the original
  ASSERT_EQ(report.shared_groups.size(), 1u);
  EXPECT_EQ(report.shared_groups[0], val.group);
  ASSERT_EQ(report.unreadable.size(), 1u);
  EXPECT_NE(report.unreadable[0].path.find("broken.jpg"), std::string::npos);
  // Warnings: the layout's, exact across, near across, shared subject, unusable file.
  EXPECT_EQ(report.warnings.size(), 5u);

  std::string text = format_audit_text(report);
  EXPECT_NE(text.find("copy.jpg"), std::string::npos);
  EXPECT_NE(text.find("altered.jpg"), std::string::npos);
  EXPECT_NE(text.find("broken.jpg"), std::string::npos);
  EXPECT_NE(text.find("WARNING"), std::string::npos);

  nlohmann::json json = nlohmann::json::parse(format_audit_json(report));
  EXPECT_EQ(json["layout"], layout_name(LayoutKind::KaggleV2));
  EXPECT_EQ(json["classes"].size(), 4u);
  ASSERT_EQ(json["splits"].size(), 2u);
  EXPECT_EQ(json["splits"][0]["name"], "train");
  EXPECT_EQ(json["splits"][0]["total"], report.splits[0].total);
  EXPECT_EQ(json["splits"][1]["per_class"][klass], report.splits[1].per_class[size_t(val.label)]);
  EXPECT_EQ(json["image_sizes"]["208x176, 3 channels"], int64_t(plan.size()) + 3);
  EXPECT_EQ(json["unreadable"]["count"], 1);
  EXPECT_EQ(json["exact_duplicates"]["groups"], 2);
  EXPECT_EQ(json["exact_duplicates"]["cross_split_groups"], 1);
  EXPECT_EQ(json["near_duplicates"]["cross_split_pairs"], 1);
  EXPECT_EQ(json["near_duplicates"]["threshold"], 6);
  EXPECT_TRUE(json["near_duplicates"]["examples"][0]["cross_split"].get<bool>());  // cross-split listed first
  EXPECT_EQ(json["shared_groups"]["count"], 1);
  EXPECT_TRUE(json["known_leaky"].get<bool>());
  EXPECT_EQ(json["warnings"].size(), 5u);
  EXPECT_EQ(report.warnings[0].find("found no exact or near copy"), std::string::npos) << "copies were found";
}

TEST(Audit, ThresholdZeroKeepsOnlyIdenticalHashes) {
  std::string dir = test::fresh_temp_dir("audit_threshold");
  std::vector<PhantomSample> plan = make_phantoms(dir);
  AuditOptions options;
  options.near_threshold = 0;
  options.detail_threshold = 0;
  AuditReport report = audit_dataset(dir, options);
  for (const AuditNearPair& pair : report.near_pairs) EXPECT_EQ(pair.distance, 0);
  EXPECT_EQ(report.near_threshold, 0);
}

TEST(Audit, MissingFolderAndBadOptionsThrow) {
  std::string dir = test::fresh_temp_dir("audit_missing");
  EXPECT_THROW(audit_dataset(dir + "/nope"), Error);
  EXPECT_THROW(audit_dataset(dir), Error);  // empty folder: no classes
  AuditOptions options;
  options.near_threshold = 16;
  EXPECT_THROW(audit_dataset(dir, options), Error);
  options = AuditOptions{};
  options.detail_threshold = 300;
  EXPECT_THROW(audit_dataset(dir, options), Error);
}

}  // namespace
}  // namespace alz::data
