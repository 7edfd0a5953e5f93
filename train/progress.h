// What the training loop keeps and shows while it runs (train/trainer.cpp):
//   EpochTotals       the epoch's training loss and accuracy, summed on the device
//   Progress          the progress line on stderr (a bar redrawn in place on a terminal)
//   SteadyStateClock  time per step after the warm-up, for benchmarks (--max-steps)
// Tested through the training runs of tests/test_trainer.cpp:
//   cmake --build build -j2 --target test_trainer && ctest --test-dir build -R Trainer
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "data/loader.h"
#include "tensor/tensor.h"

namespace alz::train {

// The training loss and accuracy of one epoch. The sum of (batch-mean loss * batch size) and the
// logits of every sample stay on the device and are read back at the end of the epoch (or for
// the progress line): the host does not wait for the GPU after every step.
class EpochTotals {
 public:
  // loss_sum: the sum so far when a resumed run continues an epoch; samples: the epoch's size.
  EpochTotals(double loss_sum, int64_t samples, int64_t classes, Device device);

  // Adds a step's batch-mean loss () and logits (n, classes) for the batch's labels.
  void add(const Tensor& loss, const Tensor& logits, const data::Batch& batch);

  double loss_sum() const;        // waits for the device
  int64_t count_correct() const;  // argmax(logits) == label among the samples added; waits

 private:
  Tensor loss_sum_;              // ()
  Tensor logits_;                // (samples, classes), the first rows_ rows filled
  std::vector<int32_t> labels_;  // (rows_)
  int64_t rows_ = 0;
  int64_t classes_ = 0;
};

// A progress line: redrawn in place every 0.5 s on a terminal, a plain line every 10 s otherwise.
class Progress {
 public:
  explicit Progress(bool quiet);
  bool due();  // true when the next line is due (and restarts the interval)
  // images and seconds: this epoch's so far in this process, for the rate and the time left.
  void show(int epoch, int epochs, int64_t batch, int64_t batches, double loss, int64_t images, double seconds,
            int batch_size);
  void end_line();  // ends a line redrawn in place

 private:
  bool quiet_, terminal_;
  std::chrono::steady_clock::time_point last_;
};

// Steady-state timing for benchmarks (--max-steps): time and steps of the training loop after
// the first kWarmupSteps steps of this process (algorithm choice, allocator growth), summed over
// epochs; validation and checkpoints are left out. Prints a running figure after each epoch.
class SteadyStateClock {
 public:
  static constexpr int64_t kWarmupSteps = 5;
  explicit SteadyStateClock(bool enabled);
  void loop_starts();  // an epoch's training loop begins
  // After step `step` (1-based, this process); at the end of the warm-up it calls
  // wait_for_device and starts the clock.
  void after_step(int64_t step, const std::function<void()>& wait_for_device);
  // At the end of an epoch's loop, once the device is idle; prints the figure unless quiet.
  void loop_ends(int64_t steps, int batch_size, bool quiet);

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  Clock::time_point start_ = Clock::now(), loop_start_ = Clock::now();
  double seconds_ = 0.0;
  int64_t steps_ = 0;
};

}  // namespace alz::train
