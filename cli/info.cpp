// `alz info`: the devices found (name, memory, compute capability, CUDA/cuDNN/cuBLAS versions,
// or "no GPU" with the reason), and with --model a Keras-style summary of the model that ends
// with Keras's three totals.
//   alz info
//   alz info --model resnet152v2 --classes 4 [--input-size 224 | --input-size 208x176]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "kernels/cpu_threads.h"
#include "models/resnet_v2.h"
#include "tensor/cuda_runtime.h"
#include "train/inference.h"

namespace alz::cli {

int info(int argc, char** argv) {
  CLI::App app{"Devices found, library versions, and model summaries with parameter counts", "alz info"};
  std::string model, input_size = "224";
  int classes = 4;
  app.add_option("--model", model,
                 "print this model's summary (resnet50v2, resnet101v2, resnet152v2, "
                 "resnetv2-small, resnetv2-tiny)");
  app.add_option("--classes", classes, "number of classes")->check(CLI::Range(2, 100000));
  app.add_option("--input-size", input_size, "input size: N or HxW");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  std::printf("alz: built %s CUDA\n", cuda::built_with_cuda() ? "with" : "without");
  std::printf("%s\n", kernels::cpu_threading_summary().c_str());
  auto devices = cuda::devices();
  if (devices.empty()) {
    std::printf("no GPU: %s\n", cuda::unavailable_reason().c_str());
  } else {
    std::printf("%s\n", cuda::library_versions().c_str());
    for (const auto& d : devices)
      std::printf("cuda:%d  %s  %.1f GiB  compute capability %d.%d  %d SMs\n", d.index, d.name.c_str(),
                  static_cast<double>(d.total_memory) / (1 << 30), d.compute_major, d.compute_minor, d.multiprocessors);
  }
  if (model.empty()) return 0;
  int height = 0, width = 0;
  if (!train::parse_size(input_size, height, width))
    throw CLI::ValidationError("--input-size", "expected N or HxW, got '" + input_size + "'");
  ResNetV2 net(resnet_v2_config(model, classes, height, width), /*seed=*/0);
  std::cout << "\n" << net.summary_text();
  return 0;
}

}  // namespace alz::cli
