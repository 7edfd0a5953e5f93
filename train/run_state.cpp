// The run folder's state files and the resume rule (train/run_state.h, train/trainer.h).
#include "train/run_state.h"

#include <algorithm>
#include <exception>
#include <fstream>
#include <iterator>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/checkpoint.h"
#include "tensor/safetensors.h"
#include "train/trainer.h"

namespace alz::train {

namespace {

using nlohmann::json;

std::map<std::string, std::string> checkpoint_metadata(const std::vector<std::string>& class_names) {
  return {{"class_names", json(class_names).dump()}};
}

bool from_command_line(const std::string& key) {
  return std::find(std::begin(kResumeFromCommandLine), std::end(kResumeFromCommandLine), key) !=
         std::end(kResumeFromCommandLine);
}

}  // namespace

void save_run(const std::string& run_dir, ResNetV2& model, const Optimizer& optimizer, const RunState& state,
              const json& config, const std::vector<std::string>& class_names) {
  save_checkpoint(run_dir + "/last.safetensors", model, checkpoint_metadata(class_names));
  save_safetensors(run_dir + "/optimizer.safetensors", optimizer.state(), {{"kind", optimizer.kind()}});
  json saved = state;
  saved["config"] = config;
  write_file_atomic(run_dir + "/state.json", saved.dump(2) + "\n");
}

void save_best(const std::string& run_dir, ResNetV2& model, const std::vector<std::string>& class_names) {
  save_checkpoint(run_dir + "/best.safetensors", model, checkpoint_metadata(class_names));
}

SavedRun read_saved_run(const std::string& run_dir) {
  std::string path = run_dir + "/state.json";
  std::ifstream in(path);
  ALZ_CHECK(in, path << ": cannot read the run state (is " << run_dir << " a run folder?)");
  SavedRun saved;
  try {
    json j = json::parse(in);
    saved.state = j.get<RunState>();
    saved.config = j.at("config");
    ALZ_CHECK(saved.config.is_object(), "\"config\" is not an object");
  } catch (const std::exception& error) {
    ALZ_FAIL(path << ": not a valid run state: " << error.what());
  }
  return saved;
}

void restore_run(const std::string& run_dir, const RunState& state, ResNetV2& model, Optimizer& optimizer,
                 LearningRateSchedule& schedule) {
  load_checkpoint(run_dir + "/last.safetensors", model, LoadMode::Strict);
  optimizer.load_state(load_safetensors(run_dir + "/optimizer.safetensors").tensors);
  schedule.load_state(state.schedule);
}

TrainConfig config_for_resume(const json& saved, const TrainConfig& command_line, std::vector<std::string>* ignored) {
  const json given = command_line;  // every field: a key older run folders lack keeps this value
  const json defaults = TrainConfig{};
  json merged = given;
  for (const auto& [key, value] : saved.items()) {
    if (from_command_line(key) || !given.contains(key)) continue;
    merged[key] = value;
    if (ignored && given[key] != defaults[key] && given[key] != value)
      ignored->push_back(key + "=" + given[key].dump());
  }
  merged["run_dir"] = command_line.resume;
  return merged.get<TrainConfig>();
}

}  // namespace alz::train
