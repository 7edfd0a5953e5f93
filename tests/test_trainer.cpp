// The training loop on the CPU: resume equivalence (two epochs in one run equal one epoch, a
// stop in the middle of the next, and a resume, bit for bit), the run folder's files, a
// non-finite loss stopping the run, and bad configurations.
// Run: ctest --test-dir build -R Trainer
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/error.h"
#include "data/phantom.h"
#include "support/compare.h"
#include "support/tiny_phantoms.h"
#include "tensor/safetensors.h"
#include "train/report.h"
#include "train/step_graph.h"
#include "train/trainer.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

// A small phantom set (48x40 slices, about 50 images), written once per test program.
std::string tiny_phantoms() {
  static std::string manifest = [] {
    return test::write_tiny_phantoms(test::fresh_temp_dir("trainer_phantoms"), 11);
  }();
  return manifest;
}

train::TrainConfig tiny_config(const std::string& run_dir) {
  train::TrainConfig c;
  c.data = tiny_phantoms();
  c.model = "resnetv2-tiny";
  c.device = "cpu";
  c.epochs = 2;
  c.batch_size = 8;
  c.input_height = c.input_width = 32;
  c.seed = 5;
  c.workers = 2;
  c.run_dir = run_dir;
  c.quiet = true;
  return c;
}

TEST(Trainer, ResumeEqualsAnUninterruptedRunBitForBit) {
  std::string root = test::fresh_temp_dir("trainer_resume");
  ASSERT_EQ(train::run_training(tiny_config(root + "/straight")), 0);

  train::TrainConfig first = tiny_config(root + "/stopped");
  first.stop_after_steps = 7;  // epoch 1 has 5 or 6 steps: this stops inside epoch 2
  ASSERT_EQ(train::run_training(first), 130);
  train::TrainConfig resumed;
  resumed.resume = root + "/stopped";
  resumed.quiet = true;
  ASSERT_EQ(train::run_training(resumed), 0);

  SafetensorsFile a = load_safetensors(root + "/straight/last.safetensors");
  SafetensorsFile b = load_safetensors(root + "/stopped/last.safetensors");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(a.tensors[i].tensor, b.tensors[i].tensor)) << a.tensors[i].name;
  SafetensorsFile oa = load_safetensors(root + "/straight/optimizer.safetensors");
  SafetensorsFile ob = load_safetensors(root + "/stopped/optimizer.safetensors");
  ASSERT_EQ(oa.tensors.size(), ob.tensors.size());
  for (size_t i = 0; i < oa.tensors.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(oa.tensors[i].tensor, ob.tensors[i].tensor)) << oa.tensors[i].name;

  auto ha = train::read_jsonl(root + "/straight/metrics.jsonl"),
       hb = train::read_jsonl(root + "/stopped/metrics.jsonl");
  ASSERT_EQ(ha.size(), 2u);
  ASSERT_EQ(hb.size(), 2u);
  for (size_t e = 0; e < 2; ++e)
    for (const char* key : {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_f1"})
      EXPECT_EQ(ha[e].at(key), hb[e].at(key)) << "epoch " << e + 1 << " " << key;

  // The report after the resume shows the best epoch's numbers: best_predictions.json is the
  // same as the uninterrupted run's, and its metrics are the saved best.
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(read(root + "/stopped/best_predictions.json"), read(root + "/straight/best_predictions.json"));
  const train::SavedRun saved = train::read_saved_run(root + "/stopped");
  const std::optional<train::BestPredictions> best = train::read_best_predictions(root + "/stopped");
  ASSERT_TRUE(best);
  EXPECT_EQ(best->epoch, saved.state.best_epoch);
  EXPECT_EQ(best->metrics().macro_f1, saved.state.best_macro_f1);
  const std::string html = read(root + "/stopped/report.html");
  EXPECT_NE(html.find("Headline metrics (validation, best epoch " + std::to_string(saved.state.best_epoch) + ")"),
            std::string::npos);
  const std::optional<train::RunMetadata> info = train::read_run_metadata(root + "/stopped");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->processes, 2);  // begun, then resumed
  EXPECT_EQ(info->device, "cpu");
  EXPECT_GT(info->elapsed_seconds, 0.0);
}

TEST(Trainer, RunFolderHoldsCheckpointsMetricsAndReport) {
  std::string root = test::fresh_temp_dir("trainer_files");
  train::TrainConfig c = tiny_config(root + "/run");
  c.epochs = 1;
  c.class_weights = "auto";
  ASSERT_EQ(train::run_training(c), 0);
  for (const char* file :
       {"config.json", "metrics.jsonl", "last.safetensors", "best.safetensors", "state.json", "optimizer.safetensors",
        "report.html", "curves.svg", "confusion_matrix.svg", "best_predictions.json", "run_info.json", "roc_pr.svg"})
    EXPECT_TRUE(fs::exists(root + "/run/" + file)) << file;
  SafetensorsFile best = load_safetensors(root + "/run/best.safetensors");
  EXPECT_EQ(best.metadata.at("model"), "resnetv2-tiny");
  EXPECT_EQ(nlohmann::json::parse(best.metadata.at("class_names")).size(), 4u);
  std::ifstream html(root + "/run/report.html");
  std::string text((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("macro"), std::string::npos);
  // Resolved settings and metadata: the device used, not "auto"; the thumbnails embedded.
  EXPECT_NE(text.find("<td>device</td><td>cpu</td>"), std::string::npos);
  EXPECT_NE(text.find("<td>alz commit</td>"), std::string::npos);
  EXPECT_EQ(text.find("<td>auto</td>"), std::string::npos);
  EXPECT_NE(text.find("<h2>Misclassified validation slices"), std::string::npos);
  for (const auto& name : fs::directory_iterator(root + "/run"))
    EXPECT_EQ(name.path().string().find(".tmp."), std::string::npos) << "temp file left: " << name.path();
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  std::string root = test::fresh_temp_dir("trainer_nan");
  train::TrainConfig c = tiny_config(root + "/run");
  c.epochs = 1;
  ASSERT_EQ(train::run_training(c), 0);
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  std::string good = read(root + "/run/last.safetensors");
  // The complete run trained further, with a NaN in the optimizer's moments: the first step of
  // epoch 2 puts it into the head, and the loss is NaN from the second step. (A new run may not
  // start over this folder without --overwrite, which would remove the checkpoint.)
  SafetensorsFile moments = load_safetensors(root + "/run/optimizer.safetensors");
  bool planted = false;
  for (NamedTensor& t : moments.tensors)
    if (t.name == "adam/m/predictions/bias") {
      t.tensor.set({0}, std::nan(""));
      planted = true;
    }
  ASSERT_TRUE(planted);
  save_safetensors(root + "/run/optimizer.safetensors", moments.tensors, moments.metadata);
  train::TrainConfig bad = tiny_config(root + "/run");  // the same run folder
  bad.resume = root + "/run";
  bad.epochs = 2;
  EXPECT_EQ(train::run_training(bad), 3);
  EXPECT_EQ(read(root + "/run/last.safetensors"), good);  // the last good checkpoint stays
}

TEST(Trainer, BadConfigurationsAreClearErrors) {
  std::string root = test::fresh_temp_dir("trainer_bad");
  train::TrainConfig missing = tiny_config(root + "/a");
  missing.data = root + "/no_such_folder";
  EXPECT_THROW(train::run_training(missing), Error);
  train::TrainConfig both = tiny_config(root + "/b");
  both.class_weights = "auto";
  both.label_smoothing = 0.1;
  try {
    train::run_training(both);
    FAIL() << "class weights with label smoothing must be refused unless asked";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("allow-weights-with-smoothing"), std::string::npos);
  }
  train::TrainConfig resume;
  resume.resume = root + "/not_a_run";
  EXPECT_THROW(train::run_training(resume), Error);
}

}  // namespace
}  // namespace alz

namespace alz {
namespace {

TEST(TrainerLearns, SmallResNetV2SeparatesMildFromSevereAtrophy) {
  // The end-to-end check that training works: NonDemented against ModerateDemented phantoms
  // (the two ends of the atrophy scale), subject-level validation split, 10 epochs of a small
  // ResNetV2 on the CPU (about 15 s on 2 cores). Chance is 0.5 accuracy and at most 0.5
  // macro-F1; a constant prediction scores 0.33 macro-F1.
  std::string dir = test::fresh_temp_dir("trainer_learns");
  data::PhantomSpec spec;
  spec.out_dir = dir + "/phantom";
  spec.counts = {0, 80, 80, 0};
  spec.height = 64;
  spec.width = 56;
  spec.seed = 4;
  spec.val_fraction = 0.25;
  data::write_phantom_dataset(spec);
  train::TrainConfig c;
  c.data = dir + "/phantom/manifest.csv";
  c.model = "resnetv2-small";
  c.device = "cpu";
  c.epochs = 10;
  c.batch_size = 16;
  c.input_height = c.input_width = 48;
  c.seed = 1;
  c.workers = 2;
  c.run_dir = dir + "/run";
  c.quiet = true;
  ASSERT_EQ(train::run_training(c), 0);
  double best = 0;
  for (const auto& epoch : train::read_jsonl(dir + "/run/metrics.jsonl"))
    best = std::max(best, epoch.at("val_macro_f1").get<double>());
  EXPECT_GE(best, 0.70) << "best validation macro-F1 over 10 epochs";
}

}  // namespace
}  // namespace alz

namespace alz {
namespace {

TEST(TrainerSignals, CtrlCSavesAResumableStateAndExits130) {
  std::string root = test::fresh_temp_dir("trainer_sigint");
  train::TrainConfig c = tiny_config(root + "/run");
  c.epochs = 3;
  // A harmless handler outside the run, so a late press could never end the test program.
  auto previous = std::signal(SIGINT, [](int) {});
  // Press Ctrl-C once the run has started (its config.json exists).
  std::thread presser([&] {
    for (int i = 0; i < 2000 && !fs::exists(root + "/run/config.json"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::raise(SIGINT);
  });
  int code = train::run_training(c);
  presser.join();
  std::signal(SIGINT, previous);
  ASSERT_EQ(code, 130);
  EXPECT_TRUE(fs::exists(root + "/run/state.json"));
  EXPECT_TRUE(fs::exists(root + "/run/last.safetensors"));
  train::TrainConfig resumed;
  resumed.resume = root + "/run";
  resumed.quiet = true;
  EXPECT_EQ(train::run_training(resumed), 0);
  EXPECT_EQ(train::read_jsonl(root + "/run/metrics.jsonl").size(), 3u);
}

// On the CPU StepGraph always runs the eager step, whatever the mode, and says why; a mode
// other than on and off is refused. (The GPU side: tests/gpu/test_cuda_graph_gpu.cpp.)
TEST(StepGraph, OnTheCpuEveryStepIsTheEagerStep) {
  Tensor w = Tensor::full({3}, 1.0, DType::F32);
  SGD sgd({ParamRef{"w", &w, ParamKind::Weight, KerasLayout::Same, true}}, SgdOptions{.learning_rate = 0.5});
  int calls = 0;
  auto step = [&](const Tensor& images, const Tensor&) {
    ++calls;
    return train::StepGraph::Outputs{Tensor::full({}, static_cast<double>(images.dim(0)), DType::F32), Tensor()};
  };
  Tensor images = Tensor::zeros({4, 2, 2, 3}, DType::F32), labels = Tensor::zeros({4}, DType::I32);
  for (const char* mode : {"on", "off"}) {
    train::StepGraph steps(mode, Device::cpu(), 4, sgd, /*quiet=*/true);
    for (int s = 0; s < 5; ++s) EXPECT_EQ(steps.run(images, labels, step).loss.at({}), 4.0);
    EXPECT_FALSE(steps.replaying());
    EXPECT_EQ(steps.eager_steps(), 5);
    EXPECT_EQ(steps.replays(), 0);
    EXPECT_EQ(steps.status().rfind(std::string(mode) == "on" ? "off (CPU" : "off", 0), 0u) << steps.status();
  }
  EXPECT_EQ(calls, 10);
  EXPECT_EQ(sgd.step_count(), 0);  // the step function, not StepGraph, runs the optimizer
  EXPECT_THROW(train::StepGraph("sometimes", Device::cpu(), 4, sgd, true), Error);
}

}  // namespace
}  // namespace alz
