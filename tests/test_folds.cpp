// Subject-disjoint K-fold splits (data/folds.h) and a manifest's split column
// (data/manifest.cpp): every subject in exactly one fold, classes spread as whole subjects
// allow, the same folds for the same seed, and train/val/test rows kept as the file says.
// Run: cmake --build build -j2 --target test_folds && ctest --test-dir build -R Folds
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/folds.h"
#include "support/compare.h"

namespace alz::data {
namespace {

// `subjects` subjects per class (class c has subjects of 3 + (s % 4) slices), named c<c>s<s>.
std::vector<Sample> grouped_samples(const std::vector<int>& subjects) {
  std::vector<Sample> samples;
  for (size_t c = 0; c < subjects.size(); ++c)
    for (int s = 0; s < subjects[c]; ++s)
      for (int slice = 0; slice < 3 + s % 4; ++slice) {
        std::string group = std::string("c") + std::to_string(c) + std::string("s") + std::to_string(s);
        samples.push_back({group + "_" + std::to_string(slice) + ".jpg", static_cast<int>(c), group});
      }
  return samples;
}

TEST(Folds, EverySubjectInExactlyOneFoldAndEveryFoldUsed) {
  std::vector<Sample> samples = grouped_samples({10, 3, 25, 17});
  std::vector<int> fold = group_kfold(samples, 4, 5, 11);
  ASSERT_EQ(fold.size(), samples.size());
  std::map<std::string, int> fold_of_group;
  std::vector<int64_t> size(5, 0);
  for (size_t i = 0; i < samples.size(); ++i) {
    ASSERT_GE(fold[i], 0);
    ASSERT_LT(fold[i], 5);
    auto [it, added] = fold_of_group.emplace(samples[i].group, fold[i]);
    EXPECT_EQ(it->second, fold[i]) << samples[i].group << " is split across folds";
    ++size[fold[i]];
  }
  for (int f = 0; f < 5; ++f) EXPECT_GT(size[f], 0) << "fold " << f;
}

TEST(Folds, ClassesSpreadAsWholeSubjectsAllow) {
  // 20 subjects of each class in 5 folds: every fold gets 4 of each (counts within one subject).
  std::vector<Sample> samples = grouped_samples({20, 20, 20, 20});
  std::vector<int> fold = group_kfold(samples, 4, 5, 3);
  std::vector<std::vector<int>> count(5, std::vector<int>(4, 0));
  std::vector<int> total(4, 0);
  for (size_t i = 0; i < samples.size(); ++i) {
    ++count[fold[i]][samples[i].label];
    ++total[samples[i].label];
  }
  for (int f = 0; f < 5; ++f)
    for (int c = 0; c < 4; ++c)
      EXPECT_NEAR(count[f][c], total[c] / 5.0, 6.0) << "fold " << f << " class " << c << " (one subject: 3-6 slices)";
  // A class of 3 subjects lands in 3 different folds, never two in one.
  std::vector<Sample> rare = grouped_samples({30, 3});
  std::vector<int> rare_fold = group_kfold(rare, 2, 5, 3);
  std::set<int> folds_with_class1;
  std::set<std::string> groups_of_class1;
  for (size_t i = 0; i < rare.size(); ++i)
    if (rare[i].label == 1) {
      folds_with_class1.insert(rare_fold[i]);
      groups_of_class1.insert(rare[i].group);
    }
  EXPECT_EQ(groups_of_class1.size(), 3u);
  EXPECT_EQ(folds_with_class1.size(), 3u);
}

TEST(Folds, DeterministicForASeedAndDifferentForAnother) {
  std::vector<Sample> samples = grouped_samples({12, 4, 30, 20});
  EXPECT_EQ(group_kfold(samples, 4, 5, 7), group_kfold(samples, 4, 5, 7));
  EXPECT_NE(group_kfold(samples, 4, 5, 7), group_kfold(samples, 4, 5, 8));
}

TEST(Folds, UngroupedSamplesAreGroupsOfOne) {
  std::vector<Sample> samples;
  for (int i = 0; i < 20; ++i) samples.push_back({std::string("x") + std::to_string(i) + ".jpg", i % 2, ""});
  std::vector<int> fold = group_kfold(samples, 2, 4, 1);
  std::vector<int> size(4, 0);
  for (int f : fold) ++size[f];
  for (int f = 0; f < 4; ++f) EXPECT_EQ(size[f], 5) << "fold " << f;
  EXPECT_EQ(count_groups(samples), 20);
}

TEST(Folds, RejectsTooFewGroupsOrFolds) {
  std::vector<Sample> samples = grouped_samples({2, 1});  // 3 subjects
  EXPECT_THROW(group_kfold(samples, 2, 4, 1), Error);
  EXPECT_THROW(group_kfold(samples, 2, 1, 1), Error);
  EXPECT_NO_THROW(group_kfold(samples, 2, 3, 1));
}

TEST(Folds, FoldSplitValidatesEachSampleOnceAndKeepsTestAside) {
  DatasetIndex index;
  index.class_names = {"a", "b"};
  index.splits.push_back({"train", grouped_samples({8, 6})});
  index.splits.push_back({"test", {{"t.jpg", 0, "t"}}});
  std::multiset<std::string> validated;
  for (int f = 0; f < 3; ++f) {
    DatasetIndex split = fold_split(index, 3, f, 5);
    ASSERT_NE(split.find_split("train"), nullptr);
    ASSERT_NE(split.find_split("val"), nullptr);
    ASSERT_NE(split.find_split("test"), nullptr);
    EXPECT_EQ(split.find_split("test")->samples.size(), 1u);
    std::set<std::string> train_groups;
    for (const Sample& s : split.find_split("train")->samples) train_groups.insert(s.group);
    for (const Sample& s : split.find_split("val")->samples) {
      EXPECT_EQ(train_groups.count(s.group), 0u) << s.group << " on both sides of fold " << f;
      validated.insert(s.path);
    }
    EXPECT_EQ(split.find_split("train")->samples.size() + split.find_split("val")->samples.size(),
              index.splits[0].samples.size());
  }
  EXPECT_EQ(validated.size(), index.splits[0].samples.size());
  for (const Sample& s : index.splits[0].samples) EXPECT_EQ(validated.count(s.path), 1u) << s.path;
  EXPECT_THROW(fold_split(index, 3, 3, 5), Error);
}

TEST(Folds, ManifestSplitColumnMakesThoseSplits) {
  std::string dir = test::fresh_temp_dir("folds_manifest");
  write_file_atomic(dir + "/m.csv",
                    "path,label,group,split\na.jpg,x,s1,train\nb.jpg,y,s2,val\nc.jpg,x,s3,test\nd.jpg,y,s1,train\n");
  DatasetIndex index = parse_manifest(dir + "/m.csv");
  ASSERT_EQ(index.splits.size(), 3u);
  EXPECT_EQ(index.splits[0].name, "train");
  EXPECT_EQ(index.splits[1].name, "val");
  EXPECT_EQ(index.splits[2].name, "test");
  EXPECT_EQ(index.splits[0].samples.size(), 2u);
  EXPECT_EQ(index.splits[2].samples[0].group, "s3");
  EXPECT_EQ(cv_pool(index).size(), 3u);  // test rows stay out of cross-validation

  write_file_atomic(dir + "/bad.csv", "path,label,split\na.jpg,x,train\nb.jpg,y,holdout\n");
  try {
    parse_manifest(dir + "/bad.csv");
    ADD_FAILURE() << "a split value outside train/val/test must be rejected";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("bad.csv:3"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("holdout"), std::string::npos) << error.what();
  }
  write_file_atomic(dir + "/plain.csv", "path,label\na.jpg,x\nb.jpg,y\n");
  DatasetIndex plain = parse_manifest(dir + "/plain.csv");
  ASSERT_EQ(plain.splits.size(), 1u);
  EXPECT_EQ(plain.splits[0].name, "all");
}

}  // namespace
}  // namespace alz::data
