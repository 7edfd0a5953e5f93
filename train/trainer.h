// The training run behind `alz train`: data, model, optimizer, schedule, the epoch loop,
// validation with honest metrics, checkpoints, resume, the report.
//
//   TrainConfig config;            // from the command line (cli/train.cpp)
//   int code = run_training(config);
//
// The run folder holds: config.json, metrics.jsonl (one line per epoch), last.safetensors and
// best.safetensors (by validation macro-F1; Keras names, metadata with class names), state.json
// + optimizer.safetensors (what a resume needs: optimizer state, epoch and batch, generator
// state, schedule state, history), report.html with curves.svg and confusion_matrix.svg.
// Every file is written atomically (temp + rename).
//
// Resume (`--resume RUN_DIR`) continues exactly where the run stopped: weights, BatchNorm
// statistics, optimizer state, epoch and batch position of the loader, partial-epoch sums.
// On the CPU two epochs in one run equal one epoch, a stop, and a resumed second epoch bit
// for bit (tests/test_trainer.cpp).
// Ctrl-C (SIGINT/SIGTERM) finishes the current step, writes a resumable state and returns 130.
// A NaN or Inf loss stops the run with a message; the last good checkpoint stays.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace alz::train {

struct TrainConfig {
  std::string data;                  // dataset folder or manifest CSV; empty: the phantom set
  std::string phantom_dir = "phantom";  // where the phantom set is generated when data is empty
  std::string model = "auto";        // auto: resnet152v2 on a GPU, resnetv2-small on the CPU
  int epochs = 0;                    // 0: auto (GPU 3, CPU 8)
  int batch_size = 0;                // 0: auto (GPU 64, CPU 32)
  std::string optimizer = "adam";    // adam, adamw, sgd
  double learning_rate = 0.0;        // 0: auto (adam 1e-3, sgd 0.1 * batch / 256)
  double momentum = 0.9;             // sgd
  bool nesterov = false;             // sgd
  double weight_decay = 0.0;
  std::string schedule = "cosine";   // constant, step, cosine, plateau
  int warmup_epochs = 0;
  int step_epochs = 10;              // step schedule: decay every N epochs
  double step_gamma = 0.1;
  double clip_norm = 0.0;            // 0: no clipping
  int input_height = 0, input_width = 0;  // 0: auto (GPU 224, CPU 80)
  std::string resize = "keras";      // keras (tf.image.resize bilinear) or area (data/resize.h)
  std::string device = "auto";       // auto, cpu, cuda
  std::string precision = "tf32";    // fp32 (strict), tf32
  uint64_t seed = 1;
  std::string init_from;             // weights to start from (name and shape must match)
  bool freeze_backbone = false;      // train only the head (frozen BatchNorms in inference mode)
  std::string run_dir;               // default runs/<model>-<seed>
  std::string resume;                // a run folder to continue
  std::string class_weights = "none";  // none, auto (inverse frequency)
  double label_smoothing = 0.0;
  bool allow_weights_with_smoothing = false;  // both together only when asked
  int early_stopping = 0;            // patience in epochs; 0: off
  double val_fraction = 0.2;         // when the data has no validation split
  bool augment = true;
  int workers = 0;                   // loader threads; 0: all cores
  bool cache = false;                // cache decoded images in memory
  int64_t max_steps = 0;             // stop after this many steps in all (0: no limit); for benchmarks
  int64_t stop_after_steps = 0;      // simulate an interruption after N steps of this process (tests)
  bool quiet = false;
};

// Runs (or resumes) training; returns the process exit code: 0 done, 1 error (message
// printed), 3 stopped on a non-finite loss, 130 interrupted (resumable).
int run_training(TrainConfig config);

}  // namespace alz::train
