// Where a training run stands (RunState) and the run folder's files that let a stopped run go
// on: state.json (the RunState and the run's configuration), last.safetensors (weights and
// BatchNorm statistics) and optimizer.safetensors (the optimizer's moments and step count).
// They are written together after every epoch and when the run is interrupted, and they change
// together even when the process is killed half way (SIGKILL, power loss): save_run writes all
// three into the staging folder run_dir/.saving/ (each atomically), then an empty marker file
// .saving/complete (the commit point), then renames them into run_dir. On the next save or
// resume, recover_interrupted_save finishes a committed staging folder or drops an unfinished
// one (the previous files are then whole), and removes temp files a killed write left.
// best.safetensors is written when validation improves; metrics.jsonl is rewritten from the
// saved history on resume, so an epoch that was logged but not saved is not logged twice.
//
// A fresh run never overwrites another run's work by accident (the rule is in train/trainer.h):
// run_files_found lists what makes a folder a run worth protecting (state.json or a checkpoint,
// also in a committed staging folder), and remove_run_files clears a run's files for
// `--overwrite`, state.json first, so that a kill half way leaves no state that a resume could
// mistake for the old run's.
//
// state.json is the RunState below serialised field by field from its one list (a missing key
// is an error: the file was damaged), plus the configuration under "config" (TrainConfig,
// train/trainer.h). Tested in tests/test_run_state.cpp and tests/test_trainer.cpp:
//   cmake --build build -j2 --target test_run_state test_trainer && ctest --test-dir build -R 'RunState|Trainer'
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/resnet_v2.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/report.h"

namespace alz::train {

// What the epoch loop carries from step to step; saved whole for a resume.
struct RunState {
  int epoch = 0;                       // 0-based epoch in progress
  int64_t batch = 0;                   // next batch of that epoch
  int64_t global_step = 0;             // training steps since the run began
  double best_macro_f1 = -1.0;         // the best validation macro-F1 so far
  int best_epoch = 0;                  // its epoch (1-based; 0: none yet)
  int epochs_without_improvement = 0;  // for early stopping
  std::vector<EpochRecord> history;    // one record per finished epoch
  ScheduleState schedule;              // the learning-rate schedule's state
  nlohmann::json best_evaluation;      // metrics_to_json of the best epoch
  double loss_sum = 0.0;               // this epoch so far: sum over samples of the batch-mean loss
  int64_t seen = 0;                    // this epoch so far: samples trained on
  int64_t correct = 0;                 // this epoch so far: samples predicted right
  double train_seconds = 0.0;          // this epoch so far: time in the training loop

  bool operator==(const RunState&) const = default;
};

// state.json: every field under its own name, from this one list. tests/test_run_state.cpp
// fails when a field of RunState is missing here.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunState, epoch, batch, global_step, best_macro_f1, best_epoch,
                                   epochs_without_improvement, history, schedule, best_evaluation, loss_sum, seen,
                                   correct, train_seconds)

// Writes last.safetensors (with the class names and config's resize in its metadata), optimizer.safetensors and
// state.json (the state, and `config` under "config") into run_dir.
// `provenance`, when given, goes into the checkpoint's metadata as "training_data" (train/provenance.h).
void save_run(const std::string& run_dir, ResNetV2& model, const Optimizer& optimizer, const RunState& state,
              const nlohmann::json& config, const std::vector<std::string>& class_names,
              const nlohmann::json& provenance = nullptr);

// Finishes or drops a save that a crash interrupted (see above); true when there was one.
bool recover_interrupted_save(const std::string& run_dir);

// The files in run_dir that hold a run's work: state.json and the checkpoints
// (last.safetensors, best.safetensors, optimizer.safetensors), in the folder or in a committed
// .saving/ (named ".saving/<file>"). Empty when there are none: a missing folder, an empty one, or
// what a run killed before its first saved epoch leaves (config.json, metrics.jsonl, an
// unfinished .saving/), which holds nothing worth keeping.
std::vector<std::string> run_files_found(const std::string& run_dir);

// Removes every file a run writes (kRunFiles in run_state.cpp: the state files, checkpoints,
// metrics.jsonl, config.json, the report, the staging folder, temp files of a killed write),
// state.json first. Files of other names stay. Throws alz::Error naming a file it cannot remove.
void remove_run_files(const std::string& run_dir);

// Rewrites run_dir/metrics.jsonl from the saved history (one line per finished epoch, as
// append_jsonl writes them).
void rewrite_metrics_log(const std::string& run_dir, const std::vector<EpochRecord>& history);

// Writes best.safetensors: the weights of the best epoch so far (metadata as last.safetensors).
void save_best(const std::string& run_dir, ResNetV2& model, const std::vector<std::string>& class_names,
               const std::string& resize, const nlohmann::json& provenance = nullptr);

// state.json of a run folder (after recover_interrupted_save): the saved configuration (as
// saved; see config_for_resume in train/trainer.h) and state. Throws alz::Error naming the file
// when it is missing or damaged.
struct SavedRun {
  nlohmann::json config;
  RunState state;
};
SavedRun read_saved_run(const std::string& run_dir);

// Loads what save_run wrote into a model, optimizer and schedule built for the same
// configuration: the weights (strictly: every name and shape must match), the optimizer state
// and the schedule state.
void restore_run(const std::string& run_dir, const RunState& state, ResNetV2& model, Optimizer& optimizer,
                 LearningRateSchedule& schedule);

}  // namespace alz::train
