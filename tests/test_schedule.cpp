// Learning-rate schedules (optim/schedule.h) at chosen steps and epochs against values computed
// by hand, reduce-on-plateau's patience / min_delta / cooldown / min_lr in both modes, and the
// state round trip. Tolerance: EXPECT_DOUBLE_EQ (4 ulps) where the value is a product of a few
// doubles; 1e-15 absolute for the cosine values.
// Run: ctest --test-dir build -R Schedule
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "core/error.h"
#include "optim/schedule.h"

namespace alz {
namespace {

TEST(Schedule, Constant) {
  ConstantSchedule s(0.01);
  EXPECT_EQ(s.learning_rate(0, 0), 0.01);
  EXPECT_EQ(s.learning_rate(123456, 99), 0.01);
  EXPECT_THROW(ConstantSchedule(-1.0), Error);
}

// 0.1 halved every 2 epochs: epochs 0-1 -> 0.1, 2-3 -> 0.05, 4-5 -> 0.025, 7 -> 0.0125.
TEST(Schedule, StepDecayPerEpoch) {
  StepDecaySchedule s(0.1, 0.5, 2);
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 0), 0.1);
  EXPECT_DOUBLE_EQ(s.learning_rate(999, 1), 0.1);  // the step does not matter
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 2), 0.05);
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 3), 0.05);
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 4), 0.025);
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 7), 0.0125);
  EXPECT_THROW(StepDecaySchedule(0.1, 0.5, 0), Error);
}

// Peak 0.1, 4 warm-up steps, 12 in total: warm-up 0.025, 0.05, 0.075, 0.1; then
// 0.05 (1 + cos(pi (step - 4) / 8)): step 6 -> 0.05 (1 + sqrt(2)/2), step 8 -> 0.05,
// step 10 -> 0.05 (1 - sqrt(2)/2), step 12 and later -> 0.
TEST(Schedule, WarmupCosinePerStep) {
  WarmupCosineSchedule s(0.1, 4, 12);
  const double half_sqrt2 = std::numbers::sqrt2 / 2.0;
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 0), 0.025);
  EXPECT_DOUBLE_EQ(s.learning_rate(1, 0), 0.05);
  EXPECT_DOUBLE_EQ(s.learning_rate(2, 0), 0.075);
  EXPECT_DOUBLE_EQ(s.learning_rate(3, 0), 0.1);
  EXPECT_DOUBLE_EQ(s.learning_rate(4, 0), 0.1);
  EXPECT_NEAR(s.learning_rate(6, 5), 0.05 * (1.0 + half_sqrt2), 1e-15);  // the epoch does not matter
  EXPECT_NEAR(s.learning_rate(8, 0), 0.05, 1e-15);
  EXPECT_NEAR(s.learning_rate(10, 0), 0.05 * (1.0 - half_sqrt2), 1e-15);
  EXPECT_NEAR(s.learning_rate(12, 0), 0.0, 1e-15);
  EXPECT_NEAR(s.learning_rate(1000, 0), 0.0, 1e-15);
  // With a floor: min_lr + (peak - min_lr) (1 + cos) / 2; step 8 -> 0.01 + 0.09 / 2.
  WarmupCosineSchedule floored(0.1, 4, 12, 0.01);
  EXPECT_NEAR(floored.learning_rate(8, 0), 0.055, 1e-15);
  EXPECT_NEAR(floored.learning_rate(50, 0), 0.01, 1e-15);
  // No warm-up: the peak at step 0.
  WarmupCosineSchedule no_warmup(0.1, 0, 10);
  EXPECT_DOUBLE_EQ(no_warmup.learning_rate(0, 0), 0.1);
  EXPECT_THROW(WarmupCosineSchedule(0.1, 10, 10), Error);
  EXPECT_THROW(s.learning_rate(-1, 0), Error);
}

// Lower is better, factor 0.5, patience 2, min_delta 0, min_lr 0.02, starting at 0.1.
TEST(Schedule, PlateauReducesAfterPatienceEpochs) {
  ReduceOnPlateauSchedule s(
      0.1, {.mode = PlateauOptions::Mode::Min, .factor = 0.5, .patience = 2, .min_delta = 0.0, .min_lr = 0.02});
  struct Epoch {
    double monitored, lr_after;
    int wait_after;
  };
  const std::vector<Epoch> epochs = {
      {1.0, 0.1, 0},    // first value: an improvement over +inf
      {0.9, 0.1, 0},    // better
      {0.95, 0.1, 1},   // worse: wait 1
      {0.95, 0.05, 0},  // wait 2 = patience: halve, restart
      {0.8, 0.05, 0},   // better
      {0.85, 0.05, 1},  //
      {0.9, 0.025, 0},  // halve
      {0.9, 0.025, 1},  //
      {0.9, 0.02, 0},   // 0.0125 is below min_lr: clamp to 0.02
      {0.9, 0.02, 1},   //
      {0.9, 0.02, 0},   // already at min_lr: stays
  };
  for (size_t e = 0; e < epochs.size(); ++e) {
    s.on_epoch_end(epochs[e].monitored);
    EXPECT_DOUBLE_EQ(s.learning_rate(0, static_cast<int>(e)), epochs[e].lr_after) << "epoch " << e;
    EXPECT_EQ(s.wait(), epochs[e].wait_after) << "epoch " << e;
  }
  EXPECT_EQ(s.best(), 0.8);
}

// min_delta (Keras default 1e-4): a gain smaller than it is not an improvement.
TEST(Schedule, PlateauMinDelta) {
  ReduceOnPlateauSchedule s(0.1, {.patience = 1});
  s.on_epoch_end(1.0);
  s.on_epoch_end(0.99995);  // gained 5e-5 < 1e-4: counts as no improvement, patience 1 -> reduce
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 1), 0.01);
  EXPECT_EQ(s.best(), 1.0);
  s.on_epoch_end(0.9);  // a real gain
  EXPECT_EQ(s.best(), 0.9);
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 2), 0.01);
}

// Higher is better (e.g. macro-F1), factor 0.1, patience 1, cooldown 1.
TEST(Schedule, PlateauMaxModeWithCooldown) {
  ReduceOnPlateauSchedule s(0.1, {.mode = PlateauOptions::Mode::Max, .patience = 1, .cooldown = 1});
  s.on_epoch_end(0.5);  // improvement
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 0), 0.1);
  s.on_epoch_end(0.4);  // worse: wait 1 = patience -> 0.01, cooldown 1
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 1), 0.01);
  s.on_epoch_end(0.4);  // cooling down: not counted
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 2), 0.01);
  EXPECT_EQ(s.wait(), 0);
  s.on_epoch_end(0.4);  // counted again -> 0.001
  EXPECT_DOUBLE_EQ(s.learning_rate(0, 3), 0.001);
  s.on_epoch_end(0.7);  // higher is better
  EXPECT_EQ(s.best(), 0.7);
  EXPECT_THROW(s.on_epoch_end(std::nan("")), Error);
}

TEST(Schedule, PlateauStateResumes) {
  const PlateauOptions options{.factor = 0.5, .patience = 2, .min_delta = 0.0};
  const std::vector<double> values = {1.0, 0.9, 0.95, 0.97, 0.85, 0.9, 0.91, 0.92, 0.93, 0.94};
  ReduceOnPlateauSchedule whole(0.1, options), first(0.1, options), second(0.1, options);
  std::vector<double> expected, got;
  for (double v : values) {
    whole.on_epoch_end(v);
    expected.push_back(whole.learning_rate(0, 0));
  }
  for (size_t e = 0; e < 5; ++e) {
    first.on_epoch_end(values[e]);
    got.push_back(first.learning_rate(0, 0));
  }
  second.load_state(first.state());
  for (size_t e = 5; e < values.size(); ++e) {
    second.on_epoch_end(values[e]);
    got.push_back(second.learning_rate(0, 0));
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(second.wait(), whole.wait());
  EXPECT_EQ(second.best(), whole.best());

  ReduceOnPlateauSchedule other(0.1, {.factor = 0.2});
  EXPECT_THROW(other.load_state(first.state()), Error);  // different configuration
  ScheduleState missing = first.state();
  missing.erase("best");
  EXPECT_THROW(second.load_state(missing), Error);
}

TEST(Schedule, StatelessSchedulesCheckTheirConfiguration) {
  WarmupCosineSchedule a(0.1, 4, 12), b(0.1, 4, 12), c(0.1, 5, 12);
  EXPECT_NO_THROW(b.load_state(a.state()));
  EXPECT_THROW(c.load_state(a.state()), Error);
  StepDecaySchedule d(0.1, 0.5, 2);
  EXPECT_THROW(d.load_state(a.state()), Error);
  EXPECT_EQ(a.name(), "warmup_cosine");
}

}  // namespace
}  // namespace alz
