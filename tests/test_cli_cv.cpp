// Evaluation that knows where a checkpoint came from, bootstrap intervals in `alz eval`, a
// manifest's split column, and `alz cv`, through the `alz` dispatcher as a user runs them on a
// small phantom set (resnetv2-tiny, 32x32, a step or an epoch per run).
// Run: cmake --build build -j2 --target test_cli_cv && ctest --test-dir build -R CliCv
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/cli.h"
#include "core/atomic_file.h"
#include "data/dataset.h"
#include "support/compare.h"
#include "support/tiny_phantoms.h"
#include "support/run_cli.h"
#include "tensor/safetensors.h"
#include "train/cross_validation.h"

namespace alz {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using Result = test::CliResult;
Result alz(std::vector<std::string> args) { return test::run_cli(std::move(args)); }

const std::vector<std::string> kRecipe = {"--model", "resnetv2-tiny", "--device", "cpu",       "--batch",
                                          "8",       "--input-size",  "32",       "--workers", "2"};

std::vector<std::string> with_recipe(std::vector<std::string> args) {
  args.insert(args.end(), kRecipe.begin(), kRecipe.end());
  return args;
}

std::string canonical(const std::string& path) { return fs::weakly_canonical(fs::absolute(path)).string(); }

json training_data_of(const std::string& checkpoint) {
  SafetensorsFile file = load_safetensors(checkpoint);
  auto it = file.metadata.find("training_data");
  if (it == file.metadata.end()) return json();
  return json::parse(it->second);
}

class CliCv : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = test::fresh_temp_dir("cli_cv");
    test::write_tiny_phantoms(root_ + "/phantom", 3);
    Result r = alz(with_recipe(
        {"train", "--data", root_ + "/phantom/manifest.csv", "--epochs", "1", "--run-dir", root_ + "/run", "--quiet"}));
    setup_code_ = r.code;
    setup_error_ = r.err;
  }
  void SetUp() override { ASSERT_EQ(setup_code_, 0) << "alz train in the suite set-up: " << setup_error_; }
  static std::string root_, setup_error_;
  static int setup_code_;
};
std::string CliCv::root_, CliCv::setup_error_;
int CliCv::setup_code_ = -1;

TEST_F(CliCv, CheckpointRecordsItsTrainingData) {
  json record = training_data_of(root_ + "/run/best.safetensors");
  ASSERT_TRUE(record.is_object()) << "best.safetensors has no training_data";
  EXPECT_EQ(record["source"], canonical(root_ + "/phantom/manifest.csv"));
  EXPECT_EQ(record["split"], "validation split");
  EXPECT_EQ(record["groups"], true);
  EXPECT_EQ(record["split_seed"], 1);
  EXPECT_DOUBLE_EQ(record["val_fraction"].get<double>(), 0.2);
  EXPECT_EQ(record["source_hash"].get<std::string>().rfind("fnv1a64:", 0), 0u) << record.dump();
  data::DatasetIndex index = data::with_validation_split(data::scan_dataset(root_ + "/phantom/manifest.csv"), 0.2, 1);
  EXPECT_EQ(record["train_images"].get<size_t>(), index.find_split("train")->samples.size());
  EXPECT_EQ(training_data_of(root_ + "/run/last.safetensors"), record);
}

TEST_F(CliCv, EvalCountsTheImagesTheCheckpointTrainedOn) {
  // The phantom folder's val/ was written by the phantom generator; the run re-split the
  // manifest by subject, so some of val/'s subjects were training subjects of the run.
  data::DatasetIndex manifest =
      data::with_validation_split(data::scan_dataset(root_ + "/phantom/manifest.csv"), 0.2, 1);
  std::set<std::string> trained;
  for (const data::Sample& s : manifest.find_split("train")->samples) trained.insert(canonical(s.path));
  data::DatasetIndex folder = data::scan_dataset(root_ + "/phantom");
  int64_t expected = 0;
  for (const data::Sample& s : folder.find_split("val")->samples) expected += trained.count(canonical(s.path));
  ASSERT_GT(expected, 0) << "the fixture should overlap";

  Result r = alz({"eval", "--weights", root_ + "/run/best.safetensors", "--data", root_ + "/phantom", "--format",
                  "json", "--bootstrap", "100"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["training_overlap"]["checked"], true);
  EXPECT_EQ(j["training_overlap"]["overlap"], expected);
  EXPECT_EQ(j["training_overlap"]["evaluated"], folder.find_split("val")->samples.size());
  EXPECT_EQ(j["training_overlap"]["data_changed"], false);

  Result text = alz({"eval", "--weights", root_ + "/run/best.safetensors", "--data", root_ + "/phantom"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("WARNING: " + std::to_string(expected) + " of the"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("TRAINING images of this checkpoint"), std::string::npos) << text.out;

  // The run's own validation subjects: no overlap, said plainly.
  Result held_out = alz({"eval", "--weights", root_ + "/run/best.safetensors", "--data",
                         root_ + "/phantom/manifest.csv", "--bootstrap", "0"});
  ASSERT_EQ(held_out.code, 0) << held_out.err;
  EXPECT_NE(held_out.out.find("training data overlap: none of the"), std::string::npos) << held_out.out;
  EXPECT_EQ(held_out.out.find("bootstrap"), std::string::npos) << "--bootstrap 0 turns the intervals off";
}

TEST_F(CliCv, EvalIntervalsResampleSubjectsAndAreReproducible) {
  std::vector<std::string> args = {"eval",
                                   "--weights",
                                   root_ + "/run/best.safetensors",
                                   "--data",
                                   root_ + "/phantom/manifest.csv",
                                   "--format",
                                   "json",
                                   "--bootstrap",
                                   "300"};
  Result r = alz(args);
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  const json& ci = j["intervals"];
  EXPECT_EQ(ci["unit"], "subject");
  EXPECT_EQ(ci["replicates"], 300);
  data::DatasetIndex manifest =
      data::with_validation_split(data::scan_dataset(root_ + "/phantom/manifest.csv"), 0.2, 1);
  std::set<std::string> subjects;
  for (const data::Sample& s : manifest.find_split("val")->samples) subjects.insert(s.group);
  EXPECT_EQ(ci["units"], subjects.size());
  EXPECT_DOUBLE_EQ(ci["macro_f1"]["estimate"].get<double>(), j["macro_f1"].get<double>());
  EXPECT_LE(ci["macro_f1"]["low"].get<double>(), ci["macro_f1"]["estimate"].get<double>());
  EXPECT_GE(ci["macro_f1"]["high"].get<double>(), ci["macro_f1"]["estimate"].get<double>());
  EXPECT_EQ(ci["recall"].size(), 4u);
  EXPECT_EQ(alz(args).out, r.out) << "the same seed must give the same intervals";
}

TEST_F(CliCv, ManifestSplitColumnIsHonouredByTrainAndEval) {
  // The phantom manifest with a split column: the phantom's own val subjects as val, two of
  // its train subjects per class as test, the rest as train.
  data::DatasetIndex folder = data::scan_dataset(root_ + "/phantom");
  std::map<std::string, std::string> split_of;  // canonical path -> split
  std::map<int, std::set<std::string>> test_subjects;
  for (const data::Split& split : folder.splits)
    for (const data::Sample& s : split.samples) split_of[canonical(s.path)] = split.name;
  std::ifstream in(root_ + "/phantom/manifest.csv");
  std::string line, csv = "path,label,group,split\n";
  std::getline(in, line);
  int64_t rows[3] = {0, 0, 0};  // train, val, test
  std::map<std::string, int> label_of_group;
  std::vector<std::array<std::string, 3>> entries;
  while (std::getline(in, line)) {
    size_t a = line.find(','), b = line.find(',', a + 1);
    entries.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  std::map<std::string, int> test_count_of_label;
  std::set<std::string> test_groups;
  for (const auto& [path, label, group] : entries) {
    std::string split = split_of.at(canonical(root_ + "/phantom/" + path));
    if (split == "train" && !test_groups.count(group) && test_count_of_label[label] < 1) {
      test_groups.insert(group);
      ++test_count_of_label[label];
    }
  }
  for (const auto& [path, label, group] : entries) {
    std::string split = test_groups.count(group) ? "test" : split_of.at(canonical(root_ + "/phantom/" + path));
    csv += path + "," + label + "," + group + "," + split + "\n";
    ++rows[split == "train" ? 0 : split == "val" ? 1 : 2];
  }
  write_file_atomic(root_ + "/phantom/split.csv", csv);

  Result r = alz(with_recipe({"train", "--data", root_ + "/phantom/split.csv", "--epochs", "1", "--max-steps", "1",
                              "--run-dir", root_ + "/split_run", "--quiet"}));
  ASSERT_EQ(r.code, 0) << r.err;
  json record = training_data_of(root_ + "/split_run/best.safetensors");
  EXPECT_EQ(record["split"], "as given");
  EXPECT_EQ(record["train_images"], rows[0]);

  Result test = alz({"eval", "--weights", root_ + "/split_run/best.safetensors", "--data", root_ + "/phantom/split.csv",
                     "--split", "test", "--format", "json", "--bootstrap", "50"});
  ASSERT_EQ(test.code, 0) << test.err;
  json j = json::parse(test.out);
  EXPECT_EQ(j["split"], "test");
  EXPECT_EQ(j["count"], rows[2]);
  EXPECT_EQ(j["training_overlap"]["overlap"], 0);
  Result train = alz({"eval", "--weights", root_ + "/split_run/best.safetensors", "--data",
                      root_ + "/phantom/split.csv", "--split", "train", "--format", "json", "--bootstrap", "0"});
  ASSERT_EQ(train.code, 0) << train.err;
  EXPECT_EQ(json::parse(train.out)["training_overlap"]["overlap"], rows[0]);
  Result val = alz({"eval", "--weights", root_ + "/split_run/best.safetensors", "--data", root_ + "/phantom/split.csv",
                    "--format", "json", "--bootstrap", "0"});
  ASSERT_EQ(val.code, 0) << val.err;
  EXPECT_EQ(json::parse(val.out)["split"], "val");
  EXPECT_EQ(json::parse(val.out)["count"], rows[1]);
}

TEST_F(CliCv, CvTrainsSubjectDisjointFoldsSummarisesAndResumes) {
  const std::string dir = root_ + "/cv";
  std::vector<std::string> args = with_recipe({"cv", "--data", root_ + "/phantom/manifest.csv", "--folds", "3",
                                               "--epochs", "1", "--max-steps", "2", "--cv-dir", dir, "--quiet"});
  Result r = alz(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("macro-F1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("±"), std::string::npos) << r.out;

  std::ifstream in(dir + "/summary.json");
  json summary = json::parse(in);
  ASSERT_EQ(summary["folds"], 3);
  ASSERT_EQ(summary["per_fold"].size(), 3u);
  data::DatasetIndex index = data::scan_dataset(root_ + "/phantom/manifest.csv");
  int64_t validated = 0;
  std::vector<double> f1;
  std::set<std::string> val_paths;
  for (int k = 1; k <= 3; ++k) {
    const json& fold = summary["per_fold"][k - 1];
    EXPECT_EQ(fold["fold"], k);
    EXPECT_EQ(fold["train_images"].get<int64_t>() + fold["val_images"].get<int64_t>(),
              static_cast<int64_t>(index.splits[0].samples.size()));
    validated += fold["val_images"].get<int64_t>();
    f1.push_back(fold["macro_f1"].get<double>());
    json record = training_data_of(dir + "/fold-" + std::to_string(k) + "/best.safetensors");
    EXPECT_EQ(record["split"], "fold");
    EXPECT_EQ(record["folds"], 3);
    EXPECT_EQ(record["fold"], k - 1);
  }
  EXPECT_EQ(validated, static_cast<int64_t>(index.splits[0].samples.size())) << "every image validated once";
  double mean = (f1[0] + f1[1] + f1[2]) / 3;
  double std = std::sqrt(
      ((f1[0] - mean) * (f1[0] - mean) + (f1[1] - mean) * (f1[1] - mean) + (f1[2] - mean) * (f1[2] - mean)) / 2);
  ALZ_EXPECT_CLOSE((std::vector<double>{summary["macro_f1"]["mean"], summary["macro_f1"]["std"]}),
                   (std::vector<double>{mean, std}), (test::Tolerance{1e-12, 1e-12}));  // doubles, same sums
  EXPECT_TRUE(fs::exists(dir + "/summary.md"));
  // The HTML page links every fold's report, and each link leads to a file.
  std::ifstream html_in(dir + "/cv_report.html");
  const std::string html((std::istreambuf_iterator<char>(html_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("<!DOCTYPE html>"), std::string::npos);
  for (int k = 1; k <= 3; ++k) {
    const std::string link = "fold-" + std::to_string(k) + "/report.html";
    EXPECT_NE(html.find("<a href=\"" + link + "\">"), std::string::npos) << link;
    EXPECT_TRUE(fs::exists(dir + "/" + link)) << link;
  }

  // A rerun skips the finished folds; a fold without its record is resumed, not retrained.
  fs::remove(dir + "/fold-2/fold.json");
  Result again = alz(args);
  ASSERT_EQ(again.code, 0) << again.err;
  std::ifstream in2(dir + "/summary.json");
  json summary2 = json::parse(in2);
  EXPECT_EQ(summary2["per_fold"], summary["per_fold"]);
}

TEST_F(CliCv, CvRejectsBadFoldCounts) {
  Result one = alz(with_recipe({"cv", "--data", root_ + "/phantom/manifest.csv", "--folds", "1"}));
  EXPECT_NE(one.code, 0);  // CLI11's validation error
  EXPECT_NE(one.err.find("--folds"), std::string::npos) << one.err;
  Result many = alz(with_recipe({"cv", "--data", root_ + "/phantom/manifest.csv", "--folds", "40", "--epochs", "1",
                                 "--cv-dir", root_ + "/cv_many", "--quiet"}));
  EXPECT_EQ(many.code, 1);
  EXPECT_NE(many.err.find("groups"), std::string::npos) << many.err;
}

TEST(CvSummary, MeanAndSampleStd) {
  train::MeanStd m = train::mean_std({1, 2, 3, 4, std::nan("")});
  EXPECT_EQ(m.n, 4);
  ALZ_EXPECT_CLOSE((std::vector<double>{m.mean, m.std}), (std::vector<double>{2.5, std::sqrt(5.0 / 3.0)}),
                   (test::Tolerance{1e-12, 1e-12}));  // a few exact sums
  train::MeanStd single = train::mean_std({0.4});
  EXPECT_EQ(single.mean, 0.4);
  EXPECT_TRUE(std::isnan(single.std));
  std::vector<train::FoldResult> folds(2);
  folds[0].fold = 1, folds[0].macro_f1 = 0.3, folds[0].roc_auc_macro = std::nan("");
  folds[1].fold = 2, folds[1].macro_f1 = 0.5, folds[1].roc_auc_macro = 0.7;
  std::string md = train::cv_summary_markdown(folds, json{{"epochs", 3}});
  EXPECT_NE(md.find("| macro-F1 | 0.400 ± 0.141 (n = 2) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| ROC-AUC (macro) | 0.700 (n = 1) |"), std::string::npos) << md;
  folds[0].best_epoch = 2, folds[0].val_images = 17;
  const std::string html = train::cv_summary_html(folds, json{{"epochs", 3}, {"data", "a<b&c.csv"}});
  EXPECT_NE(html.find("<td>macro-F1</td><td class=\"num\">0.400 ± 0.141 (n = 2)</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>ROC-AUC (macro)</td><td class=\"num\">0.700 (n = 1)</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<tr><td>1</td><td class=\"num\">0</td><td class=\"num\">17</td><td class=\"num\">0</td><td "
                      "class=\"num\">2</td><td class=\"num\">0.300</td>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<a href=\"fold-2/report.html\">"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>data</td><td>a&lt;b&amp;c.csv</td>"), std::string::npos) << html;  // escaped
  EXPECT_EQ(html.find("a<b"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "one file, nothing to fetch or run";
  json j = train::cv_summary_json(folds, json::object());
  EXPECT_TRUE(j["per_fold"][0]["roc_auc_macro"].is_null());
  EXPECT_EQ(j["per_fold"][1].get<train::FoldResult>().macro_f1, 0.5);
}

}  // namespace
}  // namespace alz
