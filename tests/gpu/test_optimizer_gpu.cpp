// The fused CUDA optimizers (kernels/cuda/optimizer.cu through optim/optimizer.h) against the
// CPU reference: SGD and Adam, with decoupled weight decay and coupled L2, with and without
// global-norm clipping, on many random
// tensors of odd sizes (1, 3, 65537 = one element past a chunk, 131077, and 40 small ones), for
// several steps with fresh random gradients; frozen and gradient-less parameters untouched;
// exactly ONE update launch per step; the table uploaded only when a pointer changes; a clipped
// run repeated bit for bit (deterministic norm); state save/load resuming bit-exactly; and a
// step captured in a CUDA graph and replayed (t and lr read from device memory).
// Tolerance: kGpu {2e-6, 1e-5}: f32 on both sides; the device contracts multiply-adds (FMA)
// and sums the clipping norm in another order (relative 1e-6), over 5 steps of size <= 0.05.
// Skips cleanly without a device.   ctest --test-dir build -L gpu -R Optimizer
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/cuda/check.h"
#include "kernels/optimizer.h"
#include "optim/optimizer.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/cuda/context.h"

namespace alz {
namespace {

using test::Tolerance;
constexpr Tolerance kGpu{2e-6, 1e-5};
constexpr int kSteps = 5;

ParamRef ref(const std::string& name, Tensor& t, bool trainable = true) {
  return ParamRef{name, &t, ParamKind::Weight, KerasLayout::Same, trainable};
}

void set_grad(Tensor& p, const Tensor& g) {
  if (!p.autograd_meta()) p.set_requires_grad(true);
  p.autograd_meta()->grad = g;
}

// Parameters on one device: the odd sizes, then 40 small tensors of sizes 1..3000.
struct ParamSet {
  std::vector<Tensor> tensors;
  std::vector<ParamRef> refs() {
    std::vector<ParamRef> out;
    for (size_t i = 0; i < tensors.size(); ++i) out.push_back(ref("layer" + std::to_string(i) + "/w", tensors[i]));
    return out;
  }
};

std::vector<int64_t> sizes() {
  std::vector<int64_t> out = {1, 3, 65537, 131077};
  Generator gen(5);
  Tensor r = Tensor::uniform({40}, gen, 1.0, 3000.0, DType::F64);
  for (double v : r.to_vector()) out.push_back(static_cast<int64_t>(v));
  return out;
}

ParamSet make_params(Device device) {
  Generator gen(21);
  ParamSet set;
  for (int64_t n : sizes()) set.tensors.push_back(Tensor::normal({n}, gen).to(device).set_requires_grad(true));
  return set;
}

// gradients[step][tensor], on the host, scaled by `scale` (to make clipping bite or not).
std::vector<std::vector<Tensor>> make_grads(int steps, double scale) {
  Generator gen(99);
  std::vector<std::vector<Tensor>> out(steps);
  for (auto& step : out)
    for (int64_t n : sizes()) step.push_back(Tensor::normal({n}, gen, 0.0, scale));
  return out;
}

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(std::vector<ParamRef>)>;

// Runs the same steps on the CPU and on the GPU and compares every tensor.
void compare_with_cpu(const MakeOptimizer& make, double grad_scale, const std::string& what) {
  ParamSet cpu = make_params(Device::cpu()), gpu = make_params(Device::cuda());
  auto cpu_opt = make(cpu.refs());
  auto gpu_opt = make(gpu.refs());
  const auto grads = make_grads(kSteps, grad_scale);
  const uint64_t launches0 = kernels::multi_tensor_update_launches();
  for (int s = 0; s < kSteps; ++s) {
    for (size_t i = 0; i < grads[s].size(); ++i) {
      set_grad(cpu.tensors[i], grads[s][i].clone());
      set_grad(gpu.tensors[i], grads[s][i].to(Device::cuda()));
    }
    cpu_opt->step();
    gpu_opt->step();
    if (cpu_opt->last_grad_norm() >= 0.0) {
      EXPECT_NEAR(gpu_opt->last_grad_norm(), cpu_opt->last_grad_norm(), 1e-5 * cpu_opt->last_grad_norm()) << what;
    }
  }
  EXPECT_EQ(kernels::multi_tensor_update_launches() - launches0, static_cast<uint64_t>(kSteps))
      << what << ": one fused update launch per step";
  for (size_t i = 0; i < cpu.tensors.size(); ++i)
    EXPECT_TRUE(test::all_close(gpu.tensors[i], cpu.tensors[i], kGpu, what + " tensor " + std::to_string(i)));
  const auto cpu_state = cpu_opt->state(), gpu_state = gpu_opt->state();
  ASSERT_EQ(cpu_state.size(), gpu_state.size());
  for (size_t i = 0; i < cpu_state.size(); ++i)
    EXPECT_TRUE(test::all_close(gpu_state[i].tensor, cpu_state[i].tensor, kGpu, what + " " + cpu_state[i].name));
}

template <typename Options> MakeOptimizer sgd(Options o) {
  return [o](std::vector<ParamRef> p) { return std::make_unique<SGD>(std::move(p), o); };
}
template <typename Options> MakeOptimizer adam(Options o) {
  return [o](std::vector<ParamRef> p) { return std::make_unique<Adam>(std::move(p), o); };
}

// The global norm of the unscaled gradients is about sqrt(330000) ~ 575: clip 50 bites,
// clip 1e4 does not.
TEST(OptimizerGpu, SgdMatchesCpu) {
  ALZ_REQUIRE_GPU();
  compare_with_cpu(sgd(SgdOptions{.learning_rate = 0.01}), 1.0, "sgd");
  compare_with_cpu(sgd(SgdOptions{.learning_rate = 0.01, .momentum = 0.9, .nesterov = true, .weight_decay = 0.1}), 1.0,
                   "sgd nesterov decoupled wd");
  compare_with_cpu(sgd(SgdOptions{.learning_rate = 0.01, .weight_decay = 0.1}), 1.0, "sgd decoupled wd");
  compare_with_cpu(sgd(SgdOptions{.learning_rate = 0.01, .momentum = 0.9, .weight_decay = 0.05, .l2 = 1e-3}), 1.0,
                   "sgd momentum wd + l2");
  compare_with_cpu(sgd(SgdOptions{.learning_rate = 0.01, .momentum = 0.9, .clip_global_norm = 50.0}), 1.0,
                   "sgd momentum clip");
  compare_with_cpu(sgd(SgdOptions{.learning_rate = 0.01, .clip_global_norm = 1e4}), 1.0, "sgd clip not reached");
}

TEST(OptimizerGpu, AdamMatchesCpu) {
  ALZ_REQUIRE_GPU();
  compare_with_cpu(adam(AdamOptions{.learning_rate = 0.01}), 1.0, "adam");
  compare_with_cpu(adam(AdamOptions{.learning_rate = 0.01, .weight_decay = 0.05}), 1.0, "adamw (decoupled wd)");
  compare_with_cpu(adam(AdamOptions{.learning_rate = 0.01, .l2 = 1e-3, .clip_global_norm = 50.0}), 1.0, "adam l2 clip");
  compare_with_cpu(adam(AdamOptions{.learning_rate = 0.01, .weight_decay = 0.05, .l2 = 1e-3, .clip_global_norm = 50.0}),
                   1.0, "adam wd + l2 clip");
  compare_with_cpu(adam(AdamOptions{.learning_rate = 0.01, .epsilon = 1e-3, .clip_global_norm = 50.0}), 1e-3,
                   "adam small grads, clip not reached");
}

TEST(OptimizerGpu, FrozenAndGradientlessUntouched) {
  ALZ_REQUIRE_GPU();
  Generator gen(4);
  Tensor moving = Tensor::normal({70001}, gen).to(Device::cuda()).set_requires_grad(true);
  Tensor frozen = Tensor::normal({33}, gen).to(Device::cuda()).set_requires_grad(true);
  Tensor no_grad = Tensor::normal({5}, gen).to(Device::cuda()).set_requires_grad(true);
  const Tensor frozen0 = frozen.clone(), no_grad0 = no_grad.clone();
  Adam opt({ref("moving", moving), ref("frozen", frozen, false), ref("no_grad", no_grad)},
           {.learning_rate = 0.1, .clip_global_norm = 1.0});
  for (int s = 0; s < 3; ++s) {
    set_grad(moving, Tensor::normal({70001}, gen).to(Device::cuda()));
    set_grad(frozen, Tensor::normal({33}, gen).to(Device::cuda()));
    opt.step();
  }
  EXPECT_TRUE(test::bitwise_equal(frozen, frozen0));
  EXPECT_TRUE(test::bitwise_equal(no_grad, no_grad0));
  EXPECT_EQ(opt.step_count(), 3);
}

// The same gradient tensors every step (stable pointers): one table upload in all.
TEST(OptimizerGpu, TableUploadedOnlyWhenPointersChange) {
  ALZ_REQUIRE_GPU();
  ParamSet gpu = make_params(Device::cuda());
  const auto grads = make_grads(kSteps, 1.0);
  std::vector<Tensor> device_grads;
  for (const Tensor& g : grads[0]) device_grads.push_back(g.to(Device::cuda()));
  SGD opt(gpu.refs(), {.learning_rate = 0.01, .momentum = 0.9});
  for (int s = 0; s < kSteps; ++s) {
    for (size_t i = 0; i < device_grads.size(); ++i) {
      device_grads[i].copy_from(grads[s][i]);
      set_grad(gpu.tensors[i], device_grads[i]);
    }
    opt.step();
  }
  EXPECT_EQ(opt.table_uploads(), 1u);
  set_grad(gpu.tensors[0], grads[0][0].to(Device::cuda()));  // a new gradient buffer
  opt.step();
  EXPECT_EQ(opt.table_uploads(), 2u);
}

TEST(OptimizerGpu, ClippedRunsAreBitwiseRepeatable) {
  ALZ_REQUIRE_GPU();
  const auto grads = make_grads(3, 1.0);
  std::vector<ParamSet> runs;
  runs.reserve(2);  // the optimizers hold pointers to the tensors
  std::vector<double> norms;
  for (int run = 0; run < 2; ++run) {
    runs.push_back(make_params(Device::cuda()));
    Adam opt(runs.back().refs(), {.learning_rate = 0.01, .clip_global_norm = 50.0});
    for (int s = 0; s < 3; ++s) {
      for (size_t i = 0; i < grads[s].size(); ++i) set_grad(runs.back().tensors[i], grads[s][i].to(Device::cuda()));
      opt.step();
    }
    norms.push_back(opt.last_grad_norm());
  }
  EXPECT_EQ(norms[0], norms[1]);
  for (size_t i = 0; i < runs[0].tensors.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(runs[0].tensors[i], runs[1].tensors[i]));
}

TEST(OptimizerGpu, SaveLoadResumesBitExactly) {
  ALZ_REQUIRE_GPU();
  const auto grads = make_grads(4, 1.0);
  ParamSet a = make_params(Device::cuda());
  auto feed = [&](ParamSet& set, Optimizer& opt, int from, int to) {
    for (int s = from; s < to; ++s) {
      for (size_t i = 0; i < grads[s].size(); ++i) set_grad(set.tensors[i], grads[s][i].to(Device::cuda()));
      opt.step();
    }
  };
  Adam first(a.refs(), {.learning_rate = 0.01, .weight_decay = 0.01, .clip_global_norm = 50.0});
  feed(a, first, 0, 2);
  first.set_learning_rate(0.005);
  const std::vector<NamedTensor> saved = first.state();
  ParamSet b;
  for (Tensor& t : a.tensors) b.tensors.push_back(t.clone().set_requires_grad(true));
  feed(a, first, 2, 4);
  Adam second(b.refs(), {.learning_rate = 0.01, .weight_decay = 0.01, .clip_global_norm = 50.0});
  second.load_state(saved);
  feed(b, second, 2, 4);
  for (size_t i = 0; i < a.tensors.size(); ++i) EXPECT_TRUE(test::bitwise_equal(a.tensors[i], b.tensors[i]));
}

// One normal step (uploads the table), then step() captured once and replayed 3 times: the
// device's t advances at each replay, so the result equals 4 CPU steps.
TEST(OptimizerGpu, StepReplaysAsACudaGraph) {
  ALZ_REQUIRE_GPU();
  ParamSet cpu = make_params(Device::cpu()), gpu = make_params(Device::cuda());
  const auto grads = make_grads(1, 1.0);
  const AdamOptions options{.learning_rate = 0.01, .clip_global_norm = 50.0};
  Adam cpu_opt(cpu.refs(), options), gpu_opt(gpu.refs(), options);
  for (size_t i = 0; i < grads[0].size(); ++i) {
    set_grad(cpu.tensors[i], grads[0][i].clone());
    set_grad(gpu.tensors[i], grads[0][i].to(Device::cuda()));
  }
  for (int s = 0; s < 4; ++s) cpu_opt.step();
  gpu_opt.step();
  cudaStream_t stream = cuda::context(0).compute_stream;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ALZ_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  gpu_opt.step();
  ALZ_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  ALZ_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int r = 0; r < 3; ++r) ALZ_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  ALZ_CUDA_CHECK(cudaStreamSynchronize(stream));
  ALZ_CUDA_CHECK(cudaGraphExecDestroy(exec));
  ALZ_CUDA_CHECK(cudaGraphDestroy(graph));
  for (size_t i = 0; i < cpu.tensors.size(); ++i)
    EXPECT_TRUE(test::all_close(gpu.tensors[i], cpu.tensors[i], kGpu, "graph tensor " + std::to_string(i)));
}

}  // namespace
}  // namespace alz
