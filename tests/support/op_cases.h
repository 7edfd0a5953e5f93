// The one table of the ops on the autograd tape (tensor/ops.h), in the spirit of ggml's backend
// tests: every op appears once per configuration ("case") with
//   a name             ctest-friendly (letters, digits, '_'), e.g. conv2d_3x3_s2_asym_pad_bias
//   its inputs         shapes with odd sizes (C not a multiple of 4, N = 1, 1x1 spatial) and the
//                      value range of each, plus a larger "bench" shape per input
//   the function       inputs -> one output; constants (moving statistics, class weights) are
//                      drawn inside it on the inputs' device, so the same function runs everywhere
//   its tolerances     per dtype and mode, each with a one-line reason
//   where it runs      CPU f64 and f32 and GPU f32 always; bf16 on both where the op has it
//
// The same table drives three programs:
//   tests/test_ops.cpp                   every input gradient against central finite differences
//                                        (CPU, f64), CPU f32 against CPU f64, and CPU bf16
//                                        against CPU f32
//   tests/gpu/test_autograd_ops_gpu.cpp  forward and every input gradient, GPU against CPU
//                                        (f32 with TF32 off; bf16 against the CPU on the
//                                        bf16-rounded inputs, and against the CPU's bf16);
//                                        skips without a device
//   bench/bench_ops.cpp                  forward and forward+backward timings, CPU and GPU, at
//                                        the test shapes and at the bench shapes
// A new op gets its cases in support/op_cases.cpp and is then checked and timed by all three.
//
//   for (const OpCase& c : op_cases()) {
//     std::vector<Tensor> in = make_inputs(c, OpSize::Test, DType::F64, Device::cpu());
//     Tensor y = c.run(in);
//   }
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "support/tolerance.h"
#include "tensor/tensor.h"

namespace alz::test {

using OpFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// How one input is drawn: uniform values in [low, high) from a generator seeded by the case's
// name, in f64 on the CPU, then converted to the dtype and device the check runs in. With
// `classes` set it is instead an I32 tensor of labels, which takes no gradient.
struct InputSpec {
  Shape shape;        // the test shape: odd sizes, small enough for finite differences
  Shape bench_shape;  // a larger, ResNet-sized shape that bench/bench_ops.cpp also times
  double low = -1.0, high = 1.0;
  bool away_from_zero = false;  // |v| in [low, high), every other element negated: no value
                                // near a kink at 0 (ReLU), so central differences stay valid
  bool parameter = false;       // a BatchNorm gamma or beta: f32 on the GPU whatever the data dtype
  int32_t classes = 0;          // > 0: labels (N), element i = (7 i + 3) mod classes
};

// Which of the two shapes of every input.
enum class OpSize { Test, Bench };

struct OpCase {
  std::string name;
  std::vector<InputSpec> inputs;
  OpFunction run;

  // Tolerances, one per mode; the reason is printed when a check fails.
  ReasonedTolerance finite_difference;    // CPU f64 analytic gradient vs central differences
  ReasonedTolerance cpu_f32;              // CPU f32 vs CPU f64 on the same (f32) inputs
  ReasonedTolerance cuda_f32;             // GPU f32, TF32 off, vs CPU f32
  std::optional<ReasonedTolerance> bf16;  // bf16 (GPU, or CPU through f32) vs CPU f32 on
                                          // the bf16-rounded inputs, and GPU bf16 vs CPU
                                          // bf16; empty: the op has no bf16 path

  // Floating-point operations of one forward, for the benchmark's FLOP/s (empty for ops that
  // are bound by memory traffic; the benchmark reports bytes for every op).
  std::function<double(const std::vector<Tensor>& inputs, const Tensor& output)> forward_flops;

  // Does the case run in `dtype` on a device of this kind? CPU: f64, f32; GPU: f32; both: bf16
  // where `bf16` is set.
  bool supports(Device device, DType dtype) const;
};

// The table, in the order of tensor/ops.h. Built once; names are unique.
const std::vector<OpCase>& op_cases();

// The case's inputs at the test or bench shape, in `dtype` on `device` (parameter inputs: f32
// on the GPU; labels: I32). The values depend only on the case, the input's position and the
// size, so two devices or dtypes see the same numbers up to the rounding to `dtype`.
std::vector<Tensor> make_inputs(const OpCase& c, OpSize size, DType dtype, Device device);

// "cpu_f32", "cuda_bf16": for test and benchmark names.
std::string device_dtype_name(Device device, DType dtype);

}  // namespace alz::test
