// cuDNN convolution on every distinct ResNet152V2 convolution shape at batch 64, 224x224:
// forward, backward data and backward filter, TF32 (f32 storage) and bf16 storage, algorithms
// chosen in benchmark mode (cudnnFind*AlgorithmEx, once per shape). Each benchmark iteration
// replays a CUDA graph of kLaunches captured calls, timed with CUDA events; the reported time is
// per call (device time: the legacy cuDNN API costs ~0.1-0.2 ms of host time per call, which
// back-to-back eager calls would measure instead). host_us and eager_ms give the eager view.
// TFLOP/s counts 2*N*P*Q*K*R*S*C per launch; the label is the chosen algorithm and workspace.
// At the end: the convolution time of one training step (each shape times its count in the
// network, forward + both backwards).
//
//   build/bench/bench_conv                          (about 1-2 minutes on an H100)
//   build/bench/bench_conv --benchmark_filter=bf16  (one dtype)
//   ALZ_CONV_MODE=heuristic build/bench/bench_conv  (selection mode: heuristic, benchmark, deterministic)
// Host code only (cuDNN calls); a .cu so that it is built only with the CUDA toolkit.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "bench/resnet152v2_conv_shapes.h"
#include "core/cuda/check.h"
#include "kernels/conv2d.h"

namespace {

using alz::Conv2dParams;
using alz::ConvDirection;
using alz::DType;

using Shape = alz::bench::ConvShape;
using alz::bench::resnet152v2_shapes;

cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudaStream_t stream = nullptr;
    cudnnHandle_t created = nullptr;
    ALZ_CUDA_CHECK(cudaStreamCreate(&stream));  // blocking: ordered after the plain cudaMemcpy/cudaMemset
    ALZ_CUDNN_CHECK(cudnnCreate(&created));
    ALZ_CUDNN_CHECK(cudnnSetStream(created, stream));
    return created;
  }();
  return h;
}

cudaStream_t stream() {
  cudaStream_t s = nullptr;
  ALZ_CUDNN_CHECK(cudnnGetStream(handle(), &s));
  return s;
}

struct DeviceBuffer {
  void* data = nullptr;
  explicit DeviceBuffer(size_t bytes) {
    if (bytes == 0) return;
    ALZ_CUDA_CHECK(cudaMalloc(&data, bytes));
    ALZ_CUDA_CHECK(cudaMemset(data, 0x3c, bytes));  // about 0.0115 in f32 and bf16
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data) cudaFree(data);
  }
};

constexpr int kLaunches = 5;
std::map<std::string, double> g_ms;        // "<dtype>/<direction>/<shape>" -> device ms per call (graph)
std::map<std::string, double> g_eager_ms;  // same key -> event-timed eager ms per call

void bench_conv_body(benchmark::State& state, const Shape& shape, DType dtype, ConvDirection direction) {
  const Conv2dParams& p = shape.p;
  const size_t es = dtype == DType::BF16 ? 2 : 4;
  DeviceBuffer x(size_t(p.x_count()) * es), w(size_t(p.w_count()) * es), y(size_t(p.y_count()) * es);
  const auto select_start = std::chrono::steady_clock::now();
  const alz::ConvAlgoInfo info = alz::conv2d_algo_cudnn(handle(), p, dtype, direction);  // selection, untimed
  const double select_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - select_start).count();
  DeviceBuffer ws(info.workspace_bytes);
  auto launch = [&] {
    switch (direction) {
      case ConvDirection::Forward:
        alz::conv2d_forward_cudnn(handle(), p, dtype, x.data, w.data, y.data, ws.data, info.workspace_bytes);
        break;
      case ConvDirection::BackwardData:
        alz::conv2d_backward_data_cudnn(handle(), p, dtype, y.data, w.data, x.data, ws.data, info.workspace_bytes);
        break;
      case ConvDirection::BackwardFilter:
        alz::conv2d_backward_filter_cudnn(handle(), p, dtype, x.data, y.data, w.data, false, ws.data,
                                          info.workspace_bytes);
        break;
    }
  };
  launch();  // warm-up
  launch();
  ALZ_CUDA_CHECK(cudaStreamSynchronize(stream()));

  // Host cost of one eager call, and the event-timed eager time (what a step without CUDA
  // graphs sees: the larger of host and device time).
  cudaEvent_t start, stop;
  ALZ_CUDA_CHECK(cudaEventCreate(&start));
  ALZ_CUDA_CHECK(cudaEventCreate(&stop));
  const auto host_start = std::chrono::steady_clock::now();
  ALZ_CUDA_CHECK(cudaEventRecord(start, stream()));
  for (int i = 0; i < 4 * kLaunches; ++i) launch();
  ALZ_CUDA_CHECK(cudaEventRecord(stop, stream()));
  const double host_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - host_start).count() /
      (4 * kLaunches);
  ALZ_CUDA_CHECK(cudaEventSynchronize(stop));
  float eager_ms = 0.0f;
  ALZ_CUDA_CHECK(cudaEventElapsedTime(&eager_ms, start, stop));
  eager_ms /= 4 * kLaunches;

  // Device time: kLaunches calls captured into a CUDA graph, replayed and timed with events.
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ALZ_CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
  try {
    for (int i = 0; i < kLaunches; ++i) launch();
  } catch (...) {
    cudaStreamEndCapture(stream(), &graph);
    throw;
  }
  ALZ_CUDA_CHECK(cudaStreamEndCapture(stream(), &graph));
  ALZ_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  ALZ_CUDA_CHECK(cudaGraphLaunch(exec, stream()));  // warm-up replay
  double total_ms = 0.0;
  int64_t launches = 0;
  for (auto _ : state) {
    ALZ_CUDA_CHECK(cudaEventRecord(start, stream()));
    ALZ_CUDA_CHECK(cudaGraphLaunch(exec, stream()));
    ALZ_CUDA_CHECK(cudaEventRecord(stop, stream()));
    ALZ_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    ALZ_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1e3 / kLaunches);
    total_ms += ms;
    launches += kLaunches;
  }
  ALZ_CUDA_CHECK(cudaGraphExecDestroy(exec));
  ALZ_CUDA_CHECK(cudaGraphDestroy(graph));
  ALZ_CUDA_CHECK(cudaEventDestroy(start));
  ALZ_CUDA_CHECK(cudaEventDestroy(stop));
  const double ms_per_launch = total_ms / double(launches);
  state.counters["TFLOP/s"] = p.flops() / (ms_per_launch / 1e3) / 1e12;
  state.counters["count"] = shape.count;
  state.counters["select_ms"] = select_ms;  // one-time algorithm selection (cudnnFind*AlgorithmEx)
  state.counters["host_us"] = host_us;      // host time to enqueue one eager call
  state.counters["eager_ms"] = eager_ms;    // event-timed eager calls, back to back
  char label[128];
  std::snprintf(label, sizeof label, "%s ws=%.1fMiB", info.name.c_str(), double(info.workspace_bytes) / (1 << 20));
  state.SetLabel(label);
  const std::string key =
      std::string(alz::dtype_name(dtype)) + "/" + alz::conv_direction_name(direction) + "/" + shape.name;
  g_ms[key] = ms_per_launch;
  g_eager_ms[key] = eager_ms;
}

void bench_conv(benchmark::State& state, Shape shape, DType dtype, ConvDirection direction) {
  try {
    bench_conv_body(state, shape, dtype, direction);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  // ALZ_CONV_MODE=heuristic|benchmark|deterministic (default benchmark).
  const char* mode = std::getenv("ALZ_CONV_MODE");
  const std::string mode_name = mode ? mode : "benchmark";
  if (mode_name == "heuristic")
    alz::set_conv_algo_mode(alz::ConvAlgoMode::Heuristic);
  else if (mode_name == "deterministic")
    alz::set_conv_algo_mode(alz::ConvAlgoMode::Deterministic);
  else
    alz::set_conv_algo_mode(alz::ConvAlgoMode::Benchmark);
  std::printf("algorithm selection mode: %s\n", alz::conv_algo_mode_name(alz::conv_algo_mode()));
  alz::set_conv_allow_tf32(true);
  const std::vector<Shape> shapes = resnet152v2_shapes(64, 224);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const Shape& shape : shapes)
      for (ConvDirection direction :
           {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter}) {
        const std::string name = std::string(dtype == DType::F32 ? "tf32" : "bf16") + "/" +
                                 alz::conv_direction_name(direction) + "/" + shape.name + "/" + shape.p.str();
        benchmark::RegisterBenchmark(name.c_str(), bench_conv, shape, dtype, direction)
            ->UseManualTime()
            ->Iterations(8)
            ->Unit(benchmark::kMillisecond);
      }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  // One training step's convolutions: every layer forward, backward data and backward filter.
  for (DType dtype : {DType::F32, DType::BF16}) {
    double step_ms = 0.0, eager_step_ms = 0.0, flops = 0.0;
    int measured = 0;
    for (const Shape& shape : shapes)
      for (ConvDirection direction :
           {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter}) {
        const std::string key =
            std::string(alz::dtype_name(dtype)) + "/" + alz::conv_direction_name(direction) + "/" + shape.name;
        auto it = g_ms.find(key);
        if (it == g_ms.end()) continue;
        step_ms += it->second * shape.count;
        eager_step_ms += g_eager_ms[key] * shape.count;
        flops += shape.p.flops() * shape.count;
        ++measured;
      }
    if (measured == int(shapes.size()) * 3)
      std::printf(
          "%s: one training step's convolutions (%zu distinct shapes): %.2f ms device time (%.1f TFLOP/s), "
          "%.2f ms eager back-to-back\n",
          dtype == DType::F32 ? "tf32" : "bf16", shapes.size(), step_ms, flops / (step_ms / 1e3) / 1e12, eager_step_ms);
  }
  return 0;
}
