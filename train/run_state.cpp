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

// A checkpoint's own description: its classes, how its training resized images (alz eval
// and predict resize the same way unless told otherwise) and, as "training_data", where its
// training images came from (train/provenance.h; alz eval checks its data against it).
std::map<std::string, std::string> checkpoint_metadata(const std::vector<std::string>& class_names,
                                                       const std::string& resize, const json& provenance) {
  std::map<std::string, std::string> metadata = {{"class_names", json(class_names).dump()}, {"resize", resize}};
  if (!provenance.is_null()) metadata["training_data"] = provenance.dump();
  return metadata;
}

namespace fs = std::filesystem;

// The resumable state is three files that must change together. save_run writes them into
// this staging folder, then the marker, then renames each into the run folder.
constexpr const char* kStaging = ".saving";
constexpr const char* kStagingComplete = "complete";
constexpr const char* kStateFiles[] = {"last.safetensors", "optimizer.safetensors", "state.json"};

// The files that make a folder a run worth protecting: the state and every checkpoint.
constexpr const char* kWorkFiles[] = {"state.json", "last.safetensors", "best.safetensors", "optimizer.safetensors"};

// Every file a run writes, in the order remove_run_files removes them: state.json first (without
// it no resume takes the folder for a run), then the rest of the state and the checkpoints, the
// log, the report, the configuration.
constexpr const char* kRunFiles[] = {"state.json",       "optimizer.safetensors", "last.safetensors",
                                     "best.safetensors", "metrics.jsonl",         "report.html",
                                     "curves.svg",       "confusion_matrix.svg",  "config.json"};

// Temp files of writes a crash cut short (core/atomic_file.h names them "<file>.tmp.<pid>.<n>").
bool is_temp_file_name(const std::string& name) {
  static const std::regex temp_name(R"(\.tmp\.[0-9]+\.[0-9]+$)");
  return std::regex_search(name, temp_name);
}

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
              const json& config, const std::vector<std::string>& class_names, const json& provenance) {
  recover_interrupted_save(run_dir);  // a staging folder left by a crash is finished or dropped first
  const fs::path staging = fs::path(run_dir) / kStaging;
  fs::create_directories(staging);
  save_checkpoint((staging / "last.safetensors").string(), model,
                  checkpoint_metadata(class_names, config.value("resize", "keras"), provenance));
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
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && is_temp_file_name(name)) {
      fs::remove(entry.path());
      found = true;
    }
  }
  return found;
}

std::vector<std::string> run_files_found(const std::string& run_dir) {
  std::vector<std::string> found;
  std::error_code error;
  if (!fs::is_directory(run_dir, error)) return found;
  const fs::path dir(run_dir), staging = dir / kStaging;
  for (const char* name : kWorkFiles)
    if (fs::exists(dir / name, error)) found.push_back(name);
  if (fs::exists(staging / kStagingComplete, error))  // a committed save a kill interrupted
    for (const char* name : kStateFiles)
      if (fs::exists(staging / name, error)) found.push_back(std::string(kStaging) + "/" + name);
  return found;
}

void remove_run_files(const std::string& run_dir) {
  const fs::path dir(run_dir);
  auto remove = [&](const fs::path& path, bool whole_folder) {
    std::error_code error;
    if (whole_folder)
      fs::remove_all(path, error);
    else
      fs::remove(path, error);
    ALZ_CHECK(!error, path.string() << ": cannot remove it to start a new run over the old one: " << error.message());
  };
  for (const char* name : kRunFiles) remove(dir / name, false);
  remove(dir / kStaging, true);
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error))
    if (entry.is_regular_file() && is_temp_file_name(entry.path().filename().string())) remove(entry.path(), false);
}

void rewrite_metrics_log(const std::string& run_dir, const std::vector<EpochRecord>& history) {
  std::string lines;
  for (const EpochRecord& record : history)
    lines += epoch_to_json(record).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  write_file_atomic(run_dir + "/metrics.jsonl", lines);
}

void save_best(const std::string& run_dir, ResNetV2& model, const std::vector<std::string>& class_names,
               const std::string& resize, const json& provenance) {
  save_checkpoint(run_dir + "/best.safetensors", model, checkpoint_metadata(class_names, resize, provenance));
}

SavedRun read_saved_run(const std::string& run_dir) {
  if (fs::is_directory(run_dir)) recover_interrupted_save(run_dir);
  std::string path = run_dir + "/state.json";
  std::ifstream in(path);
  if (!in) {
    std::error_code error;
    std::string why = "is " + run_dir + " a run folder?";
    if (!fs::exists(run_dir, error)) {
      why = "there is no folder " + run_dir;
    } else if (fs::exists(run_dir + "/config.json", error)) {
      // A run killed before its first epoch was saved: nothing to resume.
      why = run_dir +
            " holds no saved state: its run stopped before the end of its first epoch; start it again "
            "without --resume" +
            std::string(run_files_found(run_dir).empty() ? "" : ", with --overwrite");
    }
    ALZ_FAIL(path << ": cannot read the run state (" << why << ")");
  }
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
