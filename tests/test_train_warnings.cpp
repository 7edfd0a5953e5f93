// The class warnings `alz train` prints beside its data summary (train/run_setup.h
// data_warnings): small classes, few validation images, imbalance unless already reweighted.
//   cmake --build build --target test_train_warnings && build/tests/test_train_warnings
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "train/run_setup.h"

namespace alz::train {
namespace {

// Samples per class for one split; paths are never opened.
data::Split make_split(const std::string& name, const std::vector<int>& counts) {
  data::Split split{name, {}};
  for (size_t c = 0; c < counts.size(); ++c)
    for (int i = 0; i < counts[c]; ++i) split.samples.push_back({name + std::to_string(i), int(c), ""});
  return split;
}

int count_containing(const std::vector<std::string>& warnings, const std::string& text) {
  int n = 0;
  for (const std::string& w : warnings) n += w.find(text) != std::string::npos ? 1 : 0;
  return n;
}

TEST(TrainWarnings, SmallAndImbalancedClassesAreNamedUntilReweighted) {
  data::DatasetIndex index;
  index.class_names = {"MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"};
  index.splits = {make_split("train", {166, 11, 598, 420}), make_split("val", {44, 4, 152, 105})};
  TrainConfig config;
  std::vector<std::string> w = data_warnings(config, index);
  EXPECT_EQ(count_containing(w, "ModerateDemented has only 15 image(s) in all"), 1);
  EXPECT_EQ(count_containing(w, "ModerateDemented has only 4 image(s) in val"), 1);
  EXPECT_EQ(count_containing(w, "--class-weights auto"), 1);
  config.class_weights = "auto";
  w = data_warnings(config, index);
  EXPECT_EQ(count_containing(w, "--class-weights auto"), 0);
  EXPECT_EQ(w.size(), 2u);

  index.splits = {make_split("train", {100, 90, 120, 110}), make_split("val", {20, 20, 30, 25})};
  EXPECT_TRUE(data_warnings(TrainConfig{}, index).empty());
}

}  // namespace
}  // namespace alz::train
