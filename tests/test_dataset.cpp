// Tests of data/dataset.h: every layout, manifests, bad input of every kind, and the seeded
// stratified and group-aware splits. Fixture trees are written at run time (tiny images).
//   cmake --build build --target test_dataset && build/tests/test_dataset
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/dataset.h"
#include "support/compare.h"

namespace alz::data {
namespace {

using test::error_message;

namespace fs = std::filesystem;

Image random_image(int h, int w, uint32_t seed) {
  std::mt19937 rng(seed);
  Image image(h, w, 3);
  for (auto& v : image.pixels) v = static_cast<uint8_t>(rng() & 0xFF);
  return image;
}

// Writes a small valid image; the format follows the extension (JPEG, PNG or BMP via PNG bytes
// is not possible, so .bmp files get real BMP data through write_png's sibling below).
void write_image(const fs::path& path, uint32_t seed, int h = 12, int w = 10) {
  fs::create_directories(path.parent_path());
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  Image image = random_image(h, w, seed);
  if (ext == ".png")
    write_png(path.string(), image);
  else
    write_jpeg(path.string(), image, 90);  // .jpg, .jpeg (and .bmp is not used here)
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

const std::vector<std::string> kClasses = {"NonDemented", "VeryMildDemented", "MildDemented", "ModerateDemented"};
const std::vector<std::string> kSorted = {"MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"};

// counts[c] images per class under base/<class>/, with assorted extensions.
void write_class_tree(const fs::path& base, const std::vector<int>& counts, uint32_t seed) {
  const char* exts[] = {".jpg", ".JPG", ".png", ".jpeg", ".PNG"};
  for (size_t c = 0; c < kClasses.size(); ++c)
    for (int i = 0; i < counts[c]; ++i)
      write_image(base / kClasses[c] / ("img" + std::to_string(i) + exts[(i + c) % 5]), seed + 100 * c + i);
}

std::vector<int64_t> counts_of(const DatasetIndex& index, const std::string& split) {
  const Split* s = index.find_split(split);
  EXPECT_NE(s, nullptr) << split;
  return s ? index.class_counts(*s) : std::vector<int64_t>{};
}

ScanOptions strict_options() {
  ScanOptions options;
  options.strict = true;
  return options;
}

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(test::fresh_temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  }
  fs::path root_;
};

TEST_F(DatasetTest, ClassFoldersSortedCountedAndRecursive) {
  write_class_tree(root_, {3, 2, 4, 1}, 1);
  write_image(root_ / "MildDemented" / "nested" / "deep.bmp.png", 99);  // found recursively
  write_text(root_ / "NonDemented" / ".DS_Store", "x");                 // hidden: ignored
  DatasetIndex index = scan_dataset(root_.string());
  EXPECT_EQ(index.layout, LayoutKind::ClassFolders);
  EXPECT_EQ(index.class_names, kSorted);
  ASSERT_EQ(index.splits.size(), 1u);
  EXPECT_EQ(index.splits[0].name, "all");
  // Sorted: Mild 4+1 (nested), Moderate 1, Non 3, VeryMild 2.
  EXPECT_EQ(counts_of(index, "all"), (std::vector<int64_t>{5, 1, 3, 2}));
  EXPECT_TRUE(index.skipped.empty()) << index.describe();
  EXPECT_FALSE(index.known_leaky);
  for (const Sample& s : index.splits[0].samples) {
    EXPECT_NE(s.path.find(index.class_names[s.label]), std::string::npos) << s.path;
    EXPECT_TRUE(s.group.empty());
  }
  std::string text = index.describe();
  EXPECT_NE(text.find("class folders"), std::string::npos) << text;
  EXPECT_NE(text.find("ModerateDemented"), std::string::npos) << text;
  // The scan is deterministic (sorted listing).
  DatasetIndex again = scan_dataset(root_.string());
  for (size_t i = 0; i < index.splits[0].samples.size(); ++i)
    EXPECT_EQ(again.splits[0].samples[i].path, index.splits[0].samples[i].path);
}

TEST_F(DatasetTest, KaggleV2BothForms) {
  write_class_tree(root_ / "a" / "data" / "train", {2, 2, 3, 2}, 10);
  write_class_tree(root_ / "a" / "data" / "val", {1, 1, 2, 1}, 20);
  write_class_tree(root_ / "b" / "train", {2, 1, 1, 1}, 30);
  write_class_tree(root_ / "b" / "val", {1, 1, 1, 1}, 40);
  write_class_tree(root_ / "b" / "test", {1, 1, 1, 1}, 50);
  DatasetIndex a = scan_dataset((root_ / "a").string());
  EXPECT_EQ(a.layout, LayoutKind::KaggleV2);
  EXPECT_TRUE(a.known_leaky);
  EXPECT_NE(a.describe().find("WARNING"), std::string::npos);
  EXPECT_EQ(counts_of(a, "train"), (std::vector<int64_t>{3, 2, 2, 2}));
  EXPECT_EQ(counts_of(a, "val"), (std::vector<int64_t>{2, 1, 1, 1}));
  DatasetIndex b = scan_dataset((root_ / "b").string());
  EXPECT_EQ(b.layout, LayoutKind::KaggleV2);
  ASSERT_EQ(b.splits.size(), 3u);
  EXPECT_EQ(b.splits[2].name, "test");
  EXPECT_EQ(b.class_names, kSorted);
}

TEST_F(DatasetTest, KaggleV1AndOriginalFourClass) {
  write_class_tree(root_ / "v1" / "AugmentedAlzheimerDataset", {3, 3, 3, 3}, 60);
  write_class_tree(root_ / "v1" / "OriginalDataset", {1, 1, 1, 1}, 70);
  DatasetIndex v1 = scan_dataset((root_ / "v1").string());
  EXPECT_EQ(v1.layout, LayoutKind::KaggleV1);
  EXPECT_TRUE(v1.known_leaky);
  EXPECT_EQ(counts_of(v1, "train"), (std::vector<int64_t>{3, 3, 3, 3}));
  EXPECT_EQ(counts_of(v1, "val"), (std::vector<int64_t>{1, 1, 1, 1}));

  write_class_tree(root_ / "orig" / "Alzheimer_s Dataset" / "train", {2, 1, 3, 2}, 80);
  write_class_tree(root_ / "orig" / "Alzheimer_s Dataset" / "test", {1, 1, 1, 1}, 90);
  DatasetIndex orig = scan_dataset((root_ / "orig").string());
  EXPECT_EQ(orig.layout, LayoutKind::OriginalFourClass);
  EXPECT_FALSE(orig.known_leaky);
  EXPECT_EQ(counts_of(orig, "train"), (std::vector<int64_t>{3, 2, 2, 1}));
  EXPECT_EQ(orig.find_split("val"), nullptr);
  // No val folder: a seeded stratified split of train, test kept.
  DatasetIndex split = with_validation_split(orig, 0.5, 7);
  ASSERT_EQ(split.splits.size(), 3u);
  EXPECT_EQ(split.splits[0].name, "train");
  EXPECT_EQ(split.splits[1].name, "val");
  EXPECT_EQ(split.splits[2].name, "test");
  EXPECT_EQ(split.splits[0].samples.size() + split.splits[1].samples.size(), 8u);

  write_class_tree(root_ / "flat" / "train", {1, 1, 1, 1}, 95);
  write_class_tree(root_ / "flat" / "test", {1, 1, 1, 1}, 96);
  EXPECT_EQ(scan_dataset((root_ / "flat").string()).layout, LayoutKind::OriginalFourClass);
}

TEST_F(DatasetTest, ManifestWithGroupsQuotesAndErrors) {
  write_image(root_ / "imgs" / "a 1.jpg", 1);
  write_image(root_ / "imgs" / "b,2.png", 2);
  write_image(root_ / "imgs" / "c3.jpg", 3);
  write_image(root_ / "imgs" / "d4.jpg", 4);
  write_text(root_ / "m.csv",
             "path,label,group\r\nimgs/a 1.jpg,sick,s1\r\n\"imgs/b,2.png\",healthy,s2\r\n\r\n"
             "imgs/c3.jpg , sick , s1\r\nimgs/d4.jpg,healthy,s3\r\nimgs/missing.jpg,healthy,s3\r\n");
  DatasetIndex index = scan_dataset((root_ / "m.csv").string());
  EXPECT_EQ(index.layout, LayoutKind::Manifest);
  EXPECT_EQ(index.class_names, (std::vector<std::string>{"healthy", "sick"}));
  EXPECT_EQ(counts_of(index, "all"), (std::vector<int64_t>{2, 2}));
  ASSERT_EQ(index.skipped.size(), 1u);
  EXPECT_NE(index.skipped[0].path.find("missing.jpg"), std::string::npos);
  EXPECT_NE(index.skipped[0].reason.find("cannot open"), std::string::npos) << index.skipped[0].reason;
  EXPECT_EQ(index.splits[0].samples[0].group, "s1");
  EXPECT_TRUE(fs::exists(index.splits[0].samples[1].path)) << "paths are relative to the CSV's folder";
  EXPECT_THROW(scan_dataset((root_ / "m.csv").string(), strict_options()), Error);

  write_text(root_ / "bad1.csv", "file,class\nx.jpg,a\n");
  EXPECT_NE(error_message([&] { parse_manifest((root_ / "bad1.csv").string()); }).find("header"), std::string::npos);
  write_text(root_ / "bad2.csv", "path,label\nimgs/c3.jpg,a\nimgs/d4.jpg\n");
  EXPECT_NE(error_message([&] { parse_manifest((root_ / "bad2.csv").string()); }).find("bad2.csv:3"),
            std::string::npos);
  write_text(root_ / "bad3.csv", "path,label\n\"imgs/c3.jpg,a\n");
  EXPECT_NE(error_message([&] { parse_manifest((root_ / "bad3.csv").string()); }).find("unterminated"),
            std::string::npos);
  write_text(root_ / "empty.csv", "");
  EXPECT_THROW(scan_dataset((root_ / "empty.csv").string()), Error);
}

TEST_F(DatasetTest, MissingEmptyAndClasslessFoldersThrow) {
  EXPECT_NE(error_message([&] { scan_dataset((root_ / "nope").string()); }).find("does not exist"), std::string::npos);
  fs::create_directories(root_ / "empty");
  EXPECT_NE(error_message([&] { scan_dataset((root_ / "empty").string()); }).find("no class folders"),
            std::string::npos);
  write_image(root_ / "loose" / "a.jpg", 1);
  write_image(root_ / "loose" / "b.jpg", 2);
  EXPECT_NE(error_message([&] { scan_dataset((root_ / "loose").string()); }).find("no class folders"),
            std::string::npos);
  write_class_tree(root_ / "hole", {2, 2, 2, 0}, 3);  // ModerateDemented: none
  fs::create_directories(root_ / "hole" / "ModerateDemented");
  write_text(root_ / "hole" / "ModerateDemented" / "notes.txt", "nothing here");
  std::string message = error_message([&] { scan_dataset((root_ / "hole").string()); });
  EXPECT_NE(message.find("class 'ModerateDemented' has no usable images"), std::string::npos) << message;
  write_class_tree(root_ / "one", {0, 0, 3, 0}, 4);
  EXPECT_NE(error_message([&] { scan_dataset((root_ / "one").string()); }).find("at least 2"), std::string::npos);
  write_image(root_ / "file.jpg", 5);
  EXPECT_THROW(scan_dataset((root_ / "file.jpg").string()), Error);
  // A split folder whose classes differ from the other split's.
  write_class_tree(root_ / "v2" / "train", {1, 1, 1, 1}, 6);
  write_class_tree(root_ / "v2" / "val", {1, 0, 1, 1}, 7);
  EXPECT_NE(error_message([&] { scan_dataset((root_ / "v2").string()); }).find("split 'val'"), std::string::npos);
}

TEST_F(DatasetTest, BadFilesAreSkippedWithReasonsOrFailStrict) {
  write_class_tree(root_, {2, 2, 2, 2}, 8);
  fs::path mild = root_ / "MildDemented";
  write_text(mild / "zero.jpg", "");
  write_text(mild / "text.png", "just some words, not an image");
  write_text(mild / "readme.txt", "a note");
  write_text(mild / "anim.gif", "GIF89a....");
  write_image(mild / "line.png", 9, 1, 40);  // 1x40: too small a side
  Image image = random_image(20, 20, 10);
  write_jpeg((mild / "whole.jpg").string(), image);
  {
    std::ifstream in(mild / "whole.jpg", std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream((mild / "cut.jpg").string(), std::ios::binary).write(bytes.data(), bytes.size() / 2);
  }
  // A PNG whose compressed data is scrambled but whose header and IEND are intact: only a
  // full decode finds it.
  write_png((mild / "scrambled.png").string(), image);
  {
    std::fstream f(mild / "scrambled.png", std::ios::in | std::ios::out | std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
    for (size_t i = 41; i + 16 < bytes.size(); ++i) bytes[i] ^= 0x5A;
    f.seekp(0);
    f.write(bytes.data(), bytes.size());
  }
  fs::create_symlink(mild / "nowhere.jpg", mild / "dangling.jpg");
  fs::create_directories(mild / "loop");
  fs::create_directory_symlink(mild, mild / "loop" / "back");  // MildDemented/loop/back -> MildDemented

  DatasetIndex index = scan_dataset(root_.string());
  std::map<std::string, std::string> reasons;
  for (const SkippedFile& s : index.skipped) reasons[fs::path(s.path).filename().string()] = s.reason;
  EXPECT_NE(reasons["zero.jpg"].find("empty file"), std::string::npos);
  EXPECT_NE(reasons["text.png"].find("not an image"), std::string::npos);
  EXPECT_NE(reasons["readme.txt"].find("extension .txt"), std::string::npos);
  EXPECT_NE(reasons["anim.gif"].find("extension .gif"), std::string::npos);
  EXPECT_NE(reasons["line.png"].find("smaller than 8 pixels"), std::string::npos) << reasons["line.png"];
  EXPECT_NE(reasons["line.png"].find("40x1"), std::string::npos);
  EXPECT_NE(reasons["cut.jpg"].find("truncated"), std::string::npos);
  EXPECT_NE(reasons["dangling.jpg"].find("broken symbolic link"), std::string::npos);
  EXPECT_NE(reasons["back"].find("loop"), std::string::npos) << index.describe();
  EXPECT_EQ(reasons.count("scrambled.png"), 0u) << "header checks alone cannot see it";
  EXPECT_EQ(counts_of(index, "all"), (std::vector<int64_t>{4, 2, 2, 2}));  // 2 + whole.jpg + scrambled.png
  std::string text = index.describe(3);
  EXPECT_NE(text.find("skipped 8 file(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("... and 5 more"), std::string::npos) << text;

  ScanOptions verify;
  verify.verify_images = true;
  DatasetIndex verified = scan_dataset(root_.string(), verify);
  EXPECT_EQ(counts_of(verified, "all"), (std::vector<int64_t>{3, 2, 2, 2}));
  bool found = false;
  for (const SkippedFile& s : verified.skipped)
    if (s.path.find("scrambled.png") != std::string::npos) found = s.reason.find("corrupt png") != std::string::npos;
  EXPECT_TRUE(found) << verified.describe(20);

  std::string message = error_message([&] { scan_dataset(root_.string(), strict_options()); });
  EXPECT_NE(message.find("strict mode: 8 file(s)"), std::string::npos) << message;

  ScanOptions huge;
  huge.limits.max_pixels = 100;                             // every 12x10 fixture is over it ...
  EXPECT_THROW(scan_dataset(root_.string(), huge), Error);  // ... so classes end up empty
}

TEST_F(DatasetTest, UnreadableFolderIsSkipped) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: permissions do not stop reads";
  write_class_tree(root_, {1, 1, 1, 1}, 11);
  write_image(root_ / "NonDemented" / "locked" / "x.jpg", 12);
  ::chmod((root_ / "NonDemented" / "locked").c_str(), 0);
  DatasetIndex index = scan_dataset(root_.string());
  ::chmod((root_ / "NonDemented" / "locked").c_str(), 0755);
  ASSERT_EQ(index.skipped.size(), 1u);
  EXPECT_NE(index.skipped[0].reason.find("cannot"), std::string::npos);
}

// ---- splits ----

std::vector<Sample> labelled(const std::vector<int>& counts, int group_size = 0) {
  std::vector<Sample> samples;
  int id = 0;
  for (size_t c = 0; c < counts.size(); ++c)
    for (int i = 0; i < counts[c]; ++i, ++id) {
      std::ostringstream name, group;
      name << "s" << id;
      if (group_size) group << "g" << c << "_" << i / group_size;
      samples.push_back({name.str(), static_cast<int>(c), group.str()});
    }
  // Interleave classes so input order is not class-sorted.
  std::mt19937 rng(3);
  std::shuffle(samples.begin(), samples.end(), rng);
  return samples;
}

TEST(Split, StratifiedCountsDisjointDeterministic) {
  std::vector<int> counts = {90, 7, 320, 224, 1};
  std::vector<Sample> samples = labelled(counts);
  auto [train, val] = stratified_split(samples, 5, 0.2, 42);
  std::vector<int> val_counts(5, 0);
  for (const Sample& s : val.samples) ++val_counts[s.label];
  EXPECT_EQ(val_counts, (std::vector<int>{18, 1, 64, 45, 0}));  // round(0.2 n), >= 1 when n >= 2
  EXPECT_EQ(train.samples.size() + val.samples.size(), samples.size());
  std::set<std::string> seen;
  for (const Sample& s : train.samples) seen.insert(s.path);
  for (const Sample& s : val.samples) EXPECT_TRUE(seen.insert(s.path).second) << "on both sides: " << s.path;

  auto [train2, val2] = stratified_split(samples, 5, 0.2, 42);
  ASSERT_EQ(val2.samples.size(), val.samples.size());
  for (size_t i = 0; i < val.samples.size(); ++i) EXPECT_EQ(val2.samples[i].path, val.samples[i].path);
  auto [train3, val3] = stratified_split(samples, 5, 0.2, 43);
  bool differs = false;
  for (size_t i = 0; i < val.samples.size(); ++i) differs |= val3.samples[i].path != val.samples[i].path;
  EXPECT_TRUE(differs) << "another seed must give another split";
  EXPECT_THROW(stratified_split(samples, 5, 1.0, 1), Error);
  EXPECT_THROW(stratified_split(samples, 4, 0.2, 1), Error);  // label 4 out of range
}

TEST(Split, GroupSplitKeepsGroupsWholeAndBalancesClasses) {
  std::vector<int> counts = {28 * 32, 2 * 32, 100 * 32, 70 * 32};  // subjects x 32 slices
  std::vector<Sample> samples = labelled(counts, 32);
  auto [train, val] = group_split(samples, 4, 0.2, 5);
  std::set<std::string> train_groups, val_groups;
  for (const Sample& s : train.samples) train_groups.insert(s.group);
  for (const Sample& s : val.samples) {
    val_groups.insert(s.group);
    EXPECT_EQ(train_groups.count(s.group), 0u) << "group " << s.group << " on both sides";
  }
  std::vector<int> val_counts(4, 0);
  for (const Sample& s : val.samples) ++val_counts[s.label];
  for (int c = 0; c < 4; ++c) {
    double expected = 0.2 * counts[c];
    EXPECT_LE(std::abs(val_counts[c] - expected), 32.0) << "class " << c << ": within one subject of the target";
  }
  EXPECT_GT(val_counts[1], 0) << "the 2-subject class still reaches validation";
  auto [train2, val2] = group_split(samples, 4, 0.2, 5);
  ASSERT_EQ(val2.samples.size(), val.samples.size());
  for (size_t i = 0; i < val.samples.size(); ++i) EXPECT_EQ(val2.samples[i].path, val.samples[i].path);

  std::vector<Sample> one_group = {{"a", 0, "g"}, {"b", 1, "g"}};
  EXPECT_THROW(group_split(one_group, 2, 0.2, 1), Error);
}

TEST(Split, WithValidationSplitIsGroupAwareForManifests) {
  DatasetIndex index;
  index.layout = LayoutKind::Manifest;
  index.class_names = {"a", "b"};
  index.splits.push_back({"all", labelled({40, 40}, 4)});
  DatasetIndex out = with_validation_split(index, 0.25, 9);
  ASSERT_NE(out.find_split("val"), nullptr);
  std::set<std::string> train_groups;
  for (const Sample& s : out.find_split("train")->samples) train_groups.insert(s.group);
  for (const Sample& s : out.find_split("val")->samples) EXPECT_EQ(train_groups.count(s.group), 0u);
  EXPECT_EQ(with_validation_split(out, 0.5, 1).find_split("val")->samples.size(), out.find_split("val")->samples.size())
      << "an existing val split is kept";
}

TEST(Split, SeededPermutation) {
  std::vector<int64_t> p = seeded_permutation(1000, 1, 0);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(seeded_permutation(1000, 1, 0), p);
  EXPECT_NE(seeded_permutation(1000, 1, 1), p);
  EXPECT_NE(seeded_permutation(1000, 2, 0), p);
  EXPECT_TRUE(seeded_permutation(0, 1, 0).empty());
  // Roughly uniform: element 0 lands in every tenth of the range across streams.
  std::vector<int> where(10, 0);
  for (uint64_t stream = 0; stream < 2000; ++stream) {
    auto q = seeded_permutation(10, 3, stream);
    ++where[std::find(q.begin(), q.end(), 0) - q.begin()];
  }
  for (int count : where) EXPECT_NEAR(count, 200, 60) << "binomial(2000, 0.1): sd 13";
}

}  // namespace
}  // namespace alz::data
