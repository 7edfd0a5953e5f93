// Every op on the tape, timed: the cases of the test suite's op table (tests/support/op_cases.h),
// forward and forward + backward, on the CPU (f32) and, when a GPU is found, on the GPU (f32,
// and bf16 where the op has it), at the table's small test shapes (launch and dispatch
// overhead) and at each case's larger bench shape (a ResNet152V2 layer at a small batch).
//
// Names: <case>/<device>_<dtype>/<test|bench>/<forward|forward_backward>, e.g.
//   conv2d_3x3_same_bias/cuda_bf16/bench/forward_backward
// Each timed iteration ends with a device synchronisation, so a time is a whole call. Inputs,
// the output gradient and labels are made once before the loop; constants the case draws
// itself (moving statistics, class weights) are drawn on the device inside it. GPU math as in
// training: TF32 allowed (printed in the context).
// Counters, back of the envelope (printed as rates, e.g. bytes=12.3G/s):
//   bytes  the inputs and the output, once each, per call (a floor on the traffic); forward +
//          backward counts them twice (their gradients too); none for a view (flatten)
//   FLOP   GEMM-like ops only: 2 * output elements * inner size per forward, 3x that for
//          forward + backward (the backward is two GEMMs of the forward's size)
//
//   build/bench/bench_ops --benchmark_min_time=0.01                       every case, quickly
//   build/bench/bench_ops --benchmark_filter='conv2d.*/bench/' --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/op_cases.h"
#include "tensor/autograd.h"
#include "tensor/cuda_runtime.h"

#if ALZ_HAS_CUDA
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#endif

namespace {

using alz::Device;
using alz::DType;
using alz::Tensor;
using alz::test::OpCase;
using alz::test::OpSize;

void sync(Device device) {
  if (device.is_cuda()) alz::cuda::synchronize(device.index);
}

void drop_gradients(std::vector<Tensor>& inputs) {
  for (Tensor& t : inputs)
    if (t.autograd_meta()) t.autograd_meta()->grad = Tensor();
}

void time_case(benchmark::State& state, const OpCase& c, Device device, DType dtype, OpSize size, bool backward) {
  try {
    std::vector<Tensor> inputs = alz::test::make_inputs(c, size, dtype, device);
    for (Tensor& t : inputs)
      if (backward && t.dtype() != DType::I32) t.set_requires_grad(true);
    std::optional<alz::NoGradGuard> no_grad;
    if (!backward) no_grad.emplace();

    // One untimed call: the allocator's cache, cuDNN's algorithm choice, the output's shape.
    Tensor dy;
    double bytes = 0, flops = 0;
    {
      Tensor y = c.run(inputs);
      alz::Generator gen(77);
      dy = Tensor::uniform(y.shape(), gen, -1.0, 1.0, y.dtype(), device);
      if (backward) alz::backward(y, dy);
      drop_gradients(inputs);
      if (!y.shares_storage_with(inputs[0])) {
        for (const Tensor& t : inputs) bytes += static_cast<double>(t.nbytes());
        bytes += static_cast<double>(y.nbytes());
      }
      if (c.forward_flops) flops = c.forward_flops(inputs, y);
    }
    sync(device);

    for (auto _ : state) {
      Tensor y = c.run(inputs);
      if (backward) {
        alz::backward(y, dy);
        drop_gradients(inputs);
      }
      sync(device);
    }
    const double calls = static_cast<double>(state.iterations());
    if (bytes > 0)
      state.counters["bytes"] = benchmark::Counter((backward ? 2.0 : 1.0) * bytes * calls, benchmark::Counter::kIsRate);
    if (flops > 0)
      state.counters["FLOP"] = benchmark::Counter((backward ? 3.0 : 1.0) * flops * calls, benchmark::Counter::kIsRate);
  } catch (const alz::Error& e) {
    state.SkipWithError(e.what());
  }
}

void register_cases(Device device, const std::vector<DType>& dtypes) {
  for (DType dtype : dtypes)
    for (const OpCase& c : alz::test::op_cases()) {
      if (!c.supports(device, dtype)) continue;
      for (OpSize size : {OpSize::Test, OpSize::Bench})
        for (bool backward : {false, true}) {
          const std::string name = c.name + "/" + alz::test::device_dtype_name(device, dtype) + "/" +
                                   (size == OpSize::Test ? "test" : "bench") + "/" +
                                   (backward ? "forward_backward" : "forward");
          benchmark::RegisterBenchmark(name.c_str(),
                                       [&c, device, dtype, size, backward](benchmark::State& state) {
                                         time_case(state, c, device, dtype, size, backward);
                                       })
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_cases(Device::cpu(), {DType::F32});
  if (alz::cuda::available()) {
    register_cases(Device::cuda(), {DType::F32, DType::BF16});
#if ALZ_HAS_CUDA
    benchmark::AddCustomContext("gpu", alz::cuda::devices()[0].name);
    benchmark::AddCustomContext("tf32", alz::conv_allow_tf32() && alz::kernels::gemm_allow_tf32() ? "on" : "off");
#endif
  } else {
    std::fprintf(stderr, "bench_ops: CPU only (%s)\n", alz::cuda::unavailable_reason().c_str());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
