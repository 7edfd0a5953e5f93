// `alz explain --weights FILE IMAGE...|DIR --out DIR [--class C]`: Grad-CAM (train/gradcam.h)
// for each image: an overlay PNG (the slice in grey, the map in colour, a colour bar from 0 to
// 1) and one JSON of every map. Images load exactly as `alz predict` loads them
// (train::load_model_input, the checkpoint's resize); the class explained is the predicted one
// unless --class names one (a class name or an index). An image that cannot be read is skipped
// and reported on stderr and in the JSON; the command fails only when none could be explained.
//
//   OUT/0000_<name>.png ...   one overlay per image, in input order (--method picks the map)
//   OUT/gradcam.json          per image: class, prediction, logit, probabilities, and for
//                             "gradcam" and "gradcam++" the raw maximum and the normalised
//                             (h, w) map; --full adds the channel weights and the (H, W) maps
//
// Tested in tests/test_cli_explain.cpp: ctest --test-dir build -R CliExplain
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/usage.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/image.h"
#include "train/gradcam.h"
#include "train/inference.h"

namespace alz::cli {

namespace {

struct ExplainOptions {
  std::string out, class_name, method = "gradcam", overlay_size = "256";
  int batch = 8;
  bool full = false;
};

// A class name or index -> index; -1 for "" (the predicted class).
int parse_class(const std::string& text, const std::vector<std::string>& names) {
  if (text.empty()) return -1;
  auto it = std::find(names.begin(), names.end(), text);
  if (it != names.end()) return static_cast<int>(it - names.begin());
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int index = std::atoi(text.c_str());
    if (index < static_cast<int>(names.size())) return index;
  }
  std::string known;
  for (const std::string& name : names) known += (known.empty() ? "" : ", ") + name;
  ALZ_FAIL("--class " << text << ": not a class of the model (" << known << ", or 0.." << names.size() - 1 << ")");
}

// (rows, cols) floats as a JSON list of rows.
nlohmann::json map_json(const std::vector<float>& map, int rows, int cols) {
  nlohmann::json out = nlohmann::json::array();
  for (int y = 0; y < rows; ++y)
    out.push_back(std::vector<float>(map.begin() + size_t(y) * cols, map.begin() + size_t(y + 1) * cols));
  return out;
}

nlohmann::json cam_json(const train::CamMap& cam, const train::GradCamResult& r, bool full) {
  nlohmann::json out{{"raw_max", cam.raw_max}, {"map", map_json(cam.coarse, r.map_height, r.map_width)}};
  if (full) {
    out["weights"] = cam.weights;
    out["map_full"] = map_json(cam.full, r.height, r.width);
  }
  return out;
}

std::string overlay_name(size_t index, const std::string& path) {
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%04zu_", index);
  return prefix + std::filesystem::path(path).stem().string() + ".png";
}

}  // namespace

int explain(int argc, char** argv) {
  CLI::App app{"Grad-CAM overlays and maps: where the model looked for a class", "alz explain"};
  use_conventions(app);
  train::InferenceOptions o;
  ExplainOptions e;
  std::vector<std::string> inputs;
  app.add_option("--weights", o.weights, "checkpoint (.safetensors) or Keras file (.h5, .weights.h5, .keras)")
      ->required();
  app.add_option("inputs", inputs, "images or folders")->required();
  app.add_option("--out", e.out, "folder for the overlays and gradcam.json (made if missing)")->required();
  app.add_option("--class", e.class_name, "class to explain, by name or index (default: the predicted class)");
  app.add_option("--method", e.method, "map drawn in the overlays: gradcam or gradcam++ (the JSON has both)")
      ->check(CLI::IsMember({"gradcam", "gradcam++"}));
  app.add_option("--overlay-size", e.overlay_size, "overlay size, N or HxW, colour bar included (default 256)");
  app.add_flag("--full", e.full, "also write the channel weights and the maps at the input size to the JSON");
  app.add_option("--model", o.model, "model name, for a bare Keras-named weights file");
  app.add_option("--classes", o.classes, "number of classes, for a bare weights file");
  app.add_option("--device", o.device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--resize", o.resize, "keras or area (default: what the checkpoint was trained with, else keras)")
      ->check(CLI::IsMember({"keras", "area"}));
  app.add_option("--batch", e.batch, "images per forward pass")->check(CLI::Range(1, 1024));
  if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
  int overlay_height = 0, overlay_width = 0;
  if (!train::parse_size(e.overlay_size, overlay_height, overlay_width) || overlay_height < 16 || overlay_width < 32) {
    std::fprintf(stderr, "alz explain: --overlay-size: expected N or HxW, at least 16x32; got '%s'\n",
                 e.overlay_size.c_str());
    return 2;
  }
  const train::CamMethod method = e.method == "gradcam" ? train::CamMethod::GradCam : train::CamMethod::GradCamPlusPlus;
  std::vector<std::string> files = train::expand_image_inputs(inputs);
  train::LoadedModel loaded = train::load_model_for_inference(o);
  ResNetV2& model = *loaded.model;
  const int class_index = parse_class(e.class_name, loaded.class_names);
  const int height = model.config().input_height, width = model.config().input_width;
  const int64_t image_floats = int64_t{height} * width * 3;
  std::error_code ec;
  std::filesystem::create_directories(e.out, ec);
  ALZ_CHECK(std::filesystem::is_directory(e.out), e.out << ": cannot make the output folder (" << ec.message() << ")");

  nlohmann::json images = nlohmann::json::array(), skipped = nlohmann::json::array();
  for (size_t start = 0; start < files.size(); start += e.batch) {
    const size_t end = std::min(files.size(), start + e.batch);
    Tensor batch = Tensor::empty({static_cast<int64_t>(end - start), height, width, 3});
    std::vector<size_t> read;  // indices into `files` of the images in `batch`
    for (size_t i = start; i < end; ++i) {
      try {
        train::load_model_input(files[i], height, width, loaded.resize,
                                batch.data<float>() + read.size() * image_floats);
        read.push_back(i);
      } catch (const Error& error) {
        std::fprintf(stderr, "alz explain: skipped %s\n", error.what());
        skipped.push_back({{"image", files[i]}, {"error", error.what()}});
      }
    }
    if (read.empty()) continue;
    Tensor on_device = batch.slice(0, static_cast<int64_t>(read.size())).to(loaded.device);
    std::vector<train::GradCamResult> results =
        train::compute_gradcam(model, on_device, std::vector<int>(read.size(), class_index));
    for (size_t j = 0; j < read.size(); ++j) {
      const train::GradCamResult& r = results[j];
      const std::string& path = files[read[j]];
      const std::string overlay = (std::filesystem::path(e.out) / overlay_name(read[j], path)).string();
      data::write_png(overlay, train::render_overlay(batch.data<float>() + j * image_floats, height, width,
                                                     r.map(method).full, overlay_height, overlay_width));
      nlohmann::json entry{{"image", path},
                           {"overlay", overlay},
                           {"class", loaded.class_names[r.class_index]},
                           {"class_index", r.class_index},
                           {"predicted", loaded.class_names[r.predicted]},
                           {"score", r.score},
                           {"gradcam", cam_json(r.gradcam, r, e.full)},
                           {"gradcam++", cam_json(r.gradcam_pp, r, e.full)}};
      for (size_t k = 0; k < loaded.class_names.size(); ++k)
        entry["probabilities"][loaded.class_names[k]] = r.probabilities[k];
      images.push_back(entry);
      std::printf("%s  class %s (predicted %s, logit %.4f)  peak %.4g  -> %s\n", path.c_str(),
                  loaded.class_names[r.class_index].c_str(), loaded.class_names[r.predicted].c_str(), r.score,
                  r.map(method).raw_max, overlay.c_str());
    }
  }
  const int map_height = images.empty() ? 0 : static_cast<int>(images[0]["gradcam"]["map"].size());
  const int map_width = map_height == 0 ? 0 : static_cast<int>(images[0]["gradcam"]["map"][0].size());
  nlohmann::json out{{"weights", o.weights},
                     {"model", model.config().name},
                     {"layer", "post_relu"},
                     {"overlay_method", train::cam_method_name(method)},
                     {"class_names", loaded.class_names},
                     {"input_size", {height, width}},
                     {"map_size", {map_height, map_width}},
                     {"normalisation",
                      "ReLU(sum_k a_k A_k) divided by its maximum (raw_max; 0 gives an all-zero map); "
                      "upsampled bilinearly with half-pixel centres for the overlays and map_full"},
                     {"images", images},
                     {"skipped", skipped}};
  const std::string json_path = (std::filesystem::path(e.out) / "gradcam.json").string();
  write_file_atomic(json_path, out.dump(1) + "\n");
  ALZ_CHECK(!images.empty(),
            "no image could be explained (" << skipped.size() << " skipped); " << json_path << " lists them");
  std::printf("%zu explained, %zu skipped; maps in %s\n", images.size(), skipped.size(), json_path.c_str());
  return 0;
}

}  // namespace alz::cli
