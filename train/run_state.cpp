// The run folder's state files and the resume rule (train/run_state.h, train/trainer.h).
#include "train/run_state.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/checkpoint.h"
#include "tensor/safetensors.h"
#include "train/trainer.h"

namespace alz::train {

namespace {

using nlohmann::json;

// A checkpoint's own description: its classes and how its training resized images (alz eval
// and predict resize the same way unless told otherwise).
std::map<std::string, std::string> checkpoint_metadata(const std::vector<std::string>& class_names,
                                                       const std::string& resize) {
  return {{"class_names", json(class_names).dump()}, {"resize", resize}};
}

namespace fs = std::filesystem;

// The resumable state is three files that must change together. save_run writes them into
// this staging folder, then the marker, then renames each into the run folder.
constexpr const char* kStaging = ".saving";
constexpr const char* kStagingComplete = "complete";
constexpr const char* kStateFiles[] = {"last.safetensors", "optimizer.safetensors", "state.json"};

// Moves the staged files into the run folder (each rename is atomic; a repeated call after a
// crash half way moves what is left) and removes the staging folder.
void move_staged_files(const fs::path& run_dir) {
  const fs::path staging = run_dir / kStaging;
  for (const char* name : kStateFiles) {
    std::error_code error;
    if (fs::exists(staging / name)) fs::rename(staging / name, run_dir / name, error);
    ALZ_CHECK(!error, (run_dir / name).string() << ": cannot move the saved state into place: " << error.message());
  }
  std::error_code error;
  fs::remove_all(staging, error);
  ALZ_CHECK(!error, staging.string() << ": cannot remove: " << error.message());
}

bool from_command_line(const std::string& key) {
  return std::find(std::begin(kResumeFromCommandLine), std::end(kResumeFromCommandLine), key) !=
         std::end(kResumeFromCommandLine);
}

}  // namespace

void save_run(const std::string& run_dir, ResNetV2& model, const Optimizer& optimizer, const RunState& state,
              const json& config, const std::vector<std::string>& class_names) {
  recover_interrupted_save(run_dir);  // a staging folder left by a crash is finished or dropped first
  const fs::path staging = fs::path(run_dir) / kStaging;
  fs::create_directories(staging);
  save_checkpoint((staging / "last.safetensors").string(), model,
                  checkpoint_metadata(class_names, config.value("resize", "keras")));
  save_safetensors((staging / "optimizer.safetensors").string(), optimizer.state(), {{"kind", optimizer.kind()}});
  json saved = state;
  saved["config"] = config;
  write_file_atomic((staging / "state.json").string(), saved.dump(2) + "\n");
  write_file_atomic((staging / kStagingComplete).string(), "");  // the commit point
  move_staged_files(run_dir);
}

bool recover_interrupted_save(const std::string& run_dir) {
  const fs::path staging = fs::path(run_dir) / kStaging;
  bool found = false;
  if (fs::exists(staging)) {
    found = true;
    if (fs::exists(staging / kStagingComplete)) {
      move_staged_files(run_dir);  // committed: finish it
    } else {
      std::error_code error;
      fs::remove_all(staging, error);  // not committed: the previous state files are whole
      ALZ_CHECK(!error, staging.string() << ": cannot remove an unfinished save: " << error.message());
    }
  }
  // Temp files of writes a crash cut short (core/atomic_file.h names them "<file>.tmp.<pid>.<n>").
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    const std::string name = entry.path().filename().string();
    static const std::regex temp_name(R"(\.tmp\.[0-9]+\.[0-9]+$)");
    if (entry.is_regular_file() && std::regex_search(name, temp_name)) {
      fs::remove(entry.path());
      found = true;
    }
  }
  return found;
}

void rewrite_metrics_log(const std::string& run_dir, const std::vector<EpochRecord>& history) {
  std::string lines;
  for (const EpochRecord& record : history)
    lines += epoch_to_json(record).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  write_file_atomic(run_dir + "/metrics.jsonl", lines);
}

void save_best(const std::string& run_dir, ResNetV2& model, const std::vector<std::string>& class_names,
               const std::string& resize) {
  save_checkpoint(run_dir + "/best.safetensors", model, checkpoint_metadata(class_names, resize));
}

SavedRun read_saved_run(const std::string& run_dir) {
  if (fs::is_directory(run_dir)) recover_interrupted_save(run_dir);
  std::string path = run_dir + "/state.json";
  std::ifstream in(path);
  ALZ_CHECK(in, path << ": cannot read the run state (is " << run_dir << " a run folder?)");
  SavedRun saved;
  try {
    json j = json::parse(in);
    saved.state = j.get<RunState>();
    saved.config = j.at("config");
    ALZ_CHECK(saved.config.is_object(), "\"config\" is not an object");
    // Run folders written before the resize setting existed resized with the area filter.
    if (!saved.config.contains("resize")) saved.config["resize"] = "area";
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
