// The model subcommands through the `alz` dispatcher (cli/cli.cpp), as a user runs them:
// `alz train` on a small phantom set, `alz eval` (text and JSON), `alz predict` on a checkpoint
// and on a bare Keras-named weights file, the resize method recorded by training and followed by
// eval and predict, `alz info`, the errors a user can cause, and `alz train --resume` of a
// stopped run (with every setting it was started with, and from a run folder of an older
// version).
// Run: ctest --test-dir build -R CliTrain
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "core/atomic_file.h"
#include "data/dataset.h"
#include "models/checkpoint.h"
#include "support/compare.h"
#include "support/tiny_phantoms.h"
#include "support/run_cli.h"
#include "tensor/cuda_runtime.h"
#include "train/report.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

using Result = test::CliResult;
Result alz(std::vector<std::string> args) { return test::run_cli(std::move(args)); }

class CliTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = test::fresh_temp_dir("cli_train");
    test::write_tiny_phantoms(root_ + "/phantom", 3);
    Result r = alz({"train", "--data", root_ + "/phantom/manifest.csv", "--model", "resnetv2-tiny", "--device", "cpu",
                    "--epochs", "1", "--batch", "8", "--input-size", "32", "--workers", "2", "--run-dir",
                    root_ + "/run", "--quiet"});
    setup_code_ = r.code;
    setup_error_ = r.err;
  }
  // A failure here must fail the tests (not skip them): each test checks it first.
  void SetUp() override { ASSERT_EQ(setup_code_, 0) << "alz train in the suite set-up: " << setup_error_; }
  static std::string root_, setup_error_;
  static int setup_code_;
};
std::string CliTrain::root_, CliTrain::setup_error_;
int CliTrain::setup_code_ = -1;

TEST_F(CliTrain, EvalPrintsHonestMetricsAsTextAndJson) {
  Result text = alz({"eval", "--weights", root_ + "/run/best.safetensors", "--data", root_ + "/phantom/manifest.csv",
                     "--split", "all", "--device", "cpu"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("macro"), std::string::npos) << text.out;
  Result json = alz({"eval", "--weights", root_ + "/run/best.safetensors", "--data", root_ + "/phantom", "--split",
                     "val", "--format", "json", "--device", "cpu"});
  ASSERT_EQ(json.code, 0) << json.err;
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  for (const char* key :
       {"accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix", "roc_auc_macro"})
    EXPECT_TRUE(parsed.contains(key)) << key;
  EXPECT_EQ(parsed["per_class"].size(), 4u);
  EXPECT_EQ(parsed["split"], "val");
}

// Without --split, eval evaluates the split the checkpoint's run validated on (its recorded
// seed and fraction), says so, and explicit split flags still win.
TEST_F(CliTrain, EvalDefaultsToTheSplitRecordedInTheCheckpoint) {
  const std::string manifest = root_ + "/phantom/manifest.csv", run = root_ + "/run_seed5";
  Result trained = alz({"train",
                        "--data",
                        manifest,
                        "--model",
                        "resnetv2-tiny",
                        "--device",
                        "cpu",
                        "--epochs",
                        "1",
                        "--batch",
                        "8",
                        "--input-size",
                        "32",
                        "--workers",
                        "2",
                        "--seed",
                        "5",
                        "--val-fraction",
                        "0.3",
                        "--run-dir",
                        run,
                        "--quiet"});
  ASSERT_EQ(trained.code, 0) << trained.err;
  auto val_size = [&](double fraction, uint64_t seed) {
    return data::with_validation_split(data::scan_dataset(manifest), fraction, seed).find_split("val")->samples.size();
  };
  const size_t recorded = val_size(0.3, 5), default_split = val_size(0.2, 1);
  ASSERT_NE(recorded, default_split) << "the test needs two splits of different sizes";
  const std::string weights = run + "/best.safetensors";

  Result text = alz({"eval", "--weights", weights, "--data", manifest, "--device", "cpu"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("split val as recorded in the checkpoint: validation split of"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("fraction 0.3, seed 5"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("(" + std::to_string(recorded) + " images)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("none of the " + std::to_string(recorded) + " evaluated images"), std::string::npos)
      << text.out;

  Result json = alz({"eval", "--weights", weights, "--data", manifest, "--device", "cpu", "--format", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["split"], "val");
  EXPECT_NE(parsed.value("split_from_checkpoint", std::string()).find("seed 5"), std::string::npos) << json.out;
  EXPECT_EQ(parsed["training_overlap"]["overlap"], 0);

  // An explicit seed wins over the record (and that split shares images with the training split).
  Result seeded = alz({"eval", "--weights", weights, "--data", manifest, "--device", "cpu", "--split-seed", "1",
                       "--val-fraction", "0.2"});
  ASSERT_EQ(seeded.code, 0) << seeded.err;
  EXPECT_EQ(seeded.out.find("as recorded in the checkpoint"), std::string::npos) << seeded.out;
  EXPECT_NE(seeded.out.find("(" + std::to_string(default_split) + " images)"), std::string::npos) << seeded.out;

  // Other data than the run's (the folder, not its manifest): the data's own val split.
  Result folder = alz({"eval", "--weights", weights, "--data", root_ + "/phantom", "--device", "cpu"});
  ASSERT_EQ(folder.code, 0) << folder.err;
  EXPECT_EQ(folder.out.find("as recorded in the checkpoint"), std::string::npos) << folder.out;
}

TEST_F(CliTrain, PredictGivesClassAndProbabilities) {
  std::string image = root_ + "/phantom/val/NonDemented";
  Result r =
      alz({"predict", "--weights", root_ + "/run/best.safetensors", image, "--format", "json", "--device", "cpu"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json parsed = nlohmann::json::parse(r.out);
  ASSERT_FALSE(parsed["predictions"].empty());
  const auto& first = parsed["predictions"][0];
  double total = 0;
  for (auto& [name, p] : first["probabilities"].items()) total += p.get<double>();
  EXPECT_NEAR(total, 1.0, 1e-5);
  EXPECT_EQ(first["probabilities"].size(), 4u);
  EXPECT_TRUE(first["probabilities"].contains(first["class"].get<std::string>()));
}

TEST_F(CliTrain, PredictWorksWithABareKerasNamedWeightsFile) {
  SafetensorsFile checkpoint = load_safetensors(root_ + "/run/best.safetensors");
  save_safetensors(root_ + "/bare.safetensors", checkpoint.tensors);  // no metadata at all
  std::string image = root_ + "/phantom/val/MildDemented";
  Result without = alz({"predict", "--weights", root_ + "/bare.safetensors", image, "--device", "cpu"});
  EXPECT_EQ(without.code, 1);
  EXPECT_NE(without.err.find("--model"), std::string::npos) << without.err;
  Result with =
      alz({"predict", "--weights", root_ + "/bare.safetensors", image, "--model", "resnetv2-tiny", "--classes", "4",
           "--input-size", "32", "--class-names", "Mild,Moderate,Non,VeryMild", "--device", "cpu", "--timing"});
  ASSERT_EQ(with.code, 0) << with.err;
  EXPECT_NE(with.out.find("VeryMild="), std::string::npos) << with.out;
  EXPECT_NE(with.out.find("batch-1 latency on cpu (fp32, eager)"), std::string::npos) << with.out;
}

TEST_F(CliTrain, UserErrorsExitNonZeroWithAClearMessage) {
  Result unknown_flag = alz({"train", "--no-such-flag"});
  EXPECT_NE(unknown_flag.code, 0);
  Result unknown_command = alz({"trian"});
  EXPECT_EQ(unknown_command.code, 2);
  Result missing_data =
      alz({"train", "--data", root_ + "/nowhere", "--device", "cpu", "--quiet", "--run-dir", root_ + "/r2"});
  EXPECT_EQ(missing_data.code, 1);
  EXPECT_NE(missing_data.err.find("nowhere"), std::string::npos) << missing_data.err;
  std::ofstream(root_ + "/corrupt.safetensors") << "this is not a checkpoint";
  Result corrupt = alz({"eval", "--weights", root_ + "/corrupt.safetensors", "--data", root_ + "/phantom"});
  EXPECT_EQ(corrupt.code, 1);
  EXPECT_NE(corrupt.err.find("corrupt.safetensors"), std::string::npos) << corrupt.err;
  Result missing_weights = alz({"predict", "--weights", root_ + "/none.safetensors", root_ + "/phantom"});
  EXPECT_EQ(missing_weights.code, 1);
  EXPECT_NE(missing_weights.err.find("none.safetensors"), std::string::npos) << missing_weights.err;
  // A checkpoint of another model: one line, the first mismatches named.
  Result wrong = alz({"predict", "--weights", root_ + "/run/best.safetensors", root_ + "/phantom/val", "--model",
                      "resnetv2-small", "--device", "cpu"});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("conv1_conv/kernel"), std::string::npos) << wrong.err;
}

size_t line_count(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

TEST_F(CliTrain, CheckpointOfAnotherModelSaysWhatItWasTrainedAsInOneLine) {
  const std::string best = root_ + "/run/best.safetensors", image = root_ + "/phantom/val/NonDemented";
  Result model = alz({"predict", "--weights", best, image, "--model", "resnet50v2", "--device", "cpu"});
  EXPECT_EQ(model.code, 1);
  EXPECT_EQ(line_count(model.err), 1u) << model.err;
  EXPECT_NE(model.err.find("trained as resnetv2-tiny with 4 classes, input 32x32, not the model asked for, "
                           "resnet50v2 with 4 classes"),
            std::string::npos)
      << model.err;
  EXPECT_NE(model.err.find(" more"), std::string::npos) << "a short list, then how many more: " << model.err;
  EXPECT_LT(model.err.size(), 1000u) << model.err;
  Result classes = alz({"eval", "--weights", best, "--data", root_ + "/phantom", "--classes", "3", "--device", "cpu"});
  EXPECT_EQ(classes.code, 1);
  EXPECT_EQ(line_count(classes.err), 1u) << classes.err;
  EXPECT_NE(classes.err.find("resnetv2-tiny with 3 classes"), std::string::npos) << classes.err;
  EXPECT_NE(classes.err.find("predictions/kernel"), std::string::npos) << classes.err;
  // Without metadata the file's model is told from its weights.
  SafetensorsFile checkpoint = load_safetensors(best);
  save_safetensors(root_ + "/bare_tiny.safetensors", checkpoint.tensors);
  Result bare = alz({"predict", "--weights", root_ + "/bare_tiny.safetensors", image, "--model", "resnetv2-small",
                     "--classes", "4", "--device", "cpu"});
  EXPECT_EQ(bare.code, 1);
  EXPECT_EQ(line_count(bare.err), 1u) << bare.err;
  EXPECT_NE(bare.err.find("trained as resnetv2-tiny with 4 classes"), std::string::npos) << bare.err;
}

TEST_F(CliTrain, OptimizerStateGivenAsWeightsSaysSo) {
  const std::string image = root_ + "/phantom/val/NonDemented";
  Result r = alz({"predict", "--weights", root_ + "/run/optimizer.safetensors", image, "--device", "cpu"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("optimizer.safetensors: holds an optimizer's state"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("best.safetensors"), std::string::npos) << r.err;
  // Also without its metadata, and given --model and --classes.
  SafetensorsFile state = load_safetensors(root_ + "/run/optimizer.safetensors");
  save_safetensors(root_ + "/moments.safetensors", state.tensors);
  r = alz({"eval", "--weights", root_ + "/moments.safetensors", "--data", root_ + "/phantom", "--model",
           "resnetv2-tiny", "--classes", "4", "--device", "cpu"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("holds an optimizer's state"), std::string::npos) << r.err;
}

// A copy of `jpeg` cut in its entropy data with the end marker put back: the header is fine, the
// decode fails.
void write_cut_jpeg(const std::string& jpeg, const std::string& out) {
  std::ifstream in(jpeg, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  bytes = bytes.substr(0, bytes.size() * 2 / 3) + "\xFF\xD9";
  std::ofstream(out, std::ios::binary) << bytes;
}

std::string first_image_in(const std::string& folder) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(folder)) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files.front();
}

TEST_F(CliTrain, PredictSkipsUnreadableImagesAndReportsThem) {
  const std::string dir = root_ + "/predict_mixed", best = root_ + "/run/best.safetensors";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string good = first_image_in(root_ + "/phantom/val/NonDemented");
  fs::copy_file(good, dir + "/a_good.jpg");
  std::ofstream(dir + "/b_text.jpg") << "not a picture";
  write_cut_jpeg(good, dir + "/c_cut.jpg");
  Result json = alz({"predict", "--weights", best, dir, root_ + "/no_such.png", "--format", "json", "--device", "cpu"});
  ASSERT_EQ(json.code, 0) << json.err;
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  ASSERT_EQ(parsed["predictions"].size(), 1u);
  EXPECT_EQ(parsed["predictions"][0]["image"], dir + "/a_good.jpg");
  ASSERT_EQ(parsed["skipped"].size(), 3u) << parsed["skipped"];
  std::map<std::string, std::string> reasons;
  for (const auto& s : parsed["skipped"]) reasons[s["path"].get<std::string>()] = s["reason"].get<std::string>();
  EXPECT_NE(reasons[dir + "/b_text.jpg"].find("not an image"), std::string::npos) << parsed["skipped"];
  EXPECT_NE(reasons[dir + "/c_cut.jpg"].find("corrupt jpeg"), std::string::npos) << parsed["skipped"];
  EXPECT_NE(reasons[root_ + "/no_such.png"].find("no such file"), std::string::npos) << parsed["skipped"];
  EXPECT_NE(json.err.find("skipped 3 of 4 images that could not be read"), std::string::npos) << json.err;
  // Text: the predictions, then the list at the end; --strict makes any skip an error.
  Result text = alz({"predict", "--weights", best, dir, "--device", "cpu"});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("a_good.jpg"), std::string::npos) << text.out;
  EXPECT_NE(text.err.find("c_cut.jpg: corrupt jpeg"), std::string::npos) << text.err;
  Result strict = alz({"predict", "--weights", best, dir, "--device", "cpu", "--strict"});
  EXPECT_EQ(strict.code, 1) << strict.err;
  EXPECT_NE(strict.out.find("a_good.jpg"), std::string::npos) << strict.out;
  // Nothing readable: exit status 1.
  Result none = alz({"predict", "--weights", best, dir + "/b_text.jpg", dir + "/c_cut.jpg", "--device", "cpu"});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("skipped 2 of 2 images"), std::string::npos) << none.err;
}

TEST_F(CliTrain, EvalSkipsUnreadableImagesAndReportsThem) {
  const std::string data = root_ + "/eval_mixed", best = root_ + "/run/best.safetensors";
  fs::remove_all(data);
  fs::copy(root_ + "/phantom/val", data, fs::copy_options::recursive);  // class folders: split "all"
  const std::string good = first_image_in(data + "/NonDemented");
  std::ofstream(data + "/NonDemented/text.jpg") << "not a picture";  // found by the scan
  write_cut_jpeg(good, data + "/MildDemented/cut.jpg");              // found by decoding
  Result json =
      alz({"eval", "--weights", best, "--data", data, "--split", "all", "--format", "json", "--device", "cpu"});
  ASSERT_EQ(json.code, 0) << json.err;
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  ASSERT_EQ(parsed["skipped"].size(), 2u) << parsed["skipped"];
  std::string paths = parsed["skipped"].dump();
  EXPECT_NE(paths.find("text.jpg"), std::string::npos) << paths;
  EXPECT_NE(paths.find("cut.jpg"), std::string::npos) << paths;
  EXPECT_NE(json.err.find("skipped 2 of"), std::string::npos) << json.err;
  Result strict = alz({"eval", "--weights", best, "--data", data, "--split", "all", "--device", "cpu", "--strict"});
  EXPECT_EQ(strict.code, 1) << strict.err;
  EXPECT_NE(strict.out.find("macro"), std::string::npos) << "the metrics of the readable images: " << strict.out;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A small run stopped after 2 steps (of about 10) with --stop-after-steps.
std::vector<std::string> stopped_run(const std::string& run_dir, std::vector<std::string> flags) {
  std::vector<std::string> args = {
      "train",   "--model",   "resnetv2-tiny", "--device", "cpu",       "--epochs", "2",
      "--batch", "8",         "--input-size",  "32",       "--workers", "2",        "--stop-after-steps",
      "2",       "--run-dir", run_dir,         "--quiet"};
  args.insert(args.end(), flags.begin(), flags.end());
  return args;
}

TEST_F(CliTrain, AStoppedRunResumesWithEverySettingItWasStartedWith) {
  // Class weights with label smoothing (allowed explicitly), the phantom set found through
  // --phantom-dir, two loader threads: each must come back from state.json on the resume.
  std::string run = root_ + "/resumable";
  Result first = alz(stopped_run(run, {"--phantom-dir", root_ + "/phantom", "--class-weights", "auto",
                                       "--label-smoothing", "0.1", "--allow-weights-with-smoothing"}));
  ASSERT_EQ(first.code, 130) << first.err;
  nlohmann::json saved = read_json(run + "/state.json").at("config");
  // Checked before resuming: a lost phantom_dir would generate the full phantom set here.
  ASSERT_EQ(saved.at("phantom_dir"), root_ + "/phantom");
  EXPECT_EQ(saved.at("allow_weights_with_smoothing"), true);
  EXPECT_EQ(saved.at("label_smoothing"), 0.1);
  EXPECT_EQ(saved.at("workers"), 2);
  EXPECT_EQ(saved, read_json(run + "/config.json"));

  // A different --epochs is ignored (a resumed run keeps its settings) and said so.
  Result resumed = alz({"train", "--resume", run, "--epochs", "5"});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("ignored from the command line: epochs=5"), std::string::npos) << resumed.err;
  EXPECT_NE(resumed.out.find("resuming " + run + " at epoch 1, batch 2"), std::string::npos) << resumed.out;
  EXPECT_EQ(train::read_jsonl(run + "/metrics.jsonl").size(), 2u);
  EXPECT_EQ(read_json(run + "/state.json").at("epoch"), 2);
}

TEST_F(CliTrain, ARunFolderOfAnOlderVersionResumes) {
  // state.json as older versions wrote it: a configuration without phantom_dir, workers, l2,
  // allow_weights_with_smoothing, cuda_graph, last_batch and the per-process settings (overwrite
  // among them).
  std::string run = root_ + "/older";
  Result first = alz(stopped_run(run, {"--data", root_ + "/phantom/manifest.csv", "--class-weights", "auto",
                                       "--label-smoothing", "0.1", "--allow-weights-with-smoothing"}));
  ASSERT_EQ(first.code, 130) << first.err;
  nlohmann::json state = read_json(run + "/state.json");
  for (const char* newer : {"phantom_dir", "allow_weights_with_smoothing", "workers", "l2", "resize", "run_dir",
                            "resume", "max_steps", "stop_after_steps", "quiet", "overwrite", "cv_folds", "cv_fold",
                            "sync_bn", "bucket_mb", "cuda_graph", "last_batch"})
    state["config"].erase(newer);
  ASSERT_EQ(state["config"].size(), 27u);
  write_file_atomic(run + "/state.json", state.dump(2));

  // The missing flag takes the command line's value: the default first, refused as before.
  Result without = alz({"train", "--resume", run, "--quiet"});
  EXPECT_EQ(without.code, 1);
  EXPECT_NE(without.err.find("--allow-weights-with-smoothing"), std::string::npos) << without.err;
  Result with = alz({"train", "--resume", run, "--allow-weights-with-smoothing", "--quiet"});
  ASSERT_EQ(with.code, 0) << with.err;
  EXPECT_EQ(train::read_jsonl(run + "/metrics.jsonl").size(), 2u);
  EXPECT_EQ(read_json(run + "/state.json").at("config").at("allow_weights_with_smoothing"), true);
}

// --cuda-graph on (the default) on the CPU: accepted, the step runs eagerly, said once, and
// recorded in run_info.json. --last-batch drop leaves the partial batch out of every epoch.
TEST_F(CliTrain, CudaGraphOnTheCpuRunsEagerlyAndLastBatchDropLeavesThePartialBatchOut) {
  std::string run = root_ + "/graph_on_cpu";
  Result r = alz({"train",
                  "--data",
                  root_ + "/phantom/manifest.csv",
                  "--model",
                  "resnetv2-tiny",
                  "--device",
                  "cpu",
                  "--epochs",
                  "1",
                  "--batch",
                  "8",
                  "--input-size",
                  "32",
                  "--workers",
                  "2",
                  "--cuda-graph",
                  "on",
                  "--last-batch",
                  "drop",
                  "--run-dir",
                  run});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string said = "--cuda-graph on has no effect on the CPU";
  const size_t first = r.err.find(said);
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(said, first + 1), std::string::npos) << "said more than once: " << r.err;
  const std::string status = read_json(run + "/run_info.json").at("cuda_graph");
  EXPECT_EQ(status.rfind("off (CPU", 0), 0u) << status;
  nlohmann::json config = read_json(run + "/config.json");
  EXPECT_EQ(config.at("cuda_graph"), "on");
  EXPECT_EQ(config.at("last_batch"), "drop");

  // The suite's run trained every sample (the default, --last-batch eager): one step more per
  // epoch than whole batches when the training split is not a multiple of 8.
  SafetensorsFile checkpoint = load_safetensors(run + "/last.safetensors");
  const int64_t images = nlohmann::json::parse(checkpoint.metadata.at("training_data")).at("train_images");
  const int64_t eager_steps = read_json(root_ + "/run/state.json").at("global_step");
  const int64_t drop_steps = read_json(run + "/state.json").at("global_step");
  EXPECT_EQ(eager_steps, (images + 7) / 8);
  EXPECT_EQ(drop_steps, images / 8);
}

TEST_F(CliTrain, GraphAndLastBatchOptionsRefuseOtherValues) {
  Result graph = alz({"train", "--device", "cpu", "--cuda-graph", "maybe", "--run-dir", root_ + "/bad_graph"});
  EXPECT_EQ(graph.code, 2) << graph.err;
  EXPECT_NE(graph.err.find("--cuda-graph"), std::string::npos) << graph.err;
  Result last = alz({"train", "--device", "cpu", "--last-batch", "pad", "--run-dir", root_ + "/bad_last"});
  EXPECT_EQ(last.code, 2) << last.err;
  EXPECT_NE(last.err.find("--last-batch"), std::string::npos) << last.err;
  Result help = alz({"train", "--help"});
  EXPECT_NE(help.out.find("--cuda-graph"), std::string::npos);
  EXPECT_NE(help.out.find("--last-batch"), std::string::npos);
}

TEST_F(CliTrain, ResizeIsRecordedByTrainAndFollowedByEvalAndPredict) {
  // The suite's run used the default: recorded in the checkpoint and the run config.
  SafetensorsFile checkpoint = load_safetensors(root_ + "/run/best.safetensors");
  EXPECT_EQ(checkpoint.metadata["resize"], "keras");
  std::ifstream config(root_ + "/run/config.json");
  EXPECT_EQ(nlohmann::json::parse(config)["resize"], "keras");
  auto eval_resize = [&](const std::string& weights, std::vector<std::string> extra) {
    std::vector<std::string> args = {"eval",    "--weights", weights,    "--data", root_ + "/phantom",
                                     "--split", "val",       "--format", "json",   "--device",
                                     "cpu"};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = alz(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out)["resize"].get<std::string>() : std::string();
  };
  EXPECT_EQ(eval_resize(root_ + "/run/best.safetensors", {}), "keras");
  EXPECT_EQ(eval_resize(root_ + "/run/best.safetensors", {"--resize", "area"}), "area");
  // A checkpoint trained with the area filter is evaluated with it unless told otherwise.
  checkpoint.metadata["resize"] = "area";
  save_safetensors(root_ + "/area.safetensors", checkpoint.tensors, checkpoint.metadata);
  EXPECT_EQ(eval_resize(root_ + "/area.safetensors", {}), "area");
  EXPECT_EQ(eval_resize(root_ + "/area.safetensors", {"--resize", "keras"}), "keras");
  // predict: the 48x40 phantoms shrink to 32x32, where the two methods give other pixels.
  std::string image = root_ + "/phantom/val/NonDemented";
  auto probabilities = [&](const std::string& weights) {
    Result r = alz({"predict", "--weights", weights, image, "--format", "json", "--device", "cpu"});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out)["predictions"][0]["probabilities"] : nlohmann::json();
  };
  EXPECT_NE(probabilities(root_ + "/run/best.safetensors"), probabilities(root_ + "/area.safetensors"));
  Result forced = alz({"predict", "--weights", root_ + "/area.safetensors", image, "--format", "json", "--device",
                       "cpu", "--resize", "keras"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_EQ(nlohmann::json::parse(forced.out)["predictions"][0]["probabilities"],
            probabilities(root_ + "/run/best.safetensors"));
  Result bad = alz({"predict", "--weights", root_ + "/run/best.safetensors", image, "--resize", "lanczos"});
  EXPECT_NE(bad.code, 0);
}

TEST_F(CliTrain, DeviceCudaWithoutAGpuIsAClearError) {
  if (cuda::available()) GTEST_SKIP() << "a GPU is present: --device cuda works here";
  const std::string best = root_ + "/run/best.safetensors";
  Result predict = alz({"predict", "--weights", best, root_ + "/phantom/val/NonDemented", "--device", "cuda"});
  EXPECT_EQ(predict.code, 1);
  EXPECT_EQ(line_count(predict.err), 1u) << predict.err;
  EXPECT_NE(predict.err.find("--device cuda: "), std::string::npos) << predict.err;
  Result eval = alz({"eval", "--weights", best, "--data", root_ + "/phantom", "--device", "cuda"});
  EXPECT_EQ(eval.code, 1);
  EXPECT_NE(eval.err.find("--device cuda"), std::string::npos) << eval.err;
  Result train = alz({"train", "--data", root_ + "/phantom/manifest.csv", "--model", "resnetv2-tiny", "--device",
                      "cuda", "--epochs", "1", "--run-dir", root_ + "/cuda_run", "--quiet"});
  EXPECT_EQ(train.code, 1);
  EXPECT_EQ(line_count(train.err), 1u) << train.err;
  EXPECT_NE(train.err.find("cuda"), std::string::npos) << train.err;
}

TEST_F(CliTrain, InfoPrintsKerasTotals) {
  Result r = alz({"info", "--model", "resnet152v2", "--classes", "4"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Total params: 58,339,844"), std::string::npos);
  EXPECT_NE(r.out.find("Trainable params: 58,196,100"), std::string::npos);
  EXPECT_NE(r.out.find("Non-trainable params: 143,744"), std::string::npos);
  // The CPU line: which OpenBLAS build and kernels run (kernels/cpu_threads.h).
  EXPECT_NE(r.out.find("CPU: OpenBLAS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" kernels), "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("OpenMP "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace alz
