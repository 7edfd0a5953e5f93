// The training run behind `alz train` (train/trainer.h). Read it from the top:
//   run_training          the entry point: a Trainer, with the Ctrl-C handler around it
//   Trainer::train_step   one training step: forward, loss, backward, optimizer update
//   Trainer::run          the epoch loop: train an epoch, validate, keep the best, save, report
//   Trainer::train_epoch  the loop over the batches: steps, running totals, progress, stops
//   the end-of-epoch pieces, then the set-up (the constructor)
// Tested in tests/test_trainer.cpp (resume bit for bit, the run folder, NaN, Ctrl-C) and
// tests/test_cli_train.cpp:
//   cmake --build build -j2 --target test_trainer test_cli_train && ctest --test-dir build -R 'Trainer|CliTrain'
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tensor/autograd.h"
#include "tensor/cross_replica_bn.h"
#include "tensor/ops.h"
#include "train/distributed.h"
#include "train/evaluate.h"
#include "train/interrupt.h"
#include "train/report.h"
#include "train/run_setup.h"

namespace alz::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<std::pair<std::string, std::string>> config_rows(const nlohmann::json& j) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (auto it = j.begin(); it != j.end(); ++it)
    rows.emplace_back(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
  return rows;
}

// The configuration of a resumed run (the rule is in train/trainer.h) and its saved state; a
// note on stderr names the command-line settings that the saved ones replace.
TrainConfig read_saved_run_settings(const TrainConfig& command_line, RunState& state, int world_size) {
  SavedRun saved = read_saved_run(command_line.resume);
  const int saved_world = saved.config.value("world_size", 1);  // saved only by a data-parallel run
  ALZ_CHECK(saved_world == world_size, command_line.resume
                                           << " was trained by " << saved_world << " process(es) and this run has "
                                           << world_size << "; resume it with the same number (mpirun -np "
                                           << saved_world << ")");
  std::vector<std::string> ignored;
  TrainConfig config;
  try {
    config = config_for_resume(saved.config, command_line, &ignored);
  } catch (const nlohmann::json::exception& error) {
    ALZ_FAIL(command_line.resume << "/state.json: not a valid run configuration: " << error.what());
  }
  state = std::move(saved.state);
  if (!ignored.empty() && !config.quiet) {
    std::string list;
    for (const std::string& setting : ignored) list += " " + setting;
    std::fprintf(stderr, "alz train: %s keeps its saved settings; ignored from the command line:%s\n",
                 config.run_dir.c_str(), list.c_str());
  }
  return config;
}

}  // namespace

int run_training(TrainConfig config) {
  InterruptScope ctrl_c;  // Ctrl-C finishes the step, saves the run and returns 130
  dist::Communicator& comm = dist::world();
  if (!comm.distributed()) {
    Trainer trainer(std::move(config));
    return trainer.run();
  }
  // One rank of several: rank 0 alone prints; an error on any rank ends them all (MPI_Abort)
  // rather than leaving the others waiting in the next all-reduce.
  if (!comm.is_root()) config.quiet = true;
  try {
    Trainer trainer(std::move(config));
    int code = trainer.run();
    comm.barrier();
    return code;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "alz train: %s: %s; stopping every rank\n", comm.describe().c_str(), error.what());
    comm.abort(1);
  }
  return 1;  // not reached: abort() ends the process
}

// ---------------------------------------------------------------- the step and the loops

Trainer::StepResult Trainer::train_step(const data::Batch& batch) {
  StepResult result;
  const auto n = static_cast<int64_t>(batch.samples.size());  // 0 only for an empty share of a tiny last batch
  std::optional<ops::CrossReplicaBatchNorm> sync_bn;  // --sync-bn: statistics over every rank's batch
  if (config_.sync_bn && comm_.distributed())
    sync_bn.emplace([this](double* values, int64_t count) { comm_.all_reduce_sum(values, count); });
  if (n > 0) {
    result.logits = model_->forward(batch.images);  // (n, classes); the tape records every op
    result.loss = ops::softmax_cross_entropy(result.logits, batch.labels, class_weights_, config_.label_smoothing);
    // Data-parallel: the rank's mean loss weighted by its share of the global batch, times the
    // world (1 when the shares are equal), so that the average over ranks below is the gradient
    // of the global batch's mean loss, also through --sync-bn's statistics.
    const double share = static_cast<double>(n) * comm_.size() / static_cast<double>(batch.global_size);
    Tensor objective = result.loss;
    if (share != 1.0) objective = ops::mul(result.loss, Tensor::full({}, share, result.loss.dtype(), device_));
    backward(objective);  // d loss / d parameter for every trainable parameter, the tape walked back
  }
  if (grad_sync_) grad_sync_->synchronize(1.0 / comm_.size());  // data-parallel: averaged over ranks
  optimizer_->step();       // each parameter moves against its gradient (Adam or SGD)
  optimizer_->zero_grad();  // the gradients start from zero at the next step
  return result;
}

int Trainer::run() {
  for (; state_.epoch < config_.epochs; ++state_.epoch) {
    double train_loss = 0.0;
    EpochEnd end = train_epoch(train_loss);
    if (end == EpochEnd::Interrupted) return 130;  // saved: `alz train --resume` goes on from here
    if (end == EpochEnd::NonFiniteLoss) return 3;  // last.safetensors stays the last good checkpoint

    // Validation: honest metrics on held-out data.
    Metrics val = evaluate_across_ranks(*model_, *val_loader_, class_names(), comm_, val_first_sample_);
    EpochRecord record = record_epoch(train_loss, val);
    schedule_->on_epoch_end(val.macro_f1);
    keep_if_best(val, record.epoch);
    save_end_of_epoch();
    write_run_report(val, record.epoch);
    if (early_stopping_reached() || (config_.max_steps > 0 && state_.global_step >= config_.max_steps)) break;
  }
  if (!config_.quiet)
    std::printf("best validation macro-F1 %.3f at epoch %d; checkpoints and report.html in %s\n", state_.best_macro_f1,
                state_.best_epoch, config_.run_dir.c_str());
  return 0;
}

// One pass over the training batches (on a resume, what is left of the epoch). It stops early
// for Ctrl-C or --stop-after-steps (saving a resumable state), --max-steps, or a loss that is
// no longer finite. train_loss: the epoch's mean loss.
Trainer::EpochEnd Trainer::train_epoch(double& train_loss) {
  model_->set_training(true);
  const Clock::time_point epoch_start = Clock::now();
  const double seconds_before = state_.train_seconds;  // a resumed epoch's time before the stop
  const int64_t seen_before = state_.seen;
  const int64_t batches = train_loader_->batches_per_epoch();
  // The saved partial sums are over all ranks: rank 0 carries them, the others start from zero.
  EpochTotals totals(comm_.is_root() ? state_.loss_sum : 0.0, train_loader_->size(),
                     static_cast<int64_t>(class_names().size()), device_);
  steady_state_.loop_starts();
  while (std::optional<data::Batch> batch = train_loader_->next()) {
    optimizer_->set_learning_rate(schedule_->learning_rate(state_.global_step, state_.epoch));
    StepResult step = train_step(*batch);
    if (step.loss.defined()) totals.add(step.loss, step.logits, *batch);
    state_.seen += batch->global_size;  // over all ranks
    state_.batch = batch->index + 1;
    ++state_.global_step;
    ++steps_this_process_;
    steady_state_.after_step(steps_this_process_, [&] { (void)totals.loss_sum(); });

    double seconds = seconds_before + seconds_since(epoch_start);
    bool stop_now =
        interrupt_requested() || (config_.stop_after_steps > 0 && steps_this_process_ >= config_.stop_after_steps);
    bool last_step = config_.max_steps > 0 && state_.global_step >= config_.max_steps;
    // The loss is read back (a wait for the device) for the progress line, and every 50 steps
    // to stop soon after it stops being finite.
    bool show = progress_.due();
    bool read_loss = show || stop_now || last_step || state_.global_step % 50 == 0;
    if (comm_.distributed()) {  // every rank takes the same decisions (collectives follow)
      stop_now = comm_.any(stop_now);
      read_loss = comm_.any(read_loss);
    }
    if (read_loss) {
      double running_loss = sum_across_ranks(totals.loss_sum(), comm_) / std::max<int64_t>(state_.seen, 1);
      if (!std::isfinite(running_loss)) {
        progress_.end_line();
        std::fprintf(stderr,
                     "alz train: the loss became %f at step %lld (epoch %d); stopping. The last good "
                     "checkpoint is %s/last.safetensors\n",
                     running_loss, static_cast<long long>(state_.global_step), state_.epoch + 1,
                     config_.run_dir.c_str());
        return EpochEnd::NonFiniteLoss;
      }
      if (show)
        progress_.show(state_.epoch + 1, config_.epochs, state_.batch, batches, running_loss, state_.seen - seen_before,
                       seconds - seconds_before, config_.batch_size);
    }
    if (stop_now) {
      save_interrupted_run(totals, seconds);
      return EpochEnd::Interrupted;
    }
    if (last_step) break;
  }
  progress_.end_line();
  train_loss = sum_across_ranks(totals.loss_sum(), comm_) / std::max<int64_t>(state_.seen, 1);
  state_.correct += sum_across_ranks(totals.count_correct(), comm_);
  state_.train_seconds = seconds_before + seconds_since(epoch_start);
  steady_state_.loop_ends(steps_this_process_, config_.batch_size, config_.quiet);  // the device is idle
  if (!std::isfinite(train_loss)) {
    std::fprintf(stderr,
                 "alz train: the training loss of epoch %d is %f; stopping. The last good checkpoint is "
                 "%s/last.safetensors\n",
                 state_.epoch + 1, train_loss, config_.run_dir.c_str());
    return EpochEnd::NonFiniteLoss;
  }
  return EpochEnd::Finished;
}

// ---------------------------------------------------------------- saving and reporting

// Ctrl-C or --stop-after-steps in the middle of an epoch: the state with the epoch's partial
// sums, so that the resumed run finishes the epoch as if it had never stopped.
void Trainer::save_interrupted_run(const EpochTotals& totals, double seconds) {
  progress_.end_line();
  state_.loss_sum = sum_across_ranks(totals.loss_sum(), comm_);
  state_.correct += sum_across_ranks(totals.count_correct(), comm_);
  state_.train_seconds = seconds;
  state_.schedule = schedule_->state();
  if (comm_.is_root()) save_run(config_.run_dir, *model_, *optimizer_, state_, config_json_, class_names());
  comm_.barrier();  // the state is on disk before any rank returns (a resume may follow at once)
  if (!config_.quiet)
    std::printf("interrupted: state saved; continue with  alz train --resume %s\n", config_.run_dir.c_str());
}

// The finished epoch's record: into the history, metrics.jsonl and one line on stdout.
EpochRecord Trainer::record_epoch(double train_loss, const Metrics& val) {
  EpochRecord record;
  record.epoch = state_.epoch + 1;
  record.train_loss = train_loss;
  record.train_accuracy = static_cast<double>(state_.correct) / std::max<int64_t>(state_.seen, 1);
  record.val_loss = val.loss;
  record.val_accuracy = val.accuracy;
  record.val_balanced_accuracy = val.balanced_accuracy;
  record.val_macro_f1 = val.macro_f1;
  record.learning_rate = optimizer_->learning_rate();
  record.images_per_second = state_.seen / std::max(state_.train_seconds, 1e-9);
  state_.history.push_back(record);
  if (comm_.is_root()) append_jsonl(config_.run_dir + "/metrics.jsonl", epoch_to_json(record));
  if (!config_.quiet)
    std::printf(
        "epoch %d/%d  train loss %.4f acc %.3f | val loss %.4f acc %.3f balanced acc %.3f macro-F1 %.3f | "
        "%.1f img/s\n",
        record.epoch, config_.epochs, record.train_loss, record.train_accuracy, record.val_loss, record.val_accuracy,
        record.val_balanced_accuracy, record.val_macro_f1, record.images_per_second);
  return record;
}

// best.safetensors holds the epoch with the highest validation macro-F1 so far.
void Trainer::keep_if_best(const Metrics& val, int epoch) {
  bool improved = val.macro_f1 > state_.best_macro_f1;
  if (!improved) {
    ++state_.epochs_without_improvement;
    return;
  }
  state_.best_macro_f1 = val.macro_f1;
  state_.best_epoch = epoch;
  state_.best_evaluation = metrics_to_json(val);
  state_.epochs_without_improvement = 0;
  if (comm_.is_root()) save_best(config_.run_dir, *model_, class_names(), config_.resize);
}

// The state after a finished epoch, saved as the start of the next one (batch 0, empty sums).
void Trainer::save_end_of_epoch() {
  state_.batch = 0;
  state_.loss_sum = 0.0;
  state_.seen = state_.correct = 0;
  state_.train_seconds = 0.0;
  state_.schedule = schedule_->state();
  RunState next = state_;
  ++next.epoch;
  if (comm_.is_root()) save_run(config_.run_dir, *model_, *optimizer_, next, config_json_, class_names());
}

// report.html, curves.svg and confusion_matrix.svg, rewritten after every epoch.
void Trainer::write_run_report(const Metrics& val, int epoch) {
  if (!comm_.is_root()) return;
  ReportInputs report;
  report.title = "alz training run: " + config_.model;
  report.config = config_rows(config_json_);
  report.dataset_summary = data_.describe();
  report.leakage_warning = data_.known_leaky ? data_.leak_warning : "";
  report.history = state_.history;
  report.evaluation = val;
  report.evaluation_label = "validation, epoch " + std::to_string(epoch);
  write_report(config_.run_dir, report);
}

bool Trainer::early_stopping_reached() const {
  bool reached = config_.early_stopping > 0 && state_.epochs_without_improvement >= config_.early_stopping;
  if (reached && !config_.quiet)
    std::printf("early stopping: no better validation macro-F1 for %d epochs (best %.3f at epoch %d)\n",
                config_.early_stopping, state_.best_macro_f1, state_.best_epoch);
  return reached;
}

// ---------------------------------------------------------------- the set-up

Trainer::Trainer(TrainConfig config, dist::Communicator& comm)
    : config_(std::move(config)),
      resuming_(!config_.resume.empty()),
      progress_(config_.quiet),
      steady_state_(config_.max_steps > 0),
      comm_(comm) {
  if (resuming_) config_ = read_saved_run_settings(config_, state_, comm_.size());
  device_ = device_for_rank(resolve_config(config_), comm_);
  apply_precision(config_, device_);
  std::filesystem::create_directories(config_.run_dir);
  config_json_ = config_;
  if (comm_.distributed()) config_json_["world_size"] = comm_.size();  // a resume must use as many ranks
  if (!resuming_ && comm_.is_root()) {  // a fresh run in an old folder starts a fresh history
    write_file_atomic(config_.run_dir + "/config.json", config_json_.dump(2) + "\n");
    std::filesystem::remove(config_.run_dir + "/metrics.jsonl");
  }

  if (!comm_.is_root()) comm_.barrier();  // rank 0 generates the phantom set, if needed, first
  data_ = prepare_data(config_).index;
  if (comm_.is_root()) comm_.barrier();
  if (!config_.quiet) std::printf("%s", data_.describe().c_str());
  train_loader_ = make_loader(data_, "train", config_, device_, /*training=*/true, comm_.rank(), comm_.size());
  val_loader_ = make_loader(validation_shard(data_, comm_, val_first_sample_), "val", config_, device_,
                            /*training=*/false);  // this rank's share of the validation samples
  TrainConfig model_config = config_;
  if (resuming_) model_config.init_from.clear();  // the weights come from the run's own checkpoint
  std::string model_log;
  model_ = make_model(model_config, static_cast<int>(class_names().size()), device_, model_log);
  if (!config_.quiet) {
    std::printf("%s", model_log.c_str());
    std::printf("model %s, %lld trainable parameters, input %dx%d, device %s, batch %d, %s lr %g, %d epochs\n",
                config_.model.c_str(), static_cast<long long>(model_->count_parameters(true)), config_.input_height,
                config_.input_width, device_.str().c_str(), config_.batch_size, config_.optimizer.c_str(),
                config_.learning_rate, config_.epochs);
  }
  class_weights_ = make_class_weights(config_, data_, device_);
  optimizer_ = make_optimizer(config_, model_->trainable_parameters());
  schedule_ = make_schedule(config_, train_loader_->batches_per_epoch());

  if (resuming_) {
    restore_run(config_.run_dir, state_, *model_, *optimizer_, *schedule_);
    if (comm_.is_root()) rewrite_metrics_log(config_.run_dir, state_.history);  // epochs logged after the last save go
    if (!config_.quiet)
      std::printf("resuming %s at epoch %d, batch %lld\n", config_.run_dir.c_str(), state_.epoch + 1,
                  static_cast<long long>(state_.batch));
  }
  train_loader_->set_position(state_.epoch, state_.batch);
  if (comm_.distributed()) {
    dist::broadcast_parameters(comm_, model_->parameters());  // every replica starts from rank 0's weights
    if (config_.sync_bn) {  // every rank must run every BatchNorm (its sums are collective)
      const int64_t samples = train_loader_->size(), global = int64_t{config_.batch_size} * comm_.size();
      ALZ_CHECK(samples % global == 0 || samples % global >= comm_.size(),
                "--sync-bn: the last batch of " << samples << " training samples holds " << samples % global
                                                << ", fewer than the " << comm_.size()
                                                << " ranks, and a rank without samples cannot take part; "
                                                   "choose another batch size");
    }
    std::vector<ParamRef> averaged = config_.sync_bn ? std::vector<ParamRef>{} : dist::trained_buffers(model_->parameters());
    grad_sync_ = dist::make_gradient_sync(comm_, model_->trainable_parameters(), std::move(averaged), device_);
    if (!config_.quiet)
      std::printf("data-parallel: %d ranks, batch %d per rank (%d in all), gradients all-reduced by %s\n",
                  comm_.size(), config_.batch_size, config_.batch_size * comm_.size(), grad_sync_->name());
  }
}

}  // namespace alz::train
