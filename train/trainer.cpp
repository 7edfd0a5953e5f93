// The training run behind `alz train` (train/trainer.h). Read it from the top:
//   run_training          the entry point: a Trainer, with the Ctrl-C handler around it
//   Trainer::train_step   one training step: forward, loss, backward, optimizer update; on a
//                         GPU replayed as one CUDA graph after two warm-up steps (train/step_graph.h)
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
#include "train/precision.h"
#include "train/report.h"
#include "train/report_overlays.h"
#include "train/run_setup.h"

namespace alz::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The configuration of a resumed run (the rule is in train/trainer.h) and its saved state; a
// note on stderr names the command-line settings that the saved ones replace. A complete run
// given a larger --epochs takes it: `extended_from` is then the run's saved number of epochs.
// A data-parallel run resumes only with as many ranks as it was trained with.
TrainConfig read_saved_run_settings(const TrainConfig& command_line, RunState& state, int& extended_from,
                                    int world_size) {
  SavedRun saved = read_saved_run(command_line.resume);
  const int saved_world = saved.config.value("world_size", 1);  // saved only by a data-parallel run
  ALZ_CHECK(saved_world == world_size,
            command_line.resume << " was trained by " << saved_world << " process(es) and this run has " << world_size
                                << "; resume it with the same number (mpirun -np " << saved_world << ")");
  std::vector<std::string> ignored;
  TrainConfig config;
  try {
    config = config_for_resume(saved.config, command_line, &ignored);
  } catch (const nlohmann::json::exception& error) {
    ALZ_FAIL(command_line.resume << "/state.json: not a valid run configuration: " << error.what());
  }
  state = std::move(saved.state);
  const bool every_epoch_done = state.batch == 0 && state.epoch >= config.epochs;
  if (every_epoch_done && command_line.epochs > state.epoch) {
    extended_from = config.epochs;
    config.epochs = command_line.epochs;
    std::erase(ignored, "epochs=" + std::to_string(command_line.epochs));
  }
  if (!ignored.empty() && !config.quiet) {
    std::string list;
    for (const std::string& setting : ignored) list += " " + setting;
    bool epochs_ignored = std::any_of(ignored.begin(), ignored.end(),
                                      [](const std::string& setting) { return setting.rfind("epochs=", 0) == 0; });
    std::fprintf(stderr, "alz train: %s keeps its saved settings; ignored from the command line:%s%s\n",
                 config.run_dir.c_str(), list.c_str(),
                 epochs_ignored ? " (a larger --epochs extends a run once it is complete)" : "");
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
  if (comm_.distributed()) return data_parallel_step(batch);
  // The step itself. StepGraph runs it eagerly, or records it once in a CUDA graph and then
  // replays that graph with each batch copied into the graph's input tensors.
  auto step = [&](const Tensor& images, const Tensor& labels) {
    Tensor logits = model_->forward(images);  // (n, classes); the tape records every op
    Tensor loss = ops::softmax_cross_entropy(logits, labels, class_weights_, config_.label_smoothing);  // ()
    backward(loss);           // d loss / d parameter for every trainable parameter, the tape walked back
    optimizer_->step();       // each parameter moves against its gradient (Adam or SGD)
    optimizer_->zero_grad();  // the gradients start from zero at the next step
    return StepGraph::Outputs{loss, logits};
  };
  StepGraph::Outputs out = step_graph_->run(batch.images, batch.labels, step);
  return {out.loss, out.logits};
}

// One rank's step of a data-parallel run: the all-reduce runs beside backward. Full global
// batches go through StepGraph, so with NCCL they are replayed as one CUDA graph, collectives
// included, on every rank at once; a smaller last batch (or an empty share of it) runs eagerly.
Trainer::StepResult Trainer::data_parallel_step(const data::Batch& batch) {
  const auto n = static_cast<int64_t>(batch.samples.size());  // 0 only for an empty share of a tiny last batch
  std::optional<ops::CrossReplicaBatchNorm> sync_bn;          // --sync-bn: statistics over every rank's batch
  if (config_.sync_bn) sync_bn.emplace([this](double* values, int64_t count) { comm_.all_reduce_sum(values, count); });
  // Data-parallel: the rank's mean loss weighted by its share of the global batch, times the
  // world (1 when the shares are equal), so that the average over ranks below is the gradient
  // of the global batch's mean loss, also through --sync-bn's statistics.
  const double share = static_cast<double>(n) * comm_.size() / static_cast<double>(batch.global_size);
  auto step = [&](const Tensor& images, const Tensor& labels) {
    StepGraph::Outputs out;
    if (grad_sync_) grad_sync_->begin_step(1.0 / comm_.size());  // averaged over ranks; zeros without samples
    if (n > 0) {
      out.logits = model_->forward(images);  // (n, classes); the tape records every op
      out.loss = ops::softmax_cross_entropy(out.logits, labels, class_weights_, config_.label_smoothing);
      Tensor objective = out.loss;
      if (share != 1.0) objective = ops::mul(out.loss, Tensor::full({}, share, out.loss.dtype(), device_));
      dist::BackwardOverlap overlap(grad_sync_.get());  // buckets are all-reduced as backward completes them
      backward(objective);  // d loss / d parameter for every trainable parameter, the tape walked back
    }
    if (grad_sync_) grad_sync_->finish_step();  // the rest of the buckets; every gradient averaged
    optimizer_->step();                         // each parameter moves against its gradient (Adam or SGD)
    optimizer_->zero_grad();                    // the gradients start from zero at the next step
    return out;
  };
  const bool full_global_batch = batch.global_size == int64_t{config_.batch_size} * comm_.size();
  StepGraph::Outputs out =
      full_global_batch ? step_graph_->run(batch.images, batch.labels, step) : step(batch.images, batch.labels);
  return {out.loss, out.logits};
}

int Trainer::run() {
  if (complete()) {
    say_complete();
    return 0;
  }
  for (; state_.epoch < config_.epochs; ++state_.epoch) {
    double train_loss = 0.0;
    EpochEnd end = train_epoch(train_loss);
    if (end == EpochEnd::Interrupted) return 130;  // saved: `alz train --resume` goes on from here
    if (end == EpochEnd::NonFiniteLoss) return 3;  // last.safetensors stays the last good checkpoint

    // Validation: honest metrics on held-out data.
    Predictions predictions = predict_across_ranks(*model_, *val_loader_, static_cast<int64_t>(class_names().size()),
                                                   comm_, val_first_sample_);  // every rank: the same predictions
    Metrics val = compute_metrics(std::span<const float>(predictions.probs), std::span<const int>(predictions.labels),
                                  class_names(), predictions.mean_loss);
    EpochRecord record = record_epoch(train_loss, val);
    schedule_->on_epoch_end(val.macro_f1);
    keep_if_best(val, predictions, record.epoch);
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
//
// What the host does per step, on a GPU (none of it waits for the device):
//   1. train_loader_->next(): takes the next host batch the workers prepared (waiting only when
//      they are behind) and queues its copy on the copy stream, which runs while the previous
//      step computes; the compute stream waits for it by an event (data/loader.h);
//   2. set_learning_rate: one tiny kernel writes the step's rate into device memory;
//   3. train_step: after the warm-up, two device-to-device copies into the graph's inputs and
//      one graph launch (train/step_graph.h); eagerly, the ~thousand launches of the step;
//   4. totals.add: the loss summed and the logits copied into the epoch's buffer, on the device;
//   5. the loss is read back (a wait for the device) only when the progress line is due (every
//      0.5 s on a terminal, 10 s otherwise), at a stop and at the end of the epoch; a loss that
//      stopped being finite is noticed then (on the CPU, where reading costs nothing, also every
//      50 steps). The correct count is taken from the logits at the end of the epoch.
// The host therefore runs ahead of the device by the loader's ring of device buffers, and the
// device never idles for it except at those read-backs.
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

    bool stop_now =
        interrupt_requested() || (config_.stop_after_steps > 0 && steps_this_process_ >= config_.stop_after_steps);
    bool last_step = config_.max_steps > 0 && state_.global_step >= config_.max_steps;
    // The loss is read back (a wait for the device) only for the progress line and a stop (step 5
    // above); on the CPU, where it costs nothing, also every 50 steps.
    bool show = progress_.due();
    bool read_loss = show || stop_now || last_step || (device_.is_cpu() && state_.global_step % 50 == 0);
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
      // Timed after the read: the device has finished these steps (a replayed graph returns to
      // the host at once, so a clock read before it would show the launch rate, not the speed).
      if (show)
        progress_.show(state_.epoch + 1, config_.epochs, state_.batch, batches, running_loss, state_.seen - seen_before,
                       seconds_since(epoch_start), config_.batch_size);
    }
    const double seconds = seconds_before + seconds_since(epoch_start);
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
  if (comm_.is_root()) {  // one writer; the other ranks hold the same weights and sums
    save_run(config_.run_dir, *model_, *optimizer_, state_, config_json_, class_names(), provenance_);
    run_info_.updated_at = utc_now();  // the time trained so far counts after a resume
    run_info_.cuda_graph = step_graph_->status();
    run_info_.elapsed_seconds = elapsed_before_ + seconds_since(process_start_);
    write_run_metadata(config_.run_dir, run_info_);
  }
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

// best.safetensors holds the epoch with the highest validation macro-F1 so far, and
// best_predictions.json that epoch's validation probabilities (the report's numbers).
void Trainer::keep_if_best(const Metrics& val, const Predictions& predictions, int epoch) {
  bool improved = val.macro_f1 > state_.best_macro_f1;
  if (!improved) {
    ++state_.epochs_without_improvement;
    return;
  }
  state_.best_macro_f1 = val.macro_f1;
  state_.best_epoch = epoch;
  state_.best_evaluation = metrics_to_json(val);
  state_.epochs_without_improvement = 0;
  if (!comm_.is_root()) return;  // one writer
  save_best(config_.run_dir, *model_, class_names(), config_.resize, provenance_);
  BestPredictions best;
  best.epoch = epoch;
  best.class_names = class_names();
  best.labels = predictions.labels;
  best.probs = predictions.probs;
  const std::vector<data::Sample>& val_samples = data_.find_split("val")->samples;
  for (int64_t index : predictions.samples) best.paths.push_back(val_samples[static_cast<size_t>(index)].path);
  write_best_predictions(config_.run_dir, best);
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
  if (comm_.is_root()) save_run(config_.run_dir, *model_, *optimizer_, next, config_json_, class_names(), provenance_);
}

// report.html and its pictures, rewritten after every epoch: the headline from the best epoch
// (best_predictions.json, also after a resume), the last epoch beside it, run_info.json updated.
void Trainer::write_run_report(const Metrics& val, int epoch) {
  if (!comm_.is_root()) return;  // one writer
  run_info_.updated_at = utc_now();
  run_info_.cuda_graph = step_graph_->status();
  run_info_.elapsed_seconds = elapsed_before_ + seconds_since(process_start_);
  write_run_metadata(config_.run_dir, run_info_);

  ReportInputs report;
  report.title = "alz training run: " + config_.model;
  report.metadata = run_info_;
  report.config = resolved_settings(config_json_, device_.str(), data_.root);
  report.dataset_summary = data_.describe();
  report.leakage_warning = data_.known_leaky ? data_.leak_warning : "";
  report.class_balance = ClassBalance{class_names(), data_.class_counts(*data_.find_split("train")),
                                      data_.class_counts(*data_.find_split("val"))};
  report.history = state_.history;
  choose_evaluations(report, read_best_predictions(config_.run_dir), val, epoch);
  if (!report.gallery.empty() && std::filesystem::exists(config_.run_dir + "/best.safetensors"))
    add_gradcam_overlays(report.gallery, config_.run_dir + "/best.safetensors", model_->config(), device_,
                         data::parse_resize_method(config_.resize), class_names());
  write_report(config_.run_dir, report);
}

bool Trainer::early_stopping_reached() const {
  bool reached = config_.early_stopping > 0 && state_.epochs_without_improvement >= config_.early_stopping;
  if (reached && !config_.quiet)
    std::printf("early stopping: no better validation macro-F1 for %d epochs (best %.3f at epoch %d)\n",
                config_.early_stopping, state_.best_macro_f1, state_.best_epoch);
  return reached;
}

// A resumed run with nothing left to train: every epoch done, or stopped early.
bool Trainer::complete() const {
  if (!resuming_ || state_.batch != 0) return false;
  return state_.epoch >= config_.epochs ||
         (config_.early_stopping > 0 && state_.epochs_without_improvement >= config_.early_stopping);
}

void Trainer::say_complete() const {
  if (config_.quiet) return;
  const std::string& dir = config_.run_dir;
  if (state_.epoch < config_.epochs) {
    std::printf(
        "%s is complete: it stopped early after epoch %d of %d (no better validation macro-F1 for %d "
        "epochs; best %.3f at epoch %d)\n",
        dir.c_str(), state_.epoch, config_.epochs, config_.early_stopping, state_.best_macro_f1, state_.best_epoch);
    return;
  }
  std::printf(
      "%s is complete: %d of %d epochs done (best validation macro-F1 %.3f at epoch %d). To train it "
      "further: alz train --resume %s --epochs N, with N > %d%s\n",
      dir.c_str(), state_.epoch, config_.epochs, state_.best_macro_f1, state_.best_epoch, dir.c_str(), state_.epoch,
      config_.schedule == "cosine"
          ? " (the cosine learning-rate schedule then spans N epochs, so the result differs from a run "
            "started with --epochs N)"
          : "");
}

// A fresh run: the rule of train/trainer.h. Nothing is written before the folder is found free.
void Trainer::check_run_folder() {
  const std::string& dir = config_.run_dir;
  std::error_code error;
  ALZ_CHECK(!std::filesystem::exists(dir, error) || std::filesystem::is_directory(dir, error),
            "--run-dir " << dir << ": exists and is not a folder");
  const std::vector<std::string> found = run_files_found(dir);
  if (found.empty()) return;
  std::string list;
  for (const std::string& name : found) list += (list.empty() ? "" : ", ") + name;
  if (!config_.overwrite) {
    const bool resumable = std::find(found.begin(), found.end(), "state.json") != found.end() ||
                           std::find(found.begin(), found.end(), ".saving/state.json") != found.end();
    if (resumable)
      ALZ_FAIL(dir << " already holds a training run (" << list << "); nothing was changed. Continue it with "
                   << "--resume " << dir << ", start a new run over it with --overwrite, or choose another --run-dir");
    ALZ_FAIL(dir << " holds checkpoints of a run that cannot be resumed (" << list << "; no state.json); nothing "
                 << "was changed. Start a new run over it with --overwrite, or choose another --run-dir");
  }
  remove_run_files(dir);
  if (!config_.quiet)
    std::printf("--overwrite: removed the previous run's files from %s (%s)\n", dir.c_str(), list.c_str());
}

// ---------------------------------------------------------------- the set-up

Trainer::Trainer(TrainConfig config, dist::Communicator& comm)
    : config_(std::move(config)),
      resuming_(!config_.resume.empty()),
      progress_(config_.quiet),
      steady_state_(config_.max_steps > 0),
      comm_(comm) {
  ALZ_CHECK(!(resuming_ && config_.overwrite),
            "--overwrite starts a new run and --resume continues one: give one of them");
  if (resuming_) {
    config_ = read_saved_run_settings(config_, state_, extended_from_, comm_.size());
    if (complete()) return;  // run() says so; nothing to set up
  }
  device_ = device_for_rank(resolve_config(config_), comm_);
  if (!resuming_ && comm_.is_root()) check_run_folder();  // rank 0 alone may clear it (--overwrite)
  comm_.barrier();                                        // the folder is checked before anyone writes
  std::filesystem::create_directories(config_.run_dir);
  run_info_ = new_run_metadata(device_.str());
  if (std::optional<RunMetadata> before = resuming_ ? read_run_metadata(config_.run_dir) : std::nullopt) {
    run_info_.started_at = before->started_at;  // the run began then; this process continues it
    run_info_.processes = before->processes + 1;
    elapsed_before_ = before->elapsed_seconds;
  }
  config_json_ = config_;
  if (comm_.distributed()) config_json_["world_size"] = comm_.size();  // a resume must use as many ranks
  if (!resuming_ && comm_.is_root()) {  // a fresh run in an old folder starts a fresh history
    write_file_atomic(config_.run_dir + "/config.json", config_json_.dump(2) + "\n");
    std::filesystem::remove(config_.run_dir + "/metrics.jsonl");
    std::filesystem::remove(config_.run_dir + "/" + kBestPredictionsFile);
  } else if (extended_from_ > 0 && comm_.is_root()) {  // the run's settings now say the new number of epochs
    write_file_atomic(config_.run_dir + "/config.json", config_json_.dump(2) + "\n");
  }
  if (comm_.is_root()) write_run_metadata(config_.run_dir, run_info_);

  if (!comm_.is_root()) comm_.barrier();  // rank 0 generates the phantom set, if needed, first
  RunData run_data = prepare_data(config_);
  if (comm_.is_root()) comm_.barrier();
  data_ = std::move(run_data.index);
  provenance_ = std::move(run_data.provenance);
  if (!config_.quiet) {
    std::printf("%s", data_.describe().c_str());
    for (const std::string& warning : data_warnings(config_, data_)) std::printf("  WARNING: %s\n", warning.c_str());
  }
  train_loader_ = make_loader(data_, "train", config_, device_, /*training=*/true, comm_.rank(), comm_.size());
  val_loader_ = make_loader(validation_shard(data_, comm_, val_first_sample_), "val", config_, device_,
                            /*training=*/false);  // this rank's share of the validation samples
  TrainConfig model_config = config_;
  if (resuming_) model_config.init_from.clear();  // the weights come from the run's own checkpoint
  std::string model_log;
  model_ = make_model(model_config, static_cast<int>(class_names().size()), device_, model_log);
  apply_precision(config_.precision, device_, *model_);  // TF32 on or off; bf16: the compute dtype
  if (!config_.quiet) {
    std::printf("%s", model_log.c_str());
    std::printf("model %s, %lld trainable parameters, input %dx%d, device %s, %s, batch %d, %s lr %g, %d epochs\n",
                config_.model.c_str(), static_cast<long long>(model_->count_parameters(true)), config_.input_height,
                config_.input_width, device_.str().c_str(), config_.precision.c_str(), config_.batch_size,
                config_.optimizer.c_str(), config_.learning_rate, config_.epochs);
  }
  class_weights_ = make_class_weights(config_, data_, device_);
  optimizer_ = make_optimizer(config_, model_->trainable_parameters());
  schedule_ = make_schedule(config_, train_loader_->batches_per_epoch());

  if (resuming_) {
    // An extended run: the schedule's saved total follows the new number of epochs (cosine).
    if (extended_from_ > 0 && state_.schedule.count("total_steps"))
      state_.schedule["total_steps"] = schedule_->state().at("total_steps");
    restore_run(config_.run_dir, state_, *model_, *optimizer_, *schedule_);
    if (comm_.is_root()) rewrite_metrics_log(config_.run_dir, state_.history);  // epochs logged after the last save go
    if (!config_.quiet)
      std::printf("resuming %s at epoch %d, batch %lld\n", config_.run_dir.c_str(), state_.epoch + 1,
                  static_cast<long long>(state_.batch));
    if (extended_from_ > 0 && !config_.quiet)
      std::printf("extending %s from %d to %d epochs%s\n", config_.run_dir.c_str(), extended_from_, config_.epochs,
                  config_.schedule == "cosine"
                      ? "; the cosine learning-rate schedule now spans all of them, so the new epochs follow that "
                        "longer curve and the result differs from a run started with the larger --epochs"
                      : "");
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
    std::vector<ParamRef> averaged =
        config_.sync_bn ? std::vector<ParamRef>{} : dist::trained_buffers(model_->parameters());
    grad_sync_ = dist::make_gradient_sync(comm_, model_->trainable_parameters(), std::move(averaged), device_,
                                          int64_t{config_.bucket_mb} << 20);
    if (!config_.quiet)
      std::printf(
          "data-parallel: %d ranks, batch %d per rank (%d in all), gradients all-reduced by %s in buckets of %d MiB\n",
          comm_.size(), config_.batch_size, config_.batch_size * comm_.size(), grad_sync_->name(), config_.bucket_mb);
  }
  // The step as one CUDA graph. Data-parallel too when every collective of the step is queued on
  // the GPU (NCCL); not with the host-staged MPI all-reduce or --sync-bn, whose sums go through
  // the host inside the step. Every rank captures at the same step (full global batches only)
  // and the run stops if any rank's capture fails: ranks must issue the same collectives.
  const bool graphable = !comm_.distributed() || (std::string(grad_sync_->name()) == "nccl" && !config_.sync_bn);
  step_graph_ = std::make_unique<StepGraph>(graphable ? config_.cuda_graph : "off", device_, config_.batch_size,
                                            *optimizer_, config_.quiet);
  if (comm_.distributed()) step_graph_->require_every_rank([this](bool captured) { return !comm_.any(!captured); });
  run_info_.cuda_graph = step_graph_->status();
}

}  // namespace alz::train
