// The cost of data parallelism's gradient synchronisation (dist/gradient_sync.h), measured on
// the code path training uses: gradients shaped like ResNet152V2's (514 f32 tensors, 58,196,100
// values, 233 MB) packed into buckets, all-reduced and unpacked, on the CPU through MPI
// (HostGradientSync) and on a GPU through NCCL (NcclGradientSync, when built with NCCL).
// Prints per synchronisation: milliseconds (median of --repeats after --warmup), algorithm
// bandwidth (gradient bytes / time) and bus bandwidth (algbw * 2 (n - 1) / n, NCCL's measure of
// what one link carries in a ring all-reduce, 0 with one rank).
//
//   build/bench/bench_allreduce --device cuda                       # one rank: the NCCL path's own cost
//   mpirun -np 2 build/bench/bench_allreduce --device cpu           # two ranks through MPI
//   mpirun -np 8 build/bench/bench_allreduce --device cuda --json F # eight GPUs of one node
// Results: bench/RESULTS.md and the scaling model of docs/distributed.md.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/generator.h"
#include "dist/communicator.h"
#include "dist/gradient_sync.h"
#include "models/resnet_v2.h"
#include "tensor/autograd.h"
#include "tensor/cuda_runtime.h"

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times the gradient all-reduce of data-parallel training (see bench/bench_allreduce.cpp)"};
  std::string device_name = "auto", model_name = "resnet152v2", json_path;
  int warmup = 3, repeats = 20, bucket_mb = 25;
  app.add_option("--device", device_name, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--model", model_name, "whose gradients: resnet152v2 (233 MB), resnet50v2, ...");
  app.add_option("--bucket-mb", bucket_mb, "bucket size in MiB")->check(CLI::Range(1, 4096));
  app.add_option("--warmup", warmup, "untimed synchronisations first")->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", repeats, "timed synchronisations")->check(CLI::PositiveNumber);
  app.add_option("--json", json_path, "write the figures to this file (rank 0)");
  CLI11_PARSE(app, argc, argv);
  alz::dist::Communicator& comm = alz::dist::world();
  try {
    alz::Device device = alz::Device::cpu();
    if (device_name == "cuda" || (device_name == "auto" && alz::cuda::available()))
      device = alz::Device::cuda(comm.local_rank() % std::max(1, alz::cuda::device_count()));
    alz::ResNetV2 model(alz::resnet_v2_config(model_name, 4), /*seed=*/1);
    model.to(device);
    std::vector<alz::ParamRef> params = model.trainable_parameters();
    alz::Generator gen(3 + static_cast<uint64_t>(comm.rank()));
    int64_t values = 0;
    for (alz::ParamRef& p : params) {
      p.tensor->autograd_meta()->grad = alz::Tensor::uniform(p.tensor->shape(), gen, -1.0, 1.0).to(device);
      values += p.tensor->numel();
    }
    std::unique_ptr<alz::dist::GradientSync> sync =
        alz::dist::make_gradient_sync(comm, params, {}, device, int64_t{bucket_mb} << 20, /*force=*/true);
    auto once = [&] {
      sync->synchronize(1.0 / comm.size());
      if (device.is_cuda()) alz::cuda::synchronize(device.index);
    };
    for (int i = 0; i < warmup; ++i) once();
    std::vector<double> ms;
    for (int i = 0; i < repeats; ++i) {
      comm.barrier();
      Clock::time_point start = Clock::now();
      once();
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    const double bytes = static_cast<double>(values) * sizeof(float);
    const double algbw = bytes / (median / 1000.0) / 1e9;
    const double busbw = algbw * 2.0 * (comm.size() - 1) / comm.size();
    if (comm.is_root()) {
      std::printf(
          "bench_allreduce: %s gradients, %lld values (%.1f MB) in buckets of %d MiB, %d rank(s), %s on %s\n"
          "sync: median %.3f ms (min %.3f, max %.3f over %d) -> algbw %.1f GB/s, busbw %.1f GB/s\n",
          model_name.c_str(), static_cast<long long>(values), bytes / 1e6, bucket_mb, comm.size(), sync->name(),
          device.str().c_str(), median, ms.front(), ms.back(), repeats, algbw, busbw);
      if (!json_path.empty()) {
        nlohmann::json out = {{"model", model_name},
                              {"values", values},
                              {"bytes", bytes},
                              {"ranks", comm.size()},
                              {"backend", sync->name()},
                              {"device", device.str()},
                              {"bucket_mb", bucket_mb},
                              {"median_ms", median},
                              {"algbw_gbs", algbw},
                              {"busbw_gbs", busbw},
                              {"ms", ms}};
        std::ofstream(json_path) << out.dump(2) << "\n";
      }
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_allreduce: %s: %s\n", comm.describe().c_str(), error.what());
    comm.abort(1);
  }
  return 0;
}
