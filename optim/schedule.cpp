// Learning-rate schedules (optim/schedule.h): constant, step decay per epoch, linear warm-up +
// cosine per step, and Keras's reduce-on-plateau; each with a small map state for resuming.
// Tested by tests/test_schedule.cpp.
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "core/error.h"

namespace alz {

namespace {

void check_rate(double value, const char* what, const char* schedule) {
  ALZ_CHECK(std::isfinite(value) && value >= 0.0,
            schedule << " schedule: " << what << " must be finite and >= 0, got " << value);
}

double get(const ScheduleState& state, const std::string& key, const std::string& schedule) {
  auto it = state.find(key);
  ALZ_CHECK(it != state.end(), schedule << " schedule: the saved state has no '" << key << "'");
  return it->second;
}

// Configuration keys must agree with this schedule's: resuming with other settings is a mistake.
void expect_same(const ScheduleState& state, const std::string& key, double mine, const std::string& schedule) {
  const double saved = get(state, key, schedule);
  ALZ_CHECK(saved == mine, schedule << " schedule: the saved state has " << key << " = " << saved
                                    << " but this schedule has " << mine);
}

}  // namespace

// ---------------------------------------------------------------- constant
ConstantSchedule::ConstantSchedule(double lr) : lr_(lr) { check_rate(lr, "lr", "constant"); }

double ConstantSchedule::learning_rate(int64_t, int) const { return lr_; }

ScheduleState ConstantSchedule::state() const { return {{"lr", lr_}}; }

void ConstantSchedule::load_state(const ScheduleState& state) { expect_same(state, "lr", lr_, name()); }

// ---------------------------------------------------------------- step decay
StepDecaySchedule::StepDecaySchedule(double initial_lr, double gamma, int every_epochs)
    : initial_lr_(initial_lr), gamma_(gamma), every_epochs_(every_epochs) {
  check_rate(initial_lr, "initial_lr", "step");
  check_rate(gamma, "gamma", "step");
  ALZ_CHECK(every_epochs >= 1, "step schedule: every_epochs must be >= 1, got " << every_epochs);
}

double StepDecaySchedule::learning_rate(int64_t, int epoch) const {
  ALZ_CHECK(epoch >= 0, "step schedule: epoch must be >= 0, got " << epoch);
  return initial_lr_ * std::pow(gamma_, epoch / every_epochs_);
}

ScheduleState StepDecaySchedule::state() const {
  return {{"initial_lr", initial_lr_}, {"gamma", gamma_}, {"every_epochs", every_epochs_}};
}

void StepDecaySchedule::load_state(const ScheduleState& state) {
  expect_same(state, "initial_lr", initial_lr_, name());
  expect_same(state, "gamma", gamma_, name());
  expect_same(state, "every_epochs", every_epochs_, name());
}

// ---------------------------------------------------------------- warm-up + cosine
WarmupCosineSchedule::WarmupCosineSchedule(double peak_lr, int64_t warmup_steps, int64_t total_steps, double min_lr)
    : peak_lr_(peak_lr), warmup_steps_(warmup_steps), total_steps_(total_steps), min_lr_(min_lr) {
  check_rate(peak_lr, "peak_lr", "warmup_cosine");
  check_rate(min_lr, "min_lr", "warmup_cosine");
  ALZ_CHECK(warmup_steps >= 0 && total_steps > warmup_steps,
            "warmup_cosine schedule: need 0 <= warmup_steps < total_steps, got warmup " << warmup_steps << ", total "
                                                                                        << total_steps);
}

double WarmupCosineSchedule::learning_rate(int64_t step, int) const {
  ALZ_CHECK(step >= 0, "warmup_cosine schedule: step must be >= 0, got " << step);
  if (step < warmup_steps_) return peak_lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_steps_);
  const double progress =
      std::min(1.0, static_cast<double>(step - warmup_steps_) / static_cast<double>(total_steps_ - warmup_steps_));
  return min_lr_ + (peak_lr_ - min_lr_) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

ScheduleState WarmupCosineSchedule::state() const {
  return {{"peak_lr", peak_lr_},
          {"warmup_steps", static_cast<double>(warmup_steps_)},
          {"total_steps", static_cast<double>(total_steps_)},
          {"min_lr", min_lr_}};
}

void WarmupCosineSchedule::load_state(const ScheduleState& state) {
  expect_same(state, "peak_lr", peak_lr_, name());
  expect_same(state, "warmup_steps", static_cast<double>(warmup_steps_), name());
  expect_same(state, "total_steps", static_cast<double>(total_steps_), name());
  expect_same(state, "min_lr", min_lr_, name());
}

// ---------------------------------------------------------------- reduce on plateau
ReduceOnPlateauSchedule::ReduceOnPlateauSchedule(double initial_lr, PlateauOptions options)
    : options_(options), lr_(initial_lr) {
  check_rate(initial_lr, "initial_lr", "reduce_on_plateau");
  check_rate(options.min_lr, "min_lr", "reduce_on_plateau");
  check_rate(options.min_delta, "min_delta", "reduce_on_plateau");
  ALZ_CHECK(options.factor >= 0.0 && options.factor < 1.0,
            "reduce_on_plateau schedule: factor must be in [0, 1), got " << options.factor);
  ALZ_CHECK(options.patience >= 0 && options.cooldown >= 0,
            "reduce_on_plateau schedule: patience and cooldown must be >= 0");
  const double inf = std::numeric_limits<double>::infinity();
  best_ = options.mode == PlateauOptions::Mode::Min ? inf : -inf;
}

double ReduceOnPlateauSchedule::learning_rate(int64_t, int) const { return lr_; }

bool ReduceOnPlateauSchedule::improves(double value) const {
  return options_.mode == PlateauOptions::Mode::Min ? value < best_ - options_.min_delta
                                                    : value > best_ + options_.min_delta;
}

void ReduceOnPlateauSchedule::on_epoch_end(double monitored) {
  ALZ_CHECK(!std::isnan(monitored), "reduce_on_plateau schedule: the monitored value is NaN");
  const bool in_cooldown = cooldown_counter_ > 0;
  if (in_cooldown) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (improves(monitored)) {
    best_ = monitored;
    wait_ = 0;
  } else if (!in_cooldown) {
    ++wait_;
    if (wait_ >= options_.patience) {
      if (lr_ > options_.min_lr) lr_ = std::max(lr_ * options_.factor, options_.min_lr);
      cooldown_counter_ = options_.cooldown;
      wait_ = 0;
    }
  }
}

ScheduleState ReduceOnPlateauSchedule::state() const {
  return {{"mode", options_.mode == PlateauOptions::Mode::Min ? 0.0 : 1.0},
          {"factor", options_.factor},
          {"patience", static_cast<double>(options_.patience)},
          {"min_delta", options_.min_delta},
          {"cooldown", static_cast<double>(options_.cooldown)},
          {"min_lr", options_.min_lr},
          {"lr", lr_},
          {"best", best_},
          {"wait", static_cast<double>(wait_)},
          {"cooldown_counter", static_cast<double>(cooldown_counter_)}};
}

void ReduceOnPlateauSchedule::load_state(const ScheduleState& state) {
  expect_same(state, "mode", options_.mode == PlateauOptions::Mode::Min ? 0.0 : 1.0, name());
  expect_same(state, "factor", options_.factor, name());
  expect_same(state, "patience", static_cast<double>(options_.patience), name());
  expect_same(state, "min_delta", options_.min_delta, name());
  expect_same(state, "cooldown", static_cast<double>(options_.cooldown), name());
  expect_same(state, "min_lr", options_.min_lr, name());
  const double lr = get(state, "lr", name());
  check_rate(lr, "saved lr", "reduce_on_plateau");
  lr_ = lr;
  best_ = get(state, "best", name());
  wait_ = static_cast<int>(get(state, "wait", name()));
  cooldown_counter_ = static_cast<int>(get(state, "cooldown_counter", name()));
}

}  // namespace alz
