// Phantom brain-MRI slices (data/phantom.h): the plan's counts and subject grouping, the files
// written (decodable, the asked size, byte-identical for a seed whatever the thread count),
// and the statistics that make the task honest: class carried by atrophy, not by brightness.
//   cmake --build build --target test_phantom && build/tests/test_phantom
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/image.h"
#include "data/phantom.h"
#include "support/compare.h"

namespace alz::data {
namespace {

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Best balanced accuracy of a one-threshold classifier (either direction) separating a from b.
double best_threshold_accuracy(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<std::pair<double, int>> all;
  for (double x : a) all.push_back({x, 0});
  for (double x : b) all.push_back({x, 1});
  std::sort(all.begin(), all.end());
  double below_a = 0, below_b = 0, best = 0.5;
  for (const auto& [value, which] : all) {
    (which == 0 ? below_a : below_b) += 1;
    double a_low = 0.5 * (below_a / double(a.size()) + 1.0 - below_b / double(b.size()));
    best = std::max({best, a_low, 1.0 - a_low});
  }
  return best;
}

// Per class (alphabetical): mean brightness and the dark-pixel fraction inside a central
// ellipse (always inside the brain): pixels below half the region's median, i.e. CSF of the
// ventricles and sulci.
struct ClassStats {
  std::vector<std::vector<double>> mean{4}, dark{4};
};

ClassStats class_stats(int per_class, uint64_t seed) {
  ClassStats stats;
  for (int label = 0; label < kPhantomClassCount; ++label)
    for (int i = 0; i < per_class; ++i) {
      Image image = render_phantom_slice(draw_phantom_subject(seed, label * 1000000 + i, label), i % 4, 208, 176);
      double sum = 0;
      for (uint8_t p : image.pixels) sum += p;
      stats.mean[size_t(label)].push_back(sum / double(image.pixels.size()));
      std::vector<int> region;
      for (int y = 0; y < 208; ++y)
        for (int x = 0; x < 176; ++x) {
          double u = (x + 0.5 - 88) / (0.3 * 176), v = (y + 0.5 - 104) / (0.32 * 208);
          if (u * u + v * v < 1) region.push_back(image.pixels[size_t(y) * 176 + x]);
        }
      std::vector<int> sorted = region;
      std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(sorted.size() / 2), sorted.end());
      double median = sorted[sorted.size() / 2];
      double dark = 0;
      for (int p : region) dark += p < 0.5 * median ? 1 : 0;
      stats.dark[size_t(label)].push_back(dark / double(region.size()));
    }
  return stats;
}

double average(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / double(v.size());
}

TEST(Phantom, PlanHasTheAskedCountsAndWholeSubjectsPerSplit) {
  PhantomSpec spec;
  spec.counts = {7, 3, 10, 2};
  spec.val_fraction = 0.3;
  spec.slices_per_subject = 3;
  std::vector<PhantomSample> plan = plan_phantom_dataset(spec);
  std::map<std::string, std::array<int, 4>> counts;
  std::map<std::string, std::set<std::string>> splits_of_group;
  std::map<std::string, int> slices_of_group;
  for (const PhantomSample& s : plan) {
    ++counts[s.split][size_t(s.label)];
    splits_of_group[s.group].insert(s.split);
    ++slices_of_group[s.group];
    EXPECT_EQ(s.path, s.split + "/" + kPhantomClassNames[size_t(s.label)] + "/" + s.group + "_0" +
                          std::to_string(s.slice) + ".jpg");
  }
  // val = round(count * 0.3), at least 1: 2, 1, 3, 1 (0.6 rounds to 1 anyway); train the rest.
  EXPECT_EQ(counts["val"], (std::array<int, 4>{2, 1, 3, 1}));
  EXPECT_EQ(counts["train"], (std::array<int, 4>{5, 2, 7, 1}));
  // At least one on each side: 0.05 of 3 rounds to 0 but val gets 1; 0.9 of 3 leaves train 1.
  spec.counts = {3, 3, 3, 1};
  spec.val_fraction = 0.05;
  std::array<int, 4> val{};
  for (const PhantomSample& s : plan_phantom_dataset(spec)) val[size_t(s.label)] += s.split == "val" ? 1 : 0;
  EXPECT_EQ(val, (std::array<int, 4>{1, 1, 1, 0}));
  spec.val_fraction = 0.9;
  val = {};
  for (const PhantomSample& s : plan_phantom_dataset(spec)) val[size_t(s.label)] += s.split == "val" ? 1 : 0;
  EXPECT_EQ(val, (std::array<int, 4>{2, 2, 2, 1}));
  for (const auto& [group, splits] : splits_of_group) EXPECT_EQ(splits.size(), 1u) << group;
  for (const auto& [group, slices] : slices_of_group) EXPECT_LE(slices, 3) << group;
  // 7 Mild images, val 2 + train 5 in subjects of <= 3 slices: 1 + 2 subjects.
  int mild_groups = 0;
  for (const auto& [group, splits] : splits_of_group) mild_groups += group.rfind("subj000", 0) == 0 ? 1 : 0;
  EXPECT_EQ(mild_groups, 3);
}

TEST(Phantom, BadSpecsThrow) {
  PhantomSpec spec;
  spec.val_fraction = 1.0;
  EXPECT_THROW(plan_phantom_dataset(spec), Error);
  spec = PhantomSpec{};
  spec.counts = {0, 0, 0, 0};
  EXPECT_THROW(plan_phantom_dataset(spec), Error);
  spec = PhantomSpec{};
  spec.counts = {1, -1, 1, 1};
  EXPECT_THROW(plan_phantom_dataset(spec), Error);
  spec = PhantomSpec{};  // no output folder
  EXPECT_THROW(write_phantom_dataset(spec), Error);
  EXPECT_THROW(render_phantom_slice(draw_phantom_subject(0, 0, 0), 0, 8, 100), Error);
  EXPECT_THROW(draw_phantom_subject(0, 0, 4), Error);
}

TEST(Phantom, WritesDecodableImagesOfTheAskedSizeAndAManifest) {
  PhantomSpec spec;
  spec.out_dir = test::fresh_temp_dir("phantom_write");
  spec.counts = {3, 2, 4, 3};
  spec.height = 97;  // odd sizes on purpose
  spec.width = 83;
  spec.seed = 5;
  std::vector<PhantomSample> plan = write_phantom_dataset(spec);
  ASSERT_EQ(plan.size(), 12u);
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(spec.out_dir))
    files += entry.path().extension() == ".jpg" ? 1 : 0;
  EXPECT_EQ(files, plan.size());
  for (const PhantomSample& sample : plan) {
    Image image = decode_image_file(spec.out_dir + "/" + sample.path);
    EXPECT_EQ(image.height, 97);
    EXPECT_EQ(image.width, 83);
    EXPECT_EQ(image.at(48, 41, 0), image.at(48, 41, 2)) << "grey image decoded with R == B";
  }
  std::ifstream manifest(spec.out_dir + "/manifest.csv");
  std::string line;
  std::getline(manifest, line);
  EXPECT_EQ(line, "path,label,group");
  for (const PhantomSample& sample : plan) {
    ASSERT_TRUE(std::getline(manifest, line));
    EXPECT_EQ(line, sample.path + "," + kPhantomClassNames[size_t(sample.label)] + "," + sample.group);
  }
  EXPECT_FALSE(std::getline(manifest, line)) << "extra manifest line: " << line;
}

TEST(Phantom, SameSeedSameBytesWhateverTheThreadCountOtherSeedOtherBytes) {
  PhantomSpec spec;
  spec.counts = {3, 1, 3, 2};
  spec.seed = 42;
  spec.out_dir = test::fresh_temp_dir("phantom_seed_a");
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<PhantomSample> plan = write_phantom_dataset(spec);
  omp_set_num_threads(std::max(2, threads));
  std::string dir_a = spec.out_dir;
  spec.out_dir = test::fresh_temp_dir("phantom_seed_b");
  write_phantom_dataset(spec);
  std::string dir_b = spec.out_dir;
  spec.seed = 43;
  spec.out_dir = test::fresh_temp_dir("phantom_seed_c");
  write_phantom_dataset(spec);
  omp_set_num_threads(threads);
  int differing = 0;
  for (const PhantomSample& sample : plan) {
    std::vector<uint8_t> a = file_bytes(dir_a + "/" + sample.path);
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(a, file_bytes(dir_b + "/" + sample.path)) << sample.path;
    differing += a != file_bytes(spec.out_dir + "/" + sample.path) ? 1 : 0;
  }
  EXPECT_EQ(differing, int(plan.size()));
  EXPECT_EQ(file_bytes(dir_a + "/manifest.csv"), file_bytes(dir_b + "/manifest.csv"));
}

TEST(Phantom, SeverityDistributionsAreOrderedAndOverlapTheirNeighbours) {
  // Severity order: Non (2) < VeryMild (3) < Mild (0) < Moderate (1).
  const int order[4] = {2, 3, 0, 1};
  std::vector<std::vector<double>> severity(4);
  for (int label = 0; label < 4; ++label)
    for (int i = 0; i < 200; ++i) severity[size_t(label)].push_back(draw_phantom_subject(7, i, label).severity);
  for (int k = 0; k + 1 < 4; ++k) {
    const auto& lower = severity[size_t(order[k])];
    const auto& upper = severity[size_t(order[k + 1])];
    EXPECT_LT(average(lower) + 0.1, average(upper)) << kPhantomClassNames[size_t(order[k])];
    // Overlap: a threshold cannot separate neighbours (200 draws each; chance 0.5, perfect 1).
    double accuracy = best_threshold_accuracy(lower, upper);
    EXPECT_GT(accuracy, 0.7) << "neighbours should differ on average";
    EXPECT_LT(accuracy, 0.95) << "neighbours should overlap";
  }
}

// (mean b - mean a) / pooled standard deviation.
double effect_size(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = average(a), mb = average(b), va = 0, vb = 0;
  for (double x : a) va += (x - ma) * (x - ma);
  for (double x : b) vb += (x - mb) * (x - mb);
  return (mb - ma) / std::sqrt((va + vb) / double(a.size() + b.size() - 2));
}

TEST(Phantom, MeanBrightnessDoesNotGiveTheClassAtrophyDoes) {
  ClassStats stats = class_stats(64, 11);
  const int order[4] = {2, 3, 0, 1};
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b) {
      // Mean brightness: chance is 0.5; the best of ~250 thresholds on 64 + 64 images reaches
      // about 0.6 by luck alone, so 0.68 leaves room for noise but not for a real signal.
      double accuracy = best_threshold_accuracy(stats.mean[size_t(a)], stats.mean[size_t(b)]);
      EXPECT_LT(accuracy, 0.68) << kPhantomClassNames[size_t(a)] << " vs " << kPhantomClassNames[size_t(b)];
    }
  // Class-wise mean brightness distributions coincide: without the brightness normalisation
  // the effect size NonDemented -> Mild / Moderate is about 0.5 / 0.8 (atrophy adds dark CSF);
  // with it, about 0.1. Sampling error of the estimate at 64 + 64 images is about 0.18.
  EXPECT_LT(std::fabs(effect_size(stats.mean[2], stats.mean[0])), 0.4);
  EXPECT_LT(std::fabs(effect_size(stats.mean[2], stats.mean[1])), 0.4);
  for (int k = 0; k + 1 < 4; ++k) {
    // The dark (CSF) fraction grows with severity on average ...
    double lower = average(stats.dark[size_t(order[k])]), upper = average(stats.dark[size_t(order[k + 1])]);
    EXPECT_LT(lower * 1.1, upper) << kPhantomClassNames[size_t(order[k])];
    // ... but neighbouring classes overlap, so the task is not trivial.
    EXPECT_LT(best_threshold_accuracy(stats.dark[size_t(order[k])], stats.dark[size_t(order[k + 1])]), 0.95);
  }
  // The extremes are told apart well by atrophy.
  EXPECT_GT(best_threshold_accuracy(stats.dark[2], stats.dark[1]), 0.85);
}

TEST(Phantom, ContactSheetHasOneRowPerClass) {
  Image sheet = phantom_contact_sheet(3, 2, 52, 44);
  EXPECT_EQ(sheet.channels, 1);
  EXPECT_EQ(sheet.height, 4 * (52 + 4) + 4);
  EXPECT_EQ(sheet.width, 2 * (44 + 4) + 4);
  EXPECT_EQ(sheet.at(0, 0, 0), 255);  // border
  // The tile centres hold a brain, not the white border.
  EXPECT_LT(sheet.at(4 + 26, 4 + 22, 0), 255);
}

}  // namespace
}  // namespace alz::data
