// The training loop behind `alz train` (train/trainer.h).
#include "train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/checkpoint.h"
#include "tensor/autograd.h"
#include "tensor/cuda_runtime.h"
#include "core/error.h"
#include "tensor/ops.h"
#include "train/evaluate.h"
#include "optim/optimizer.h"
#include "train/report.h"
#include "train/run_setup.h"
#include "optim/schedule.h"

namespace alz::train {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted = true; }

// Installs the Ctrl-C handler for the life of the run and restores the previous one.
class SignalScope {
 public:
  SignalScope() {
    g_interrupted = false;
    previous_int_ = std::signal(SIGINT, on_signal);
    previous_term_ = std::signal(SIGTERM, on_signal);
  }
  ~SignalScope() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

json config_to_json(const TrainConfig& c) {
  return json{{"data", c.data},
              {"model", c.model},
              {"epochs", c.epochs},
              {"batch_size", c.batch_size},
              {"optimizer", c.optimizer},
              {"learning_rate", c.learning_rate},
              {"momentum", c.momentum},
              {"nesterov", c.nesterov},
              {"weight_decay", c.weight_decay},
              {"schedule", c.schedule},
              {"warmup_epochs", c.warmup_epochs},
              {"step_epochs", c.step_epochs},
              {"step_gamma", c.step_gamma},
              {"clip_norm", c.clip_norm},
              {"input_height", c.input_height},
              {"input_width", c.input_width},
              {"resize", c.resize},
              {"device", c.device},
              {"precision", c.precision},
              {"seed", c.seed},
              {"init_from", c.init_from},
              {"freeze_backbone", c.freeze_backbone},
              {"class_weights", c.class_weights},
              {"label_smoothing", c.label_smoothing},
              {"early_stopping", c.early_stopping},
              {"val_fraction", c.val_fraction},
              {"augment", c.augment},
              {"cache", c.cache}};
}

// Restores a configuration saved by config_to_json (the resumed run keeps its settings).
void config_from_json(const json& j, TrainConfig& c) {
  c.data = j.at("data");
  c.model = j.at("model");
  c.epochs = j.at("epochs");
  c.batch_size = j.at("batch_size");
  c.optimizer = j.at("optimizer");
  c.learning_rate = j.at("learning_rate");
  c.momentum = j.at("momentum");
  c.nesterov = j.at("nesterov");
  c.weight_decay = j.at("weight_decay");
  c.schedule = j.at("schedule");
  c.warmup_epochs = j.at("warmup_epochs");
  c.step_epochs = j.at("step_epochs");
  c.step_gamma = j.at("step_gamma");
  c.clip_norm = j.at("clip_norm");
  c.input_height = j.at("input_height");
  c.input_width = j.at("input_width");
  c.resize = j.value("resize", "area");  // runs saved before the key existed used the area filter
  c.device = j.at("device");
  c.precision = j.at("precision");
  c.seed = j.at("seed");
  c.init_from = "";  // the weights come from the run's own checkpoint
  c.freeze_backbone = j.at("freeze_backbone");
  c.class_weights = j.at("class_weights");
  c.label_smoothing = j.at("label_smoothing");
  c.early_stopping = j.at("early_stopping");
  c.val_fraction = j.at("val_fraction");
  c.augment = j.at("augment");
  c.cache = j.at("cache");
}

std::vector<std::pair<std::string, std::string>> config_rows(const json& j) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (auto it = j.begin(); it != j.end(); ++it)
    rows.emplace_back(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
  return rows;
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, std::vector<ParamRef> params) {
  if (c.optimizer == "sgd") {
    SgdOptions o;
    o.learning_rate = c.learning_rate;
    o.momentum = c.momentum;
    o.nesterov = c.nesterov;
    o.weight_decay = c.weight_decay;
    o.clip_global_norm = c.clip_norm;
    return std::make_unique<SGD>(std::move(params), o);
  }
  AdamOptions o;
  o.learning_rate = c.learning_rate;
  o.weight_decay = c.weight_decay;
  o.decoupled = c.optimizer == "adamw";
  o.clip_global_norm = c.clip_norm;
  return std::make_unique<Adam>(std::move(params), o);
}

std::unique_ptr<LearningRateSchedule> make_schedule(const TrainConfig& c, int64_t steps_per_epoch) {
  if (c.schedule == "constant") return std::make_unique<ConstantSchedule>(c.learning_rate);
  if (c.schedule == "step") return std::make_unique<StepDecaySchedule>(c.learning_rate, c.step_gamma, c.step_epochs);
  if (c.schedule == "cosine")  // per step, with linear warm-up over the first warmup_epochs
    return std::make_unique<WarmupCosineSchedule>(c.learning_rate, c.warmup_epochs * steps_per_epoch,
                                                  int64_t{c.epochs} * steps_per_epoch);
  if (c.schedule == "plateau") {  // on validation macro-F1: higher is better
    PlateauOptions options;
    options.mode = PlateauOptions::Mode::Max;
    options.patience = 2;
    return std::make_unique<ReduceOnPlateauSchedule>(c.learning_rate, options);
  }
  ALZ_FAIL("--schedule must be constant, step, cosine or plateau; got '" << c.schedule << "'");
}

// What the loop carries from step to step; saved whole for a resume.
struct RunState {
  int epoch = 0;            // 0-based epoch in progress
  int64_t batch = 0;        // next batch of that epoch
  int64_t global_step = 0;
  double best_macro_f1 = -1.0;
  int best_epoch = 0;
  int epochs_without_improvement = 0;
  std::vector<EpochRecord> history;
  json schedule_state;
  json best_evaluation;     // metrics_to_json of the best epoch
  // Partial-epoch training sums.
  double loss_sum = 0.0;    // sum over samples of the batch-mean loss
  int64_t seen = 0, correct = 0;
  double train_seconds = 0.0;
};

json state_to_json(const RunState& s) {
  json history = json::array();
  for (const EpochRecord& r : s.history) history.push_back(epoch_to_json(r));
  return json{{"epoch", s.epoch}, {"batch", s.batch}, {"global_step", s.global_step},
              {"best_macro_f1", s.best_macro_f1}, {"best_epoch", s.best_epoch},
              {"epochs_without_improvement", s.epochs_without_improvement}, {"history", history},
              {"schedule", s.schedule_state}, {"best_evaluation", s.best_evaluation},
              {"loss_sum", s.loss_sum}, {"seen", s.seen}, {"correct", s.correct},
              {"train_seconds", s.train_seconds}};
}

RunState state_from_json(const json& j) {
  RunState s;
  s.epoch = j.at("epoch");
  s.batch = j.at("batch");
  s.global_step = j.at("global_step");
  s.best_macro_f1 = j.at("best_macro_f1");
  s.best_epoch = j.at("best_epoch");
  s.epochs_without_improvement = j.at("epochs_without_improvement");
  for (const json& r : j.at("history")) s.history.push_back(epoch_from_json(r));
  s.schedule_state = j.at("schedule");
  s.best_evaluation = j.at("best_evaluation");
  s.loss_sum = j.at("loss_sum");
  s.seen = j.at("seen");
  s.correct = j.at("correct");
  s.train_seconds = j.at("train_seconds");
  return s;
}

std::string class_names_json(const std::vector<std::string>& names) { return json(names).dump(); }

// A progress line: a bar redrawn in place on a terminal, plain lines otherwise.
class Progress {
 public:
  Progress(bool quiet) : quiet_(quiet), terminal_(isatty(fileno(stderr))) {}
  bool due() {
    auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(terminal_ ? 500 : 10000)) return false;
    last_ = now;
    return true;
  }
  void show(int epoch, int epochs, int64_t batch, int64_t batches, double loss, double images_per_second,
            double eta_seconds) {
    if (quiet_) return;
    char line[256];
    int width = 24, filled = batches ? static_cast<int>(width * batch / batches) : 0;
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::snprintf(line, sizeof line, "epoch %d/%d [%s] %lld/%lld loss %.4f  %.1f img/s  ETA %.0fs", epoch, epochs,
                  bar.c_str(), static_cast<long long>(batch), static_cast<long long>(batches), loss,
                  images_per_second, eta_seconds);
    if (terminal_) std::fprintf(stderr, "\r%s\033[K", line);
    else std::fprintf(stderr, "%s\n", line);
  }
  void end_line() {
    if (!quiet_ && terminal_) std::fprintf(stderr, "\n");
  }

 private:
  bool quiet_, terminal_;
  Clock::time_point last_ = Clock::now();
};

void save_run(const std::string& dir, ResNetV2& model, Optimizer& optimizer, const RunState& state,
              const json& config_json, const std::vector<std::string>& class_names) {
  save_checkpoint(dir + "/last.safetensors", model,
                  {{"class_names", class_names_json(class_names)},
                   {"resize", config_json.at("resize").get<std::string>()}});
  save_safetensors(dir + "/optimizer.safetensors", optimizer.state(), {{"kind", optimizer.kind()}});
  json saved = state_to_json(state);
  saved["config"] = config_json;
  write_file_atomic(dir + "/state.json", saved.dump(2) + "\n");
}

}  // namespace

int run_training(TrainConfig config) {
  SignalScope signals;
  RunState state;
  bool resuming = !config.resume.empty();
  json saved_state;
  if (resuming) {
    std::string path = config.resume + "/state.json";
    std::ifstream in(path);
    ALZ_CHECK(in, path << ": cannot read the run state (is " << config.resume << " a run folder?)");
    try {
      saved_state = json::parse(in);
      int64_t keep_steps = config.stop_after_steps, keep_max = config.max_steps;
      bool quiet = config.quiet;
      config_from_json(saved_state.at("config"), config);
      config.stop_after_steps = keep_steps;
      config.max_steps = keep_max;
      config.quiet = quiet;
      state = state_from_json(saved_state);
    } catch (const json::exception& error) {
      ALZ_FAIL(path << ": not a valid run state: " << error.what());
    }
    config.run_dir = config.resume;
  }
  Device device = resolve_config(config);
  apply_precision(config, device);
  std::filesystem::create_directories(config.run_dir);
  json config_json = config_to_json(config);
  if (!resuming) {  // a fresh run in an old folder starts a fresh history
    write_file_atomic(config.run_dir + "/config.json", config_json.dump(2) + "\n");
    std::filesystem::remove(config.run_dir + "/metrics.jsonl");
  }

  RunData run = prepare_data(config);
  const auto& class_names = run.index.class_names;
  if (!config.quiet) std::printf("%s", run.index.describe().c_str());
  auto train_loader = make_loader(run.index, "train", config, device, /*training=*/true);
  auto val_loader = make_loader(run.index, "val", config, device, /*training=*/false);
  std::string model_log;
  auto model = make_model(config, static_cast<int>(class_names.size()), device, model_log);
  if (!config.quiet) {
    std::printf("%s", model_log.c_str());
    std::printf("model %s, %lld trainable parameters, input %dx%d, device %s, batch %d, %s lr %g, %d epochs\n",
                config.model.c_str(), static_cast<long long>(model->count_parameters(true)), config.input_height,
                config.input_width, device.str().c_str(), config.batch_size, config.optimizer.c_str(),
                config.learning_rate, config.epochs);
  }
  Tensor class_weights = make_class_weights(config, run.index, device);
  auto optimizer = make_optimizer(config, model->trainable_parameters());
  std::unique_ptr<LearningRateSchedule> schedule = make_schedule(config, train_loader->batches_per_epoch());

  if (resuming) {
    load_checkpoint(config.run_dir + "/last.safetensors", *model, LoadMode::Strict);
    optimizer->load_state(load_safetensors(config.run_dir + "/optimizer.safetensors").tensors);
    schedule->load_state(state.schedule_state.get<ScheduleState>());
    if (!config.quiet)
      std::printf("resuming %s at epoch %d, batch %lld\n", config.run_dir.c_str(), state.epoch + 1,
                  static_cast<long long>(state.batch));
  }
  train_loader->set_position(state.epoch, state.batch);

  Progress progress(config.quiet);
  constexpr int64_t kSteadyStateWarmup = 5;  // steps before steady-state timing (algorithm choice, allocator)
  Clock::time_point steady_start = Clock::now();
  // Training-loop time and steps after the warm-up, summed over epochs (validation and
  // checkpoints excluded): the "steady state" line of --max-steps runs.
  double steady_seconds = 0.0;
  int64_t steady_steps = 0;
  int64_t steps_this_process = 0;
  const int64_t batches = train_loader->batches_per_epoch();
  std::string metrics_path = config.run_dir + "/metrics.jsonl";

  for (; state.epoch < config.epochs; ++state.epoch) {
    model->set_training(true);
    auto epoch_start = Clock::now();
    double seconds_before = state.train_seconds;
    int64_t seen_at_start = state.seen;
    // Per-epoch device accumulators: sum of (batch-mean loss * batch size), and the logits of
    // every sample of this epoch (for the training accuracy), read back once at the end: the
    // host never waits for the GPU inside the loop except for the progress line.
    Tensor loss_sum = Tensor::full({}, state.loss_sum, DType::F32, device);
    int64_t classes = static_cast<int64_t>(class_names.size());
    Tensor epoch_logits = Tensor::empty({train_loader->size(), classes}, DType::F32, device);
    std::vector<int32_t> epoch_labels;
    int64_t rows = 0;  // samples of this epoch seen by this process
    // Counts correct predictions among the rows gathered so far (host side, once).
    auto count_correct = [&]() {
      if (rows == 0) return int64_t{0};
      Tensor host = epoch_logits.slice(0, rows).to(Device::cpu());
      const float* z = host.data<float>();
      int64_t correct = 0;
      for (int64_t i = 0; i < rows; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < classes; ++j)
          if (z[i * classes + j] > z[i * classes + best]) best = j;
        correct += best == epoch_labels[i];
      }
      return correct;
    };
    Clock::time_point loop_start = Clock::now();
    while (std::optional<data::Batch> batch = train_loader->next()) {
      int64_t n = batch->images.dim(0);
      optimizer->set_learning_rate(schedule->learning_rate(state.global_step, state.epoch));
      Tensor labels = batch->labels.dtype() == DType::I32 ? batch->labels : batch->labels.to(DType::I32);
      Tensor logits = model->forward(batch->images);
      Tensor loss = ops::softmax_cross_entropy(logits, labels, class_weights, config.label_smoothing);
      backward(loss);
      optimizer->step();
      optimizer->zero_grad();
      {
        NoGradGuard no_grad;
        Tensor weighted = ops::scale(loss, static_cast<double>(n));
        accumulate_into(loss_sum, weighted);
        epoch_logits.slice(rows, rows + n).copy_from_async(logits, Stream{});
        epoch_labels.insert(epoch_labels.end(), batch->labels_int.begin(), batch->labels_int.end());
        rows += n;
      }
      if (steps_this_process + 1 == kSteadyStateWarmup && config.max_steps > 0) {
        (void)loss_sum.at({});  // waits for the device: steady-state timing starts here
        steady_start = Clock::now();
      }
      state.seen += n;
      state.batch = batch->index + 1;
      ++state.global_step;
      ++steps_this_process;
      if (steps_this_process > kSteadyStateWarmup) ++steady_steps;
      double elapsed = seconds_before + std::chrono::duration<double>(Clock::now() - epoch_start).count();
      bool stop_now = g_interrupted || (config.stop_after_steps > 0 && steps_this_process >= config.stop_after_steps);
      bool last_step = config.max_steps > 0 && state.global_step >= config.max_steps;
      // The loss is read back (a wait for the device) for the progress line, and every 50 steps
      // to stop soon after it stops being finite.
      bool show = progress.due();
      if (show || stop_now || last_step || state.global_step % 50 == 0) {
        double running = loss_sum.at({}) / std::max<int64_t>(state.seen, 1);
        if (!std::isfinite(running)) {
          progress.end_line();
          std::fprintf(stderr, "alz train: the loss became %f at step %lld (epoch %d); stopping. The last good "
                               "checkpoint is %s/last.safetensors\n",
                       running, static_cast<long long>(state.global_step), state.epoch + 1, config.run_dir.c_str());
          return 3;
        }
        double rate = (state.seen - seen_at_start) / std::max(elapsed - seconds_before, 1e-9);
        double eta = (batches - state.batch) * config.batch_size / std::max(rate, 1e-9);
        if (show) progress.show(state.epoch + 1, config.epochs, state.batch, batches, running, rate, eta);
      }
      if (stop_now) {
        progress.end_line();
        state.loss_sum = loss_sum.at({});
        state.correct += count_correct();
        state.train_seconds = elapsed;
        state.schedule_state = schedule->state();
        save_run(config.run_dir, *model, *optimizer, state, config_json, class_names);
        if (!config.quiet)
          std::printf("interrupted: state saved; continue with  alz train --resume %s\n", config.run_dir.c_str());
        return 130;
      }
      if (last_step) break;
    }
    progress.end_line();
    double train_loss = loss_sum.at({}) / std::max<int64_t>(state.seen, 1);
    state.correct += count_correct();
    state.train_seconds = seconds_before + std::chrono::duration<double>(Clock::now() - epoch_start).count();
    if (steps_this_process > kSteadyStateWarmup) {  // train_loss was read: the device is done
      steady_seconds += std::chrono::duration<double>(Clock::now() - std::max(steady_start, loop_start)).count();
      if (config.max_steps > 0 && !config.quiet && steady_steps > 0)
        std::printf("steady state: %lld steps of batch %d in %.3f s: %.2f ms/step, %.1f images/s\n",
                    static_cast<long long>(steady_steps), config.batch_size, steady_seconds,
                    1e3 * steady_seconds / steady_steps, steady_steps * config.batch_size / steady_seconds);
    }
    if (!std::isfinite(train_loss)) {
      std::fprintf(stderr, "alz train: the training loss of epoch %d is %f; stopping. The last good checkpoint is "
                           "%s/last.safetensors\n", state.epoch + 1, train_loss, config.run_dir.c_str());
      return 3;
    }
    // Validation: honest metrics on held-out data.
    Metrics val = evaluate(*model, *val_loader, class_names);
    EpochRecord record;
    record.epoch = state.epoch + 1;
    record.train_loss = train_loss;
    record.train_accuracy = static_cast<double>(state.correct) / std::max<int64_t>(state.seen, 1);
    record.val_loss = val.loss;
    record.val_accuracy = val.accuracy;
    record.val_balanced_accuracy = val.balanced_accuracy;
    record.val_macro_f1 = val.macro_f1;
    record.learning_rate = optimizer->learning_rate();
    record.images_per_second = state.seen / std::max(state.train_seconds, 1e-9);
    state.history.push_back(record);
    append_jsonl(metrics_path, epoch_to_json(record));
    if (!config.quiet)
      std::printf("epoch %d/%d  train loss %.4f acc %.3f | val loss %.4f acc %.3f balanced acc %.3f macro-F1 %.3f | "
                  "%.1f img/s\n", record.epoch, config.epochs, record.train_loss, record.train_accuracy,
                  record.val_loss, record.val_accuracy, record.val_balanced_accuracy, record.val_macro_f1,
                  record.images_per_second);
    schedule->on_epoch_end(val.macro_f1);
    bool improved = val.macro_f1 > state.best_macro_f1;
    if (improved) {
      state.best_macro_f1 = val.macro_f1;
      state.best_epoch = record.epoch;
      state.best_evaluation = metrics_to_json(val);
      state.epochs_without_improvement = 0;
      save_checkpoint(config.run_dir + "/best.safetensors", *model,
                      {{"class_names", class_names_json(class_names)}, {"resize", config.resize}});
    } else {
      ++state.epochs_without_improvement;
    }
    // The next epoch starts from zero; save the position after this one.
    state.batch = 0;
    state.loss_sum = 0.0;
    state.seen = state.correct = 0;
    state.train_seconds = 0.0;
    state.schedule_state = schedule->state();
    RunState next = state;
    ++next.epoch;
    save_run(config.run_dir, *model, *optimizer, next, config_json, class_names);

    ReportInputs report;
    report.title = "alz training run: " + config.model;
    report.config = config_rows(config_json);
    report.dataset_summary = run.index.describe();
    report.leakage_warning = run.index.known_leaky ? run.index.leak_warning : "";
    report.history = state.history;
    report.evaluation = val;
    report.evaluation_label = "validation, epoch " + std::to_string(record.epoch);
    write_report(config.run_dir, report);

    bool early_stop = config.early_stopping > 0 && state.epochs_without_improvement >= config.early_stopping;
    if (early_stop && !config.quiet)
      std::printf("early stopping: no better validation macro-F1 for %d epochs (best %.3f at epoch %d)\n",
                  config.early_stopping, state.best_macro_f1, state.best_epoch);
    if (early_stop || (config.max_steps > 0 && state.global_step >= config.max_steps)) break;
  }
  if (!config.quiet)
    std::printf("best validation macro-F1 %.3f at epoch %d; checkpoints and report.html in %s\n", state.best_macro_f1,
                state.best_epoch, config.run_dir.c_str());
  return 0;
}

}  // namespace alz::train
