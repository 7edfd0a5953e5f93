// Learning-rate schedules: pure host code, asked once per step for the rate of that step.
// `step` is the global optimizer step (0-based, counted over the whole run), `epoch` the
// 0-based epoch the step belongs to. Each schedule uses one of the two:
//   ConstantSchedule        lr(step, epoch) = lr
//   StepDecaySchedule       PER EPOCH: lr = initial * gamma^floor(epoch / every_epochs)
//   WarmupCosineSchedule    PER STEP:  step <  warmup: lr = peak * (step + 1) / warmup
//                                      step >= warmup: p = min(1, (step - warmup) / (total - warmup)),
//                                      lr = min_lr + (peak - min_lr) * (1 + cos(pi * p)) / 2
//                           (the first step already trains: 1/warmup of the peak; the rate
//                           reaches the peak at step warmup - 1 and min_lr at step total)
//   ReduceOnPlateauSchedule PER EPOCH, driven by on_epoch_end(monitored), as Keras's
//                           ReduceLROnPlateau: an epoch "improves" when monitored < best -
//                           min_delta (Mode::Min, e.g. a loss) or > best + min_delta (Mode::Max,
//                           e.g. macro-F1); after `patience` epochs without improvement the rate
//                           becomes max(lr * factor, min_lr) (only if lr > min_lr), the wait
//                           restarts, and `cooldown` epochs follow in which waiting is not counted.
//
//   WarmupCosineSchedule schedule(1e-3, 500, 20000);
//   optimizer.set_learning_rate(schedule.learning_rate(step, epoch));
//   ...  plateau.on_epoch_end(val_loss);
//
// State for resuming: state() gives a std::map<std::string, double> (configuration and the
// moving parts: best, wait, cooldown counter, current rate); load_state() restores it and
// throws alz::Error when a key is missing or the configuration differs.
// Tested by tests/test_schedule.cpp:  ctest --test-dir build -R Schedule
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace alz {

using ScheduleState = std::map<std::string, double>;

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  virtual double learning_rate(int64_t step, int epoch) const = 0;
  virtual void on_epoch_end(double monitored) { (void)monitored; }  // only plateau uses it
  virtual std::string name() const = 0;                             // "constant", "step", ...
  virtual ScheduleState state() const = 0;
  virtual void load_state(const ScheduleState& state) = 0;
};

class ConstantSchedule : public LearningRateSchedule {
 public:
  explicit ConstantSchedule(double lr);
  double learning_rate(int64_t step, int epoch) const override;
  std::string name() const override { return "constant"; }
  ScheduleState state() const override;
  void load_state(const ScheduleState& state) override;

 private:
  double lr_;
};

class StepDecaySchedule : public LearningRateSchedule {
 public:
  StepDecaySchedule(double initial_lr, double gamma, int every_epochs);
  double learning_rate(int64_t step, int epoch) const override;
  std::string name() const override { return "step"; }
  ScheduleState state() const override;
  void load_state(const ScheduleState& state) override;

 private:
  double initial_lr_, gamma_;
  int every_epochs_;
};

class WarmupCosineSchedule : public LearningRateSchedule {
 public:
  // warmup_steps may be 0; total_steps > warmup_steps.
  WarmupCosineSchedule(double peak_lr, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0);
  double learning_rate(int64_t step, int epoch) const override;
  std::string name() const override { return "warmup_cosine"; }
  ScheduleState state() const override;
  void load_state(const ScheduleState& state) override;

 private:
  double peak_lr_;
  int64_t warmup_steps_, total_steps_;
  double min_lr_;
};

struct PlateauOptions {
  enum class Mode { Min, Max };  // lower is better (loss) / higher is better (accuracy, F1)
  Mode mode = Mode::Min;
  double factor = 0.1;  // Keras defaults
  int patience = 10;
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
};

class ReduceOnPlateauSchedule : public LearningRateSchedule {
 public:
  ReduceOnPlateauSchedule(double initial_lr, PlateauOptions options = {});
  double learning_rate(int64_t step, int epoch) const override;  // the current rate
  void on_epoch_end(double monitored) override;
  std::string name() const override { return "reduce_on_plateau"; }
  ScheduleState state() const override;
  void load_state(const ScheduleState& state) override;

  double best() const { return best_; }
  int wait() const { return wait_; }

 private:
  bool improves(double value) const;
  PlateauOptions options_;
  double lr_;
  double best_;
  int wait_ = 0;
  int cooldown_counter_ = 0;
};

}  // namespace alz
