// `alz predict --weights FILE IMAGE... | DIR`: the predicted class and every class's
// probability per image; `--format json`; `--precision fp32|tf32|bf16`; `--timing` adds the
// batch-1 latency (median of 50 runs after 10 warm-up runs; on a GPU the forward replayed as
// one CUDA graph unless `--cuda-graph off`). Works with Keras files (.h5, .weights.h5, .keras: the model from
// the file) and with a bare Keras-named safetensors file given --model and --classes (and
// --class-names).
// Images are resized as the checkpoint's training resized them (its "resize" metadata; keras
// when absent) unless --resize says otherwise. An image that cannot be read (a missing path,
// a corrupt or truncated file) is skipped and listed at the end (cli/unreadable.h): exit status
// 1 only when none could be read, or with --strict.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "cli/unreadable.h"
#include "cli/usage.h"
#include "core/error.h"
#include "data/image.h"
#include "data/resize.h"
#include "tensor/autograd.h"
#include "tensor/cuda_graph.h"
#include "tensor/cuda_runtime.h"
#include "train/evaluate.h"
#include "train/inference.h"

namespace alz::cli {

namespace {

// The images of `paths` that can be read, decoded and resized, as a batch (n, H, W, 3); their
// paths go to `read`, the others to `skipped`. An undefined tensor when none could be read.
Tensor image_batch(const std::vector<std::string>& paths, int height, int width, data::ResizeMethod resize,
                   Device device, std::vector<std::string>& read, std::vector<data::SkippedFile>& skipped) {
  std::vector<data::FloatImage> images;
  read.clear();
  for (const std::string& path : paths) {
    try {
      images.push_back(data::resize_image(data::decode_image_file(path), height, width, resize));
      read.push_back(path);
    } catch (const Error& error) {
      skipped.push_back(unreadable(path, error.what()));
    }
  }
  if (images.empty()) return Tensor();
  Tensor batch = Tensor::empty({static_cast<int64_t>(images.size()), height, width, 3});
  for (size_t i = 0; i < images.size(); ++i)
    data::preprocess_to_float(images[i], batch.data<float>() + i * int64_t{height} * width * 3);
  return batch.to(device);
}

}  // namespace

int predict(int argc, char** argv) {
  CLI::App app{"Predict the class of brain MRI slices", "alz predict"};
  use_conventions(app);
  train::InferenceOptions o;
  std::vector<std::string> inputs;
  std::string format = "text", class_names, input_size;
  bool timing = false, strict = false;
  std::string cuda_graph = "on";
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
  app.add_option("--precision", o.precision, "fp32 (strict), tf32 (GPU default) or bf16 (bf16 weights and compute)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  app.add_option("--resize", o.resize, "keras or area (default: what the checkpoint was trained with, else keras)")
      ->check(CLI::IsMember({"keras", "area"}));
  app.add_option("--batch", batch, "images per forward pass")->check(CLI::Range(1, 1024));
  app.add_flag("--timing", timing, "print the batch-1 latency (median of 50 runs after 10 warm-up runs)");
  app.add_option("--cuda-graph", cuda_graph, "--timing on a GPU: on replays the forward as one CUDA graph, off runs it")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_flag("--strict", strict, "exit with status 1 when any image could not be read (they are skipped either way)");
  if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
  if (!input_size.empty() && !train::parse_size(input_size, o.input_height, o.input_width)) {
    std::fprintf(stderr, "alz predict: --input-size: expected N or HxW, got '%s'\n", input_size.c_str());
    return 2;
  }
  if (!class_names.empty()) {
    std::stringstream stream(class_names);
    for (std::string name; std::getline(stream, name, ',');) o.class_names.push_back(name);
  }
  std::vector<data::SkippedFile> skipped;
  std::vector<std::string> files = train::expand_image_inputs(inputs, &skipped);
  const size_t total = files.size() + skipped.size();
  train::LoadedModel loaded = train::load_model_for_inference(o);
  ResNetV2& model = *loaded.model;
  int height = model.config().input_height, width = model.config().input_width;
  NoGradGuard no_grad;
  nlohmann::json results = nlohmann::json::array();
  for (size_t start = 0; start < files.size(); start += batch) {
    std::vector<std::string> chunk(files.begin() + start, files.begin() + std::min(files.size(), start + batch));
    std::vector<std::string> read;
    Tensor images = image_batch(chunk, height, width, loaded.resize, loaded.device, read, skipped);
    if (read.empty()) continue;
    chunk = read;
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
  nlohmann::json out{{"weights", o.weights},
                     {"model", model.config().name},
                     {"precision", o.precision},
                     {"predictions", results},
                     {"skipped", unreadable_json(skipped)}};
  if (timing && !results.empty()) {
    std::vector<std::string> read;
    std::vector<data::SkippedFile> ignored;
    Tensor one = image_batch({results[0]["image"].get<std::string>()}, height, width, loaded.resize, loaded.device,
                             read, ignored);
    // On a GPU the forward is replayed as one CUDA graph (tensor/cuda_graph.h) after 10 eager
    // runs: batch-1 latency is launch-bound, and a graph removes the per-kernel host cost.
    // `--cuda-graph off`, or a capture that fails, times the eager forward.
    Tensor logits;
    std::unique_ptr<cuda::CudaGraph> graph;
    for (int run = 0; run < 10; ++run) (void)model.forward(one).at({0, 0});
    std::string timed = "eager";
    if (loaded.device.is_cuda() && cuda_graph == "on") {
      try {
        graph = std::make_unique<cuda::CudaGraph>(loaded.device.index);
        graph->capture([&] { logits = model.forward(one); });
        timed = "CUDA graph";
      } catch (const Error& error) {
        std::fprintf(stderr, "alz predict: --timing runs eagerly: %s\n", error.what());
        graph.reset();
      }
    }
    std::vector<double> ms;
    for (int run = 0; run < 50; ++run) {
      auto begin = std::chrono::steady_clock::now();
      if (graph)
        graph->replay();
      else
        logits = model.forward(one);
      (void)logits.at({0, 0});  // waits for the device
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
    }
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2];
    out["latency_ms_batch1_median"] = median;
    out["latency_mode"] = timed;
    // TF32 exists only on GPUs: a CPU runs f32.
    const std::string precision = loaded.device.is_cpu() && o.precision == "tf32" ? "fp32" : o.precision;
    if (format == "text")
      std::printf("batch-1 latency on %s (%s, %s): %.2f ms (median of %zu)\n", loaded.device.str().c_str(),
                  precision.c_str(), timed.c_str(), median, ms.size());
  }
  if (format == "json") std::cout << out.dump(2) << "\n";
  return report_unreadable("predict", skipped, total, strict);
}

}  // namespace alz::cli
