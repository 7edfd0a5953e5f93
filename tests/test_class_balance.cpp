// Small-class and imbalance warnings (data/class_balance.h), and their place in the audit.
//   cmake --build build --target test_class_balance && build/tests/test_class_balance
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "data/class_balance.h"

namespace alz::data {
namespace {

const std::vector<std::string> kNames = {"Mild", "Moderate", "Non", "VeryMild"};

int count_containing(const std::vector<std::string>& warnings, const std::string& text) {
  int n = 0;
  for (const std::string& w : warnings) n += w.find(text) != std::string::npos ? 1 : 0;
  return n;
}

TEST(ClassBalance, BalancedLargeClassesRaiseNothing) {
  std::vector<SplitClassCounts> splits = {{"train", {300, 200, 400, 350}}, {"val", {60, 40, 80, 70}}};
  EXPECT_TRUE(class_balance_warnings(kNames, splits, "train").empty());
}

TEST(ClassBalance, WarnsOnSmallClassesFewValidationImagesAndImbalance) {
  // Kaggle's originals scaled down: Moderate is tiny, Non 50x larger.
  std::vector<SplitClassCounts> splits = {{"train", {166, 11, 598, 420}}, {"val", {44, 4, 152, 105}}};
  std::vector<std::string> w = class_balance_warnings(kNames, splits, "train");
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(count_containing(w, "class Moderate has only 15 image(s) in all"), 1);
  EXPECT_EQ(count_containing(w, "class Moderate has only 4 image(s) in val"), 1);
  EXPECT_EQ(count_containing(w, "Non has 54.4x the images of Moderate (598 vs 11)"), 1);
  EXPECT_EQ(count_containing(w, "--class-weights auto"), 1);
}

TEST(ClassBalance, ThresholdsAreOptionsAndEmptyClassesAreNamed) {
  std::vector<SplitClassCounts> splits = {{"train", {40, 0, 40, 40}}, {"test", {10, 0, 9, 10}}};
  std::vector<std::string> w = class_balance_warnings(kNames, splits, "train");
  EXPECT_EQ(count_containing(w, "class Moderate has no image in train"), 1);
  EXPECT_EQ(count_containing(w, "class Moderate has no image(s) in test"), 1);
  EXPECT_EQ(count_containing(w, "class Non has only 9 image(s) in test"), 1);
  ClassBalanceOptions quiet;
  quiet.min_images = 0;
  quiet.min_validation_images = 0;
  EXPECT_EQ(class_balance_warnings(kNames, splits, "train", quiet).size(), 1u);  // the empty class
  // Without a training split every split counts as training data; no evaluation split.
  std::vector<SplitClassCounts> one = {{"all", {100, 5, 100, 100}}};
  std::vector<std::string> w1 = class_balance_warnings(kNames, one, "");
  EXPECT_EQ(count_containing(w1, "20.0x the images of Moderate"), 1);
  EXPECT_EQ(count_containing(w1, "only 5 image(s) in all"), 1);
  EXPECT_THROW(class_balance_warnings(kNames, {{"train", {1, 2}}}, "train"), Error);
}

}  // namespace
}  // namespace alz::data
