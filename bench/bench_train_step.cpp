// Whole training step of a ResNetV2 (forward, loss, backward, optimizer step) on the CPU or a
// GPU, timed the way PyTorch's anchors are: a fixed random batch already on the device,
// warm-up steps first, then the median of the timed steps, each ended by a device sync.
// With --profile it then runs one more step under the op-level profiler (tensor/profiler.h)
// and prints where the time went: forward / backward / optimizer, and each op's share. It
// also reports what a warm step should never do: cudaMalloc calls, allocator cache flushes
// (the working set nearly filling the device) and new cuDNN algorithm selections on the GPU,
// large blocks taken from the system on the CPU (tensor/host_allocator.h).
// On a GPU the timed steps replay the whole step (with --inference, the forward pass) as one
// CUDA graph (--cuda-graph on, the default; tensor/cuda_graph.h), captured after the warm-up
// (at least 2 eager steps), as `alz train` does; --cuda-graph off times the eager step. --profile is eager by nature
// (the profiler times each op): with it the whole run is eager, and the output says so.
//
//   build/bench/bench_train_step --model resnet152v2 --batch 64 --size 224 --device cuda --profile
//   build/bench/bench_train_step --model resnet50v2 --batch 32 --size 64 --device cpu
//     beside ../shared anchors: torch_resnetv2.py bench (GPU), torch_cpu.py (CPU)
//   build/bench/bench_train_step --precision bf16 --size 208x176 --batch 32 --optimizer adam
//   build/bench/bench_train_step --inference --batch 128 --precision bf16    (forward only, eval mode)
//   --precision fp32|tf32|bf16 as `alz train` (train/precision.h); --inference times the
//   forward pass of a model in eval mode with no tape (bf16: weights stored in bf16, as `alz
//   predict --precision bf16` runs).
//   --conv-algo heuristic|benchmark overrides how cuDNN's algorithms are chosen (train/precision.h
//   sets it per precision); --conv-workspace-mb raises the workspace an algorithm may take
//   (default 256 MiB; strict fp32's fastest FMA algorithms may need more). With a CUDA graph the peak memory counts the graph pool's working
//   memory (tensor/cuda_graph.h: pool_idle_bytes).
//   --json FILE writes the figures for tools/device-check.sh and bench/RESULTS.md.
//   ALZ_ALLOC_TRACE=FILE records every tensor allocation and free, with a mark where each step
//   starts, for bench/bench_allocator --replay (tensor/allocation_trace.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/generator.h"
#include "kernels/conv2d.h"
#include "kernels/cpu_threads.h"
#include "kernels/gemm.h"
#include "models/resnet_v2.h"
#include "optim/optimizer.h"
#include "tensor/allocation_trace.h"
#include "tensor/autograd.h"
#include "tensor/cuda_graph.h"
#include "tensor/cuda_runtime.h"
#include "tensor/host_allocator.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"
#include "train/inference.h"
#include "train/precision.h"

namespace {

using Clock = std::chrono::steady_clock;
using alz::Device;
using alz::DType;
using alz::Tensor;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void sync(Device device) {
  if (device.is_cuda()) alz::cuda::synchronize(device.index);
}

struct Counters {
  uint64_t mallocs = 0, flushes = 0, selections = 0;
  size_t peak = 0, reserved = 0;
  size_t peak_requested = 0;  // GPU: before the allocator rounds to 512 bytes
};

Counters read_counters(Device device) {
  Counters c;
  if (device.is_cpu()) {
    alz::HostAllocatorStats s = alz::host_allocator_stats();
    c.mallocs = s.system_allocations;
    c.peak = s.peak_allocated_bytes;
    c.reserved = s.allocated_bytes + s.cached_bytes;
  }
#if ALZ_HAS_CUDA
  if (device.is_cuda()) {
    alz::cuda::AllocatorStats s = alz::cuda::allocator_stats(device.index);
    c.mallocs = s.cuda_malloc_calls;
    c.flushes = s.cache_flushes;
    c.peak = s.peak_allocated_bytes;
    c.peak_requested = s.peak_requested_bytes;
    c.reserved = s.reserved_bytes;
    c.selections = alz::conv_algo_cache_stats().selections;
  }
#endif
  return c;
}

double gib(size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times one training step of a ResNetV2 (see the header of bench/bench_train_step.cpp)"};
  std::string model_name = "resnet152v2", device_name = "auto", precision = "tf32", optimizer_name = "sgd", json_path;
  std::string size_text = "224", cuda_graph = "on", conv_algo = "default";
  int batch = 64, classes = 4, warmup = 3, steps = 10, conv_workspace_mb = 0;
  bool profile = false, inference = false;
  int64_t column_budget = alz::conv2d_cpu_column_budget();
  app.add_option("--model", model_name, "resnet50v2, resnet101v2, resnet152v2, resnetv2-small, resnetv2-tiny");
  app.add_option("--batch", batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--size", size_text, "input size: N (square) or HxW, e.g. 208x176");
  app.add_option("--classes", classes, "output classes")->check(CLI::PositiveNumber);
  app.add_option("--device", device_name, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--precision", precision, "fp32 (strict), tf32 or bf16 (mixed precision; train/precision.h)")
      ->check(CLI::IsMember({"tf32", "fp32", "bf16"}));
  app.add_flag("--inference", inference, "time the forward pass in eval mode, no tape (no loss, backward, optimizer)");
  app.add_option("--optimizer", optimizer_name, "sgd (momentum 0.9) or adam")->check(CLI::IsMember({"sgd", "adam"}));
  app.add_option("--warmup", warmup, "untimed steps first")->check(CLI::NonNegativeNumber);
  app.add_option("--steps", steps, "timed steps")->check(CLI::PositiveNumber);
  app.add_flag("--profile", profile, "one more step under the op-level profiler (the whole run is then eager)");
  app.add_option("--cuda-graph", cuda_graph, "GPU: on replays the step as one CUDA graph, off runs it eagerly")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--conv-algo", conv_algo,
                 "GPU: how cuDNN's convolution algorithms are chosen: default (as --precision sets it), "
                 "heuristic (cuDNN's order), benchmark (timed once per shape, as cudnn.benchmark)")
      ->check(CLI::IsMember({"default", "heuristic", "benchmark"}));
  app.add_option("--conv-workspace-mb", conv_workspace_mb,
                 "GPU: the largest cuDNN workspace an algorithm may take, in MiB (0: the default, 256)")
      ->check(CLI::Range(0, 65536));
  app.add_option("--json", json_path, "write the figures to this file");
  app.add_option("--cpu-column-budget", column_budget, "CPU convolution: im2col chunk size in elements")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  int height = 0, width = 0;
  if (!alz::train::parse_size(size_text, height, width) || height < 32 || width < 32) {
    std::fprintf(stderr, "bench_train_step: --size: expected N or HxW of at least 32, got '%s'\n", size_text.c_str());
    return 2;
  }

  try {
    Device device = Device::cpu();
    if (device_name == "cuda" || (device_name == "auto" && alz::cuda::available())) {
      if (!alz::cuda::available()) {
        std::fprintf(stderr, "bench_train_step: --device cuda, but %s\n", alz::cuda::unavailable_reason().c_str());
        return 2;
      }
      device = Device::cuda(0);
    }
    alz::set_conv2d_cpu_column_budget(column_budget);
    alz::ResNetV2 model(alz::resnet_v2_config(model_name, classes, height, width), /*seed=*/1);
    model.to(device);
    model.set_training(!inference);
    alz::train::apply_precision(precision, device, model, /*inference_only=*/inference);
#if ALZ_HAS_CUDA
    if (conv_algo != "default")
      alz::set_conv_algo_mode(conv_algo == "benchmark" ? alz::ConvAlgoMode::Benchmark : alz::ConvAlgoMode::Heuristic);
    if (conv_workspace_mb > 0) alz::set_conv_workspace_limit(static_cast<size_t>(conv_workspace_mb) << 20);
#endif
    std::unique_ptr<alz::Optimizer> optimizer;
    if (inference) {
      // no optimizer: the weights may be stored in bf16 (apply_precision above)
    } else if (optimizer_name == "sgd") {
      alz::SgdOptions o;
      o.momentum = 0.9;
      optimizer = std::make_unique<alz::SGD>(model.trainable_parameters(), o);
    } else {
      optimizer = std::make_unique<alz::Adam>(model.trainable_parameters(), alz::AdamOptions{});
    }
    alz::Generator gen(7);
    Tensor images = Tensor::uniform({batch, height, width, 3}, gen, -1.0, 1.0, DType::F32, device);
    std::vector<int32_t> label_values;
    for (int i = 0; i < batch; ++i) label_values.push_back(i % classes);
    Tensor labels = Tensor::from_vector(label_values, {batch}, device);

    if (device.is_cpu()) std::printf("%s\n", alz::kernels::cpu_threading_summary().c_str());
    const std::string shown_precision = device.is_cuda() || precision == "bf16" ? precision : "f32";
    std::printf("bench_train_step: %s, %s, %dx%d, batch %d, %d classes, device %s%s, %s, %s\n",
                inference ? "inference" : "training", model_name.c_str(), height, width, batch, classes,
                device.str().c_str(), device.is_cuda() ? (" (" + alz::cuda::devices()[0].name + ")").c_str() : "",
                shown_precision.c_str(), inference ? "no optimizer" : optimizer_name.c_str());

    double forward_ms = 0, backward_ms = 0, optimizer_ms = 0;
    auto step = [&](bool phases) {
      if (inference) {  // forward only: eval mode (moving statistics), nothing recorded
        alz::NoGradGuard no_grad;
        Clock::time_point t0 = Clock::now();
        Tensor logits = model.forward(images);
        if (phases) {
          sync(device);
          forward_ms = ms_since(t0);
        }
        return;
      }
      alz::trace_mark("step");  // ALZ_ALLOC_TRACE: bench_allocator --replay splits the trace here
      Clock::time_point t0 = Clock::now();
      Tensor logits = model.forward(images);
      Tensor loss = alz::ops::softmax_cross_entropy(logits, labels);
      if (phases) {
        sync(device);
        forward_ms = ms_since(t0);
        t0 = Clock::now();
      }
      alz::backward(loss);
      if (phases) {
        sync(device);
        backward_ms = ms_since(t0);
        t0 = Clock::now();
      }
      optimizer->step();
      optimizer->zero_grad();
      if (phases) {
        sync(device);
        optimizer_ms = ms_since(t0);
      }
      alz::trace_mark("step_end");
    };

    // How the timed steps run: eager, or a replay of the step captured as one CUDA graph.
    std::string graph_status = device.is_cuda() ? (cuda_graph == "on" ? "on" : "off") : "off (CPU)";
    if (device.is_cuda() && cuda_graph == "on" && profile) graph_status = "off (--profile: profiling is eager)";
    const bool use_graph = graph_status == "on";
    Clock::time_point warm_start = Clock::now();
    const int eager_warmup = use_graph ? std::max(warmup, 2) : warmup;  // algorithms and caches first
    std::unique_ptr<alz::cuda::CudaGraph> graph;
    for (int i = 0; i < eager_warmup; ++i) {
      if (use_graph && i + 1 == eager_warmup) {  // the last one plans the capture's memory, as in alz train
        graph = std::make_unique<alz::cuda::CudaGraph>(device.index);
        graph->record_allocations([&] { step(false); });
      } else {
        step(false);
      }
    }
    if (use_graph) {
      try {
        graph->capture([&] { step(false); });
        graph_status = "on (" + std::to_string(graph->num_nodes()) + " nodes" +
                       (graph->followed_memory_plan() ? ", memory placed by plan" : "") + ")";
      } catch (const std::exception& e) {
        graph.reset();
        if (optimizer) optimizer->zero_grad();
        graph_status = std::string("off (capture failed: ") + e.what() + ")";
      }
    }
    auto timed_step = [&] {
      if (graph) {
        graph->replay();
        if (optimizer) optimizer->count_replayed_step();  // --inference has none
      } else {
        step(false);
      }
    };
    if (graph) timed_step();  // the first replay, untimed like the warm-up
    sync(device);
    double warmup_ms = ms_since(warm_start);
    std::printf("cuda graph: %s\n", graph_status.c_str());
#if ALZ_HAS_CUDA
    if (device.is_cuda()) std::printf("conv algorithms: %s\n", alz::conv_algo_mode_name(alz::conv_algo_mode()));
#endif
#if ALZ_HAS_CUDA
    if (device.is_cuda()) alz::cuda::reset_peak_stats(device.index);
#endif
    if (device.is_cpu()) alz::reset_host_peak_stats();
    Counters before = read_counters(device);

    std::vector<double> times;
    Clock::time_point loop_start = Clock::now();
    for (int i = 0; i < steps; ++i) {
      Clock::time_point t0 = Clock::now();
      timed_step();
      sync(device);
      times.push_back(ms_since(t0));
    }
    double loop_ms = ms_since(loop_start);
    Counters after = read_counters(device);
    // A replay's working memory sits in the graph's pool, free between replays: a step's peak is
    // what is allocated outside the replays plus that (tensor/cuda_graph.h).
    const size_t graph_idle = graph ? graph->pool_idle_bytes() : 0;
    after.peak += graph_idle;
    after.peak_requested += graph_idle;  // the pool's idle blocks count whole
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    double median = sorted[sorted.size() / 2];
    std::printf("warm-up: %d steps in %.1f ms%s\n", eager_warmup + (graph ? 1 : 0), warmup_ms,
                graph ? " (eager steps, the capture and the first replay)" : "");
    std::printf("step: median %.2f ms, min %.2f, max %.2f over %d steps -> %.1f img/s (mean %.2f ms)\n", median,
                sorted.front(), sorted.back(), steps, batch / (median / 1000.0), loop_ms / steps);
    if (device.is_cpu())
      std::printf(
          "warm steps: %llu blocks of 64 KiB or more taken from the system (tensor/host_allocator.h); "
          "peak allocated %.2f GiB, held %.2f GiB\n",
          static_cast<unsigned long long>(after.mallocs - before.mallocs), gib(after.peak), gib(after.reserved));
    char graph_note[96] = "";
    if (graph) std::snprintf(graph_note, sizeof graph_note, " (%.2f GiB of it the graph pool's working memory)", gib(graph_idle));
    if (device.is_cuda())
      std::printf(
          "warm steps: %llu cudaMalloc calls, %llu cache flushes, %llu new conv algorithm selections; "
          "peak allocated %.2f GiB%s (%.2f GiB requested before rounding), reserved %.2f GiB\n",
          static_cast<unsigned long long>(after.mallocs - before.mallocs),
          static_cast<unsigned long long>(after.flushes - before.flushes),
          static_cast<unsigned long long>(after.selections - before.selections), gib(after.peak),
          graph_note, gib(after.peak_requested), gib(after.reserved));

    nlohmann::json out = {{"model", model_name},
                          {"mode", inference ? "inference" : "training"},
                          {"height", height},
                          {"width", width},
                          {"batch", batch},
                          {"device", device.str()},
                          {"precision", precision},
                          {"optimizer", optimizer_name},
                          {"cuda_graph", graph_status},
                          {"median_ms", median},
                          {"mean_ms", loop_ms / steps},
                          {"images_per_s", batch / (median / 1000.0)},
                          {"step_ms", times}};
    if (device.is_cuda()) {
      out["device_name"] = alz::cuda::devices()[0].name;
      out["warm_cuda_malloc_calls"] = after.mallocs - before.mallocs;
      out["warm_cache_flushes"] = after.flushes - before.flushes;
      out["warm_conv_selections"] = after.selections - before.selections;
      out["peak_allocated_gib"] = gib(after.peak);
      out["peak_requested_gib"] = gib(after.peak_requested);
      out["reserved_gib"] = gib(after.reserved);
      out["graph_pool_gib"] = gib(graph ? graph->pool_bytes() : 0);
      out["graph_pool_idle_gib"] = gib(graph_idle);
      out["graph_memory_planned"] = graph ? graph->followed_memory_plan() : false;
#if ALZ_HAS_CUDA
      out["conv_algo"] = alz::conv_algo_mode_name(alz::conv_algo_mode());
      out["conv_workspace_mb"] = static_cast<double>(alz::conv_workspace_limit()) / (1 << 20);
#endif
    }

    if (profile) {
      step(true);  // phase times, each phase ended by a sync
      std::printf(
          "phases (one step, synchronised between them): forward+loss %.2f ms, backward %.2f ms, "
          "optimizer %.2f ms\n",
          forward_ms, backward_ms, optimizer_ms);
      alz::profiler::start();
      Clock::time_point t0 = Clock::now();
      step(false);
      std::vector<alz::profiler::OpTime> rows = alz::profiler::stop();  // waits for the device
      double profiled_ms = ms_since(t0);
      double host_total = 0, device_total = 0;
      for (const auto& r : rows) {
        host_total += r.host_ms;
        device_total += r.device_ms;
      }
      std::printf("profiled step: %.2f ms wall; ops: %.2f ms on the host%s\n", profiled_ms, host_total,
                  device.is_cuda() ? (", " + std::to_string(device_total) + " ms on the device").c_str() : "");
      std::printf("%-34s %7s %11s %11s %7s\n", "op", "calls", "host ms", "device ms", "share");
      nlohmann::json ops = nlohmann::json::array();
      for (const auto& r : rows) {
        double total = device.is_cuda() ? device_total : host_total;
        double mine = r.on_device ? r.device_ms : r.host_ms;
        std::printf("%-34s %7lld %11.3f %11.3f %6.1f%%\n", r.name.c_str(), static_cast<long long>(r.calls), r.host_ms,
                    r.device_ms, total > 0 ? 100.0 * mine / total : 0.0);
        ops.push_back({{"op", r.name}, {"calls", r.calls}, {"host_ms", r.host_ms}, {"device_ms", r.device_ms}});
      }
      out["phases_ms"] = {{"forward", forward_ms}, {"backward", backward_ms}, {"optimizer", optimizer_ms}};
      out["profile"] = ops;
    }
    if (!json_path.empty()) {
      std::ofstream file(json_path);
      file << out.dump(2) << "\n";
      if (!file) {
        std::fprintf(stderr, "bench_train_step: cannot write %s\n", json_path.c_str());
        return 1;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 1;
  }
  return 0;
}
