// Every op on the tape, on the GPU against the CPU: forward values and every input gradient,
// f32 with TF32 off, on odd sizes. Labelled `gpu`. Run: ctest --test-dir build -R AutogradOpsGpu
#include <gtest/gtest.h>

#include <functional>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"

namespace alz {
namespace {

using Op = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs `op` on CPU copies and on GPU copies of `inputs`, backward from sum(y * r), and compares.
void compare_devices(const std::string& what, const Op& op, const std::vector<Tensor>& inputs,
                     test::Tolerance tol = {1e-4, 1e-4}) {
  SCOPED_TRACE(what);
  set_conv_allow_tf32(false);  // strict fp32 so the GPU can be held to tight tolerances
  kernels::set_gemm_allow_tf32(false);
  std::vector<Tensor> cpu, gpu;
  for (const Tensor& t : inputs) {
    cpu.push_back(t.clone());
    gpu.push_back(t.to(Device::cuda()));
    if (t.dtype() != DType::I32) {
      cpu.back().set_requires_grad(true);
      gpu.back().set_requires_grad(true);
    }
  }
  Tensor y_cpu = op(cpu), y_gpu = op(gpu);
  ALZ_EXPECT_CLOSE(y_gpu, y_cpu, tol);
  Generator gen(77);
  Tensor r = Tensor::uniform(y_cpu.shape(), gen, -1.0, 1.0);
  backward(ops::sum(ops::mul(y_cpu, r)));
  backward(ops::sum(ops::mul(y_gpu, r.to(Device::cuda()))));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!cpu[i].grad().defined()) continue;
    ASSERT_TRUE(gpu[i].grad().defined()) << "input " << i;
    EXPECT_TRUE(test::all_close(gpu[i].grad(), cpu[i].grad(), tol, "gradient of input " + std::to_string(i)));
  }
  set_conv_allow_tf32(true);
  kernels::set_gemm_allow_tf32(true);
}

Tensor random(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator gen(seed);
  return Tensor::uniform(shape, gen, low, high);
}

TEST(AutogradOpsGpu, EveryOpMatchesTheCpu) {
  ALZ_REQUIRE_GPU();
  Tensor a = random({3, 5, 7}, 1), b = random({3, 5, 7}, 2);
  compare_devices("add", [](auto& in) { return ops::add(in[0], in[1]); }, {a, b});
  compare_devices("sub", [](auto& in) { return ops::sub(in[0], in[1]); }, {a, b});
  compare_devices("mul", [](auto& in) { return ops::mul(in[0], in[1]); }, {a, b});
  compare_devices("scale", [](auto& in) { return ops::scale(in[0], 0.7); }, {a});
  compare_devices("relu", [](auto& in) { return ops::relu(in[0]); }, {a});
  Tensor img = random({2, 9, 7, 13}, 3), bias = random({13}, 4);
  compare_devices("add_channel", [](auto& in) { return ops::add_channel(in[0], in[1]); }, {img, bias});
  compare_devices("mean", [](auto& in) { return ops::mean(in[0]); }, {img});
  compare_devices("sum", [](auto& in) { return ops::sum(in[0]); }, {img}, {1e-3, 1e-4});
  compare_devices("channel_mean", [](auto& in) { return ops::channel_mean(in[0]); }, {img});
  compare_devices("global_avg_pool", [](auto& in) { return ops::global_avg_pool(in[0]); }, {img});
  Tensor m = random({5, 33}, 5), w = random({33, 4}, 6), wb = random({4}, 7);
  compare_devices("matmul", [](auto& in) { return ops::matmul(in[0], in[1]); }, {m, w});
  compare_devices("linear", [](auto& in) { return ops::linear(in[0], in[1], in[2]); }, {m, w, wb});
  Tensor x = random({2, 9, 9, 5}, 8), k3 = random({6, 3, 3, 5}, 9), kb = random({6}, 10);
  compare_devices("conv3x3 s2", [](auto& in) { return ops::conv2d(in[0], in[1], in[2], {2, 2, {1, 1, 1, 1}}); },
                  {x, k3, kb});
  compare_devices("conv 7x7 stem", [](auto& in) { return ops::conv2d(in[0], in[1], in[2], {2, 2, {3, 3, 3, 3}}); },
                  {random({1, 15, 15, 3}, 11), random({8, 7, 7, 3}, 12), random({8}, 13)});
  compare_devices("conv1x1", [](auto& in) { return ops::conv2d(in[0], in[1], Tensor()); }, {x, random({7, 1, 1, 5}, 14)});
  compare_devices("max_pool", [](auto& in) { return ops::max_pool2d(in[0], {3, 3, 2, 2, {1, 1, 1, 1}}); }, {x});
  compare_devices("zero_pad", [](auto& in) { return ops::zero_pad2d(in[0], {1, 2, 0, 3}); }, {x});
  Tensor g = random({13}, 15, 0.5, 1.5), be = random({13}, 16);
  for (bool training : {true, false}) {
    for (bool fused : {true, false}) {
      if (!training && !fused) continue;
      compare_devices(std::string("batch_norm ") + (training ? "train" : "infer") + (fused ? " fused" : " reference"),
                      [training, fused](auto& in) {
                        Tensor mm = Tensor::zeros({13}, DType::F32, in[0].device());
                        Tensor mv = Tensor::ones({13}, DType::F32, in[0].device());
                        ops::BatchNormOptions o;
                        o.training = training;
                        o.fused = fused;
                        return ops::batch_norm(in[0], in[1], in[2], mm, mv, o);
                      },
                      {img, g, be}, {2e-4, 2e-4});
    }
  }
  Tensor logits = random({6, 4}, 17, -3.0, 3.0);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 3, 1, 1, 2, 3}, {6});
  Tensor weights = random({4}, 18, 0.5, 2.0);
  compare_devices("cross_entropy", [labels](auto& in) {
    return ops::softmax_cross_entropy(in[0], labels.to(in[0].device()), Tensor(), 0.1);
  }, {logits});
  compare_devices("weighted cross_entropy", [labels, weights](auto& in) {
    return ops::softmax_cross_entropy(in[0], labels.to(in[0].device()), weights.to(in[0].device()));
  }, {logits});
}

TEST(AutogradOpsGpu, Bf16PathRunsWhereSupported) {
  ALZ_REQUIRE_GPU();
  Tensor x = random({2, 8, 8, 16}, 20).to(DType::BF16).to(Device::cuda());
  Tensor w = random({16, 3, 3, 16}, 21).to(DType::BF16).to(Device::cuda());
  Tensor y = ops::relu(ops::conv2d(x, w, Tensor(), {1, 1, {1, 1, 1, 1}}));
  Tensor ref = ops::relu(ops::conv2d(x.to(DType::F32).to(Device::cpu()), w.to(DType::F32).to(Device::cpu()), Tensor(),
                                     {1, 1, {1, 1, 1, 1}}));
  // bf16 storage of the output: 8 significant bits, sums of 144 products accumulated in f32.
  ALZ_EXPECT_CLOSE(y, ref, (test::Tolerance{3e-2, 1e-2}));
}

}  // namespace
}  // namespace alz
