// Run metadata, the best epoch's predictions, resolved settings and the report's warnings
// (train/report_run.h). Tested in tests/test_report.cpp.
#include "train/report_run.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "alz_build_info.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "kernels/cpu_threads.h"
#include "tensor/cuda_runtime.h"

namespace alz::train {

std::string alz_version() { return ALZ_BUILD_VERSION; }
std::string alz_commit() { return ALZ_BUILD_COMMIT; }

// ---------------------------------------------------------------- run metadata

nlohmann::json run_metadata_to_json(const RunMetadata& m) {
  return {{"started_at", m.started_at},   {"updated_at", m.updated_at}, {"elapsed_seconds", m.elapsed_seconds},
          {"processes", m.processes},     {"device", m.device},         {"device_name", m.device_name},
          {"alz_version", m.alz_version}, {"alz_commit", m.alz_commit}, {"host", m.host},
          {"cuda_graph", m.cuda_graph}};
}

RunMetadata run_metadata_from_json(const nlohmann::json& j) {
  RunMetadata m;
  auto text = [&](const char* key, std::string& field) {
    if (j.contains(key) && j[key].is_string()) field = j[key].get<std::string>();
  };
  text("started_at", m.started_at);
  text("updated_at", m.updated_at);
  text("device", m.device);
  text("device_name", m.device_name);
  text("alz_version", m.alz_version);
  text("alz_commit", m.alz_commit);
  text("host", m.host);
  text("cuda_graph", m.cuda_graph);
  if (j.contains("elapsed_seconds") && j["elapsed_seconds"].is_number()) m.elapsed_seconds = j["elapsed_seconds"];
  if (j.contains("processes") && j["processes"].is_number_integer()) m.processes = j["processes"];
  return m;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return buf;
}

RunMetadata new_run_metadata(const std::string& device) {
  RunMetadata m;
  m.started_at = m.updated_at = utc_now();
  m.device = device;
  m.device_name = kernels::cpu_threading_summary();
  if (device.rfind("cuda", 0) == 0) {
    const size_t colon = device.find(':');
    const int index = colon == std::string::npos ? 0 : std::atoi(device.c_str() + colon + 1);
    for (const cuda::DeviceProperties& d : cuda::devices())
      if (d.index == index) m.device_name = d.name;
  }
  m.alz_version = alz_version();
  m.alz_commit = alz_commit();
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) m.host = host;
  return m;
}

void write_run_metadata(const std::string& run_dir, const RunMetadata& m) {
  write_file_atomic(run_dir + "/run_info.json", run_metadata_to_json(m).dump(2) + "\n");
}

std::optional<RunMetadata> read_run_metadata(const std::string& run_dir) {
  std::ifstream in(run_dir + "/run_info.json");
  if (!in) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  return run_metadata_from_json(j);
}

// ---------------------------------------------------------------- the best epoch's predictions

int BestPredictions::predicted(int64_t i) const {
  const size_t k = class_names.size();
  const float* row = probs.data() + static_cast<size_t>(i) * k;
  return static_cast<int>(std::max_element(row, row + k) - row);
}

double BestPredictions::mean_loss() const {
  if (labels.empty()) return 0.0;
  const size_t k = class_names.size();
  double sum = 0.0;
  for (size_t i = 0; i < labels.size(); ++i)
    sum += -std::log(std::max(probs[i * k + static_cast<size_t>(labels[i])], 1e-30f));
  return sum / static_cast<double>(labels.size());
}

Metrics BestPredictions::metrics() const {
  return compute_metrics(std::span<const float>(probs), std::span<const int>(labels), class_names, mean_loss());
}

nlohmann::json best_predictions_to_json(const BestPredictions& p) {
  nlohmann::json samples = nlohmann::json::array();
  const size_t k = p.class_names.size();
  for (size_t i = 0; i < p.labels.size(); ++i)
    samples.push_back({{"path", p.paths[i]},
                       {"label", p.labels[i]},
                       {"probs", std::vector<float>(p.probs.begin() + i * k, p.probs.begin() + (i + 1) * k)}});
  return {{"epoch", p.epoch}, {"class_names", p.class_names}, {"samples", samples}};
}

BestPredictions best_predictions_from_json(const nlohmann::json& j, const std::string& source) {
  BestPredictions p;
  try {
    p.epoch = j.at("epoch").get<int>();
    p.class_names = j.at("class_names").get<std::vector<std::string>>();
    const size_t k = p.class_names.size();
    ALZ_CHECK(k > 0, "no class names");
    for (const nlohmann::json& s : j.at("samples")) {
      const int label = s.at("label").get<int>();
      ALZ_CHECK(label >= 0 && static_cast<size_t>(label) < k, "label " << label << " is not a class index");
      const std::vector<float> probs = s.at("probs").get<std::vector<float>>();
      ALZ_CHECK(probs.size() == k, "a sample has " << probs.size() << " probabilities for " << k << " classes");
      p.paths.push_back(s.at("path").get<std::string>());
      p.labels.push_back(label);
      p.probs.insert(p.probs.end(), probs.begin(), probs.end());
    }
  } catch (const std::exception& error) {
    ALZ_FAIL(source << ": not valid best-epoch predictions: " << error.what());
  }
  return p;
}

void write_best_predictions(const std::string& run_dir, const BestPredictions& p) {
  write_file_atomic(run_dir + "/" + kBestPredictionsFile, best_predictions_to_json(p).dump() + "\n");
}

std::optional<BestPredictions> read_best_predictions(const std::string& run_dir) {
  const std::string path = run_dir + "/" + kBestPredictionsFile;
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream in(path);
  ALZ_CHECK(in, path << ": cannot read");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  ALZ_CHECK(!j.is_discarded(), path << ": not valid JSON");
  return best_predictions_from_json(j, path);
}

// ---------------------------------------------------------------- settings, balance, warnings

std::vector<std::pair<std::string, std::string>> resolved_settings(const nlohmann::json& config,
                                                                   const std::string& device,
                                                                   const std::string& data_source) {
  std::vector<std::pair<std::string, std::string>> rows;
  const bool gpu = device.rfind("cuda", 0) == 0;
  for (auto it = config.begin(); it != config.end(); ++it) {
    const std::string asked = it->is_string() ? it->get<std::string>() : it->dump();
    std::string shown = asked;
    if (it.key() == "device" && asked != device) shown = device + " (asked: " + asked + ")";
    if (it.key() == "precision" && !gpu && asked == "tf32") shown = "fp32 (asked: " + asked + "; TF32 is GPU-only)";
    if (it.key() == "data" && asked.empty()) shown = data_source + " (generated phantom set)";
    if (it.key() == "class_weights" && asked == "auto") shown = "auto: inverse class frequency";
    rows.emplace_back(it.key(), shown);
  }
  return rows;
}

std::vector<std::string> small_support_warnings(const ClassBalance& b) {
  std::vector<std::string> warnings;
  for (size_t k = 0; k < b.class_names.size(); ++k) {
    const int64_t train = k < b.train.size() ? b.train[k] : 0, val = k < b.val.size() ? b.val[k] : 0;
    if (val >= kSmallValidationSupport && train >= kSmallTrainingSupport) continue;
    std::ostringstream out;
    out << b.class_names[k] << " has only " << train << " training and " << val << " validation images";
    if (val > 0 && val < kSmallValidationSupport)
      out << ": one image moves its validation recall by " << std::lround(100.0 / static_cast<double>(val))
          << " points, so its per-class figures (and the macro averages) are noisy";
    else if (val == 0)
      out << ": its validation figures are undefined and the macro averages leave it out";
    else
      out << ": the model sees few examples of it";
    out << ".";
    warnings.push_back(out.str());
  }
  return warnings;
}

std::optional<std::string> dominant_class_warning(const Metrics& m, const std::string& label) {
  if (m.count <= 0) return std::nullopt;
  for (const ClassMetrics& c : m.per_class) {
    const double share = static_cast<double>(c.predicted) / static_cast<double>(m.count);
    if (share <= kDominantPredictionShare) continue;
    std::ostringstream out;
    out << "At " << label << " the model predicts " << c.name << " for " << c.predicted << " of " << m.count
        << " validation images (" << std::lround(100.0 * share)
        << " %): it has nearly collapsed onto one class, and its accuracy says little.";
    return out.str();
  }
  return std::nullopt;
}

}  // namespace alz::train
