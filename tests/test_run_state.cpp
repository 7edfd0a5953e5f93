// What a resume reads back: every TrainConfig and RunState field survives state.json (a field
// left out of its serialisation list fails here), the resume rule of train/trainer.h (which
// settings come from the saved run, which from the new command line, what an older run folder
// without the newer keys gets), and damaged state files as clear errors.
// Run: cmake --build build -j2 --target test_run_state && ctest --test-dir build -R
// 'TrainConfigJson|RunStateJson|ResumeRule'
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/compare.h"
#include "train/run_state.h"
#include "train/trainer.h"

namespace alz {
namespace {

using nlohmann::json;
using train::RunState;
using train::TrainConfig;

// The number of fields of an aggregate: the largest N for which T{f1, ..., fN} compiles, each fi
// converting to any type. This counts what the struct holds, independently of the JSON lists.
struct AnyField {
  template <class T> operator T() const;
};
template <class T, class... Fields> consteval size_t field_count() {
  if constexpr (requires { T{Fields{}..., AnyField{}}; })
    return field_count<T, Fields..., AnyField>();
  else
    return sizeof...(Fields);
}

// Every field away from its default (strings, integers past 32 bits, doubles with 17 digits).
TrainConfig every_field_changed() {
  TrainConfig c;
  c.data = "data/manifest.csv";
  c.phantom_dir = "elsewhere/phantom";
  c.model = "resnetv2-tiny";
  c.epochs = 3;
  c.batch_size = 5;
  c.optimizer = "sgd";
  c.learning_rate = 0.012345678901234567;
  c.momentum = 0.5;
  c.nesterov = true;
  c.weight_decay = 1e-4;
  c.l2 = 3e-4;
  c.schedule = "step";
  c.warmup_epochs = 2;
  c.step_epochs = 4;
  c.step_gamma = 0.3;
  c.clip_norm = 1.5;
  c.input_height = 33;
  c.input_width = 31;
  c.resize = "area";
  c.device = "cpu";
  c.precision = "fp32";
  c.cuda_graph = "off";
  c.last_batch = "drop";
  c.seed = 0xFFFFFFFFFFFFFFF1ull;
  c.init_from = "start.safetensors";
  c.freeze_backbone = true;
  c.run_dir = "runs/a";
  c.resume = "runs/b";
  c.class_weights = "auto";
  c.label_smoothing = 0.1;
  c.allow_weights_with_smoothing = true;
  c.early_stopping = 3;
  c.val_fraction = 0.3;
  c.resize = "area";
  c.cv_folds = 5;
  c.cv_fold = 2;
  c.augment = false;
  c.workers = 2;
  c.cache = true;
  c.max_steps = int64_t{1} << 40;
  c.stop_after_steps = 2;
  c.quiet = true;
  c.overwrite = true;
  c.sync_bn = true;
  c.bucket_mb = 7;
  return c;
}

RunState every_state_field_changed() {
  RunState s;
  s.epoch = 4;
  s.batch = 7;
  s.global_step = int64_t{1} << 33;
  s.best_macro_f1 = 0.41234567890123456;
  s.best_epoch = 3;
  s.epochs_without_improvement = 1;
  s.history = {{1, 1.25, 0.5, 1.5, 0.25, 0.3, 0.2, 1e-3, 480.5}, {2, 1.0, 0.625, 1.25, 0.5, 0.45, 0.35, 5e-4, 500}};
  s.schedule = {{"best", 0.35}, {"bad_epochs", 1.0}};
  s.best_evaluation = json{{"macro_f1", 0.41}, {"per_class", json::array({1, 2})}};
  s.loss_sum = 12.345678901234567;
  s.seen = 24;
  s.correct = 11;
  s.train_seconds = 3.5;
  return s;
}

TEST(TrainConfigJson, EveryFieldIsSavedUnderItsOwnKey) {
  EXPECT_EQ(json(TrainConfig{}).size(), field_count<TrainConfig>())
      << "a field of TrainConfig is missing from its NLOHMANN_DEFINE_TYPE_... list in train/trainer.h";
  for (const char* key : train::kResumeFromCommandLine)
    EXPECT_TRUE(json(TrainConfig{}).contains(key)) << key << " in kResumeFromCommandLine is not a field";
}

TEST(TrainConfigJson, AConfigWithEveryFieldChangedSurvivesSaveAndRead) {
  const TrainConfig changed = every_field_changed();
  const json defaults = TrainConfig{}, saved = changed;
  for (const auto& [key, value] : defaults.items())
    EXPECT_NE(saved.at(key), value) << key << " keeps its default: change it in every_field_changed()";
  TrainConfig back = json::parse(saved.dump(2)).get<TrainConfig>();
  EXPECT_TRUE(back == changed) << "saved:\n" << saved.dump(2) << "\nread back:\n" << json(back).dump(2);
}

TEST(RunStateJson, AStateWithEveryFieldChangedSurvivesSaveAndRead) {
  EXPECT_EQ(json(RunState{}).size(), field_count<RunState>())
      << "a field of RunState is missing from its NLOHMANN_DEFINE_TYPE_... list in train/run_state.h";
  const RunState changed = every_state_field_changed();
  const json defaults = RunState{}, saved = changed;
  for (const auto& [key, value] : defaults.items())
    EXPECT_NE(saved.at(key), value) << key << " keeps its default: change it in every_state_field_changed()";
  RunState back = json::parse(saved.dump(2)).get<RunState>();
  EXPECT_TRUE(back == changed) << "saved:\n" << saved.dump(2) << "\nread back:\n" << json(back).dump(2);
}

TEST(ResumeRule, SavedSettingsWinExceptHowThisProcessRuns) {
  const TrainConfig saved = every_field_changed();
  TrainConfig command_line;  // alz train --resume moved/run --workers 3 --max-steps 9 --epochs 20
  command_line.resume = "moved/run";
  command_line.workers = 3;
  command_line.max_steps = 9;
  command_line.epochs = 20;
  command_line.batch_size = saved.batch_size;  // the same as saved: nothing to say
  std::vector<std::string> ignored;
  TrainConfig resumed = train::config_for_resume(json(saved), command_line, &ignored);

  TrainConfig expected = saved;  // the saved run, but for this process's own settings
  expected.resume = "moved/run";
  expected.run_dir = "moved/run";
  expected.quiet = false;
  expected.workers = 3;
  expected.max_steps = 9;
  expected.stop_after_steps = 0;
  expected.overwrite = false;
  expected.bucket_mb = TrainConfig{}.bucket_mb;  // how gradients travel, from the command line
  expected.cuda_graph = "on";  // how this process runs the step: the command line's (its default here)
  EXPECT_TRUE(resumed == expected) << json(resumed).dump(2);
  EXPECT_EQ(resumed.last_batch, "drop");  // which samples an epoch trains on: the run's
  EXPECT_EQ(ignored, std::vector<std::string>{"epochs=20"});
}

TEST(ResumeRule, KeysAnOlderRunFolderLacksComeFromTheCommandLine) {
  // The configuration as saved before phantom_dir, workers and the flags below were saved.
  json old = json(every_field_changed());
  for (const char* newer : {"phantom_dir", "allow_weights_with_smoothing", "workers", "l2", "resize", "run_dir",
                            "resume", "max_steps", "stop_after_steps", "quiet", "overwrite", "cv_folds", "cv_fold",
                            "sync_bn", "bucket_mb", "cuda_graph", "last_batch"})
    old.erase(newer);
  ASSERT_EQ(old.size(), 27u);

  TrainConfig plain;
  plain.resume = "old/run";
  std::vector<std::string> ignored;
  TrainConfig resumed = train::config_for_resume(old, plain, &ignored);
  EXPECT_EQ(resumed.phantom_dir, TrainConfig{}.phantom_dir);
  EXPECT_FALSE(resumed.allow_weights_with_smoothing);  // resolve_config will ask for the flag
  EXPECT_EQ(resumed.model, "resnetv2-tiny");
  EXPECT_EQ(resumed.seed, every_field_changed().seed);
  EXPECT_EQ(resumed.last_batch, "eager");  // older runs trained the partial batch
  EXPECT_TRUE(ignored.empty());

  TrainConfig given = plain;  // ... --allow-weights-with-smoothing --phantom-dir p
  given.allow_weights_with_smoothing = true;
  given.phantom_dir = "p";
  resumed = train::config_for_resume(old, given, &ignored);
  EXPECT_TRUE(resumed.allow_weights_with_smoothing);
  EXPECT_EQ(resumed.phantom_dir, "p");
  EXPECT_TRUE(ignored.empty());
}

TEST(ResumeRule, DamagedStateFilesAreClearErrors) {
  std::string dir = test::fresh_temp_dir("run_state_damaged");
  auto message = [&] {
    try {
      train::read_saved_run(dir);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message().find(dir + "/state.json: cannot read"), std::string::npos) << message();
  std::ofstream(dir + "/state.json") << "{\"epoch\": 1, \"batch\"";
  EXPECT_NE(message().find("state.json: not a valid run state"), std::string::npos) << message();
  json state = every_state_field_changed();
  state["config"] = json(TrainConfig{});
  state.erase("global_step");
  std::ofstream(dir + "/state.json") << state.dump();
  EXPECT_NE(message().find("global_step"), std::string::npos) << message();
  state = every_state_field_changed();
  std::ofstream(dir + "/state.json") << state.dump();  // no "config"
  EXPECT_NE(message().find("config"), std::string::npos) << message();

  json config = json(TrainConfig{});
  config["epochs"] = "many";
  EXPECT_THROW(train::config_for_resume(config, TrainConfig{}), nlohmann::json::exception);
}

}  // namespace
}  // namespace alz
