// The training run behind `alz train`: its settings (TrainConfig), what a resumed run takes
// from where, and the Trainer. The training step itself is Trainer::train_step in
// train/trainer.cpp (forward, loss, backward, optimizer step); the epoch loop is Trainer::run.
//
//   TrainConfig config;                  // from the command line (cli/train.cpp)
//   int code = run_training(config);     // 0 done, 1 error, 3 non-finite loss, 130 interrupted
//
// The pieces around the step, one file each:
//   train/run_setup.h   before the first step: device, data, loaders, model, optimizer, schedule
//   train/run_state.h   what a resume needs (RunState) and the run folder's state files
//   train/progress.h    the epoch's running loss and accuracy, the progress line, timing
//   train/interrupt.h   Ctrl-C: finish the step, save, exit 130
//   train/step_graph.h  on a GPU, the step replayed as one CUDA graph after two eager warm-up
//                       steps (--cuda-graph on, the default); the last, partial batch of an epoch
//                       runs eagerly (--last-batch eager, the default) or is dropped (drop)
//   train/evaluate.h, train/report.h   validation metrics; metrics.jsonl and report.html
//
// The run folder holds: config.json, metrics.jsonl (one line per epoch), last.safetensors and
// best.safetensors (by validation macro-F1; Keras names, metadata with class names) with
// best_predictions.json (that epoch's validation probabilities, for the report), state.json
// + optimizer.safetensors (what a resume needs: optimizer state, epoch and batch, generator
// state, schedule state, history), run_info.json (date, duration, device, version: the
// report's metadata), report.html with curves.svg, confusion_matrix.svg and roc_pr.svg.
// Every file is written atomically (temp + rename).
//
// A run folder is never overwritten by accident. A fresh run (no --resume) in a folder that
// holds a run's work — state.json or a checkpoint (run_files_found in train/run_state.h) —
// stops before touching anything with an alz::Error that offers `--resume RUN_DIR` and
// `--overwrite`. With overwrite, the old run's files (state, checkpoints, metrics.jsonl, report,
// config.json) are removed first, state.json first, and other files in the folder stay. A folder
// left by a run killed before its first epoch was saved (config.json, perhaps metrics.jsonl, no
// state.json and no checkpoint) holds nothing to protect: a fresh run starts there without
// --overwrite. tests/test_cli_run_folder.cpp.
//
// Resume (`--resume RUN_DIR`) continues exactly where the run stopped: weights, BatchNorm
// statistics, optimizer state, epoch and batch position of the loader, partial-epoch sums.
// On the CPU two epochs in one run equal one epoch, a stop, and a resumed second epoch bit
// for bit (tests/test_trainer.cpp). Resuming a complete run (every epoch done, or stopped
// early) trains nothing and says so; a complete run goes on with a larger --epochs (see
// config_for_resume below).
// Ctrl-C (SIGINT/SIGTERM) finishes the current step, writes a resumable state and returns 130.
// Data-parallel (`mpirun -np N alz train`, dist/): each rank trains on its shard of every batch,
// gradients are averaged after backward (dist/gradient_sync.h), rank 0 alone prints and
// writes; a stop on any rank stops all of them; an error on one rank ends every rank.
// A NaN or Inf loss stops the run with a message; the last good checkpoint stays.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/gradient_sync.h"
#include "models/resnet_v2.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/evaluate.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "train/report.h"
#include "train/run_state.h"
#include "train/step_graph.h"

namespace alz::train {

struct TrainConfig {
  std::string data;                           // dataset folder or manifest CSV; empty: the phantom set
  std::string phantom_dir = "phantom";        // where the phantom set is generated when data is empty
  std::string model = "auto";                 // auto: resnet152v2 on a GPU, resnetv2-small on the CPU
  int epochs = 0;                             // 0: auto (GPU 20, CPU 8)
  int batch_size = 0;                         // 0: auto (GPU 64, CPU 32)
  std::string optimizer = "adam";             // adam, adamw (the same rule as adam: decay is decoupled), sgd
  double learning_rate = 0.0;                 // 0: auto (adam 1e-3, sgd 0.1 * batch / 256)
  double momentum = 0.9;                      // sgd
  bool nesterov = false;                      // sgd
  double weight_decay = 0.0;                  // decoupled, as Keras: w -= lr * wd * w before each update
  double l2 = 0.0;                            // coupled L2: g += l2 * w (optim/optimizer.h)
  std::string schedule = "cosine";            // constant, step, cosine, plateau
  int warmup_epochs = 0;                      // cosine: linear warm-up over the first N epochs
  int step_epochs = 10;                       // step schedule: decay every N epochs
  double step_gamma = 0.1;                    // step schedule: the decay factor
  double clip_norm = 0.0;                     // 0: no clipping
  int input_height = 0, input_width = 0;      // 0: auto (GPU 224, CPU 80)
  std::string resize = "keras";               // keras (tf.image.resize bilinear) or area (data/resize.h)
  std::string device = "auto";                // auto, cpu, cuda
  std::string precision = "tf32";             // fp32 (strict), tf32, bf16 (train/precision.h)
  std::string cuda_graph = "on";              // on, off: replay the training step as one CUDA graph (GPU)
  std::string last_batch = "eager";           // eager: a last partial batch runs eagerly; drop: left out
  uint64_t seed = 1;                          // weights, sample order, augmentation and splits
  std::string init_from;                      // weights to start from (name and shape must match)
  bool freeze_backbone = false;               // train only the head (frozen BatchNorms in inference mode)
  std::string run_dir;                        // default runs/<model>-seed<seed>
  std::string resume;                         // a run folder to continue
  std::string class_weights = "none";         // none, auto (inverse frequency)
  double label_smoothing = 0.0;               // in [0, 1)
  bool allow_weights_with_smoothing = false;  // both together only when asked
  int early_stopping = 0;                     // patience in epochs; 0: off
  double val_fraction = 0.2;                  // when the data has no validation split
  int cv_folds = 0;                           // alz cv: validate on fold cv_fold of cv_folds (data/folds.h); 0: off
  int cv_fold = 0;
  bool augment = true;           // random training augmentation
  int workers = 0;               // loader threads; 0: all cores
  bool cache = false;            // cache decoded images in memory
  int64_t max_steps = 0;         // stop after this many steps in all (0: no limit); for benchmarks
  int64_t stop_after_steps = 0;  // simulate an interruption after N steps of this process (tests)
  bool quiet = false;            // print only errors
  bool overwrite = false;        // a fresh run may replace the run in run_dir (see above)
  bool sync_bn = false;          // data-parallel: BatchNorm statistics over all ranks (train/distributed.h)
  int bucket_mb = 25;            // data-parallel: gradients all-reduced in buckets of this size (dist/gradient_sync.h)

  bool operator==(const TrainConfig&) const = default;
};

// config.json and the "config" of state.json: every field under its own name, from this one
// list (a key missing when reading keeps the field's default). tests/test_run_state.cpp fails
// when a field of TrainConfig is missing here.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainConfig, data, phantom_dir, model, epochs, batch_size, optimizer,
                                                learning_rate, momentum, nesterov, weight_decay, l2, schedule,
                                                warmup_epochs, step_epochs, step_gamma, clip_norm, input_height,
                                                input_width, resize, device, precision, cuda_graph, last_batch, seed,
                                                init_from, freeze_backbone, run_dir, resume, class_weights,
                                                label_smoothing, allow_weights_with_smoothing, early_stopping,
                                                val_fraction, cv_folds, cv_fold, augment, workers, cache, max_steps,
                                                stop_after_steps, quiet, overwrite, sync_bn, bucket_mb)

// Resuming: which settings a resumed run takes from where.
//   - From the new command line: the fields that say how this process runs, not what the run
//     computes: resume, run_dir (always the resumed folder), quiet, workers (results do not
//     depend on the thread count, and the right count is the machine's), cuda_graph (a replayed
//     graph runs the same kernels on the same values as the eager step, and whether a machine
//     can capture is the machine's business), max_steps, stop_after_steps, overwrite and bucket_mb (how
//     gradients travel between ranks, not their sums). These are kResumeFromCommandLine. (last_batch is the run's:
//     dropping the partial batch changes which samples an epoch trains on.)
//   - From the saved run (the "config" of RUN_DIR/state.json): every other field, so the run
//     goes on exactly as it began. A different value given on the command line (say --epochs
//     20) is ignored, and named in `ignored` ("epochs=20") for a note to the user.
//   - One exception, applied by the Trainer: a complete run (every epoch done) takes a larger
//     --epochs from the command line, to train further. The learning-rate schedule is then
//     built for the new total: constant, step and plateau do not depend on it, so the extended
//     run equals one started with that --epochs; cosine does (it decays over all the epochs),
//     so the extended run's first epochs followed the shorter curve and its result differs.
//   - A field an older run folder did not save takes the command line's value, that is its
//     default unless given (a run started with --allow-weights-with-smoothing before that flag
//     was saved resumes when the flag is given again).
//   - init_from stays in the record but is not loaded again: the weights come from the run's
//     own last.safetensors.
// Throws nlohmann::json::exception when a saved value has the wrong type.
inline constexpr const char* kResumeFromCommandLine[] = {
    "resume", "run_dir", "quiet", "workers", "cuda_graph", "max_steps", "overwrite", "bucket_mb", "stop_after_steps"};
TrainConfig config_for_resume(const nlohmann::json& saved, const TrainConfig& command_line,
                              std::vector<std::string>* ignored = nullptr);

// Runs (or resumes) training; returns the process exit code: 0 done (also: a resumed run that
// was already complete), 1 error (message printed), 3 stopped on a non-finite loss, 130
// interrupted (resumable). Bad settings and a run folder it will not overwrite throw alz::Error.
int run_training(TrainConfig config);

// One training run: set up by the constructor, driven by run(). run_training is
//   Trainer trainer(config);  return trainer.run();
// with the Ctrl-C handler installed around it.
class Trainer {
 public:
  // Reads the saved run when resuming, fills the "auto" settings, checks the run folder (the
  // rule above), writes config.json, prepares the data, builds the loaders, model, optimizer
  // and schedule, and on a resume restores the weights, the optimizer state and the loader
  // position. Throws alz::Error on bad settings. A resumed run that is complete stops after
  // reading its state (run() then says so).
  // comm: the ranks of a data-parallel run (dist/communicator.h); tests pass a world of one.
  explicit Trainer(TrainConfig config, dist::Communicator& comm = dist::world());

  // The epoch loop: train, validate, keep the best checkpoint, save the state, write the report.
  // Returns the exit code of run_training.
  int run();

  // What one training step leaves behind, still on the device.
  struct StepResult {
    Tensor loss;    // () the batch-mean cross-entropy
    Tensor logits;  // (n, classes)
  };
  // One training step on a batch: forward, loss, backward, optimizer update; on a GPU replayed
  // as one CUDA graph after the warm-up (train/step_graph.h). The tensors returned are valid
  // until the next step (a replay overwrites them).
  StepResult train_step(const data::Batch& batch);

  ResNetV2& model() { return *model_; }  // the replica's weights (tests compare ranks)

 private:
  enum class EpochEnd { Finished, Interrupted, NonFiniteLoss };
  StepResult data_parallel_step(const data::Batch& batch);  // train_step under mpirun
  EpochEnd train_epoch(double& train_loss);
  void save_interrupted_run(const EpochTotals& totals, double seconds);
  EpochRecord record_epoch(double train_loss, const Metrics& val);
  void keep_if_best(const Metrics& val, const Predictions& predictions, int epoch);
  void save_end_of_epoch();
  void write_run_report(const Metrics& val, int epoch);
  bool early_stopping_reached() const;  // prints why when it is
  void check_run_folder();              // a fresh run: refuse, or clear with overwrite
  bool complete() const;                // a resumed run with nothing left to train
  void say_complete() const;
  const std::vector<std::string>& class_names() const { return data_.class_names; }

  TrainConfig config_;
  bool resuming_ = false;
  int extended_from_ = 0;       // a complete run given a larger --epochs: its saved epochs
  nlohmann::json config_json_;  // config_ as saved in config.json and state.json
  Device device_;
  data::DatasetIndex data_;    // the "train" and "val" splits
  nlohmann::json provenance_;  // where they came from (train/provenance.h), in every checkpoint
  std::unique_ptr<data::Loader> train_loader_, val_loader_;
  std::unique_ptr<ResNetV2> model_;
  Tensor class_weights_;  // (classes) or undefined
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<LearningRateSchedule> schedule_;
  std::unique_ptr<StepGraph> step_graph_;  // after model_ and optimizer_: destroyed before them
  RunState state_;                         // where the run is; saved for a resume
  Progress progress_;
  SteadyStateClock steady_state_;
  int64_t steps_this_process_ = 0;
  RunMetadata run_info_;         // run_info.json: the report's metadata
  double elapsed_before_ = 0.0;  // training time of the processes before this one (resumes)
  std::chrono::steady_clock::time_point process_start_ = std::chrono::steady_clock::now();
  // Data parallelism (a world of one: no sync, every rank is the root).
  dist::Communicator& comm_;
  std::unique_ptr<dist::GradientSync> grad_sync_;  // null with one rank
  int64_t val_first_sample_ = 0;                   // this rank's first validation sample
};

}  // namespace alz::train
