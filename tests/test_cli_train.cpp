// The model subcommands through the `alz` dispatcher (cli/cli.cpp), as a user runs them:
// `alz train` on a small phantom set, `alz eval` (text and JSON), `alz predict` on a checkpoint
// and on a bare Keras-named weights file, the resize method recorded by training and followed by
// eval and predict, `alz info`, the errors a user can cause, and `alz train --resume` of a
// stopped run (with every setting it was started with, and from a run folder of an older
// version).
// Run: ctest --test-dir build -R CliTrain
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/phantom.h"
#include "models/checkpoint.h"
#include "support/compare.h"
#include "cli/cli.h"
#include "core/atomic_file.h"
#include "train/report.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out, err;
};

Result alz(std::vector<std::string> args) {
  args.insert(args.begin(), "alz");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  Result r;
  r.code = cli::run(static_cast<int>(argv.size()), argv.data());
  r.out = testing::internal::GetCapturedStdout();
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

class CliTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = test::fresh_temp_dir("cli_train");
    data::PhantomSpec spec;
    spec.out_dir = root_ + "/phantom";
    spec.counts = {12, 8, 20, 12};
    spec.height = 48;
    spec.width = 40;
    spec.seed = 3;
    spec.val_fraction = 0.25;
    data::write_phantom_dataset(spec);
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
  Result json = alz({"eval", "--weights", root_ + "/run/best.safetensors", "--data", root_ + "/phantom",
                     "--split", "val", "--format", "json", "--device", "cpu"});
  ASSERT_EQ(json.code, 0) << json.err;
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  for (const char* key : {"accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix", "roc_auc_macro"})
    EXPECT_TRUE(parsed.contains(key)) << key;
  EXPECT_EQ(parsed["per_class"].size(), 4u);
  EXPECT_EQ(parsed["split"], "val");
}

TEST_F(CliTrain, PredictGivesClassAndProbabilities) {
  std::string image = root_ + "/phantom/val/NonDemented";
  Result r = alz({"predict", "--weights", root_ + "/run/best.safetensors", image, "--format", "json", "--device", "cpu"});
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
  Result with = alz({"predict", "--weights", root_ + "/bare.safetensors", image, "--model", "resnetv2-tiny",
                     "--classes", "4", "--input-size", "32", "--class-names", "Mild,Moderate,Non,VeryMild",
                     "--device", "cpu", "--timing"});
  ASSERT_EQ(with.code, 0) << with.err;
  EXPECT_NE(with.out.find("VeryMild="), std::string::npos) << with.out;
  EXPECT_NE(with.out.find("batch-1 latency"), std::string::npos) << with.out;
}

TEST_F(CliTrain, UserErrorsExitNonZeroWithAClearMessage) {
  Result unknown_flag = alz({"train", "--no-such-flag"});
  EXPECT_NE(unknown_flag.code, 0);
  Result unknown_command = alz({"trian"});
  EXPECT_EQ(unknown_command.code, 2);
  Result missing_data = alz({"train", "--data", root_ + "/nowhere", "--device", "cpu", "--quiet", "--run-dir",
                             root_ + "/r2"});
  EXPECT_EQ(missing_data.code, 1);
  EXPECT_NE(missing_data.err.find("nowhere"), std::string::npos) << missing_data.err;
  std::ofstream(root_ + "/corrupt.safetensors") << "this is not a checkpoint";
  Result corrupt = alz({"eval", "--weights", root_ + "/corrupt.safetensors", "--data", root_ + "/phantom"});
  EXPECT_EQ(corrupt.code, 1);
  EXPECT_NE(corrupt.err.find("corrupt.safetensors"), std::string::npos) << corrupt.err;
  Result missing_weights = alz({"predict", "--weights", root_ + "/none.safetensors", root_ + "/phantom"});
  EXPECT_EQ(missing_weights.code, 1);
  EXPECT_NE(missing_weights.err.find("none.safetensors"), std::string::npos) << missing_weights.err;
  // A checkpoint of another model: every mismatch is named.
  Result wrong = alz({"predict", "--weights", root_ + "/run/best.safetensors", root_ + "/phantom/val", "--model",
                      "resnetv2-small", "--device", "cpu"});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("conv1_conv/kernel"), std::string::npos) << wrong.err;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A small run stopped after 2 steps (of about 10) with --stop-after-steps.
std::vector<std::string> stopped_run(const std::string& run_dir, std::vector<std::string> flags) {
  std::vector<std::string> args = {"train", "--model", "resnetv2-tiny", "--device", "cpu", "--epochs", "2", "--batch",
                                   "8", "--input-size", "32", "--workers", "2", "--stop-after-steps", "2",
                                   "--run-dir", run_dir, "--quiet"};
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
  // allow_weights_with_smoothing and the per-process settings.
  std::string run = root_ + "/older";
  Result first = alz(stopped_run(run, {"--data", root_ + "/phantom/manifest.csv", "--class-weights", "auto",
                                       "--label-smoothing", "0.1", "--allow-weights-with-smoothing"}));
  ASSERT_EQ(first.code, 130) << first.err;
  nlohmann::json state = read_json(run + "/state.json");
  for (const char* newer : {"phantom_dir", "allow_weights_with_smoothing", "workers", "l2", "resize", "run_dir", "resume", "max_steps",
                            "stop_after_steps", "quiet", "sync_bn"})
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

TEST_F(CliTrain, ResizeIsRecordedByTrainAndFollowedByEvalAndPredict) {
  // The suite's run used the default: recorded in the checkpoint and the run config.
  SafetensorsFile checkpoint = load_safetensors(root_ + "/run/best.safetensors");
  EXPECT_EQ(checkpoint.metadata["resize"], "keras");
  std::ifstream config(root_ + "/run/config.json");
  EXPECT_EQ(nlohmann::json::parse(config)["resize"], "keras");
  auto eval_resize = [&](const std::string& weights, std::vector<std::string> extra) {
    std::vector<std::string> args = {"eval", "--weights", weights, "--data", root_ + "/phantom", "--split", "val",
                                     "--format", "json", "--device", "cpu"};
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
