// `alz predict --weights FILE IMAGE... | DIR`: the predicted class and every class's
// probability per image; `--format json`; `--timing` adds the batch-1 latency (median of
// repeated runs after a warm-up). Works with Keras files (.h5, .weights.h5, .keras: the model from
// the file) and with a bare Keras-named safetensors file given --model and --classes (and
// --class-names).
// Images are resized as the checkpoint's training resized them (its "resize" metadata; keras
// when absent) unless --resize says otherwise.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "core/error.h"
#include "data/image.h"
#include "data/resize.h"
#include "tensor/autograd.h"
#include "tensor/cuda_runtime.h"
#include "train/evaluate.h"
#include "train/inference.h"

namespace alz::cli {

namespace {

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (auto it = std::filesystem::recursive_directory_iterator(
               input, std::filesystem::directory_options::skip_permission_denied, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec) && data::has_image_extension(it->path().string()))
          found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      ALZ_CHECK(!found.empty(), input << ": no images (.jpg .jpeg .png .bmp) in this folder");
      files.insert(files.end(), found.begin(), found.end());
    } else {
      ALZ_CHECK(std::filesystem::exists(input, ec), input << ": no such file or folder");
      files.push_back(input);
    }
  }
  return files;
}

Tensor image_batch(const std::vector<std::string>& paths, int height, int width, data::ResizeMethod resize,
                   Device device) {
  Tensor batch = Tensor::empty({static_cast<int64_t>(paths.size()), height, width, 3});
  for (size_t i = 0; i < paths.size(); ++i) {
    data::FloatImage image = data::resize_image(data::decode_image_file(paths[i]), height, width, resize);
    data::preprocess_to_float(image, batch.data<float>() + i * int64_t{height} * width * 3);
  }
  return batch.to(device);
}

}  // namespace

int predict(int argc, char** argv) {
  CLI::App app{"Predict the class of brain MRI slices", "alz predict"};
  train::InferenceOptions o;
  std::vector<std::string> inputs;
  std::string format = "text", class_names, input_size;
  bool timing = false;
  int batch = 16;
  app.add_option("--weights", o.weights, "checkpoint (.safetensors) or Keras file (.h5, .weights.h5, .keras)")
      ->required();
  app.add_option("inputs", inputs, "images or folders")->required();
  app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--model", o.model, "model name, for a bare Keras-named weights file");
  app.add_option("--classes", o.classes, "number of classes, for a bare weights file");
  app.add_option("--class-names", class_names, "comma-separated class names (default: the checkpoint's)");
  app.add_option("--input-size", input_size, "N or HxW (default: the checkpoint's, else 224)");
  app.add_option("--device", o.device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--resize", o.resize, "keras or area (default: what the checkpoint was trained with, else keras)")
      ->check(CLI::IsMember({"keras", "area"}));
  app.add_option("--batch", batch, "images per forward pass")->check(CLI::Range(1, 1024));
  app.add_flag("--timing", timing, "print the batch-1 latency (median of 50 runs after 10 warm-up runs)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (!input_size.empty() && !train::parse_size(input_size, o.input_height, o.input_width)) {
    std::fprintf(stderr, "alz predict: --input-size: expected N or HxW, got '%s'\n", input_size.c_str());
    return 2;
  }
  if (!class_names.empty()) {
    std::stringstream stream(class_names);
    for (std::string name; std::getline(stream, name, ',');) o.class_names.push_back(name);
  }
  std::vector<std::string> files = expand_inputs(inputs);
  train::LoadedModel loaded = train::load_model_for_inference(o);
  ResNetV2& model = *loaded.model;
  int height = model.config().input_height, width = model.config().input_width;
  NoGradGuard no_grad;
  nlohmann::json results = nlohmann::json::array();
  for (size_t start = 0; start < files.size(); start += batch) {
    std::vector<std::string> chunk(files.begin() + start, files.begin() + std::min(files.size(), start + batch));
    Tensor images = image_batch(chunk, height, width, loaded.resize, loaded.device);
    std::vector<float> probs = train::softmax_probabilities(model.forward(images));
    size_t k = loaded.class_names.size();
    for (size_t i = 0; i < chunk.size(); ++i) {
      size_t best = std::max_element(probs.begin() + i * k, probs.begin() + (i + 1) * k) - (probs.begin() + i * k);
      nlohmann::json entry{{"image", chunk[i]}, {"class", loaded.class_names[best]}};
      for (size_t j = 0; j < k; ++j) entry["probabilities"][loaded.class_names[j]] = probs[i * k + j];
      results.push_back(entry);
      if (format == "text") {
        std::printf("%s  %s", chunk[i].c_str(), loaded.class_names[best].c_str());
        for (size_t j = 0; j < k; ++j) std::printf("  %s=%.4f", loaded.class_names[j].c_str(), probs[i * k + j]);
        std::printf("\n");
      }
    }
  }
  nlohmann::json out{{"weights", o.weights}, {"model", model.config().name}, {"predictions", results}};
  if (timing) {
    Tensor one = image_batch({files[0]}, height, width, loaded.resize, loaded.device);
    std::vector<double> ms;
    for (int run = 0; run < 60; ++run) {
      auto begin = std::chrono::steady_clock::now();
      Tensor logits = model.forward(one);
      (void)logits.at({0, 0});  // waits for the device
      if (run >= 10)
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
    }
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2];
    out["latency_ms_batch1_median"] = median;
    if (format == "text")
      std::printf("batch-1 latency on %s: %.2f ms (median of %zu)\n", loaded.device.str().c_str(), median, ms.size());
  }
  if (format == "json") std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace alz::cli
